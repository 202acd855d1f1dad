"""The saved report.html in a real headless Chromium: it renders (non-blank screenshot) offline and
its DOM holds every finding's section."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pitfalls

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
CHROME = next((b for b in map(shutil.which, BROWSERS) if b), None)
pytestmark = pytest.mark.skipif(CHROME is None, reason="no Chromium/Chrome binary on PATH")

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage")


def chrome(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROME is not None
    return subprocess.run([CHROME, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, report_scan: pitfalls.Report
          ) -> tuple[Path, pitfalls.Report]:
    out = report_scan.save(tmp_path_factory.mktemp("browser") / "out")
    return out / "report.html", report_scan


def test_screenshot_is_not_blank(saved: tuple[Path, pitfalls.Report], tmp_path: Path) -> None:
    html, _ = saved
    png = tmp_path / "shot.png"
    run = chrome(tmp_path, f"--screenshot={png}", "--window-size=1280,2000", html.as_uri())
    assert png.exists(), run.stderr[-2000:]
    img = Image.open(png)
    assert img.format == "PNG" and img.size == (1280, 2000)
    a = np.asarray(img.convert("RGB")).astype(np.int16)
    ink = (np.abs(a - 255).sum(axis=2) > 60).mean()  # share of clearly non-white pixels
    assert 0.01 < ink < 0.9
    colours = len(np.unique(a.reshape(-1, 3)[::7], axis=0))
    assert colours > 50  # text, badges, chart and thumbnails, not a flat page


def test_dom_has_every_finding(saved: tuple[Path, pitfalls.Report], tmp_path: Path) -> None:
    html, report = saved
    run = chrome(tmp_path, "--dump-dom", html.as_uri())
    dom = run.stdout
    assert "</html>" in dom, run.stderr[-2000:]
    assert report.findings
    for f in report.findings:
        assert f'data-rule="{f.rule}"' in dom
        assert f.rule in dom
    assert dom.count('<article class="finding') == len(report.findings)
    assert '<svg class="chart"' in dom
    assert 'id="passed"' in dom and 'id="skipped"' in dom


MEASURE = """<script>
const out = [];
document.querySelectorAll("svg").forEach((svg, k) => {
  const width = svg.viewBox.baseVal.width;
  svg.querySelectorAll("text").forEach(t => {
    const b = t.getBBox();
    if (b.x < -0.5 || b.x + b.width > width + 0.5) out.push(k + ":" + t.textContent);
  });
});
document.body.setAttribute("data-overflow", out.length ? out.join("|") : "none");
</script>"""


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_robustness_legend_fits_inside_its_chart(tmp_path: Path, lang: str) -> None:
    """The legend of the robustness sweep was cut at the chart's right edge: every label of
    every condition, with the demo's severities, ends inside the SVG in the report's font."""
    from pitfalls.field.capture import SWEEP
    from pitfalls.field.report import sweep_svg
    from pitfalls.report.html import FONTS

    sweep = [{"label": dict(label), "severity": list(values),
              "accuracy": list(np.linspace(0.85, 0.4 + 0.05 * k, len(values)))}
             for k, (label, _param, values) in enumerate(SWEEP.values())]
    sweep.append({"label": {"en": "white balance (warm cast) and JPEG quality, long",
                            "ja": "ホワイトバランス（暖色かぶり）と JPEG 品質の組み合わせ"},
                  "severity": [1.0, 0.7], "accuracy": [0.85, 0.5]})
    page = tmp_path / "sweep.html"
    page.write_text(f'<!DOCTYPE html><html lang="{lang}"><body style=\'font-family:{FONTS[lang]};'
                    f'font-size:14px\'>{sweep_svg(sweep, lang)}{MEASURE}</body></html>',
                    encoding="utf-8")
    dom = chrome(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert 'data-overflow="none"' in dom, dom[dom.find("data-overflow"):][:500]
