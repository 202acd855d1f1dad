"""Duplicates: copies inside one split, and copies that carry different labels."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pitfalls.context import Context
from pitfalls.contract import Need
from pitfalls.findings import Finding
from pitfalls.rules.base import Doc, Rule, register
from pitfalls.similarity import NEAR_PARAMS, LinkSettings, by_path, links
from pitfalls.text import T

DUP_KINDS = ("bytes", "pixels", "near")
_KIND_ORDER = {"bytes": 0, "pixels": 1, "near": 2}


def duplicate_groups(ctx: Context, settings: LinkSettings,
                     same_split: bool = False) -> list[dict[str, Any]]:
    """Groups of rows joined by exact or near-duplicate links (optionally within one split).

    Each group: `rows` (sorted positions), `kind` (the loosest link kind inside), `score` (the
    lowest link score inside).
    """
    df = links(ctx, settings)
    df = df[df["kind"].isin(DUP_KINDS)]
    if same_split and not df.empty:
        split = ctx.table["split"].fillna("(none)").to_numpy()
        df = df[split[df["i"].to_numpy()] == split[df["j"].to_numpy()]]
    if df.empty:
        return []
    n = len(ctx.table)
    graph = coo_matrix((np.ones(len(df)), (df["i"].to_numpy(), df["j"].to_numpy())), shape=(n, n))
    comp = connected_components(graph, directed=False)[1]
    df = df.assign(c=comp[df["i"].to_numpy()], order=df["kind"].map(_KIND_ORDER))
    groups = []
    for _c, g in df.groupby("c", sort=False):
        rows = by_path(ctx, sorted(set(g["i"]) | set(g["j"]))).tolist()
        kind = g.loc[g["order"].idxmax(), "kind"]
        groups.append({"rows": rows, "kind": str(kind), "score": float(g["score"].min())})
    return _largest_first(ctx, groups)


def _largest_first(ctx: Context, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Groups (rows sorted by path) largest first, then by their first path."""
    paths = ctx.table["path"].astype(str).to_numpy()
    return sorted(groups, key=lambda d: (-len(d["rows"]), [paths[r] for r in d["rows"]]))


def conflicting_duplicates(ctx: Context, settings: LinkSettings) -> list[dict[str, Any]]:
    """Sets of images that are all duplicates of each other and carry different labels.

    Exact copies (byte- or pixel-identical) are grouped whole: copies of copies are copies. Near
    duplicates are not: a chain of similar photos (a-b, b-c, c-d) does not make a and d
    duplicates. So each verified near link between two images of different labels gives one
    set: the two images with their exact copies (all of which are near-duplicates of each
    other); a set of exact copies with different labels is one too. Each set: `rows` (sorted by
    path), `kind`, `score` (1 for exact copies, the link's cosine for near ones).
    """
    df = links(ctx, settings)
    df = df[df["kind"].isin(DUP_KINDS)]
    if df.empty:
        return []
    n = len(ctx.table)
    exact = df[df["kind"] != "near"]
    graph = coo_matrix((np.ones(len(exact)), (exact["i"].to_numpy(), exact["j"].to_numpy())),
                       shape=(n, n))
    comp = connected_components(graph, directed=False)[1]
    labels = ctx.table["label"].to_numpy()
    known = ~pd.isna(labels)
    label = np.where(known, labels.astype(str), "")
    members: dict[int, np.ndarray] = {}
    for c, rows in pd.Series(np.arange(n)).groupby(comp):
        members[int(c)] = rows.to_numpy()

    def labels_of(rows: np.ndarray) -> set[str]:
        return {label[r] for r in rows if known[r]}

    out: dict[tuple[int, ...], dict[str, Any]] = {}
    for c in np.unique(comp[np.concatenate([exact["i"], exact["j"]])]) if len(exact) else []:
        rows = members[int(c)]
        if len(labels_of(rows)) > 1:
            kind = "pixels" if (exact.loc[comp[exact["i"].to_numpy()] == c, "kind"]
                                == "pixels").any() else "bytes"
            out[tuple(sorted(rows.tolist()))] = {"rows": rows, "kind": kind, "score": 1.0}
    near = df[df["kind"] == "near"]
    for a, b, sc in zip(near["i"].to_numpy(), near["j"].to_numpy(), near["score"].to_numpy(),
                        strict=True):
        if not (known[a] and known[b]) or label[a] == label[b]:
            continue
        ca, cb = int(comp[a]), int(comp[b])
        if ca == cb:
            continue
        rows = np.concatenate([members[ca], members[cb]])
        key = tuple(sorted(rows.tolist()))
        best = out.get(key)
        if best is None or (best["kind"] == "near" and float(sc) > float(best["score"])):
            out[key] = {"rows": rows, "kind": "near", "score": float(sc)}
    groups = [{**g, "rows": by_path(ctx, g["rows"]).tolist()} for g in out.values()]
    return _largest_first(ctx, groups)


