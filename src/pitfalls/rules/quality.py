"""Image quality: unreadable or mis-typed files (QUAL001) and the image-quality rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pitfalls.context import Context
from pitfalls.findings import Finding
from pitfalls.rules.base import Doc, Param, Rule, register
from pitfalls.sources import name_in_container
from pitfalls.text import T

FORMAT_SUFFIXES = {
    "JPEG": {".jpg", ".jpeg", ".jpe", ".jfif"},
    "PNG": {".png"},
    "GIF": {".gif"},
    "BMP": {".bmp", ".dib"},
    "TIFF": {".tif", ".tiff"},
    "WEBP": {".webp"},
    "PPM": {".ppm", ".pgm", ".pbm", ".pnm"},
    "ICO": {".ico"},
    "MPO": {".jpg", ".jpeg", ".mpo"},
}

ERROR_TEXT = {
    "missing": T("file not found", "ファイルが見つかりません"),
    "unreadable": T("cannot read the file", "ファイルを読み込めません"),
    "empty": T("zero-byte file", "0 バイトのファイル"),
    "not_an_image": T("not an image", "画像ではありません"),
    "truncated": T("truncated image", "途中で切れた画像"),
    "corrupt": T("corrupt image", "壊れた画像"),
    "too_large": T("refused: too many pixels (possible decompression bomb)",
                   "拒否: ピクセル数が多すぎます（解凍爆弾の可能性）"),
    "not_a_file": T("not a regular file (a folder, named pipe, socket or device)",
                    "通常のファイルではありません（フォルダ・名前付きパイプ・ソケット・デバイス）"),
    "bad_path": T("not a usable file name (e.g. a NUL byte)",
                  "使えないファイル名です（NUL 文字を含むなど）"),
}


@register
class BrokenFiles(Rule):
    code = "QUAL001"
    name = "broken-files"
    severity = "error"
    title = T("Unreadable, truncated or mis-typed image files",
              "読み込めない・途中で切れた・形式が拡張子と違う画像ファイル")
    doc = Doc(
        what=T("Reports every file that cannot be decoded (missing, zero-byte, truncated, "
               "corrupt, not an image, or refused as a decompression bomb), every entry with an "
               "image's name that is not a regular file (a named pipe, a device, a broken link) "
               "and every folder that could not be listed as an error; readable files whose "
               "extension does not match their real format, and files a manifest lists twice "
               "under different spellings, as info. Unreadable files are skipped by every other "
               "rule.",
               "デコードできないファイル（存在しない、0 バイト、途中で切れている、壊れている、"
               "画像でない、解凍爆弾として拒否）、画像の名前を持つが通常のファイルでないもの"
               "（名前付きパイプ、デバイス、リンク切れ）、一覧できなかったフォルダをエラーとして、"
               "拡張子と実際の形式が異なる読み込み可能なファイルと、マニフェストに別の書き方で"
               " 2 回記載されたファイルを情報として報告します。"
               "読み込めないファイルは他のルールから除外されます。"),
        why=T("A single truncated file crashes a training job hours in, or is silently dropped by "
              "a loader, changing the data without anyone noticing. Mis-typed files break tools "
              "that trust the extension.",
              "途中で切れたファイルが 1 つあるだけで数時間後に学習が落ちたり、"
              "ローダーが黙って読み飛ばしてデータが気付かぬうちに変わったりします。"
              "拡張子を信じるツールは形式違いのファイルで壊れます。"),
        fix=T("Re-export or re-download the listed files, or remove them from the dataset; rename "
              "mis-typed files to their real format's extension.",
              "該当ファイルを再出力・再取得するか、データセットから除いてください。"
              "形式違いのファイルは実際の形式の拡張子に改名してください。"),
        cases=("imagenet-2012-png-cmyk-files",),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        unlisted = ctx.dataset.unlisted
        if unlisted:
            yield self.finding(
                T("{n} folder(s) could not be listed: the images in them are not in this scan",
                  "{n} 個のフォルダの中身を一覧できません。"
                  "その中の画像はこのスキャンに含まれていません"
                  ).format(n=len(unlisted)),
                metrics={"n_unlisted_folders": len(unlisted)},
                items=[{"paths": [u["path"]], "kind": "unlisted_folder", "reason": u["reason"]}
                       for u in unlisted],
            )
        twice = ctx.dataset.listed_twice
        if twice:
            yield self.finding(
                T("{n} file(s) are listed twice in the manifest under different spellings "
                  "(scanned once)",
                  "{n} 個のファイルがマニフェストに別の書き方で 2 回記載されています"
                  "（1 回だけ検査）"
                  ).format(n=len(twice)),
                metrics={"n_listed_twice": len(twice)},
                items=[{"paths": list(t["paths"]), "kind": "listed_twice"} for t in twice],
                severity="info",
            )
        t = ctx.table
        bad = t[~ctx.ok]
        if len(bad):
            items = [{"paths": [row.path], "kind": row.error_kind, "reason": row.error}
                     for row in bad.itertuples()]
            kinds = bad["error_kind"].value_counts()
            yield self.finding(
                T("{n} file(s) cannot "
                  "be read ({k})", "{n} 個のファイルを読み込めません（{k}）").format(
                    n=len(bad), k=", ".join(f"{k}: {v}" for k, v in kinds.items())),
                metrics={"n_unreadable": int(len(bad)),
                         "by_kind": {str(k): int(v) for k, v in kinds.items()}},
                items=items,
            )
        good = t[ctx.ok]
        wrong = []
        fmt = good["format"] if "format" in good else pd.Series(None, index=good.index)
        for path, form in zip(good["path"], fmt, strict=True):  # two columns, not whole rows
            expected = FORMAT_SUFFIXES.get(str(form))
            # An embedded image's name is its member's (a Parquet row has none to check).
            suffix = PurePosixPath(name_in_container(path)).suffix.lower() if expected else ""
            if expected and suffix and suffix not in expected:
                wrong.append({"paths": [path], "format": form, "suffix": suffix})
        if wrong:
            yield self.finding(
                T("{n} file(s) have an extension that does not match their format",
                  "{n} 個のファイルの拡張子が実際の形式と一致しません").format(n=len(wrong)),
                metrics={"n_mistyped": len(wrong)}, items=wrong, severity="info",
            )


# --- image-quality rules (QUAL002…) ----------------------------------------------------------
#
# Each flags single images from the feature table only. When a condition holds for most of the
# dataset it is the dataset's nature (night surveillance, X-rays), not a quality problem: the
# finding is then downgraded to info. Thresholds follow CleanVision's where it has one; the
# Doc notes say where and why they differ.

LOW_ENTROPY = 1.5
"""Luma-histogram entropy (bits) below which an image is nearly blank (see QUAL005)."""


def _ufunc(f: np.ufunc, s: pd.Series) -> pd.Series:
    """`f` element-wise over `s`, kept a Series (numpy's stubs type a ufunc's result as an
    array)."""
    return pd.Series(f(s.to_numpy(dtype=float)), index=s.index, name=s.name)


def _num(t: pd.DataFrame, col: str) -> pd.Series:
    if col not in t.columns:
        return pd.Series(np.nan, index=t.index, dtype=float)
    return pd.to_numeric(t[col], errors="coerce").astype(float)


class PerImageRule(Rule):
    """A rule that flags single images: subclasses return a mask and a per-image score."""

    severity = "warning"
    summary: ClassVar[T]
    ascending: ClassVar[bool] = True
    """Sort items by score ascending (lowest is worst) or descending."""

    def flag(self, t: pd.DataFrame) -> tuple[pd.Series, pd.Series, dict[str, Any]]:
        """(mask of flagged rows, score per row, extra metrics) over the readable rows `t`."""
        raise NotImplementedError

    def check(self, ctx: Context) -> Iterator[Finding]:
        t = ctx.readable
        if t.empty:
            return
        mask, score, extra = self.flag(t)
        mask = mask.fillna(False).astype(bool)
        n = int(mask.sum())
        if n == 0:
            return
        hit = (t[mask].assign(rule_score=score[mask])
               .sort_values("rule_score", ascending=self.ascending))
        share = n / len(t)
        limit = int(self.p.get("max_items", 200))
        items = [{"paths": [row.path], "score": float(row.rule_score)}
                 for row in hit.head(limit).itertuples()]
        widespread = share > float(self.p.get("max_share", 1.0))
        yield self.finding(
            self.summary.format(n=n, share=share),
            metrics={"n_images": n, "share": share, **extra},
            items=items,
            severity="info" if widespread else None,
        )


_COMMON = {
    "max_share": Param(0.5, "share of images above which the condition is the dataset's nature "
                            "and the finding is downgraded to info", low=0.0, high=1.0),
    "max_items": Param(200, "most images listed in the finding", low=1),
}


@register
class DarkImages(PerImageRule):
    code = "QUAL002"
    name = "dark-images"
    title = T("Dark images", "暗すぎる画像")
    summary = T("{n} image(s) are almost entirely dark ({share:.1%})",
                "{n} 枚（{share:.1%}）の画像がほぼ真っ暗です")
    params = {"max_p95": Param(0.25, "95th percentile of luma (0-1) below which an image is dark",
                               low=0.0, high=1.0),
              **_COMMON}
    doc = Doc(
        what=T("Flags images whose 95th-percentile luma is below `max_p95` (0-1): at least 95 % of "
               "the pixels are dark.",
               "輝度の 95 パーセンタイルが `max_p95`（0〜1）未満、"
               "つまり画素の 95 % 以上が暗い画像を報告します。"),
        why=T("Under-exposed images carry little usable signal; if they cluster in one class or "
              "one split they become a shortcut or a hidden distribution shift, and a model that "
              "never saw them fails at night or indoors in the field.",
              "露出不足の画像は使える情報が少なく、特定のクラスや分割に偏るとショートカットや隠れた"
              "分布の違いになります。暗い画像を学習していないモデルは、"
              "現場の夜間や屋内で失敗します。"),
        fix=T("Check whether the dark images are capture failures (remove or re-shoot) or a real "
              "field condition (keep them, and make sure every class and split has them).",
              "暗い画像が撮影の失敗（削除・撮り直し）なのか、現場の実際の条件（残して全クラス・全分"
              "割に含める）なのかを確認してください。"),
        cases=("hendrycks-dietterich-2019-imagenet-c", "beede-2020-dr-thailand"),
        notes=T("CleanVision thresholds the 99th percentile of its perceived brightness at 0.32; "
                "the 95th percentile of luma at 0.25 flags the same images in its test set while "
                "leaving night photos with a few bright lights alone.",
                "CleanVision は知覚輝度の 99 パーセンタイルを 0.32 で判定します。"
                "輝度の 95 パーセンタイルを 0.25 で判定すると、"
                "そのテスト画像では同じ画像を検出しつつ、明かりの写った夜景は除外します。"),
    )

    def flag(self, t: pd.DataFrame) -> tuple[pd.Series, pd.Series, dict[str, Any]]:
        p95 = _num(t, "brightness_p95")
        return p95 < self.p["max_p95"], p95, {"max_p95": self.p["max_p95"]}


@register
class LightImages(PerImageRule):
    code = "QUAL003"
    name = "over-exposed-images"
    ascending = False
    title = T("Over-exposed (washed-out) images", "露出オーバー（白飛び）の画像")
    summary = T("{n} image(s) are almost entirely white or washed out ({share:.1%})",
                "{n} 枚（{share:.1%}）の画像がほぼ真っ白か白飛びしています")
    params = {"min_p05": Param(0.9, "5th percentile of luma (0-1) above which an image is "
                                    "over-exposed", low=0.0, high=1.0), **_COMMON}
    doc = Doc(
        what=T("Flags images whose 5th-percentile luma is above `min_p05` (0-1): at least 95 % of "
               "the pixels are near white.",
               "輝度の 5 パーセンタイルが `min_p05`（0〜1）を超える、"
               "つまり画素の 95 % 以上が白に近い画像を報告します。"),
        why=T("Washed-out images have lost their detail to clipping; a class photographed against "
              "a bright backdrop, or under a flash, teaches the model the lighting instead of the "
              "object.",
              "白飛びした画像は細部が失われています。明るい背景やフラッシュで撮られたクラスがあると"
              "、モデルは対象ではなく照明を学習します。"),
        fix=T("Remove capture failures; fix exposure at capture time; make sure lighting does not "
              "differ systematically between classes.",
              "撮影の失敗は除き、撮影時に露出を調整し、"
              "照明がクラス間で系統的に異ならないようにしてください。"),
        cases=("hendrycks-dietterich-2019-imagenet-c",),
        notes=T("CleanVision thresholds the 5th percentile of perceived brightness at 0.95; luma "
                "at 0.9 is equivalent on its test images.",
                "CleanVision は知覚輝度の 5 パーセンタイルを 0.95 で判定します。輝度では 0.9 が"
                "そのテスト画像で同等です。"),
    )

    def flag(self, t: pd.DataFrame) -> tuple[pd.Series, pd.Series, dict[str, Any]]:
        p05 = _num(t, "brightness_p05")
        return p05 > self.p["min_p05"], p05, {"min_p05": self.p["min_p05"]}


def relative_sharpness(t: pd.DataFrame) -> pd.Series:
    """Laplacian variance over intensity variance: a blur measure independent of contrast."""
    contrast = _num(t, "contrast") * 255.0
    return _num(t, "sharpness") / np.maximum(contrast**2, 1e-6)


def blur_score(t: pd.DataFrame) -> pd.Series:
    """Fine detail relative to the next coarser band, times sqrt(relative sharpness): both
    sink with blur, and their product separates blurred copies from soft photos better than
    either (see QUAL004's notes). Rows without `fine_detail` (old caches) score 1 (not blurry)."""
    fine = _num(t, "fine_detail").fillna(1.0)
    return fine * np.sqrt(relative_sharpness(t).clip(lower=0))


@register
class BlurryImages(PerImageRule):
    code = "QUAL004"
    name = "blurry-images"
    title = T("Blurry images", "ぼやけた画像")
    summary = T("{n} image(s) are "
                "blurry ({share:.1%})", "{n} 枚（{share:.1%}）の画像がぼやけています")
    params = {
        "max_sharpness": Param(0.03, "relative sharpness (Laplacian variance / intensity "
                                     "variance) below which an image is blurry"),
        "max_of_median": Param(0.1, "and below this fraction of the dataset's median"),
        "max_blur_score": Param(0.04, "blur score (fine detail x sqrt(relative sharpness)) "
                                      "below which an image is blurry"),
        "max_score_of_median": Param(0.3, "and below this fraction of the dataset's median "
                                          "blur score"),
        "min_contrast": Param(0.03, "images flatter than this (luma std, 0-1) are not judged",
                              low=0.0, high=1.0),
        **_COMMON,
    }
    doc = Doc(
        what=T("Measures each image's relative sharpness, the variance of its Laplacian divided by "
               "the variance of its intensities (so low contrast alone does not count as blur), "
               "and flags images below `max_sharpness` that are also far below the dataset's "
               "median. Dark, nearly blank and flat images are left to QUAL002/QUAL005.",
               "各画像の相対鮮鋭度（ラプラシアンの分散を輝度の分散で割った値。"
               "低コントラストだけではぼけと見なさない）を測り、`max_sharpness` 未満かつデータセッ"
               "トの中央値より大幅に低い画像を報告します。"
               "暗い画像・ほぼ無地の画像は QUAL002/QUAL005 に任せます。"),
        why=T("Motion blur and missed focus remove the fine detail a classifier relies on; if one "
              "class or one camera is blurrier, the model learns blur as a cue.",
              "手ぶれやピンぼけは分類器が頼る細部を消します。特定のクラスやカメラだけぼやけていると"
              "、モデルはぼけを手掛かりとして学習します。"),
        fix=T("Remove or re-shoot the blurry images, or keep them deliberately (and in every "
              "class) when the field will produce blur too.",
              "ぼやけた画像を削除・撮り直すか、現場でもぼけが生じるなら意図的に（全クラスに）"
              "残してください。"),
        cases=("pech-pacheco-2000-focus-measure",
               "hendrycks-dietterich-2019-imagenet-c",
               "beede-2020-dr-thailand"),
        notes=T("CleanVision measures edge strength on a 64-pixel thumbnail; the relative "
                "Laplacian variance on the 256-pixel working copy agrees on its test images and "
                "adapts to the dataset (a microscope set that is soft everywhere is not flooded). "
                "A second test catches moderate blur: the blur score (the finest band's detail "
                "over the next coarser band's, times the square root of the relative sharpness) "
                "below `max_blur_score` and far below the dataset's median. Calibrated with "
                "benchmarks/calibrate_rules.py on 512x384 JPEGs (quality 70-95): ordinary photos "
                "score 0.06-0.7 (median about 0.3); a Gaussian blur of sigma 2-3 px scores at "
                "most about 0.045 (nearly all caught at 0.04); a 9-15 px motion blur scores "
                "0.02-0.12 and only about half is caught; photos upscaled 2-3x with a blurred "
                "background can score as low as 0.03 (about 1 in 300 flagged).",
                "CleanVision は 64 画素の縮小画像のエッジ強度を使います。"
                "256 画素の作業用コピーでの相対ラプラシアン分散はそのテスト画像で同じ結果になり、"
                "データセット全体が柔らかい場合も大量検出しません。中程度のぼけは 2 つ目の判定で捉"
                "えます。ぼけスコア（最も細かい帯域の細部を一段粗い帯域の細部で割った値に、"
                "相対鮮鋭度の平方根を掛けたもの）が `max_blur_score` 未満で、"
                "かつデータセットの中央値より大幅に低い画像です。benchmarks/calibrate_rules.py によ"
                "り 512x384 の JPEG（品質 70〜95）で較正しました。"
                "普通の写真は 0.06〜0.7（中央値約 0.3）、シグマ 2〜3 画素のガウスぼけは最大約 0.045"
                "（0.04 でほぼすべて検出）、9〜15 画素の手ぶれは 0.02〜0.12 で約半数のみ検出、"
                "背景のぼけた 2〜3 倍拡大の写真は 0.03 まで下がることが"
                "あります（約 300 枚に 1 枚を検出）。"),
    )

    def flag(self, t: pd.DataFrame) -> tuple[pd.Series, pd.Series, dict[str, Any]]:
        rel = relative_sharpness(t)
        judged = ((_num(t, "contrast") >= self.p["min_contrast"])
                  & (_num(t, "entropy") >= LOW_ENTROPY)
                  & (_num(t, "brightness_p95") >= DarkImages.params["max_p95"].default))
        median = float(rel[judged].median()) if judged.any() else float("nan")
        heavy = (rel < self.p["max_sharpness"]) & (rel < median * self.p["max_of_median"])
        score = blur_score(t)
        score_median = float(score[judged].median()) if judged.any() else float("nan")
        moderate = ((score < self.p["max_blur_score"])
                    & (score < score_median * self.p["max_score_of_median"]))
        return judged & (heavy | moderate), rel, {
            "median_sharpness": median, "max_sharpness": self.p["max_sharpness"],
            "median_blur_score": score_median, "max_blur_score": self.p["max_blur_score"]}


@register
class LowInformation(PerImageRule):
    code = "QUAL005"
    name = "low-information"
    title = T("Low-information (nearly blank) images", "情報量の少ない（ほぼ無地の）画像")
    summary = T("{n} image(s) are nearly blank ({share:.1%})",
                "{n} 枚（{share:.1%}）の画像がほぼ無地です")
    params = {"max_entropy": Param(LOW_ENTROPY, "entropy (bits) of the luma histogram below "
                                                "which an image is "
                                                "nearly blank", low=0.0, high=8.0), **_COMMON}
    doc = Doc(
        what=T("Flags images whose luma histogram has an entropy below `max_entropy` bits: "
               "blank frames, lens caps, solid fills, nearly white or black pages.",
               "輝度ヒストグラムのエントロピーが `max_entropy` ビット未満の画像（空のフレーム、"
               "レンズキャップ、単色、ほぼ白・黒のページ）を報告します。"),
        why=T("Blank images carry no information about their label: they are noise in training "
              "and free points (or free errors) in evaluation, and often mark a broken capture "
              "pipeline.",
              "無地の画像にはラベルの情報がなく、学習ではノイズ、評価では無意味な正解・誤りになりま"
              "す。撮影パイプラインの故障を示していることもよくあります。"),
        fix=T("Remove them, or give them an explicit 'no object' class if the field produces them.",
              "削除するか、現場でも発生するなら明示的な「対象なし」クラスにしてください。"),
        cases=("norouzzadeh-2018-camera-trap-empty",),
        notes=T("CleanVision uses the entropy of the three-channel histogram with a threshold of "
                "3 bits; on its test images that equals about 1.5 bits of the luma histogram.",
                "CleanVision は 3 チャンネルのヒストグラムのエントロピーを 3 ビットで判定します。"
                "そのテスト画像では輝度ヒストグラムの約 1.5 ビットに相当します。"),
    )

    def flag(self, t: pd.DataFrame) -> tuple[pd.Series, pd.Series, dict[str, Any]]:
        ent = _num(t, "entropy")
        return ent < self.p["max_entropy"], ent, {"max_entropy": self.p["max_entropy"]}


@register
class OddSize(PerImageRule):
    code = "QUAL006"
    name = "odd-size"
    severity = "info"
    ascending = False
    title = T("Tiny or unusually sized images", "極端に小さい・サイズが大きく外れた画像")
    summary = T("{n} image(s) are tiny or far from the dataset's typical size ({share:.1%})",
                "{n} 枚（{share:.1%}）の画像が極端に小さいか、典型的なサイズから大きく外れています")
    params = {
        "min_side": Param(32, "images with a shorter side below this many pixels are tiny", low=1),
        "size_factor": Param(4.0, "sqrt(width*height) more than this factor from the median "
                                  "is odd", low=1.0),
        "iqr_factor": Param(3.0, "and outside the interquartile fence (in log size) by this "
                                 "many IQRs"),
        **_COMMON,
    }
    doc = Doc(
        what=T("Flags images whose shorter side is below `min_side` pixels, and images whose "
               "linear size sqrt(width x height) is more than `size_factor` times away from the "
               "dataset's median and outside its interquartile fence.",
               "短辺が `min_side` 画素未満の画像と、線形サイズ sqrt(幅×高さ) がデータセットの中央値"
               "から `size_factor` 倍以上離れ、かつ四分位範囲の外にある画像を報告します。"),
        why=T("Tiny images are upscaled into mush by the loader; outliers in size usually come "
              "from another source (another camera, a web scrape, a thumbnail) and can become a "
              "shortcut if they cluster in one class.",
              "極端に小さい画像はローダーで拡大されて潰れます。サイズの外れ値は別の出所（別のカメラ"
              "、ウェブ収集、サムネイル）から来ていることが多く、"
              "特定のクラスに偏るとショートカットになります。"),
        fix=T("Check where the outliers come from; drop thumbnails; resize consistently.",
              "外れ値の出所を確認し、サムネイルは除き、一貫した方法でリサイズしてください。"),
        cases=("hendrycks-dietterich-2019-imagenet-c", "touvron-2019-train-test-resolution"),
        notes=T("CleanVision uses an IQR fence on sqrt(area) alone; the added factor from the "
                "median keeps datasets with a tight size spread from flagging ordinary photos.",
                "CleanVision は sqrt(面積) の四分位範囲のみを使います。中央値からの倍率条件を加え、"
                "サイズのばらつきが小さいデータセットで普通の写真を検出しないようにしています。"),
    )

    def flag(self, t: pd.DataFrame) -> tuple[pd.Series, pd.Series, dict[str, Any]]:
        w, h = _num(t, "width"), _num(t, "height")
        size = _ufunc(np.log, _ufunc(np.sqrt, w * h).clip(lower=1))
        median = float(size.median())
        q1, q3 = np.nanpercentile(size, [25, 75])
        fence = self.p["iqr_factor"] * (q3 - q1)
        far = (size - median).abs() > np.log(self.p["size_factor"])
        outside = (size < q1 - fence) | (size > q3 + fence)
        tiny = np.minimum(w, h) < self.p["min_side"]
        ratio = np.exp(size - median)
        score = np.maximum(ratio, 1 / ratio)
        return tiny | (far & outside), score, {"median_size": float(np.exp(median))}


@register
class OddAspect(PerImageRule):
    code = "QUAL007"
    name = "odd-aspect-ratio"
    severity = "info"
    ascending = False
    title = T("Unusual aspect ratios", "極端な縦横比の画像")
    summary = T("{n} image(s) have an extreme or unusual aspect ratio ({share:.1%})",
                "{n} 枚（{share:.1%}）の画像の縦横比が極端か、データセットで珍しい値です")
    params = {
        "max_ratio": Param(3.0, "long side / short side above which an image is extreme", low=1.0),
        "rel_factor": Param(2.5, "aspect ratio more than this factor from the dataset's median "
                                 "is unusual", low=1.0),
        **_COMMON,
    }
    doc = Doc(
        what=T("Flags images whose long side is more than `max_ratio` times the short side, or "
               "whose aspect ratio is more than `rel_factor` times away from the dataset's median.",
               "長辺が短辺の `max_ratio` 倍を超える画像、または縦横比がデータセットの中央値から "
               "`rel_factor` 倍以上離れた画像を報告します。"),
        why=T("Loaders squash or crop every image to one shape: extreme shapes (panoramas, "
              "banners, strips) lose the object or distort it, and are often not photos at all.",
              "ローダーはすべての画像を一つの形に潰すか切り取ります。極端な形（パノラマ、バナー、"
              "帯状の画像）では対象が失われたり歪んだりし、そもそも写真でないこともよくあります。"),
        fix=T("Check the listed files; crop or pad them deliberately, or remove them.",
              "該当ファイルを確認し、意図的に切り取る・余白を付ける、または削除してください。"),
        cases=("touvron-2019-train-test-resolution",),
        notes=T("CleanVision flags a short/long ratio below 0.35 (long/short above 2.9); 3.0 here, "
                "plus a check relative to the dataset's typical shape.",
                "CleanVision は短辺/長辺が 0.35 未満（長辺/短辺 2.9 超）で判定します。"
                "ここでは 3.0 とし、データセットの典型的な形との比較も加えています。"),
    )

    def flag(self, t: pd.DataFrame) -> tuple[pd.Series, pd.Series, dict[str, Any]]:
        w, h = _num(t, "width"), _num(t, "height")
        log_aspect = _ufunc(np.log, (w / h).clip(lower=1e-6))
        extreme = log_aspect.abs() > np.log(self.p["max_ratio"])
        unusual = (log_aspect - log_aspect.median()).abs() > np.log(self.p["rel_factor"])
        score = np.exp(log_aspect.abs())
        return extreme | unusual, score, {"median_aspect": float(np.exp(log_aspect.median()))}


@register
class ColourModes(Rule):
    code = "QUAL008"
    name = "mixed-colour-modes"
    severity = "info"
    title = T("Grayscale images in a colour dataset, or mixed colour modes",
              "カラーのデータセットに混じったグレースケール画像、または混在するカラーモード")
    params = {
        "max_share": Param(0.5, "grayscale images are reported when they are fewer than this "
                                "share of the dataset", low=0.0, high=1.0),
        "max_items": Param(200, "most images listed in the finding", low=1),
    }
    doc = Doc(
        what=T("Reports grayscale images (every pixel's channels equal) when most of the dataset "
               "is in colour, and files stored in a colour mode other than the dataset's usual one "
               "(e.g. L, P, RGBA, CMYK, 16-bit among RGB). "
               "Nearly blank images are left to QUAL005.",
               "データセットの大半がカラーのときのグレースケール画像（全画素でチャンネルが等しい）"
               "と、通常と異なるカラーモード（RGB の中の L、P、RGBA、CMYK、16 ビットなど）"
               "で保存されたファイルを報告します。ほぼ無地の画像は QUAL005 に任せます。"),
        why=T("Grayscale images in a colour dataset are often from another source (a scanner, an "
              "infrared camera) and become a shortcut when they cluster in one class; mixed modes "
              "are converted differently by different loaders (alpha dropped onto black, CMYK "
              "inverted, 16-bit clipped), so training and serving can see different pixels.",
              "カラーのデータセット中のグレースケール画像は別の出所（スキャナー、赤外線カメラ）"
              "から来ていることが多く、特定のクラスに偏るとショートカットになります。"
              "カラーモードが混在すると、ローダーごとに変換が異なり（アルファが黒に落ちる、"
              "CMYK の反転、16 ビットの切り捨て）、"
              "学習時と推論時で見る画素が変わることがあります。"),
        fix=T("Convert every file to one mode (usually 8-bit RGB) when building the dataset, and "
              "check where the grayscale images come from.",
              "データセット作成時にすべてのファイルを一つのモード（通常 8 ビット RGB）に変換し、"
              "グレースケール画像の出所を確認してください。"),
        cases=("imagenet-2012-png-cmyk-files",),
        notes=T("CleanVision calls an image grayscale only when its file mode is L; here an RGB "
                "file whose channels are all equal counts too.",
                "CleanVision はファイルのモードが L のときだけグレースケールとします。"
                "ここでは全チャンネルが等しい RGB ファイルも含めます。"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        t = ctx.readable
        if t.empty:
            return
        limit = int(self.p["max_items"])
        gray = t["is_grayscale"].fillna(False).astype(bool) & (_num(t, "entropy") >= LOW_ENTROPY)
        share = float(gray.mean())
        if 0 < share < self.p["max_share"]:
            paths = t.loc[gray, "path"].tolist()
            yield self.finding(
                T("{n} grayscale image(s) in a colour dataset ({share:.1%})",
                  "カラーのデータセットにグレースケール画像が "
                  "{n} 枚（{share:.1%}）あります").format(
                      n=len(paths), share=share),
                metrics={"n_grayscale": len(paths), "share": share},
                items=[{"paths": [p], "kind": "grayscale"} for p in paths[:limit]],
                severity="warning",
            )
        modes = t["mode"].fillna("?").astype(str)
        counts = modes.value_counts()
        if len(counts) > 1:
            main = str(counts.index[0])
            odd = t[modes != main]
            yield self.finding(
                T("Files use {k} colour modes: {m}; {n} differ from the usual {main}",
                  "ファイルのカラーモードが {k} 種類あります（{m}）。"
                  "{n} 個が通常の {main} と異なります"
                  ).format(k=len(counts), m=", ".join(f"{k}: {v}" for k, v in counts.items()),
                           n=len(odd), main=main),
                metrics={"modes": {str(k): int(v) for k, v in counts.items()}, "main_mode": main},
                items=[{"paths": [r.path], "mode": r.mode} for r in odd.head(limit).itertuples()],
            )


@register
class ExifOrientation(Rule):
    code = "QUAL009"
    name = "exif-orientation"
    severity = "info"
    title = T("EXIF orientation set: loaders that ignore it see rotated images",
              "EXIF の向き情報あり: それを無視するローダーでは画像が回転して見える")
    params = {"max_items": Param(200, "most images listed in the finding", low=1)}
    doc = Doc(
        what=T("Lists images whose EXIF orientation tag asks for a rotation or flip (any value "
               "other than 1). `pitfalls` applies it before measuring anything.",
               "EXIF の向きタグが回転・反転を指定している（1 以外の）画像を列挙します。"
               "`pitfalls` は計測の前にこれを適用します。"),
        why=T("Phones store portrait photos as landscape pixels plus a tag. Many training "
              "pipelines (OpenCV's imread with some flags, raw PIL.Image.open, TensorFlow's "
              "decode_jpeg) ignore the tag, so the model trains on sideways images while people "
              "label and review them upright.",
              "スマートフォンは縦長の写真を横長の画素とタグで保存します。多くの学習パイプライン"
              "（フラグ次第の OpenCV imread、素の PIL.Image.open、TensorFlow の decode_jpeg）は"
              "このタグを無視するため、人が正立で確認・ラベル付けし"
              "た画像をモデルは横向きで学習します。"),
        fix=T("Apply the orientation once when building the dataset (e.g. PIL.ImageOps."
              "exif_transpose, then save without the tag), or make sure the loader applies it in "
              "training and in serving alike.",
              "データセット作成時に一度だけ向きを適用する（PIL.ImageOps.exif_transpose の後、"
              "タグなしで保存する）か、学習と推論の両方でローダーが適用するようにしてください。"),
        cases=("geitgey-2019-exif-orientation",),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        t = ctx.readable
        if t.empty or "exif_orientation" not in t.columns:
            return
        orient = _num(t, "exif_orientation")
        hit = t[orient.notna() & (orient != 1)]
        if hit.empty:
            return
        counts = orient[hit.index].astype(int).value_counts()
        yield self.finding(
            T("{n} image(s) carry an EXIF orientation other than 'upright'",
              "{n} 枚の画像に「正立」以外の EXIF の向き情報があります").format(n=len(hit)),
            metrics={"n_images": int(len(hit)),
                     "by_orientation": {str(k): int(v) for k, v in counts.items()}},
            items=[{"paths": [r.path], "orientation": int(r.exif_orientation)}
                   for r in hit.head(int(self.p["max_items"])).itertuples()],
        )
