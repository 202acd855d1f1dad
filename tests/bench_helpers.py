"""Real images and real ONNX models (built with onnx.helper) for the bench tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

SIDE = 8


def colour_dataset(root: Path, n_train: int = 12, n_test: int = 12, seed: int = 0) -> Path:
    """`root/{train,test}/{blue,red}/*.png`: reddish or bluish noisy 24x24 images."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        for label in ("blue", "red"):
            d = root / split / label
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                base = np.array([200, 60, 40] if label == "red" else [40, 60, 200], float)
                img = np.clip(base + rng.normal(0, 25, (24, 24, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(d / f"{label}{i}.png")
    return root


def save(model: onnx.ModelProto, path: Path) -> Path:
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def colour_model(path: Path, side: int = SIDE, batch: int | str = "N",
                 extra_matmuls: int = 0, width: int = 512) -> Path:
    """Logits (blue, red) = ±(mean red − mean blue) over an NCHW image; optionally slowed down by
    `extra_matmuls` square MatMuls whose result is multiplied by zero (same predictions)."""
    inits = [numpy_helper.from_array(np.array([[-1, 1], [0, 0], [1, -1]], np.float32), "W"),
             numpy_helper.from_array(np.array([0, 0], np.float32), "B")]
    nodes = [helper.make_node("ReduceMean", ["input"], ["m"], axes=[2, 3], keepdims=0),
             helper.make_node("Gemm", ["m", "W", "B"], ["logits0"])]
    out = "logits0"
    if extra_matmuls:
        rng = np.random.default_rng(0)
        inits += [numpy_helper.from_array(rng.normal(0, 0.01, (3 * side * side, width))
                                          .astype(np.float32), "P"),
                  numpy_helper.from_array(rng.normal(0, 0.03, (width, width))
                                          .astype(np.float32), "Q"),
                  numpy_helper.from_array(np.zeros((width, 2), np.float32), "Z")]
        nodes.append(helper.make_node("Flatten", ["input"], ["f"], axis=1))
        nodes.append(helper.make_node("MatMul", ["f", "P"], ["h0"]))
        for k in range(extra_matmuls):
            nodes.append(helper.make_node("MatMul", [f"h{k}", "Q"], [f"h{k + 1}"]))
        nodes.append(helper.make_node("MatMul", [f"h{extra_matmuls}", "Z"], ["zero"]))
        nodes.append(helper.make_node("Add", ["logits0", "zero"], ["logits"]))
        out = "logits"
    graph = helper.make_graph(
        nodes, "colour",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, side, side])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, [batch, 2])], inits)
    return save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def mlp_model(path: Path, side: int = SIDE, hidden: int = 64, seed: int = 0) -> Path:
    """Flatten → Gemm → Relu → Gemm: a small MLP whose first layer sees colour (red − blue)."""
    rng = np.random.default_rng(seed)
    f = 3 * side * side
    w1 = rng.normal(0, 0.05, (f, hidden)).astype(np.float32)
    colour = np.zeros(f, np.float32)
    colour[: side * side] = 1.0 / (side * side)
    colour[2 * side * side:] = -1.0 / (side * side)
    w1[:, 0], w1[:, 1] = colour, -colour
    w2 = np.zeros((hidden, 2), np.float32)
    w2[0, 1], w2[1, 0] = 1.0, 1.0
    w2 += rng.normal(0, 0.001, w2.shape).astype(np.float32)
    inits = [numpy_helper.from_array(w1, "W1"),
             numpy_helper.from_array(np.zeros(hidden, np.float32), "B1"),
             numpy_helper.from_array(w2, "W2"),
             numpy_helper.from_array(np.zeros(2, np.float32), "B2")]
    nodes = [helper.make_node("Flatten", ["input"], ["x"], axis=1),
             helper.make_node("Gemm", ["x", "W1", "B1"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "W2", "B2"], ["logits"])]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, side, side])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])], inits)
    return save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def write_spec(path: Path, side: int = SIDE, **extra: str) -> Path:
    lines = [f"resize = [{side}, {side}]", 'classes = ["blue", "red"]']
    lines += [f"{k} = {v}" for k, v in extra.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
