"""Derived tables are computed once whatever the threads, and rules' prefetches (LABEL001's label
probe on a background thread) neither duplicate work nor lose a rule when they fail."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from scenes import scene

import pitfalls
from pitfalls.evaluation import labels


def test_derived_table_is_computed_once_across_threads(tmp_path: Path) -> None:
    from pitfalls.config import Config
    from pitfalls.pipeline import build_context

    for i in range(4):
        Image.fromarray(scene(i)).save(tmp_path / f"{i}.jpg")
    ctx = build_context(tmp_path, Config(), cache=False)
    calls = []

    def slow() -> int:
        calls.append(threading.get_ident())
        time.sleep(0.05)
        return 42

    threads = [threading.Thread(target=lambda: ctx.derived("slow", slow)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert ctx.derived("slow", slow) == 42


@pytest.fixture()
def labelled(scene_folder: Callable[..., Path]) -> Path:
    return scene_folder(40, lambda i: ("apple", "fig")[i % 2],
                        lambda i: ("train", "test")[i % 5 == 0], first=100, ext="jpg")


def test_label_probe_runs_once_per_scan(labelled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original, threads = labels.probe_probabilities, []

    def counted(ctx):
        threads.append(threading.current_thread().name)
        return original(ctx)

    monkeypatch.setattr(labels, "probe_probabilities", counted)
    report = pitfalls.scan(labelled, cache=False)
    assert threads == ["pitfalls-prefetch"]  # computed ahead, then read by LABEL001's check
    assert "LABEL001" not in {s["rule"] for s in report.skipped}


def test_failed_prefetch_is_left_to_the_rule(labelled: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    original, threads = labels.probe_probabilities, []

    def fails_ahead(ctx):
        threads.append(threading.current_thread().name)
        if threading.current_thread().name == "pitfalls-prefetch":
            raise RuntimeError("prefetch failed")
        return original(ctx)

    monkeypatch.setattr(labels, "probe_probabilities", fails_ahead)
    expected = pitfalls.scan(labelled, cache=False, select="LABEL001")
    assert threads == ["pitfalls-prefetch", "MainThread"]  # the check computed it again
    monkeypatch.setattr(labels, "probe_probabilities", original)
    again = pitfalls.scan(labelled, cache=False, select="LABEL001")
    assert ([f.to_dict() for f in expected.findings] == [f.to_dict() for f in again.findings])
    assert expected.passed == again.passed and not expected.skipped
