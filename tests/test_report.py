"""The reports: self-contained HTML (en/ja, thumbnails, charts, sections), report.json contract."""

from __future__ import annotations

import base64
import io
import json
import re
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image
from report_data import make_dataset, photo
from rich.console import Console

import pitfalls
from pitfalls.findings import Finding
from pitfalls.report.charts import grouped_bars
from pitfalls.report.document import Report
from pitfalls.report.html import ROOT_CLASS, format_value, render_html
from pitfalls.report.messages import MESSAGES, messages
from pitfalls.report.terminal import print_summary
from pitfalls.report.thumbs import Thumbnailer
from pitfalls.text import T


class _Tags(HTMLParser):
    """Collects every tag's attributes, to check what the page references."""

    def __init__(self) -> None:
        super().__init__()
        self.attrs: list[tuple[str, str, str]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    return p


def test_html_shows_every_finding_with_thumbnails(report_scan: Report) -> None:
    html = report_scan.to_html("en")
    assert html.startswith("<!DOCTYPE html>")
    assert {"QUAL001", "IMB001"} <= report_scan.codes
    for f in report_scan.findings:
        assert f'data-rule="{f.rule}"' in html
        assert escape(f.summary.get_text("en"), quote=False) in html
    tags = parse(html).attrs
    srcs = [v for tag, k, v in tags if tag == "img" and k == "src"]
    for src in srcs:
        assert src.startswith("data:image/jpeg;base64,")
        thumb = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert thumb.format == "JPEG" and max(thumb.size) <= 160
    # every readable image a finding names (among its first items) is shown as a thumbnail
    titles = {v for tag, k, v in tags if tag == "img" and k == "title"}
    named = {p for f in report_scan.findings for it in f.items[:5] for p in it.get("paths", [])}
    assert named - {"train/dog/broken.jpg"} <= titles
    # the broken file of QUAL001 is a placeholder, not an image
    assert 'title="train/dog/broken.jpg"' in html and 'class="ph"' in html
    # passed rules and skipped rules with their reason
    for code in report_scan.passed:
        assert code in html
    for s in report_scan.skipped:
        assert s["rule"] in html


def test_html_references_no_url(report_scan: Report) -> None:
    html = report_scan.to_html("en")
    tags = parse(html)
    for _tag, key, val in tags.attrs:
        if key in ("src", "href", "srcset", "action", "poster", "data"):
            assert not re.match(r"\s*(https?:)?//", val), (key, val)
            assert val.startswith(("data:", "#")), (key, val)
    css = "".join(tags.styles)
    assert "url(" not in css and "@import" not in css
    assert "<script" not in html and "<link" not in html


def test_class_by_split_chart_is_inline_svg(report_scan: Report) -> None:
    html = report_scan.to_html("en")
    assert 'id="section-class_by_split"' in html
    svg = html[html.index("<svg"):html.index("</svg>")]
    for label in ("cat", "dog"):
        assert f">{label}</text>" in svg
    # one bar per (class, split) with its count in the tooltip
    counts = report_scan.sections["class_by_split"]
    assert svg.count("<rect") >= sum(len(v) for v in counts.values())
    assert f"cat · train: {counts['cat']['train']}" in svg


def test_japanese_report(report_scan: Report) -> None:
    html = report_scan.to_html("ja")
    assert '<html lang="ja">' in html
    for word in ("概要", "検出された問題", "クラス別・分割"
                                  "別の画像数", "エラー", "警告", "研究開発"):
        assert word in html
    for f in report_scan.findings:
        assert escape(f.title.get_text("ja"), quote=False) in html
        assert escape(f.summary.get_text("ja"), quote=False) in html
    assert "何を調べるか" in html and "直し方" in html  # rule docs in Japanese
    assert "Hiragino Sans" in html  # CJK font stack first
    assert "Summary" not in html and "Findings" not in html


def test_every_message_exists_in_both_languages() -> None:
    assert set(MESSAGES["en"]) == set(MESSAGES["ja"])
    ja = messages("ja")
    assert all(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", ja[k]) for k in
               ("summary", "findings", "passed", "skipped", "sev.error", "phase.production"))
    assert messages("xx") == MESSAGES["en"]


def test_missing_image_gives_placeholder(report_scan: Report, tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "data")
    report = pitfalls.scan(root, workers=1, cache=tmp_path / "cache")
    (root / "train" / "dog" / "broken.jpg").unlink()  # gone after the scan
    html = report.to_html("en")
    assert messages("en")["missing"] in html
    # a report whose root does not exist at all still renders
    report.root = tmp_path / "nowhere"
    assert 'class="ph"' in report.to_html("ja")


def test_thumbnailer_bad_files_and_orientation(tmp_path: Path) -> None:
    (tmp_path / "zero.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    photo(tmp_path / "wide.jpg", 1, size=(120, 40))
    rotated = Image.open(tmp_path / "wide.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    rotated.save(tmp_path / "rot.jpg", exif=exif.tobytes())
    big = tmp_path / "big.png"
    Image.new("RGB", (400, 300), (10, 200, 30)).save(big)
    thumbs = Thumbnailer(tmp_path, side=160)
    assert thumbs("missing.jpg").error == "missing"
    assert thumbs("zero.jpg").error == "empty"
    assert thumbs("text.png").error == "not_an_image"
    assert thumbs("text.png").uri is None
    wide, rot = thumbs("wide.jpg"), thumbs("rot.jpg")
    assert wide.width > wide.height and rot.height > rot.width  # EXIF orientation applied
    b = thumbs("big.png")
    assert (b.width, b.height) == (160, 120)
    assert thumbs("big.png") is b and len(thumbs) == 6  # decoded once, remembered
    assert Thumbnailer(None)("a.jpg").error == "missing"

    names = ["missing.jpg", "zero.jpg", "text.png", "wide.jpg", "rot.jpg", "big.png", "wide.jpg"]
    parallel = Thumbnailer(tmp_path, side=160)
    parallel.prefetch(names, threads=3)
    assert len(parallel) == 6  # every distinct path made once, bad files included
    for name in names:
        assert parallel(name) == thumbs(name)  # the same thumbnails as made one by one


def test_prefetch_covers_every_thumbnail_the_page_shows(report_scan: Report,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from pitfalls.report import html

    made: list[str] = []
    original = Thumbnailer._make

    def recording(self: Thumbnailer, path: str):  # the real thumbnail, and a note of its path
        made.append(path)
        return original(self, path)

    monkeypatch.setattr(Thumbnailer, "_make", recording)
    page = html.render_html(report_scan)
    shown = set(html._shown_paths(report_scan.findings, html.MAX_ITEMS))
    assert made and set(made) == shown  # the page needed no thumbnail the prefetch missed
    readable = {p for p in shown if original(Thumbnailer(report_scan.root), p).uri}
    assert page.count("data:image/jpeg;base64,") >= len(readable) > 0


def test_layouts_by_item_shape(report_scan: Report) -> None:
    """Pairs side by side, groups in a row, singles in a grid, path-less items in a table."""
    ok = [p for p in sorted(_paths(report_scan.root)) if "broken" not in p]
    f = Finding(
        rule="TEST001", phase="research", severity="warning", title=T("Layouts", "レイアウト"),
        summary=T("Every layout", "すべてのレイアウト"),
        metrics={"nested": {"a": {"b": 1}}, "ci": [0.125, 0.25], "many": list(range(30)),
                 "rows": [{"feature": "border_r", "importance": 0.5}], "flag": True,
                 "nan": float("nan")},
        items=[{"paths": ok[0:2], "score": 0.987654, "labels": ["cat", "dog"]},
               {"paths": ok[2:15], "evidence": "burst"},  # a long session: 10 shown, +3
               *({"paths": [p], "label": "cat"} for p in ok[6:20]),
               {"label": "<b>cat</b>", "count": 3}],
    )
    report = Report(dataset=report_scan.dataset, findings=[f], root=report_scan.root)
    html = render_html(report, "en", max_items=12)
    for kind in ("pairs", "groups", "grid"):
        assert f'class="ev {kind}"' in html
    assert 'class="records"' in html and "&lt;b&gt;cat&lt;/b&gt;" in html
    assert "<b>cat</b>" not in html
    assert "0.9877" in html  # the pair's score
    assert "cat · " not in html and ">cat</span>" in html  # per-image labels of the pair
    assert "[0.125, 0.25]" in html and "(+10)" in html and "—" in html
    assert html.count("<img ") == 2 + 10 + 10  # 12 items with images at most
    assert ">+3</span>" in html
    assert "4 more not shown" in html
    # the same file named twice in one render is one decode: identical data URIs
    g = Finding(rule="TEST002", phase="system", severity="info", title=T("t"), summary=T("s"),
                items=[{"paths": [ok[0]]}, {"paths": [ok[0], ok[1]]}])
    html2 = render_html(Report(dataset=report_scan.dataset, findings=[g], root=report_scan.root))
    srcs = [v for tag, k, v in parse(html2).attrs if tag == "img" and k == "src"]
    assert len(srcs) == 3 and srcs[0] == srcs[1]
    assert "System (building the ML system)" in html2


def _paths(root: Path | None) -> list[str]:
    assert root is not None
    return [p.relative_to(root).as_posix() for p in root.rglob("*.jpg")]


def test_format_value_is_readable_and_escaped() -> None:
    out = str(format_value({"counts": {"a": 1, "b": 2}, "ci": [0.1, 0.2]}))
    assert "<table" in out and "counts" in out and "[0.1, 0.2]" in out
    assert str(format_value("<script>")) == "&lt;script&gt;"
    assert str(format_value(1234567)).endswith("1,234,567</span>")
    assert "(+5)" in str(format_value(list(range(25))))


def test_sections_hook(report_scan: Report) -> None:
    report = Report(dataset=report_scan.dataset, root=report_scan.root,
                    sections={"no_template_here": {"x": 1}, "../evil": {},
                              "class_by_split": {"a<b": {"train": 3, "test": 1}}})
    html = report.to_html("en")
    assert "no_template_here" not in html and "evil" not in html
    assert "a&lt;b" in html and "a<b" not in html
    assert messages("en")["no_findings"] in html


def test_chart_handles_many_classes() -> None:
    groups = {f"class{i:03d}": {"train": i + 1, "val": 1} for i in range(100)}
    svg = grouped_bars(groups, max_groups=40)
    assert svg.count("<title>class") == 40 + 80  # 40 groups, 2 bars each with a tooltip
    assert "class099" in svg and "class000" not in svg  # the largest are kept
    assert grouped_bars({}) == ""


def test_notebook_css_is_scoped(report_scan: Report) -> None:
    html = report_scan._repr_html_()
    css = "".join(parse(html).styles)
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    selectors = [s.strip() for block in re.findall(r"([^{}]+)\{", css) for s in block.split(",")]
    assert selectors
    for sel in selectors:
        assert sel.startswith(f".{ROOT_CLASS}"), sel
    assert f'<div class="{ROOT_CLASS}"' in html


def test_report_json_round_trip_and_contract(report_scan: Report, tmp_path: Path) -> None:
    out = report_scan.save(tmp_path / "out", lang="en")
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["schema_version"] == 1
    assert data["tool"]["name"] == "pitfalls" and data["tool"]["version"]
    for key in ("root", "n_images", "n_unreadable", "splits", "labels"):
        assert key in data["dataset"]
    assert data["dataset"]["n_unreadable"] == 1
    assert data["dataset"]["splits"] == {"test": 6, "train": 17}
    assert data["dataset"]["labels"]["dog"] == 7
    assert data["findings"]
    for f in data["findings"]:
        assert {"rule", "phase", "severity", "title", "summary", "metrics", "items"} <= set(f)
        assert f["severity"] in ("error", "warning", "info")
        assert f["phase"] in ("research", "system", "production")
    assert isinstance(data["passed"], list)
    assert all({"rule", "reason"} <= set(s) for s in data["skipped"])
    qual = next(f for f in data["findings"] if f["rule"] == "QUAL001")
    assert qual["items"][0]["paths"] == ["train/dog/broken.jpg"]

    loaded = Report.from_json(out / "report.json")
    assert loaded.to_dict("en") == report_scan.to_dict("en")
    assert loaded.to_dict("ja") == report_scan.to_dict("ja")
    assert loaded.root == report_scan.root
    assert loaded.to_html("en") == (out / "report.html").read_text(encoding="utf-8")


def test_terminal_summary(report_scan: Report) -> None:
    console = Console(record=True, width=140)
    print_summary(report_scan, console, lang="ja")
    text = console.export_text()
    assert "QUAL001" in text and "重大度" in text


def test_long_tables_fold_under_a_count() -> None:
    """A finding's table of many rows shows ten open and folds the rest under their count."""
    from pitfalls.report.html import VISIBLE_ROWS, _records_table

    rows = [{"label": f"class {i}", "n": i} for i in range(25)]
    html = str(_records_table(rows, more="{n} more rows"))
    shown, folded = html.split("<details", 1)
    assert shown.count("<tr>") == VISIBLE_ROWS + 1  # header and ten rows
    assert f"{25 - VISIBLE_ROWS} more rows" in folded
    assert folded.count("<tr>") == 25 - VISIBLE_ROWS + 1
    assert "<details" not in str(_records_table(rows[:5], more="{n} more rows"))
