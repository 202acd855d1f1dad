"""`pitfalls bench` end to end: every model × quantization × provider × threads × batch size,
accuracy on the evaluation split, skew checks, and the PERF rules over the results."""

from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from pitfalls.bench.quantize import ImageCalibrationReader, quantize
from pitfalls.bench.runner import (
    Images,
    accuracy_with_ci,
    class_order,
    load_images,
    make_session,
    model_info,
    predict,
    rss_mb,
    run_queries,
    timing_summary,
)
from pitfalls.bench.skew import SkewResult, compare
from pitfalls.bench.spec import PreprocessSpec, spec_for_model
from pitfalls.bench.timing import percentile
from pitfalls.errors import InputError
from pitfalls.findings import Finding
from pitfalls.inputs import Dataset, load_dataset


@dataclass
class BenchOptions:
    batch_sizes: Sequence[int] = (1,)
    threads: Sequence[int] = (1,)
    providers: Sequence[str] = ("cpu",)
    quantize: Sequence[str] = ()
    budget_ms: float | None = None
    percentile: float = 95.0
    min_time: float = 10.0
    min_queries: int = 500
    max_time: float | None = None
    warmup: int = 10
    max_eval_images: int | None = None
    calibration_images: int = 128


@dataclass
class BenchResult:
    machine: dict[str, Any]
    rows: list[dict[str, Any]]
    skew: list[SkewResult] = field(default_factory=list)
    options: BenchOptions = field(default_factory=BenchOptions)
    findings: list[Finding] = field(default_factory=list)
    data: str = ""
    split: str = ""


def machine_info() -> dict[str, Any]:
    """The hardware and library versions a result was measured with."""
    import numpy
    import PIL

    info: dict[str, Any] = {
        "platform": platform.platform(), "machine": platform.machine(),
        "processor": _cpu_name(), "cpu_count": os.cpu_count(),
        "python": platform.python_version(), "onnxruntime": ort.__version__,
        "numpy": numpy.__version__, "pillow": PIL.__version__,
        "providers_available": ort.get_available_providers(), "device": ort.get_device(),
    }
    try:
        import onnx

        info["onnx"] = onnx.__version__
    except ImportError:  # pragma: no cover
        pass
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:  # pragma: no cover
        pass
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _train_images(dataset: Dataset, limit: int) -> Images | None:
    if "train" not in set(dataset.table["split"].dropna()):
        return None
    return load_images(dataset, "train", limit=limit)


def run_bench(models: Sequence[str | Path], data: str | Path | Dataset,
              spec: PreprocessSpec | None = None, serving: PreprocessSpec | None = None,
              options: BenchOptions | None = None, workdir: str | Path | None = None,
              progress: Callable[[str], None] | None = None) -> BenchResult:
    """Benchmark every model (and its int8 variants) and apply the PERF rules."""
    opts = options or BenchOptions()
    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    images = load_images(dataset, limit=opts.max_eval_images)
    say = progress or (lambda _msg: None)
    tmp = tempfile.TemporaryDirectory() if workdir is None else None
    work = Path(tmp.name) if tmp is not None else Path(workdir or ".")
    rows: list[dict[str, Any]] = []
    skews: list[SkewResult] = []
    try:
        for path in models:
            mspec = spec or spec_for_model(path)
            if mspec is None:
                raise InputError(f"no preprocessing spec for {Path(path).name}: pass --preprocess "
                                 f"or put {Path(path).with_suffix('.toml').name} next to it")
            variants = [("fp32", Path(path))]
            if opts.quantize:
                train = _train_images(dataset, opts.calibration_images)
                for method in opts.quantize:
                    if method == "static" and train is None:
                        raise InputError("static quantization calibrates on the train split; "
                                         "the data has none")
                    info = model_info(path)
                    fixed = info.input_shape[0] if isinstance(info.input_shape[0], int) else None
                    reader = (ImageCalibrationReader(train, mspec, info.input_name,
                                                     fixed_batch=fixed,
                                                     limit=opts.calibration_images)
                              if train is not None else None)
                    out = work / f"{Path(path).stem}.{method}-int8.onnx"
                    say(f"quantizing {Path(path).name} ({method})")
                    variants.append((f"{method}-int8", quantize(path, out, method, reader)))
            for quant, vpath in variants:
                rows.extend(_bench_variant(Path(path), vpath, quant, mspec, images, opts, say))
            if serving is not None:
                say(f"skew check {Path(path).name}")
                info = model_info(path)
                sess = make_session(path)
                skews.append(compare(sess, mspec, serving, images,
                                     class_order(mspec, images, info), model=path))
    finally:
        if tmp is not None:
            tmp.cleanup()
    result = BenchResult(machine=machine_info(), rows=rows, skew=skews, options=opts,
                         data=str(dataset.root), split=images.split)
    result.findings = apply_rules(result, dataset)
    return result


def _bench_variant(base: Path, path: Path, quant: str, spec: PreprocessSpec, images: Images,
                   opts: BenchOptions, say: Callable[[str], None]) -> list[dict[str, Any]]:
    info = model_info(path, name=base.stem)
    labels = class_order(spec, images, info)
    fixed = info.input_shape[0] if isinstance(info.input_shape[0], int) else None
    rows = []
    for provider in opts.providers:
        acc: dict[str, Any] | None = None
        for threads in opts.threads:
            before = rss_mb()
            sess = make_session(path, provider, threads)
            session_mb = rss_mb() - before
            if acc is None:
                say(f"accuracy {info.name} {quant} on {provider}")
                pred = predict(sess, spec, images)
                names = np.asarray(labels, dtype=object)[pred] if labels else pred.astype(str)
                acc = accuracy_with_ci(images.labels, list(names))
            for bs in opts.batch_sizes:
                if fixed is not None and bs != fixed:
                    continue
                say(f"timing {info.name} {quant} {provider} threads={threads} batch={bs}")
                t = run_queries(sess, spec, images, labels, bs, min_time=opts.min_time,
                                min_queries=opts.min_queries, max_time=opts.max_time,
                                warmup=opts.warmup)
                summary = timing_summary(t, bs)
                key = f"p{opts.percentile:g}"
                summary["latency_ms"].setdefault(key, percentile(t.total, opts.percentile))
                row = {"model": info.name, "provider": provider, "batch_size": bs,
                       "threads": threads, "quantization": quant} | acc | summary
                row |= {"size_mb": info.size_mb, "n_params": info.n_params,
                        "session_rss_mb": session_mb, "input_shape": [str(d) for d in
                                                                      info.input_shape],
                        "model_path": str(base) if quant == "fp32" else f"{base} ({quant})"}
                rows.append(row)
            del sess
    return rows


def apply_rules(result: BenchResult, dataset: Dataset) -> list[Finding]:
    """Run the PERF rules (with any configured parameters) over the benchmark results."""
    from pitfalls.config import find_config
    from pitfalls.context import Context
    from pitfalls.runner import run_rules

    cfg = find_config()
    cfg = cfg.merged(select=["PERF"])
    rules_cfg = dict(cfg.rules)
    perf001 = dict(rules_cfg.get("PERF001", {}))
    if result.options.budget_ms is not None:
        perf001["budget_ms"] = result.options.budget_ms
    perf001.setdefault("percentile", result.options.percentile)
    rules_cfg["PERF001"] = perf001
    cfg = cfg.merged(rules=rules_cfg)
    table = dataset.table.assign(ok=True)
    ctx = Context(dataset=dataset, table=table, config=cfg, extras={"bench": result})
    findings, _passed, _skipped, _errors = run_rules(ctx)  # errors are logged
    return findings
