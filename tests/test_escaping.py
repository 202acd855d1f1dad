"""The HTML report and the expectation sheet escape every user-controlled string: file names,
labels and metadata values carrying markup reach the page as text, never as elements or
attributes (a real scan of real images, with predictions, so that the evaluation section and
its slices show them too)."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from scenes import scene

import pitfalls
from pitfalls.sheet import write_sheet

NAMES = ("<script>alert('file')<!--.jpg", '"><img src=x onerror=alert(2)>.jpg')
LABELS = ('<script>alert("label")</script>', "cat' onmouseover='alert(3)")
SITES = ('"><svg onload=alert(4)>', "<iframe src=javascript:alert(5)>")


class Tags(HTMLParser):
    """Every element and attribute the browser would build from the page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parsed(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def _no_injection(html: str) -> str:
    tags = _parsed(html)
    assert not {"script", "iframe"} & set(tags.tags)
    assert not [a for a, _ in tags.attrs if a.startswith("on")]
    assert not [v for a, v in tags.attrs if a == "src" and v in ("x", "javascript:alert(5)")]
    return " ".join(tags.text)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pitfalls.Report]:
    """80 photos in two classes and two sites; the two hostile file names are a duplicate pair
    in train with a copy in test; the model's predictions fail on the second site."""
    root = tmp_path_factory.mktemp("escaping")
    (root / "img").mkdir()
    rows, preds = [], []
    for i in range(80):
        name = f"img/p{i:03d}.jpg"
        Image.fromarray(scene(1000 + i, size=(48, 64))).save(root / name, quality=90)
        split = "test" if i % 2 else "train"
        label, site = LABELS[i % 4 < 2], SITES[(i // 2) % 2]
        rows.append({"path": name, "label": label, "split": split, "site": site})
        if split == "test":
            wrong = site == SITES[1] and i % 5 != 0
            preds.append({"path": name, "pred": LABELS[label == LABELS[0]] if wrong else label})
    for k, name in enumerate(NAMES):
        shutil.copy(root / "img/p000.jpg", root / "img" / name)
        rows.append({"path": f"img/{name}", "label": LABELS[k], "split": "train",
                     "site": SITES[0]})
    rows.append({"path": "img/p000.jpg", "label": LABELS[1], "split": "test", "site": SITES[0]})
    rows.pop(0)  # p000 itself is the test copy
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    pd.DataFrame(preds).to_csv(root / "preds.csv", index=False)
    report = pitfalls.scan(root / "manifest.csv", predictions=root / "preds.csv", workers=1,
                           cache=False, select=["IMB", "DUP", "LEAK001", "EVAL004", "SHORT003"])
    out = report.save(root / "out")
    return out, report


def test_the_scan_shows_the_hostile_strings(scanned: tuple[Path, pitfalls.Report]) -> None:
    """The findings really carry the names, labels and values (else the test proves nothing)."""
    _, report = scanned
    found = report.to_json()
    assert {"DUP001", "DUP002", "LEAK001", "EVAL004"} <= report.codes
    for s in (*NAMES, *LABELS, SITES[1]):
        assert s.replace('"', '\\"') in found


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_report_html_escapes_names_labels_and_metadata(scanned: tuple[Path, pitfalls.Report],
                                                        lang: str) -> None:
    _, report = scanned
    html = report.to_html(lang)
    text = _no_injection(html)
    for s in (*NAMES, *LABELS, SITES[1]):
        assert s.removesuffix(".jpg") in text  # shown, as text
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_sheet_escapes_names_labels_and_metadata(scanned: tuple[Path, pitfalls.Report],
                                                 tmp_path: Path, lang: str) -> None:
    _, report = scanned
    [sheet] = write_sheet(report.to_dict(), tmp_path, lang=lang, pdf=False)
    html = sheet.read_text(encoding="utf-8")
    text = _no_injection(html)
    assert LABELS[0] in text or LABELS[1] in text  # the sheet names the classes
