"""`pitfalls monitor log` as a user runs it: a real process, a real receiver on 127.0.0.1, the
demo's ONNX model run on the device."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from monitor_receiver import TOKEN, free_port, photos, receiver, stored

from pitfalls.demo import DEMO_MODEL

SRC = Path(__file__).resolve().parents[1] / "src"


def run_log(*args: str, token: str | None = TOKEN, timeout: float = 60
            ) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PITFALLS_TOKEN"}
    env["PYTHONPATH"] = str(SRC)
    env["COLUMNS"] = "200"
    if token is not None:
        env["PITFALLS_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "pitfalls", "monitor", "log", *args],
                          capture_output=True, text=True, env=env, timeout=timeout)


def test_model_runs_on_the_device_and_bad_files_are_skipped_one_by_one(tmp_path):
    images = photos(tmp_path / "cam", 5)
    (tmp_path / "cam" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    missing = tmp_path / "gone.jpg"
    port, db = free_port(), tmp_path / "recv.sqlite3"
    args = [str(tmp_path / "cam"), str(missing), "--url", f"http://127.0.0.1:{port}",
            "--model", str(DEMO_MODEL), "--source", "line-2", "--spool", str(tmp_path / "spool")]
    with receiver(db, port):
        out = run_log(*args)
        assert out.returncode == 1, out.stderr  # two images could not be logged
        assert "Traceback" not in out.stderr
        assert "broken.jpg" in out.stderr and f"{missing}: file not found" in out.stderr
        assert "logged 5 of 7 images" in out.stderr
        got = stored(db)
        assert len(got) == 5
        again = run_log(*args)  # the same files again: the same ids, stored once
        assert again.returncode == 1 and len(stored(db)) == 5
    classes = ["apple", "lemon", "lime", "plum"]  # the demo model's spec
    for record in got.values():
        assert record["source"] == "line-2"
        assert record["model_version"].startswith("fruit-lr-16@")
        assert sorted(record["probs"]) == classes
        assert record["pred"] == max(record["probs"], key=record["probs"].get)
        assert abs(sum(record["probs"].values()) - 1) < 1e-6
    assert {r["features"]["file_size"] for r in got.values()} == {p.stat().st_size
                                                                  for p in images}


def test_unsent_records_fail_the_run_and_wait_for_the_next(tmp_path):
    images = photos(tmp_path / "cam", 3)
    port, db = free_port(), tmp_path / "recv.sqlite3"
    args = [*map(str, images), "--url", f"http://127.0.0.1:{port}", "--pred", "ok",
            "--model-version", "v7", "--spool", str(tmp_path / "spool"), "--timeout", "1"]
    down = run_log(*args)
    assert down.returncode == 1
    assert "3 records not yet acknowledged" in down.stderr and "Traceback" not in down.stderr
    with receiver(db, port):
        up = run_log(str(images[0]), *args[3:])
    assert up.returncode == 0, up.stderr
    assert len(stored(db)) == 3  # the spooled ones went with the next run, once each


def test_a_refused_token_and_usage_errors_are_clear(tmp_path):
    image = photos(tmp_path, 1)[0]
    port, db = free_port(), tmp_path / "recv.sqlite3"
    base = [str(image), "--url", f"http://127.0.0.1:{port}", "--spool", str(tmp_path / "spool")]
    with receiver(db, port):
        refused = run_log(*base, "--pred", "ok", "--model-version", "v1", token="nope")
    assert refused.returncode == 1 and "401" in refused.stderr
    assert "nope" not in refused.stderr + refused.stdout and "1 records stay" in refused.stderr
    no_token = run_log(*base, "--pred", "ok", "--model-version", "v1", token=None)
    assert no_token.returncode == 2 and "PITFALLS_TOKEN" in no_token.stderr
    both = run_log(*base, "--pred", "ok", "--model", str(DEMO_MODEL))
    assert both.returncode == 2 and "--model" in both.stderr
    spec = tmp_path / "spec.toml"
    spec.write_text("resize = [16, 16]\n")
    no_classes = run_log(*base, "--model", str(DEMO_MODEL), "--preprocess", str(spec))
    assert no_classes.returncode == 2 and "classes" in no_classes.stderr
    bad_time = run_log(*base, "--pred", "ok", "--model-version", "v1", "--captured-at", "noon")
    assert bad_time.returncode == 2 and "--captured-at 'noon'" in bad_time.stderr
    for out in (no_token, both, no_classes, bad_time):
        assert "Traceback" not in out.stderr
