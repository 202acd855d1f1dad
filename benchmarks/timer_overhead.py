"""How far can `pitfalls bench`'s numbers be trusted? Three measurements:

1. timer overhead: the cost of the clock readings the harness makes per query (4), relative to a
   1 ms inference;
2. agreement with an independent clock: for the same runs of a ~1 ms model, the harness's
   inference p50/p99 against onnxruntime's own profiler (`model_run` events);
3. repeatability: two separate runs' end-to-end p50.

    python benchmarks/timer_overhead.py [--min-time 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from pitfalls.bench.runner import load_images, make_session, profiled_run, run_queries
from pitfalls.bench.spec import parse_spec
from pitfalls.bench.timing import percentile, timer_overhead_ns
from pitfalls.inputs import load_dataset

WIDTH = 1024


def chain_model(path: Path, layers: int, side: int = 16) -> Path:
    """Flatten → MatMul → `layers` × (MatMul 1024×1024) → MatMul to 2 logits."""
    rng = np.random.default_rng(0)
    f = 3 * side * side
    inits = [numpy_helper.from_array(rng.normal(0, 0.02, (f, WIDTH)).astype(np.float32), "P"),
             numpy_helper.from_array(rng.normal(0, 0.03, (WIDTH, WIDTH)).astype(np.float32), "Q"),
             numpy_helper.from_array(rng.normal(0, 0.03, (WIDTH, 2)).astype(np.float32), "R")]
    nodes = [helper.make_node("Flatten", ["input"], ["f"], axis=1),
             helper.make_node("MatMul", ["f", "P"], ["h0"])]
    for k in range(layers):
        nodes.append(helper.make_node("MatMul", [f"h{k}", "Q"], [f"h{k + 1}"]))
    nodes.append(helper.make_node("MatMul", [f"h{layers}", "R"], ["logits"]))
    graph = helper.make_graph(
        nodes, "chain",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, side, side])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--min-time", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    ns = timer_overhead_ns(1_000_000)
    print(f"clock read: {ns:.1f} ns; 4 reads per query = {4 * ns / 1e6 * 100:.4f}% of a 1 ms "
          f"inference")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        for label in ("a", "b"):
            (root / "data" / label).mkdir(parents=True)
            for i in range(32):
                Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(
                    root / "data" / label / f"{i}.png")
        images = load_images(load_dataset(root / "data"))
        spec = parse_spec({"resize": [16, 16], "classes": ["a", "b"]})
        layers, infer = 1, 0.0
        while True:  # grow the model until one inference takes about 1 ms
            model = chain_model(root / "m.onnx", layers)
            t = run_queries(make_session(model, threads=args.threads), spec, images, ["a", "b"],
                            min_time=0.3, min_queries=50)
            infer = float(np.median(t.infer))
            if infer >= 0.9 or layers >= 64:
                break
            layers = max(layers + 1, int(layers * 1.0 / max(infer, 0.05)))
        print(f"model: {layers} MatMul layers of {WIDTH}x{WIDTH}, inference p50 {infer:.3f} ms "
              f"({args.threads} thread(s))")
        print(f"timer overhead relative to this inference: {4 * ns / (infer * 1e6) * 100:.4f}%")
        t, ort_ms = profiled_run(model, spec, images, ["a", "b"], threads=args.threads,
                                 min_time=args.min_time, min_queries=500)
        n = min(len(ort_ms), t.infer.size)
        for q in (50, 99):
            h, o = percentile(t.infer[:n], q), percentile(ort_ms[:n], q)
            print(f"same {n} runs, inference p{q}: harness {h:.4f} ms, onnxruntime profiler "
                  f"{o:.4f} ms, difference {(h - o) / o * 100:+.2f}%")
        p50s = []
        for _ in range(2):
            r = run_queries(make_session(model, threads=args.threads), spec, images, ["a", "b"],
                            min_time=args.min_time, min_queries=500)
            p50s.append(percentile(r.total, 50))
        print(f"two runs, end-to-end p50: {p50s[0]:.4f} ms and {p50s[1]:.4f} ms, difference "
              f"{abs(p50s[0] - p50s[1]) / min(p50s) * 100:.2f}%")


if __name__ == "__main__":
    main()
