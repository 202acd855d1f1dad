"""Shortcuts: simple properties, the border, or metadata predict the label (SHORT001-SHORT003).

Each rule trains a cross-validated probe (`pitfalls.probe`) on a few columns of the feature table,
scores it per class (one-vs-rest balanced accuracy, chance 0.5), and when the score is strong,
compares it with chance by a permutation test. Findings report the score, the chance level, the
p-value, the columns that carry the signal (each column's own probe) and example images.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from pitfalls.context import Context
from pitfalls.contract import Need
from pitfalls.findings import Finding
from pitfalls.probe import Probe, ProbeResult, encode, subsample
from pitfalls.rules.base import Doc, Param, Rule, register
from pitfalls.text import T

ACQUISITION = ["width", "height", "aspect", "megapixels", "jpeg_quality", "format", "mode",
               "is_grayscale", "n_frames"]
"""How the file was made: size, shape, container, compression, colour mode."""

CONTENT = ["brightness", "brightness_p05", "brightness_p50", "brightness_p95", "contrast",
           "clipped_dark", "clipped_light", "mean_r", "mean_g", "mean_b", "saturation",
           "colourfulness", "cast_rg", "cast_yb", "sharpness", "edge_density", "noise", "entropy",
           "bits_per_pixel"]
"""What the pixels look like overall: these may differ by class for good reasons."""

COLOUR = ["brightness", "contrast", "mean_r", "mean_g", "mean_b", "saturation", "colourfulness",
          "cast_rg", "cast_yb"]
"""The whole image's colour, against which the border's signal is compared (SHORT002)."""

SIDES = ("top", "bottom", "left", "right")
CORNER_FEATURES = [f"corner_{c}_{k}" for c in ("tl", "tr", "bl", "br")
                   for k in ("lum", "std", "edge", "peak_edge", "sat", "peak_sat")]
"""Each corner patch's luma (relative to the image), spread, mean and strongest edge, and mean
and largest saturation."""
BORDER = ([f"border_{s}_{c}" for s in SIDES for c in ("r", "g", "b", "std")]
          + ["border_std", "border_sat", "border_vs_centre",
             "frame_r", "frame_g", "frame_b", "frame_std", "frame_flat_sides"]
          + CORNER_FEATURES)
"""The border strip (8 % of each side), the outermost ring (a frame, a letterbox) and the four
corner patches (a watermark, a logo, a burned-in date)."""

FLATNESS = ["frame_std", "frame_flat_sides"]
"""How constant the outermost ring is: a painted frame or letterbox, rare in real photos."""

_PROBE_PARAMS = {
    "alpha": Param(0.01, "significance level of the permutation test",
                   low=0.0, high=1.0, open_low=True, open_high=True),
    "n_permutations": Param(99, "label permutations of the test (run only for strong scores)",
                            low=1),
    "max_rows": Param(2000, "probes run on at most this many images (stratified subsample)", low=2),
    "folds": Param(5, "cross-validation folds", low=2),
    "n_examples": Param(6, "example images listed per class the cue gives away", low=0),
    "seed": Param(0, "random seed of the subsample, folds and permutations"),
}


def _with_derived(t: pd.DataFrame) -> pd.DataFrame:
    t = t.copy()
    if {"file_size", "width", "height"} <= set(t.columns):
        pixels = pd.to_numeric(t["width"], errors="coerce") * pd.to_numeric(t["height"],
                                                                            errors="coerce")
        t["bits_per_pixel"] = pd.to_numeric(t["file_size"], errors="coerce") * 8 / pixels
    return t


class ProbeRule(Rule):
    """A rule that asks whether some columns predict the label, with a cross-validated probe."""

    needs = frozenset({Need.FEATURES, Need.LABELS})

    def rows(self, ctx: Context) -> pd.DataFrame:
        """Readable, labelled rows (subsampled), with derived columns; computed once per
        (max_rows, seed) and shared by the probe rules, which only read it."""
        max_rows, seed = int(self.p["max_rows"]), int(self.p["seed"])

        def build() -> pd.DataFrame:
            t = ctx.readable
            t = t[t["label"].notna()]
            return _with_derived(subsample(t, "label", max_rows, seed))
        return ctx.derived(f"probe-rows:{max_rows}:{seed}", build)

    def probe(self, frame: pd.DataFrame, columns: list[str],
              labels: pd.Series | None = None) -> Probe:
        """A probe of `labels` (default: `frame`'s label) on those of `columns` that `frame`
        has, with this rule's folds and seed."""
        present = [c for c in columns if c in frame.columns]
        labels = frame["label"] if labels is None else labels
        return Probe(encode(frame[present]), labels.astype(str),
                     folds=int(self.p["folds"]), seed=int(self.p["seed"]))

    def test(self, probe: Probe, result: ProbeResult, min_score: float, tests: int = 1) -> bool:
        """Strong (score >= min_score) and significant (permutation p <= alpha / tests, the best
        of `tests` probes being tested: Bonferroni, with enough permutations to reach it)."""
        if result.score < min_score:
            return False
        alpha = self.p["alpha"] / tests
        probe.permutation_test(result, int(self.p["n_permutations"]) * tests + tests - 1,
                               stop_above=alpha)
        return result.p_value is not None and result.p_value <= alpha

    def examples(self, frame: pd.DataFrame, probe: Probe, result: ProbeResult,
                 cls: str) -> list[str]:
        """Images of `cls` that the probe recognises from the cue alone."""
        c = probe.classes.index(cls)
        hit = probe.index[(result.labels == c) & (result.predictions == c)]
        return frame.loc[hit, "path"].head(int(self.p["n_examples"])).tolist()

    def class_items(self, frame: pd.DataFrame, probe: Probe, result: ProbeResult,
                    min_score: float, top: dict[str, float]) -> list[dict[str, Any]]:
        classes = sorted((c for c, s in result.per_class.items() if s >= min_score),
                         key=lambda c: -result.per_class[c])[:5]
        return [{"paths": self.examples(frame, probe, result, c), "label": c,
                 "score": result.per_class[c], "features": list(top)[:3]} for c in classes]

    @staticmethod
    def metrics(result: ProbeResult, top: dict[str, float]) -> dict[str, Any]:
        return {
            "score": result.score, "chance": 0.5, "best_class": result.best_class,
            "per_class": result.per_class, "balanced_accuracy": result.balanced_accuracy,
            "chance_balanced_accuracy": result.chance, "p_value": result.p_value,
            "n_permutations": result.n_permutations, "n_images": result.n,
            "n_folds": result.n_folds,
            "features": [{"feature": k, "score": v} for k, v in list(top.items())[:8]],
        }


def _feature_list(top: dict[str, float], n: int = 3) -> str:
    return ", ".join(f"{k} ({v:.2f})" for k, v in list(top.items())[:n])


@register
class PropertyShortcut(ProbeRule):
    code = "SHORT001"
    name = "property-shortcut"
    severity = "warning"
    title = T("Simple image properties predict the label",
              "単純な画像の性質からラベルが予測できる")
    params = {
        "min_score": Param(0.8, "one-vs-rest balanced accuracy of the acquisition probe (size, "
                                "shape, format, compression, colour "
                                "mode) that raises a warning", low=0.0, high=1.0),
        "content_min_score": Param(0.95, "score of the content probe (brightness, colour, "
                                         "sharpness, file size) that "
                                         "raises an info finding", low=0.0, high=1.0),
        **_PROBE_PARAMS,
    }
    doc = Doc(
        what=T("Trains two cross-validated probes: one on how each file was made (width, height, "
               "aspect, megapixels, JPEG quality, format, colour mode) and one on overall content "
               "statistics (brightness, contrast, colour, saturation, sharpness, noise, entropy, "
               "bits per pixel). Each is scored per class by one-vs-rest balanced accuracy "
               "(chance 0.5) and compared with chance by a permutation test. A strong acquisition "
               "probe is a warning; a content probe, whose signal can be legitimate, is only "
               "reported (as info) when it is nearly perfect. The columns that carry the signal "
               "are each scored alone.",
               "交差検証したプローブを 2 つ学習します。1 つはファイルの作られ方（幅、高さ、縦横比、"
               "画素数、JPEG 品質、形式、カラーモード）、もう 1 つは画像全体の統計（明るさ、"
               "コントラスト、色、彩度、鮮鋭度、ノイズ、エントロピー、画素あたりのビット数）です。"
               "クラスごとの一対他バランス正解率（偶然なら 0.5）で評価し、"
               "並べ替え検定で偶然と比較します。作られ方のプローブが強ければ警告、"
               "内容のプローブは正当な場合もあるため、ほぼ完全なときだけ情報として報告します。"
               "信号を運ぶ列はそれぞれ単独でも評価します。"),
        why=T("If one class was photographed with another camera, saved at another resolution or "
              "JPEG quality, or converted to grayscale, a network learns that instead of the "
              "object: the test score is high because the test set shares the artefact, and the "
              "model fails as soon as the artefact changes.",
              "あるクラスだけ別のカメラで撮られた、別の解像度や JPEG 品質で保存された、"
              "グレースケールに変換された、といった場合、ネットワークは対象ではなくそれを学習します"
              "。テストセットも同じ特徴を持つためスコアは高く、"
              "特徴が変わった途端にモデルは失敗します。"),
        fix=T("Bring every class to the same capture and export pipeline (same resolution, "
              "format, quality, colour mode), or randomise those properties in augmentation; "
              "collect images of every class with every camera.",
              "全クラスを同じ撮影・出力パイプライン（解像度、形式、品質、カラーモード）に揃えるか、"
              "データ拡張でそれらをランダム化してください。全クラスを全カメラで撮影してください。"),
        cases=("zech-2018-pneumonia-hospitals",
               "geirhos-2020-shortcut-learning",
               "degrave-2021-covid-shortcuts"),
        notes=T("File size is scored with the content probe (as bits per pixel) because it "
                "follows texture: a class of grass makes larger JPEGs than a class of sky.",
                "ファイルサイズはテクスチャに従う（芝生のクラスは空のクラスより JPEG が大きい）"
                "ため、画素あたりのビット数として内容のプローブで評価します。"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        frame = self.rows(ctx)
        for columns, min_score, kind, severity in (
            (ACQUISITION, self.p["min_score"], "acquisition", "warning"),
            (CONTENT, self.p["content_min_score"], "content", "info"),
        ):
            probe = self.probe(frame, columns)
            result = probe.run()
            if not self.test(probe, result, min_score):
                continue
            top = probe.single_feature_scores(result.best_class)
            what = (T("how the files were made", "ファイルの作られ方") if kind == "acquisition"
                    else T("overall brightness, colour and sharpness", "全体の明るさ・色・鮮鋭度"))
            yield self.finding(
                _summary(what, result, top),
                metrics={**self.metrics(result, top), "probe": kind},
                items=self.class_items(frame, probe, result, min_score, top),
                severity=severity,
            )


def _summary(what: T, result: ProbeResult, top: dict[str, float]) -> T:
    return T(
        f"From {what['en']} alone, a probe recognises class '{result.best_class}' with balanced "
        f"accuracy {result.score:.2f} (chance 0.50, p={result.p_value:.3g}); signal in "
        f"{_feature_list(top)}",
        f"{what['ja']}だけから、プローブはクラス '{result.best_class}' をバランス正解率 "
        f"{result.score:.2f}（偶然 0.50、p={result.p_value:.3g}）で識別します。信号を運ぶ特徴: "
        f"{_feature_list(top)}",
    )


@register
class BorderShortcut(ProbeRule):
    code = "SHORT002"
    name = "border-shortcut"
    severity = "warning"
    title = T("The border / background alone predicts the label",
              "画像の縁・背景だけからラベルが予測できる")
    params = {
        "min_score": Param(0.8, "one-vs-rest balanced accuracy of the border probe that counts "
                                "as strong", low=0.0, high=1.0),
        "min_margin": Param(0.1, "a warning needs the border to beat the whole image's colour "
                                 "by this much for that class", low=0.0, high=1.0),
        "info_min_score": Param(0.95, "border score that is reported as info even when the "
                                      "whole image's colour predicts as well", low=0.0, high=1.0),
        **_PROBE_PARAMS,
    }
    doc = Doc(
        what=T("Trains a cross-validated probe on the border region alone: the mean colour and "
               "spread of an 8 % strip along each side, the outermost ring at full resolution "
               "(its colour, spread and how many sides are flat, which a painted frame or a "
               "letterbox makes constant) and the four corner patches (brightness, spread, mean "
               "and strongest edge, mean and largest saturation, which a watermark, a logo or a "
               "burned-in date changes); one more probe per corner keeps a mark in one corner "
               "from being diluted by the other columns. It is scored per class (one-vs-rest "
               "balanced accuracy, chance 0.5) and the best probe is tested against label "
               "permutations (alpha shared between the five). When the border predicts a "
               "class clearly better than the whole image's colour does, or the flatness of the "
               "outermost ring alone gives the class away (a frame), the signal sits at the "
               "edges: a warning. A border that predicts only as well as the image's overall "
               "colour is reported as info when nearly perfect (the background may be the cue).",
               "画像の縁だけで交差検証したプローブを学習します（各辺 8 % の帯の平均色とばらつき、"
               "原寸での最外周の色・ばらつき・平坦な辺の数（塗られた枠やレターボックスはこれを一定"
               "にします）、四隅のパッチの明るさ・ばらつき・エッジの平均と最大・彩度の平均と最大（"
               "透かし、ロゴ、焼き込み日付がこれを変えます））。隅の印が他の特徴に薄められないよう"
               "、隅ごとのプローブも別に学習します。クラスごとの一対他バランス正解率（偶然なら 0.5"
               "）で評価し、最もよいプローブをラベルの並べ替え検定にかけます（有意水準は五つで分け"
               "合います）。縁が画像全体の色より明らかによくクラスを予測するか、"
               "最外周の平坦さだけでクラスが分かる（枠）なら信号は縁にあり、警告します。全体の色と"
               "同程度にしか予測しない場合は、ほぼ完全なときだけ情報とし"
               "て報告します（背景が手掛かりの可能性）。"),
        why=T("A frame, a watermark strip, a scanner edge or a studio backdrop present in one "
              "class's photos is the easiest thing for a network to learn: it scores well on a "
              "test set built the same way and fails on every real photo.",
              "あるクラスの写真だけにある枠、透かしの帯、スキャナーの縁、撮影スタジオの背景は、"
              "ネットワークが最も学習しやすいものです。同じ作り方のテストセットでは高得点でも、"
              "実際の写真ではすべて失敗します。"),
        fix=T("Crop the borders away (or pad every image alike), photograph every class against "
              "the same backgrounds, and look at the example images; evaluate on images from "
              "another source.",
              "縁を切り取る（またはすべての画像に同じ余白を付ける）、全クラスを同じ背景で撮影する、"
              "例示画像を確認する、別の出所の画像で評価する、のいずれかを行ってください。"),
        cases=("ribeiro-2016-husky-wolf",
               "zech-2018-pneumonia-hospitals",
               "winkler-2019-skin-markings",
               "geirhos-2020-shortcut-learning"),
        notes=T("Calibrated with benchmarks/calibrate_rules.py on 512x384 JPEGs (quality 85-95, "
                "four classes on belts, outdoor scenes and real photo tiles, 5 seeds): no warning "
                "on clean splits; caught on one class: solid frames of 3, 6 and 30 px (score "
                "1.00), a 6 px frame in the photo's own mean colour (0.85-0.95, by the flatness "
                "of the outermost ring), letterbox and pillarbox bars (1.00), a semi-transparent "
                "corner logo of 2 % of the image (0.97-1.00) and a burned-in date of under 1 % "
                "(0.86-0.90), both by the per-corner probes; no SHORT002 warning on 6 clean "
                "512x384 and 1 clean 1024x768 datasets. A mark away from the corners and the "
                "edges is not looked for: look at the example images.",
                "benchmarks/calibrate_rules.py により 512x384 の JPEG（品質 85〜95、"
                "ベルト・屋外・実写真の切り抜きを背景とする 4 クラス、5 シード）で較正しました。"
                "クリーンな分割では警告なし。1 クラスに付けた 3・6・30 画素の単色枠（スコア 1.00）"
                "、写真自身の平均色の 6 画素枠（最外周の平坦さにより0.85〜0.95）、"
                "レターボックスとピラーボックスの帯（1.00）、画像の 2 % の半透明な隅のロゴ（0.97〜1"
                ".00）と 1 % 未満の焼き込み日付（0.86〜0.90、いずれも隅ごとのプローブ）"
                "を検出します。クリーンな 512x384 の 6 データセットと 1024x768 の 1 データセットで"
                "は SHORT002 の警告なし。隅と縁から離れた印は対象外です。"
                "例示画像を確認してください。"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        frame = self.rows(ctx)
        probe = self.probe(frame, BORDER)
        # The whole border, and each corner patch alone: a naive-Bayes probe over every border
        # column dilutes a logo or a date in one corner among the columns that carry nothing.
        # The best is tested, against alpha shared between them (Bonferroni).
        results = [probe.run()]
        for corner in ("tl", "tr", "bl", "br"):
            columns = [c for c in CORNER_FEATURES if c.startswith(f"corner_{corner}_")
                       and c in probe.columns]
            if columns:
                results.append(probe.run(columns))
        result = max(results, key=lambda r: r.score)
        floor = min(self.p["min_score"], self.p["info_min_score"])
        if result.score < floor:
            return
        colour = self.probe(frame, COLOUR).run()
        margins = {c: s - colour.per_class.get(c, 0.5) for c, s in result.per_class.items()}
        flat = probe.run([c for c in FLATNESS if c in probe.columns]).per_class
        strong = {c for c, s in result.per_class.items() if s >= self.p["min_score"]
                  and (margins[c] >= self.p["min_margin"]
                       or flat.get(c, 0.5) >= self.p["min_score"])}
        if strong:
            cls, severity = max(strong, key=result.per_class.__getitem__), "warning"
        elif result.score >= self.p["info_min_score"]:
            cls, severity = result.best_class, "info"
        else:
            return
        # Significance last: the permutations cost most, and are only run for what would be
        # reported.
        if not self.test(probe, result, floor, tests=len(results)):
            return
        top = probe.single_feature_scores(cls)
        s, m = result.per_class[cls], margins[cls]
        items = [i for i in self.class_items(frame, probe, result, self.p["min_score"], top)
                 if i["label"] in strong or severity == "info"]
        yield self.finding(
            T(f"The border alone recognises class '{cls}' with balanced accuracy {s:.2f} (chance "
              f"0.50, p={result.p_value:.3g}; {m:+.2f} over the whole image's colour); signal in "
              f"{_feature_list(top)}",
              f"画像の縁だけで、クラス '{cls}' をバランス正解率 {s:.2f}（偶然 0.50、"
              f"p={result.p_value:.3g}、画像全体の色より {m:+.2f}）で識別できます。信号を運ぶ特徴: "
              f"{_feature_list(top)}"),
            metrics={**self.metrics(result, top), "class": cls,
                     "colour_score": colour.per_class.get(cls, 0.5), "margin": m,
                     "flatness_score": flat.get(cls, 0.5),
                     "classes_flagged": sorted(strong)},
            items=items,
            severity=severity,
        )


ID_SHARE = 0.9
"""A column with at least this share of distinct values (per non-empty row) is an identifier."""


def metadata_columns(ctx: Context, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Candidate metadata columns (manifest columns + camera, date, format, resolution), and the
    columns skipped with the reason."""
    meta = pd.DataFrame(index=frame.index)
    for col in ctx.dataset.meta_columns:
        if col in frame.columns:
            meta[col] = frame[col]
    if "exif_make" in frame.columns or "exif_model" in frame.columns:
        def text(col: str) -> pd.Series:
            values = frame.get(col, pd.Series(index=frame.index, dtype=object)).astype(object)
            return values.where(values.notna(), "").astype(str)

        camera = (text("exif_make") + " " + text("exif_model")).str.strip()
        meta["camera"] = camera.where(camera != "")
    if "exif_datetime" in frame.columns:
        meta["capture_date"] = frame["exif_datetime"].astype("string").str[:10]
    if "format" in frame.columns:
        meta["file_format"] = frame["format"]
    if {"width", "height"} <= set(frame.columns):
        meta["resolution"] = (frame["width"].astype("Int64").astype(str) + "x"
                              + frame["height"].astype("Int64").astype(str))
    skipped: dict[str, str] = {}
    labels = frame["label"].astype(str)
    for col in list(meta.columns):
        s = meta[col]
        filled = s.dropna()
        if filled.nunique() <= 1:
            skipped[col] = "a single value"
        elif len(filled) < 0.05 * len(s):
            skipped[col] = "almost always empty"
        elif filled.nunique() >= ID_SHARE * len(filled) and not _continuous(filled):
            skipped[col] = "an identifier (nearly unique per row)"
        elif _label_alias(s, labels):
            skipped[col] = "a copy of the label"
        else:
            continue
        meta = meta.drop(columns=col)
    return meta, skipped


def _continuous(s: pd.Series) -> bool:
    num = pd.to_numeric(s, errors="coerce")
    return bool(num.notna().all() and (num != num.round()).any())


def _label_alias(s: pd.Series, labels: pd.Series) -> bool:
    pairs = pd.DataFrame({"v": s.astype("string"), "y": labels}).dropna().drop_duplicates()
    return bool(len(pairs) and pairs["v"].is_unique and pairs["y"].is_unique)


@register
class MetadataShortcut(ProbeRule):
    code = "SHORT003"
    name = "metadata-shortcut"
    severity = "warning"
    title = T("Metadata predicts the label", "メタデータからラベルが予測できる")
    params = {
        "min_score": Param(0.8, "one-vs-rest balanced accuracy of a metadata probe that counts "
                                "as strong", low=0.0, high=1.0),
        **_PROBE_PARAMS,
    }
    doc = Doc(
        what=T("Probes each metadata column alone, and all of them together, for how well they "
               "predict the label: the manifest's extra columns (source, site, device, ...) and "
               "what the files say about themselves (camera make and model, capture date, file "
               "format, resolution). Identifier-like columns (nearly unique per row), the group "
               "column and exact copies of the label are skipped. Probes are cross-validated, "
               "scored per class (one-vs-rest balanced accuracy, chance 0.5) and tested against "
               "label permutations (Bonferroni-corrected over the columns).",
               "各メタデータ列を単独で、またすべてをまとめて、ラベルをどれだけ予測できるか調べます"
               "。対象はマニフェストの追加列（出所、施設、機器など）と、"
               "ファイル自身の情報（カメラのメーカーと機種、撮影日、ファイル形式、解像度）です。"
               "識別子のような列（行ごとにほぼ一意）、group 列、ラベルの単なる写しは除きます。"
               "交差検証し、クラスごとの一対他バランス正解率（偶然なら 0.5）で評価し、"
               "ラベルの並べ替え検定（列数でボンフェローニ補正）を行います。"),
        why=T("When each class comes from its own camera, hospital, day or website, the pixels "
              "carry that origin (noise, colour processing, compression) and a model learns the "
              "origin instead of the class; the test set, drawn from the same sources, cannot "
              "tell.",
              "クラスごとにカメラ、病院、撮影日、ウェブサイトが異なると、画素にその出所（ノイズ、"
              "色処理、圧縮）が残り、モデルはクラスではなく出所を学習します。"
              "同じ出所から取ったテストセットでは見分けられません。"),
        fix=T("Collect every class from every source (camera, site, day); if that is impossible, "
              "evaluate on a source held out entirely, and say so in the results.",
              "全クラスを全ての出所（カメラ、施設、撮影日）から集めてください。不可能なら、"
              "一つの出所を丸ごと評価用に取り分けて評価し、そのことを結果に明記してください。"),
        cases=("zech-2018-pneumonia-hospitals", "degrave-2021-covid-shortcuts"),
    )
    needs = frozenset({Need.FEATURES, Need.LABELS})

    def check(self, ctx: Context) -> Iterator[Finding]:
        frame = self.rows(ctx)
        meta, skipped = metadata_columns(ctx, frame)
        if meta.empty:
            return
        probe = self.probe(meta, list(meta.columns), frame["label"])
        if not probe.usable:
            return
        alpha = self.p["alpha"] / max(1, len(probe.columns) + 1)
        flagged: list[tuple[str, ProbeResult]] = []
        for col in probe.columns + ["(all columns)"]:
            result = probe.run(None if col == "(all columns)" else [col])
            if result.score < self.p["min_score"]:
                continue
            n_perm = max(int(self.p["n_permutations"]), int(np.ceil(1 / alpha)))
            probe.permutation_test(result, n_perm)
            if result.p_value is not None and result.p_value <= alpha:
                flagged.append((col, result))
        singles = [(c, r) for c, r in flagged if c != "(all columns)"]
        if not flagged:
            return
        col, result = max(singles or flagged, key=lambda cr: cr[1].score)
        top = {c: r.score for c, r in sorted(singles, key=lambda cr: -cr[1].score)}
        if col == "(all columns)":
            top = probe.single_feature_scores(result.best_class)
        items = []
        for c, r in (singles or flagged)[:5]:
            cls = r.best_class
            paths = self.examples(frame, probe, r, cls)
            value = None
            if c in meta.columns:
                mode = meta.loc[frame["label"].astype(str) == cls, c].astype("string").mode()
                value = str(mode.iloc[0]) if len(mode) else None
            items.append({"paths": paths, "column": c, "value": value, "label": cls,
                          "score": r.score, "p_value": r.p_value})
        yield self.finding(
            T(f"Metadata column '{col}' recognises class '{result.best_class}' with balanced "
              f"accuracy {result.score:.2f} (chance 0.50, p={result.p_value:.3g}); columns that "
              f"give the label away: {_feature_list(top, 5)}",
              f"メタデータ列 '{col}' はクラス '{result.best_class}' をバランス正解率 "
              f"{result.score:.2f}（偶然 0.50、p={result.p_value:.3g}）で識別します。ラベルを"
              f"明かす列: {_feature_list(top, 5)}"),
            metrics={**self.metrics(result, top), "column": col,
                     "columns": {c: {"score": r.score, "p_value": r.p_value,
                                     "best_class": r.best_class} for c, r in flagged},
                     "skipped_columns": skipped, "alpha_per_test": alpha},
            items=items,
        )
