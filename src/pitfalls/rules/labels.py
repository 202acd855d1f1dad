"""Label problems: images whose given label is likely wrong."""

from __future__ import annotations

from collections.abc import Iterator

from pitfalls.context import Context
from pitfalls.contract import Need
from pitfalls.evaluation.labels import label_issues
from pitfalls.findings import Finding
from pitfalls.rules.base import Doc, Param, Rule, register
from pitfalls.text import T


@register
class LikelyLabelErrors(Rule):
    code = "LABEL001"
    name = "likely-label-errors"
    severity = "warning"
    needs = frozenset({Need.LABELS})
    title = T("Likely mislabelled images", "ラベル誤りの可能性が高い画像")
    params = {
        "min_issues": Param(1, "fewest likely label errors that produce a finding", low=1),
        "min_probe_accuracy": Param(0.7, "without predictions: the embedding probe's "
                                         "out-of-fold balanced accuracy "
                                         "needed to judge labels", low=0.0, high=1.0),
        "max_items": Param(50, "most images listed", low=1),
    }
    doc = Doc(
        what=T("Finds images whose given label disagrees confidently with the predicted "
               "probabilities, by confident learning (the method and defaults of cleanlab's "
               "`find_label_issues`: pruning by noise rate, ranked by self-confidence). The "
               "probabilities come from the predictions when they have one column per class; "
               "otherwise from out-of-fold predictions of a logistic-regression probe on the "
               "image embeddings (groups kept within a fold), used only when the probe beats "
               "`min_probe_accuracy`.",
               "与えられたラベルが予測確率と強く食い違う画像を、confident learning（cleanlab の "
               "`find_label_issues` と同じ手法・既定値。ノイズ率で除外し、self-confidence 順に"
               "並べます）で見つけます。"
               "確率はクラスごとの列がある予測から取り、なければ画像埋め込みに対するロジスティック"
               "回帰プローブの交差検証（グループは同じ分割に保持）予測から取ります。"
               "プローブは `min_probe_accuracy` を上回るときだけ使います。"),
        why=T("Label errors in training teach the model the wrong answer; in the test set they "
              "make the score wrong and can reverse which model looks best.",
              "学習データのラベル誤りはモデルに間違った答えを教え、"
              "テストセットのラベル誤りはスコアを狂わせ、"
              "どのモデルが優れて見えるかを逆転させることさえあります。"),
        fix=T("Review the listed images (most likely errors first), fix or drop the wrong "
              "labels, and re-evaluate; for test sets, have two people relabel them.",
              "一覧の画像を（誤りの可能性が高い順に）見直し、誤ったラベルを修正または除外して再評価"
              "してください。テストセットは二人で付け直すのが確実です。"),
        cases=("northcutt-2021-label-errors", "sambasivan-2021-data-cascades"),
    )

    def prefetch(self, ctx: Context) -> None:
        label_issues(ctx, float(self.p["min_probe_accuracy"]))  # five probe fits: 0.1-0.2 s

    def check(self, ctx: Context) -> Iterator[Finding]:
        found = label_issues(ctx, float(self.p["min_probe_accuracy"]))
        if found is None or len(found["rows"]) < self.p["min_issues"]:
            return
        paths = ctx.table["path"].to_numpy()
        items = [{"paths": [str(paths[r])], "label": lab, "suggested": sug,
                  "label_quality": q}
                 for r, lab, sug, q in zip(found["rows"], found["given"], found["suggested"],
                                           found["quality"], strict=True)]
        n = len(items)
        yield self.finding(
            T("{n} image(s) ({s:.1%} of {t} checked) are likely mislabelled (source: {src})",
              "{n} 枚（確認した {t} 枚の {s:.1%}）はラベル誤りの可能性が高い画像です（確率の出所: "
              "{src}）").format(n=n, s=n / max(found["n_checked"], 1), t=found["n_checked"],
                              src=found["source"]),
            metrics={"n_issues": n, "n_checked": found["n_checked"],
                     "share": n / max(found["n_checked"], 1), "source": found["source"],
                     "probe_balanced_accuracy": found.get("probe_balanced_accuracy")},
            items=items[: int(self.p["max_items"])],
        )
