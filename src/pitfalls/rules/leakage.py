"""Leakage across splits: the same image, near-duplicates, declared groups, inferred sessions."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from pitfalls.context import TRAIN, Context
from pitfalls.contract import Need
from pitfalls.findings import Finding
from pitfalls.rules.base import Doc, Rule, register
from pitfalls.similarity import (
    NEAR_PARAMS,
    SESSION_PARAMS,
    LinkSettings,
    by_path,
    components,
    links,
)
from pitfalls.text import T

_BARZ = ("Barz & Denzler (2020), 'Do We Train on Test Data? Purging CIFAR of Near-Duplicates', "
         "Journal of Imaging 6(6):41: 3.3% of CIFAR-10's and 10% of CIFAR-100's test images have "
         "a (near-)duplicate in the training set; on the purged test sets (ciFAIR) accuracies "
         "drop and model rankings change.")


def _cross_pairs(ctx: Context, kinds: tuple[str, ...], settings: LinkSettings) -> pd.DataFrame:
    """Links of `kinds` between a train row and an evaluation row, as columns train, other."""
    df = links(ctx, settings)
    df = df[df["kind"].isin(kinds)]
    split = ctx.table["split"].to_numpy()
    si, sj = split[df["i"].to_numpy()], split[df["j"].to_numpy()]
    evals = ctx.eval_splits
    a = (si == TRAIN) & np.isin(sj, evals)
    b = (sj == TRAIN) & np.isin(si, evals)
    out = pd.DataFrame({
        "train": np.where(a, df["i"], df["j"])[a | b],
        "other": np.where(a, df["j"], df["i"])[a | b],
        "kind": df["kind"].to_numpy()[a | b],
        "score": df["score"].to_numpy()[a | b],
        "evidence": df["evidence"].to_numpy()[a | b],
    })
    return _by_score_and_path(ctx, out)


def _by_score_and_path(ctx: Context, pairs: pd.DataFrame) -> pd.DataFrame:
    """Pairs best first, then by the paths of the evaluation and the training image."""
    paths = ctx.table["path"].astype(str).to_numpy()
    keyed = pairs.assign(_o=paths[pairs["other"].to_numpy(dtype=np.int64)],
                         _t=paths[pairs["train"].to_numpy(dtype=np.int64)])
    return keyed.sort_values(["score", "_o", "_t"], ascending=[False, True, True]).drop(
        columns=["_o", "_t"]).reset_index(drop=True)


def _exact_pairs(ctx: Context) -> pd.DataFrame:
    """Every evaluation image identical to a training image, paired with one such image (the
    first by path, byte-identical before pixel-identical).

    Exact links are stars around one member of each group of copies; when that member is an
    evaluation image, the other evaluation copies have no direct link to train, so the pairs
    are made from the groups (connected components), not from the links."""
    cols = ["train", "other", "kind", "score", "evidence"]
    df = links(ctx, LinkSettings.for_context(ctx))
    df = df[df["kind"].isin(("bytes", "pixels"))]
    if df.empty:
        return pd.DataFrame(columns=cols)
    comp = components(ctx, ("bytes", "pixels"))
    t = ctx.table
    split = t["split"].to_numpy()
    byte_hash = t["byte_hash"].to_numpy() if "byte_hash" in t else np.full(len(t), None)
    linked = np.unique(np.concatenate([df["i"].to_numpy(), df["j"].to_numpy()]))
    train = by_path(ctx, linked[split[linked] == TRAIN])
    first: dict[tuple[int, object], int] = {}
    for r in train:  # the first training image by path of each group, and of each byte hash
        first.setdefault((comp[r], None), int(r))
        first.setdefault((comp[r], byte_hash[r]), int(r))
    rows = []
    for r in linked[np.isin(split[linked], ctx.eval_splits)]:
        same = first.get((comp[r], byte_hash[r])) if byte_hash[r] is not None else None
        other = first.get((comp[r], None))
        if same is not None:
            rows.append((same, int(r), "bytes", 1.0, "identical file bytes"))
        elif other is not None:
            rows.append((other, int(r), "pixels", 1.0, "identical pixels, different files"))
    return _by_score_and_path(ctx, pd.DataFrame(rows, columns=cols))


def _share_metrics(ctx: Context, rows: np.ndarray) -> dict[str, object]:
    split = ctx.table["split"]
    affected = split.iloc[np.unique(rows)].value_counts()
    n_eval = int(split.isin(ctx.eval_splits).sum())
    return {"n_eval_images": int(len(np.unique(rows))),
            "share_of_test": float(len(np.unique(rows)) / max(n_eval, 1)),
            "by_split": {str(k): int(v) for k, v in affected.items()}}


def _pair_items(ctx: Context, pairs: pd.DataFrame) -> list[dict[str, object]]:
    paths, split = ctx.table["path"].to_numpy(), ctx.table["split"].to_numpy()
    return [{"paths": [str(paths[i]), str(paths[j])], "score": round(float(score), 4),
             "kind": kind, "split": str(split[j]), "evidence": evidence}
            for i, j, score, kind, evidence in zip(
                pairs["train"].to_numpy(), pairs["other"].to_numpy(), pairs["score"].to_numpy(),
                pairs["kind"].tolist(), pairs["evidence"].tolist(), strict=True)]


@register
class ExactLeak(Rule):
    code = "LEAK001"
    name = "exact-leak"
    severity = "error"
    needs = frozenset({Need.SPLITS})
    title = T("The same image in train and an evaluation split",
              "学習と評価用分割に同じ画像")
    doc = Doc(
        what=T("Finds images whose file bytes, or whose decoded pixels, are identical in train and "
               "in an evaluation split (val, test).",
               "ファイルのバイト列、またはデコード後の画素が学習と評価用分割（val, test）で同一の"
               "画像を見つけます。"),
        why=T("The model has seen these test images, with their labels, during training: their "
              "score measures memory, not generalisation, and inflates the headline metric.",
              "モデルはこれらのテスト画像をラベル付きで学習時に見ています。その正解は汎化ではなく"
              "記憶を測っており、報告する指標を水増しします。"),
        fix=T("Remove the copies from the evaluation split (or from train) and re-score; split "
              "again with `pitfalls split`, which keeps copies on one side.",
              "評価用分割（または学習）から複製を除き、評価し直してください。`pitfalls split` で"
              "分割し直すと、複製は同じ側にまとめられます。"),
        cases=("barz-denzler-2020-cifar-duplicates", "roberts-2021-covid-pitfalls"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        pairs = _exact_pairs(ctx)
        if pairs.empty:
            return
        metrics = {"n_pairs": int(len(pairs)), **_share_metrics(ctx, pairs["other"].to_numpy()),
                   "by_kind": {str(k): int(v) for k, v in pairs["kind"].value_counts().items()}}
        yield self.finding(
            T("{n} evaluation images are identical to a training image ({p:.1%} of evaluation)",
              "評価用画像のうち {n} 枚が学習画像と同一です（評価用の {p:.1%}）").format(
                  n=metrics["n_eval_images"], p=metrics["share_of_test"]),
            metrics=metrics, items=_pair_items(ctx, pairs))


@register
class NearDuplicateLeak(Rule):
    code = "LEAK002"
    name = "near-duplicate-leak"
    severity = "error"
    needs = frozenset({Need.SPLITS})
    title = T("Near-duplicate images across train and an evaluation split",
              "学習と評価用分割にまたがるほぼ同一の画像")
    params = dict(NEAR_PARAMS)
    doc = Doc(
        what=T("Finds evaluation images that are near-duplicates of a training image: resized, "
               "re-compressed, slightly cropped or rotated, brightened, noisy or blurred copies. "
               "Candidates come from the cosine similarity of a weight-free embedding (or your "
               "ONNX embedder) and are verified on layout, colour and aspect ratio. Exact copies "
               "are LEAK001's.",
               "学習画像とほぼ同一（縮小・再圧縮・わずかなトリミングや回転・明るさ変更・ノイズ・"
               "ぼかし）の評価用画像を見つけます。候補は重み不要の埋め込み（または指定した ONNX "
               "埋め込み）のコサイン類似度で探し、構図・色・縦横比で検証します。完全一致は LEAK001 "
               "が扱います。"),
        why=T("A near-copy is as good as the original for a model: the test score partly measures "
              "recall of training images, so it overstates how the model does on new photos.",
              "モデルにとってほぼ同一の画像は原画像と変わりません。テストの得点は学習画像の記憶を"
              "一部測っており、新しい写真での性能を過大に示します。"),
        fix=T("Move each group of near-copies to one side of the split (`pitfalls split` does it), "
              "or drop them from evaluation and re-score (EVAL002 shows the score without them).",
              "ほぼ同一の画像のグループを分割の片側にまとめてください（`pitfalls split` が行います"
              "）。または評価から除いて評価し直してください（EVAL0"
              "02 が除いた場合の得点を示します）。"),
        cases=("recht-2019-imagenet-v2", "barz-denzler-2020-cifar-duplicates"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        pairs = _cross_pairs(ctx, ("near",), LinkSettings.for_context(ctx, self.p))
        if pairs.empty:
            return
        metrics = {"n_pairs": int(len(pairs)), **_share_metrics(ctx, pairs["other"].to_numpy()),
                   "min_score": float(pairs["score"].min())}
        yield self.finding(
            T("{n} evaluation images have a near-duplicate in train ({p:.1%} of evaluation)",
              "評価用画像のうち {n} 枚に、学習データ内のほぼ同一の"
              "画像があります（評価用の {p:.1%}）"
              ).format(n=metrics["n_eval_images"], p=metrics["share_of_test"]),
            metrics=metrics, items=_pair_items(ctx, pairs))


def _spanning(ctx: Context, comp: np.ndarray, rows: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Components (over `rows`) whose rows are in more than one split, with their rows."""
    split = ctx.table["split"].to_numpy()
    df = pd.DataFrame({"c": comp[rows], "row": rows, "split": split[rows]}).dropna()
    out = []
    for _c, g in df.groupby("c", sort=False):
        if g["split"].nunique() > 1:
            members = g["row"].to_numpy()
            out.append((int(comp[members[0]]), by_path(ctx, members)))
    paths = ctx.table["path"].astype(str).to_numpy()
    out.sort(key=lambda x: (-len(x[1]), paths[x[1][0]]))
    return out


