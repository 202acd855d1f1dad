"""Measure one ONNX model: accuracy on the evaluation split and latency of real queries.

Each query takes *fresh* inputs: the next image(s) of the evaluation split, decoded from their
encoded bytes and preprocessed anew, so no tensor is reused and caches are not flattered.
Pre-processing (decode, resize, normalise), inference (`session.run`) and post-processing (argmax
to a class name) are timed separately and end to end. Warm-up queries are run first, excluded from
the statistics and reported on their own. A run lasts at least `min_time` seconds *and*
`min_queries` queries (as MLPerf's single-stream scenario asks), capped by `max_time`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from pitfalls.bench.spec import PreprocessSpec, decode_rgb, preprocess
from pitfalls.bench.timing import latency_stats, now_ns, spread
from pitfalls.errors import InputError
from pitfalls.inputs import Dataset

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider", "openvino": "OpenVINOExecutionProvider",
             "coreml": "CoreMLExecutionProvider", "dml": "DmlExecutionProvider"}


@dataclass
class Images:
    """Encoded images of one split with their labels (bytes kept in memory: no disk I/O timed)."""

    paths: list[str]
    labels: list[str | None]
    data: list[bytes]
    split: str

    def __len__(self) -> int:
        return len(self.paths)


def load_images(dataset: Dataset, split: str | None = None, limit: int | None = None,
                seed: int = 0) -> Images:
    """The images of `split` (default: test, else val, else every image), readable ones only."""
    t = dataset.table
    splits = set(t["split"].dropna())
    if split is None:
        split = next((s for s in ("test", "val") if s in splits), None)
    rows = t if split is None else t[t["split"] == split]
    if rows.empty:
        raise InputError(f"no images in split {split!r} of {dataset.root}")
    if limit is not None and len(rows) > limit:
        rows = rows.sample(n=limit, random_state=seed).sort_index()
    paths, labels, data = [], [], []
    for rel, label in zip(rows["path"], rows["label"], strict=True):
        try:
            blob = dataset.abs_path(rel).read_bytes()
            decode_rgb(blob)
        except Exception:  # unreadable files are the scan's business (QUAL001), not timed here
            continue
        paths.append(str(rel))
        labels.append(None if label is None or (isinstance(label, float) and np.isnan(label))
                      else str(label))
        data.append(blob)
    if not paths:
        raise InputError(f"no readable images in split {split or 'all'} of {dataset.root}")
    return Images(paths, labels, data, split or "all")


@dataclass(frozen=True)
class ModelInfo:
    """What the file says about a model: size on disk, parameters, its input."""

    path: Path
    name: str
    size_mb: float
    n_params: int | None
    input_name: str
    input_shape: tuple[Any, ...]
    n_outputs: int | None


def model_info(path: str | Path, name: str | None = None) -> ModelInfo:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model not found: {path}")
    sess = _session(path, "cpu", 1)
    inp = sess.get_inputs()[0]
    out_shape = sess.get_outputs()[0].shape
    n_out = out_shape[-1] if out_shape and isinstance(out_shape[-1], int) else None
    return ModelInfo(path=path, name=name or path.stem, size_mb=path.stat().st_size / 2**20,
                     n_params=count_params(path), input_name=inp.name,
                     input_shape=tuple(inp.shape), n_outputs=n_out)


def count_params(path: Path) -> int | None:
    """Number of weights stored in the graph's initializers (None when onnx is not installed)."""
    try:
        import onnx
    except ImportError:  # pragma: no cover
        return None
    model = onnx.load(str(path), load_external_data=False)
    return int(sum(int(np.prod(t.dims)) for t in model.graph.initializer))


def _session(path: Path | str, provider: str, threads: int,
             profile_prefix: str | None = None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    name = PROVIDERS.get(provider, provider)
    if name not in ort.get_available_providers():
        raise InputError(f"execution provider {provider!r} is not available here (have: "
                         f"{', '.join(ort.get_available_providers())}); for CUDA install "
                         f"the 'gpu' extra (onnxruntime-gpu)")
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=[name])
    except Exception as exc:
        raise InputError(f"onnxruntime cannot load {Path(path).name}: {exc}") from None