@register
class DuplicatesInSplit(Rule):
    code = "DUP001"
    name = "duplicates-in-split"
    severity = "warning"
    needs = frozenset({Need.FEATURES})
    title = T("Exact or near-duplicate images inside one split",
              "同じ分割内の完全一致・ほぼ同一の画像")
    params = dict(NEAR_PARAMS)
    doc = Doc(
        what=T("Finds groups of images in the same split that are byte-identical, pixel-identical, "
               "or near-duplicates (resized, re-compressed, slightly cropped, rotated, brightened, "
               "noisy or blurred copies). Near-duplicates are found by embedding similarity and "
               "then verified on layout, colour and aspect ratio. Without splits the whole dataset "
               "counts as one split.",
               "同じ分割内で、バイト単位で同一、画素単位で同一、またはほぼ同一（縮小・再圧縮・"
               "わずかなトリミングや回転・明るさ変更・ノイズ・ぼかし）"
               "の画像のグループを見つけます。ほぼ同一の候補は埋め込みの類似度で探し、"
               "構図・色・縦横比で検証します。"
               "分割がない場合はデータ全体を一つの分割として扱います。"),
        why=T("Copies weigh their content several times in training and in the score: the model "
              "over-fits to them, the metric over-counts them, and the dataset looks larger and "
              "more varied than it is.",
              "複製はその内容を学習でも評価でも何重にも数えます。モデルはそれに過学習し、指標は"
              "それを過大に数え、データセットは実際より大きく多様に見えます。"),
        fix=T("Keep one image of each group (or weight the group as one example); find where the "
              "copies came from (scraping the same page twice, augmented copies saved to disk).",
              "各グループから 1 枚だけ残すか、グループを 1 例として重み付けしてください。"
              "複製の出所（同じページの重複収集、保存された拡張画像など）を確認してください。"),
        cases=("barz-denzler-2020-cifar-duplicates", "carlini-2023-diffusion-memorisation"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        s = LinkSettings.for_context(ctx, self.p)
        groups = duplicate_groups(ctx, s, same_split=True)
        if not groups:
            return
        paths, split = ctx.table["path"].to_numpy(), ctx.table["split"].to_numpy()
        items = [{"paths": [str(paths[r]) for r in g["rows"]], "kind": g["kind"],
                  "score": round(g["score"], 4),
                  "split": None if pd.isna(split[g["rows"][0]]) else str(split[g["rows"][0]])}
                 for g in groups]
        extra = sum(len(g["rows"]) - 1 for g in groups)
        n_ok = int(ctx.ok.sum())
        yield self.finding(
            T("{g} group(s) of duplicates inside a split: {e} extra copies ({p:.1%} of the images)",
              "分割内に重複グループが {g} 個あります（余分な複製 {e} 枚、画像の {p:.1%}）").format(
                  g=len(groups), e=extra, p=extra / max(n_ok, 1)),
            metrics={"n_groups": len(groups), "n_extra_copies": extra,
                     "share_extra": extra / max(n_ok, 1),
                     "by_kind": {k: sum(g["kind"] == k for g in groups) for k in DUP_KINDS}},
            items=items,
        )


@register
class ConflictingDuplicates(Rule):
    code = "DUP002"
    name = "conflicting-duplicates"
    severity = "error"
    needs = frozenset({Need.LABELS})
    title = T("Duplicate images with different labels", "ラベルが異なる重複画像")
    params = dict(NEAR_PARAMS)
    doc = Doc(
        what=T("Finds identical or near-duplicate images (in any split) whose labels differ: "
               "each near-duplicate pair with different labels, with the exact copies of its "
               "two images. Near-duplicates are not chained: a series of similar photos does "
               "not make its first and last photo duplicates.",
               "（どの分割にあっても）同一またはほぼ同一で、ラベルが異なる画像を見つけます。"
               "ラベルが異なるほぼ同一の画像の組ごとに、それぞれの完全な複製を含めて報告します。"
               "ほぼ同一の関係はつなげません。似た写真が続いていても、最初と最後の写真が重複"
               "とはみなされません。"),
        why=T("One image cannot be two classes (unless the task is multi-label): at least one "
              "label is wrong. The model is trained on contradictions, and in the test set such "
              "images are counted wrong whatever the model says.",
              "（マルチラベルでない限り）同じ画像が二つのクラスであることはなく、少なくとも一方の"
              "ラベルは誤りです。モデルは矛盾したデータで学習し、テストではモデルが何を答えても"
              "不正解と数えられます。"),
        fix=T("Review each group, keep the correct label and one copy; check the labelling "
              "guideline for the classes that are confused.",
              "各グループを確認し、正しいラベルの 1 枚だけを残してください。混同されている"
              "クラスについてラベル付けの基準を見直してください。"),
        cases=("barz-denzler-2020-cifar-duplicates", "northcutt-2021-label-errors"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        s = LinkSettings.for_context(ctx, self.p)
        labels, paths = ctx.table["label"].to_numpy(), ctx.table["path"].to_numpy()
        items = []
        groups = conflicting_duplicates(ctx, s)
        for g in groups:
            labs = [labels[r] for r in g["rows"]]
            items.append({"paths": [str(paths[r]) for r in g["rows"]],
                          "labels": [None if pd.isna(v) else str(v) for v in labs],
                          "kind": g["kind"], "score": round(float(g["score"]), 4)})
        if not items:
            return
        n_images = len({r for g in groups for r in g["rows"]})
        yield self.finding(
            T("{g} group(s) of duplicate images carry different labels ({n} images)",
              "ラベルが異なる重複画像のグループが {g} 個あります（{n} 枚）").format(
                  g=len(items), n=n_images),
            metrics={"n_groups": len(items), "n_images": n_images},
            items=items,
        )