@register
class GroupLeak(Rule):
    code = "LEAK003"
    name = "group-leak"
    severity = "error"
    needs = frozenset({Need.SPLITS, Need.GROUPS})
    title = T("A declared group is present in several splits",
              "宣言されたグループが複数の分割にまたがっている")
    doc = Doc(
        what=T("Reads the `group` column (patient, subject, specimen, capture session, device…) "
               "and reports every group whose images are in more than one split.",
               "`group` 列（患者・被験者・検体・撮影セッション・機器など）を読み、"
               "画像が複数の分割にまたがるグループをすべて報告します。"),
        why=T("Images of one patient or object share traits the model can recognise (anatomy, "
              "markers, the object's scratches): with the group on both sides the test rewards "
              "recognising the group, not the class, and the score will not hold on new groups.",
              "同じ患者や物体の画像は、モデルが見分けられる特徴（解剖学的特徴、マーカー、物体の傷）"
              "を共有します。グループが両側にあるとテストはクラスではなくグループの識別を評価し、"
              "新しいグループではその得点は再現しません。"),
        fix=T("Split by group (scikit-learn's GroupShuffleSplit / StratifiedGroupKFold, or "
              "`pitfalls split`), so that each group is entirely on one side.",
              "グループ単位で分割してください（scikit-learn の GroupShuffleSplit / "
              "StratifiedGroupKFold、または `pitfalls split`）。各グループが片側だけに入ります。"),
        cases=("kaufman-2012-leakage",
               "zech-2018-pneumonia-hospitals",
               "roberts-2021-covid-pitfalls"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        t = ctx.table
        has = t["group"].notna() & t["split"].notna()
        sub = t[has]
        spread = sub.groupby(sub["group"].astype(str))["split"].nunique()
        bad = spread[spread > 1].index
        if len(bad) == 0:
            return
        items = []
        for name in bad:
            g = sub[sub["group"].astype(str) == name]
            items.append({"group": str(name), "paths": g["path"].astype(str).tolist(),
                          "splits": {str(k): int(v) for k, v in g["split"].value_counts().items()}})
        items.sort(key=lambda d: -len(d["paths"]))
        n_images = sum(len(d["paths"]) for d in items)
        n_groups = int(sub["group"].astype(str).nunique())
        yield self.finding(
            T("{g} of {n} groups have images in several splits ({i} images)",
              "{n} グループのうち {g} グループが複数の分割に画像を持っています（{i} 枚）").format(
                  g=len(items), n=n_groups, i=n_images),
            metrics={"n_groups": len(items), "n_groups_total": n_groups, "n_images": n_images},
            items=items)


@register
class SessionLeak(Rule):
    code = "LEAK004"
    name = "session-leak"
    severity = "warning"
    needs = frozenset({Need.SPLITS})
    title = T("A capture session "
              "spans several splits", "撮影セッションが複数の分割にまたがっている")
    params = dict(SESSION_PARAMS)
    doc = Doc(
        what=T("Infers capture sessions and reports every session with images in more than one "
               "split. Two images are in one session when they come from the same camera (EXIF "
               "make and model) within `session_seconds`; when their file names are consecutive "
               "(IMG_1041, IMG_1042) and their capture times are close or the images similar (a "
               "name sequence alone is not enough); or when they are very similar shots of one "
               "scene (bursts). Sessions are chains of such links.",
               "撮影セッションを推定し、複数の分割に画像があるセッションをすべて報告します。"
               "同じカメラ（EXIF のメーカーと機種）で `session_seconds` 秒以内に撮られた画像、"
               "ファイル名が連番（IMG_1041, IMG_1042）で撮影時刻が近いか画像が似ている画像"
               "（連番だけでは不十分）、同じ場面を連写したよく似た画像を同じセッションとみなし、"
               "これらのつながりをセッションとします。"),
        why=T("Shots of one session share the object, background, light and camera: with the "
              "session on both sides of the split the test contains near-copies of training "
              "images, and the score overstates accuracy on new sessions.",
              "同じセッションの写真は被写体・背景・照明・カメラを共有します。セッションが分割の"
              "両側にあると、テストには学習画像の類似品が含まれ、新しいセッションでの正解率を"
              "過大に示します。"),
        fix=T("Split by session: add a `group` column with the session (or use `pitfalls split`, "
              "which keeps inferred sessions together) and re-evaluate.",
              "セッション単位で分割してください。セッションを `group` 列に記入する（または推定"
              "セッションをまとめる `pitfalls split` を使う）うえで評価し直してください。"),
        cases=("kaufman-2012-leakage",
               "beery-2018-terra-incognita",
               "barz-denzler-2020-cifar-duplicates"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        s = LinkSettings.for_context(ctx, self.p)
        df = links(ctx, s)
        df = df[df["kind"] == "session"]
        if df.empty:
            return
        comp = components(ctx, ("session",), s)
        rows = np.unique(np.concatenate([df["i"].to_numpy(), df["j"].to_numpy()]))
        sessions = _spanning(ctx, comp, rows)
        if not sessions:
            return
        paths, split = ctx.table["path"].to_numpy(), ctx.table["split"].to_numpy()
        ci = comp[df["i"].to_numpy()]
        items = []
        for c, members in sessions:
            evidence = sorted(df["evidence"][ci == c].drop_duplicates().tolist())[:5]
            items.append({"paths": [str(paths[r]) for r in members],
                          "splits": [str(split[r]) for r in members],
                          "evidence": evidence})
        n_images = sum(len(it["paths"]) for it in items)
        yield self.finding(
            T("{n} capture sessions span several splits ({i} images)",
              "{n} 個の撮影セッションが複数の分割にまたがっています（{i} 枚）").format(
                  n=len(items), i=n_images),
            metrics={"n_sessions": len(items), "n_images": n_images},
            items=items)
