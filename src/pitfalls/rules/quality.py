"""Image quality: unreadable or mis-typed files (QUAL001) and the image-quality rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

from pitfalls.context import Context
from pitfalls.findings import Finding
from pitfalls.rules.base import Doc, Rule, register
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
}


@register
class BrokenFiles(Rule):
    code = "QUAL001"
    name = "broken-files"
    severity = "error"
    title = T("Unreadable, truncated or mis-typed image files",
              "読み込めない・途中で切れた・形式が拡張子と違う画像ファイル")
    doc = Doc(
        what=T("Reports every file that cannot be decoded (missing, zero-byte, truncated, corrupt, "
               "not an image, or refused as a decompression bomb) as an error, and readable files "
               "whose extension does not match their real format as info. Unreadable files are "
               "skipped by every other rule.",
               "デコードできないファイル（存在しない、0 バイト、途中で切れている、壊れている、画像でない、"
               "解凍爆弾として拒否）をエラーとして、拡張子と実際の形式が異なる読み込み可能なファイルを"
               "情報として報告します。読み込めないファイルは他のルールから除外されます。"),
        why=T("A single truncated file crashes a training job hours in, or is silently dropped by a "
              "loader, changing the data without anyone noticing. Mis-typed files break tools that "
              "trust the extension.",
              "途中で切れたファイルが 1 つあるだけで数時間後に学習が落ちたり、ローダーが黙って読み飛ばして"
              "データが気付かぬうちに変わったりします。拡張子を信じるツールは形式違いのファイルで壊れます。"),
        fix=T("Re-export or re-download the listed files, or remove them from the dataset; rename "
              "mis-typed files to their real format's extension.",
              "該当ファイルを再出力・再取得するか、データセットから除いてください。形式違いのファイルは"
              "実際の形式の拡張子に改名してください。"),
        cases=("CleanVision and the Open Images / LAION tooling all ship broken-file checks "
               "because scraped datasets routinely contain truncated downloads and HTML error "
               "pages saved as .jpg.",),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        t = ctx.table
        bad = t[~ctx.ok]
        if len(bad):
            items = [{"paths": [row.path], "kind": row.error_kind, "reason": row.error}
                     for row in bad.itertuples()]
            kinds = bad["error_kind"].value_counts()
            yield self.finding(
                T("{n} file(s) cannot be read ({k})", "{n} 個のファイルを読み込めません（{k}）").format(
                    n=len(bad), k=", ".join(f"{k}: {v}" for k, v in kinds.items())),
                metrics={"n_unreadable": int(len(bad)),
                         "by_kind": {str(k): int(v) for k, v in kinds.items()}},
                items=items,
            )
        good = t[ctx.ok]
        wrong = []
        for row in good.itertuples():
            suffix = PurePosixPath(row.path).suffix.lower()
            expected = FORMAT_SUFFIXES.get(str(row.format))
            if suffix and expected and suffix not in expected:
                wrong.append({"paths": [row.path], "format": row.format, "suffix": suffix})
        if wrong:
            yield self.finding(
                T("{n} file(s) have an extension that does not match their format",
                  "{n} 個のファイルの拡張子が実際の形式と一致しません").format(n=len(wrong)),
                metrics={"n_mistyped": len(wrong)}, items=wrong, severity="info",
            )
