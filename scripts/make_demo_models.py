"""Train the demo's small ONNX classifiers without PyTorch and write them to
`src/pitfalls/demo_models/` (each `NAME.onnx` with its preprocessing spec `NAME.toml`).

Models: scikit-learn logistic regression and small MLPs on downsampled pixels at several input
resolutions, trained on the train split of `pitfalls demo`'s dataset. Each is exported by building
the ONNX graph directly with `onnx.helper` (Flatten → Gemm [→ Relu → Gemm] → Softmax; no Resize:
the input is NCHW float at the model's resolution, resized by the spec), and checked against
scikit-learn's own probabilities before it is written.

    python scripts/make_demo_models.py [--data DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from pitfalls.bench.spec import decode_rgb, parse_spec
from pitfalls.inputs import load_dataset

OUT = Path(__file__).resolve().parents[1] / "src" / "pitfalls" / "demo_models"
MEAN, STD = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]
MODELS = {  # name: (input side, hidden units or None for logistic regression)
    "fruit-lr-16": (16, None),
    "fruit-mlp-16": (16, 32),
    "fruit-mlp-24": (24, 64),
    "fruit-mlp-32": (32, 128),
}


def spec_toml(side: int, classes: list[str]) -> str:
    names = ", ".join(f'"{c}"' for c in classes)
    return (f"# Preprocessing of this model (pitfalls spec)\n"
            f"resize = [{side}, {side}]\ninterpolation = \"bilinear\"\n"
            f"mean = {MEAN}\nstd = {STD}\nchannels = \"RGB\"\nlayout = \"NCHW\"\n"
            f"scale = \"0-1\"\nclasses = [{names}]\n")


def features(blobs: list[bytes], side: int, classes: list[str]) -> np.ndarray:
    spec = parse_spec({"resize": [side, side], "interpolation": "bilinear", "mean": MEAN,
                       "std": STD, "classes": classes})
    return np.stack([spec.apply(decode_rgb(b)).reshape(-1) for b in blobs])


def to_onnx(clf: LogisticRegression | MLPClassifier, side: int, name: str) -> onnx.ModelProto:
    if isinstance(clf, LogisticRegression):
        layers = [(clf.coef_.T, clf.intercept_)]
    else:
        layers = list(zip(clf.coefs_, clf.intercepts_, strict=True))
    inits, nodes, cur = [], [helper.make_node("Flatten", ["input"], ["x0"], axis=1)], "x0"
    for k, (w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(np.asarray(w, np.float32), f"W{k}"),
                  numpy_helper.from_array(np.asarray(b, np.float32), f"B{k}")]
        nodes.append(helper.make_node("Gemm", [cur, f"W{k}", f"B{k}"], [f"z{k}"]))
        cur = f"z{k}"
        if k < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [cur], [f"h{k}"]))
            cur = f"h{k}"
    nodes.append(helper.make_node("Softmax", [cur], ["probs"], axis=1))
    n_out = layers[-1][0].shape[1]
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                    ["N", 3, side, side])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", n_out])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="pitfalls-demo")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _readable(blob: bytes) -> bool:
    try:
        decode_rgb(blob)
    except Exception:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, help="dataset (default: build the pitfalls demo)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            from pitfalls.demo import build_demo

            data = build_demo(Path(tmp) / "demo") / "data" / "manifest.csv"
        ds = load_dataset(data)
        t = ds.table
        blobs = {p: ds.abs_path(p).read_bytes() for p in t["path"]}
    readable = [p for p, b in blobs.items() if _readable(b)]  # the demo plants broken files
    t = t[t["path"].isin(readable) & t["label"].notna()]
    train, test = t[t["split"] == "train"], t[t["split"] == "test"]
    classes = sorted(t["label"].dropna().unique().tolist())
    ytr, yte = train["label"].to_numpy(), test["label"].to_numpy()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (side, hidden) in MODELS.items():
        xtr = features([blobs[p] for p in train["path"]], side, classes)
        xte = features([blobs[p] for p in test["path"]], side, classes)
        if hidden is None:
            clf = LogisticRegression(C=0.05, max_iter=2000)
        else:
            clf = MLPClassifier((hidden,), alpha=1e-2, max_iter=400, random_state=0)
        clf.fit(xtr, ytr)
        assert list(clf.classes_) == classes
        model = to_onnx(clf, side, name)
        path = args.out / f"{name}.onnx"
        onnx.save(model, str(path))
        (args.out / f"{name}.toml").write_text(spec_toml(side, classes), encoding="utf-8")
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        probs = sess.run(None, {"input": xte.reshape(-1, 3, side, side)})[0]
        np.testing.assert_allclose(probs, clf.predict_proba(xte), atol=1e-4)
        acc = float((np.asarray(classes)[probs.argmax(1)] == yte).mean())
        print(f"{name}: {path.stat().st_size / 1024:.0f} KiB, test accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