def make_session(path: Path | str, provider: str = "cpu", threads: int = 1) -> ort.InferenceSession:
    """An onnxruntime session on one provider with a fixed number of intra-op threads."""
    return _session(path, provider, threads)


def rss_mb() -> float:
    """Resident memory of this process in MiB."""
    try:
        import psutil

        return psutil.Process(os.getpid()).memory_info().rss / 2**20
    except ImportError:  # pragma: no cover
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def class_order(spec: PreprocessSpec, images: Images, info: ModelInfo) -> list[str]:
    """Class names in the order of the model's outputs: the spec's `classes`, else sorted labels."""
    labels = list(spec.classes or ()) or sorted({v for v in images.labels if v is not None})
    if info.n_outputs is not None and labels and len(labels) != info.n_outputs:
        raise InputError(f"{info.name} has {info.n_outputs} outputs but {len(labels)} class "
                         f"labels are known; list them in order under 'classes' in the spec")
    return labels


def _batch(images: Images, idx: Sequence[int] | np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    return np.stack([preprocess(decode_rgb(images.data[i]), spec) for i in idx])


def predict(session: ort.InferenceSession, spec: PreprocessSpec, images: Images,
            batch_size: int = 32) -> np.ndarray:
    """Output index predicted for every image (one pass over the split)."""
    name = session.get_inputs()[0].name
    fixed = session.get_inputs()[0].shape[0]
    bs = fixed if isinstance(fixed, int) else batch_size
    preds = []
    for start in range(0, len(images), bs):
        idx = list(range(start, min(start + bs, len(images))))
        x = _batch(images, idx, spec)
        if isinstance(fixed, int) and len(idx) < fixed:  # pad a fixed-batch model's last batch
            x = np.concatenate([x, np.repeat(x[-1:], fixed - len(idx), axis=0)])
        out = session.run(None, {name: x})[0]
        preds.append(np.asarray(out).reshape(len(x), -1).argmax(axis=1)[: len(idx)])
    return np.concatenate(preds)


def accuracy_with_ci(y_true: Sequence[str | None], y_pred: Sequence[str]) -> dict[str, Any]:
    """Accuracy and balanced accuracy with the scan's 95% intervals (`evaluation.metrics`:
    Jeffreys for accuracy, never [1, 1] when every answer is right)."""
    from pitfalls.evaluation.metrics import score

    t, p = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    ok = np.array([v is not None for v in t])
    t, p = t[ok], p[ok]
    if t.size == 0:
        return {"accuracy": None, "balanced_accuracy": None, "n_eval": 0}
    classes = sorted({str(v) for v in t} | {str(v) for v in p})
    codes = {c: i for i, c in enumerate(classes)}
    sc = score(np.array([codes[str(v)] for v in t]), np.array([codes[str(v)] for v in p]),
               classes)
    return {"accuracy": sc.value("accuracy"), "accuracy_ci": sc.metrics["accuracy"]["ci"],
            "balanced_accuracy": sc.value("balanced_accuracy"),
            "balanced_accuracy_ci": sc.metrics["balanced_accuracy"]["ci"],
            "n_eval": int(t.size)}


@dataclass
class Timings:
    """Per-query times (ms) of a measured run, after warm-up."""

    pre: np.ndarray
    infer: np.ndarray
    post: np.ndarray
    total: np.ndarray
    warmup_ms: list[float]
    duration_s: float
    images: int
    peak_rss_mb: float
    stopped_by: str
    extra: dict[str, Any] = field(default_factory=dict)


def run_queries(session: ort.InferenceSession, spec: PreprocessSpec, images: Images,
                labels: Sequence[str], batch_size: int = 1, *, min_time: float = 10.0,
                min_queries: int = 500, max_time: float | None = None,
                warmup: int = 10) -> Timings:
    """Send queries of `batch_size` fresh images one after another and time every stage."""
    name = session.get_inputs()[0].name
    first_output = [session.get_outputs()[0].name]  # named: saves output-name lookup per call
    max_time = max_time if max_time is not None else max(3 * min_time, 60.0)
    n = len(images)
    classes = np.asarray(list(labels) or [str(i) for i in range(10_000)], dtype=object)
    pre, inf, post, tot, warm = [], [], [], [], []
    cursor, q = 0, 0
    peak = rss_mb()
    start = None
    stopped = "min_time+min_queries"
    while True:
        idx = [(cursor + j) % n for j in range(batch_size)]
        cursor = (cursor + batch_size) % n
        t0 = now_ns()
        x = _batch(images, idx, spec)
        t1 = now_ns()
        out = session.run(first_output, {name: x})[0]
        t2 = now_ns()
        pred = classes[np.asarray(out).reshape(batch_size, -1).argmax(axis=1)]
        t3 = now_ns()
        del pred
        if q < warmup:
            warm.append((t3 - t0) / 1e6)
        else:
            if start is None:
                start = t0
            pre.append(t1 - t0)
            inf.append(t2 - t1)
            post.append(t3 - t2)
            tot.append(t3 - t0)
            if len(tot) % 16 == 0:
                peak = max(peak, rss_mb())
            elapsed = (t3 - start) / 1e9
            if elapsed >= min_time and len(tot) >= min_queries:
                break
            if elapsed >= max_time:
                stopped = "max_time"
                break
        q += 1
    peak = max(peak, rss_mb())
    to_ms = 1e-6
    total = np.asarray(tot, dtype=np.float64) * to_ms
    return Timings(pre=np.asarray(pre, np.float64) * to_ms,
                   infer=np.asarray(inf, np.float64) * to_ms,
                   post=np.asarray(post, np.float64) * to_ms, total=total, warmup_ms=warm,
                   duration_s=float(total.sum() / 1e3), images=len(tot) * batch_size,
                   peak_rss_mb=peak, stopped_by=stopped)


def profiled_run(path: Path | str, spec: PreprocessSpec, images: Images, labels: Sequence[str],
                 batch_size: int = 1, provider: str = "cpu", threads: int = 1,
                 **kwargs: Any) -> tuple[Timings, np.ndarray]:
    """`run_queries` on a session with onnxruntime's profiler on: the harness's timings and, for
    the same measured runs, the profiler's own `model_run` durations (ms) — an independent clock."""
    warmup = int(kwargs.get("warmup", 10))
    with tempfile.TemporaryDirectory() as tmp:
        sess = _session(path, provider, threads, profile_prefix=str(Path(tmp) / "ort"))
        timings = run_queries(sess, spec, images, labels, batch_size, **kwargs)
        events = json.loads(Path(sess.end_profiling()).read_text())
    runs = [e["dur"] / 1e3 for e in events if e.get("name") == "model_run"]
    return timings, np.asarray(runs[warmup:], dtype=np.float64)


def timing_summary(t: Timings, batch_size: int) -> dict[str, Any]:
    """The row fields that describe a measured run."""
    sp = spread(t.total)
    return {
        "latency_ms": latency_stats(t.total),
        "stages_ms": {"preprocess": latency_stats(t.pre), "inference": latency_stats(t.infer),
                      "postprocess": latency_stats(t.post)},
        "warmup": {"n": len(t.warmup_ms),
                   "first_ms": t.warmup_ms[0] if t.warmup_ms else None,
                   "mean_ms": float(np.mean(t.warmup_ms)) if t.warmup_ms else None},
        "n_queries": int(t.total.size),
        "duration_s": t.duration_s,
        "throughput_ips": t.images / t.duration_s if t.duration_s > 0 else None,
        "inference_throughput_ips": (t.images / (t.infer.sum() / 1e3)
                                     if t.infer.sum() > 0 else None),
        "spread": {"block_p50_ms": list(sp.block_medians_ms),
                   "iqr_over_median": sp.iqr_over_median},
        "spread_too_wide": bool(sp.too_wide),
        "peak_rss_mb": t.peak_rss_mb,
        "stopped_by": t.stopped_by,
    }
