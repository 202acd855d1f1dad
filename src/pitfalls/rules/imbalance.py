"""Class balance: imbalance in the training data, label mix differing between splits, and a
headline accuracy that hides a class the model fails on."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from pitfalls.context import TRAIN, Context
from pitfalls.contract import Need
from pitfalls.evaluation.evalset import scores
from pitfalls.findings import Finding
from pitfalls.rules.base import Doc, Param, Rule, register
from pitfalls.text import T


def train_labels(ctx: Context) -> pd.Series:
    """Labels of the training rows (all rows when the data has no splits)."""
    t = ctx.table
    rows = t[t["split"] == TRAIN] if TRAIN in ctx.splits else t
    return rows["label"].dropna()


@register
class ClassImbalance(Rule):
    code = "IMB001"
    name = "class-imbalance"
    severity = "warning"
    needs = frozenset({Need.LABELS})
    title = T("Class imbalance in the training data", "学習データのクラス不均衡")
    params = {
        "max_ratio": Param(4.0, "largest/smallest class count above which the rule fires", low=1.0),
        "min_count": Param(10, "classes with fewer training images than this are reported", low=1),
    }
    doc = Doc(
        what=T("Counts the training images of each class and reports when the largest class has "
               "more than `max_ratio` times the images of the smallest, or a class has fewer than "
               "`min_count` images.",
               "クラスごとの学習画像数を数え、最大クラスが最小クラスの `max_ratio` 倍を超えるとき、"
               "または `min_count` 枚未満のクラスがあるときに報告します。"),
        why=T("A model trained on imbalanced data learns to favour the majority classes: overall "
              "accuracy looks good while the rare classes, often the ones that matter (defects, "
              "diseases), are missed.",
              "不均衡なデータで学習したモデルは多数派クラスを優先するようになり、全体の正解率は高く"
              "見えても、欠陥や疾患など本当に重要な少数クラスを見逃します。"),
        fix=T("Collect more images of the rare classes; otherwise re-weight the loss or resample, "
              "and judge the model by balanced accuracy and per-class recall, not accuracy.",
              "少数クラスの画像を追加収集してください。難しければ損失の重み付けやリサンプリングを行"
              "い、正解率ではなくバランス正解率とクラス別再現率で評価してください。"),
        cases=("buda-2018-class-imbalance",),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        counts = train_labels(ctx).value_counts()
        if len(counts) < 2:
            return
        ratio = float(counts.max() / counts.min())
        small = counts[counts < self.p["min_count"]]
        if ratio <= self.p["max_ratio"] and small.empty:
            return
        minority = counts.idxmin()
        items = [{"label": str(k), "count": int(v), "share": float(v / counts.sum())}
                 for k, v in counts.sort_values().items()]
        yield self.finding(
            T("Largest class has {r:.1f}x the images of the smallest ({lo}: {n})",
              "最大クラスの画像数は最小クラス（{lo}: {n} 枚）の {r:.1f} 倍です").format(
                  r=ratio, lo=minority, n=int(counts.min())),
            metrics={"counts": {str(k): int(v) for k, v in counts.items()},
                     "imbalance_ratio": ratio,
                     "small_classes": [str(k) for k in small.index]},
            items=items,
        )


@register
class SplitLabelShift(Rule):
    code = "IMB002"
    name = "split-label-shift"
    severity = "warning"
    needs = frozenset({Need.LABELS, Need.SPLITS})
    title = T("Label distribution differs between splits", "分割間でラベル分布が異なる")
    params = {
        "min_tvd": Param(0.1, "total variation distance between label mixes that counts as large",
                         low=0.0, high=1.0),
        "alpha": Param(0.001, "significance level of the chi-square test",
                       low=0.0, high=1.0, open_low=True, open_high=True),
    }
    doc = Doc(
        what=T("Compares each evaluation split's label mix with train's: a chi-square test of "
               "homogeneity, the total variation distance (half the sum of share differences), "
               "and classes present in one split but missing from the other.",
               "各評価用分割のラベル構成を学習分割と比較します（カイ二乗検定、全変動距離、"
               "片方にしか存在しないクラス）。"),
        why=T("If the test set's class mix differs from the training set's (or from the field's), "
              "accuracy measures a different problem than the one the model will face; a class "
              "absent from test is never evaluated at all.",
              "テストのクラス構成が学習（や現場）と異なると、正解率は実際に解く問題とは別のものを"
              "測ることになります。テストにないクラスは一度も評価されません。"),
        fix=T("Re-split with stratification by label (`pitfalls split` does this while keeping "
              "groups and near-duplicates together), or report per-class metrics.",
              "ラベルで層化して分割し直してください（`pitfalls split` はグループや類似画像を"
              "まとめたまま層化します）。またはクラス別の指標を報告してください。"),
        cases=("recht-2019-imagenet-v2",),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        from scipy.stats import chi2_contingency  # loaded by the scan's preload thread

        t = ctx.table[ctx.table["label"].notna()]
        train = t[t["split"] == TRAIN]["label"].value_counts()
        for split in ctx.eval_splits:
            other = t[t["split"] == split]["label"].value_counts()
            if other.empty or train.empty:
                continue
            labels = sorted(set(train.index) | set(other.index))
            table = np.array([[train.get(k, 0) for k in labels], [other.get(k, 0) for k in labels]])
            p_train, p_other = table[0] / table[0].sum(), table[1] / table[1].sum()
            tvd = float(0.5 * np.abs(p_train - p_other).sum())
            missing_eval = [k for k in labels if other.get(k, 0) == 0]
            missing_train = [k for k in labels if train.get(k, 0) == 0]
            # Both rows hold images and empty columns are dropped: no expected count is zero.
            pvalue = float(chi2_contingency(table[:, table.sum(axis=0) > 0]).pvalue)
            shifted = tvd >= self.p["min_tvd"] and pvalue < self.p["alpha"]
            if not (shifted or missing_eval or missing_train):
                continue
            items = [{"label": str(k), "share_train": float(a), f"share_{split}": float(b)}
                     for k, a, b in zip(labels, p_train, p_other, strict=True)]
            yield self.finding(
                T("Label mix of '{s}' differs from train (TVD {d:.2f}, p={p:.1g}){m}",
                  "'{s}' のラベル構成が学習と異なります"
                  "（全変動距離 {d:.2f}, p={p:.1g}）{m}").format(
                      s=split, d=tvd, p=pvalue,
                      m=(f"; missing in {split}: {', '.join(missing_eval)}"
                         if missing_eval else "")
                      + (f"; missing in train: {', '.join(missing_train)}"
                         if missing_train else "")),
                metrics={"split": split, "tvd": tvd, "p_value": pvalue,
                         "missing_in_eval": missing_eval, "missing_in_train": missing_train},
                items=items,
                severity="error" if missing_train else None,
            )


@register
class HiddenMinorityFailure(Rule):
    code = "IMB003"
    name = "headline-hides-minority"
    severity = "warning"
    needs = frozenset({Need.LABELS, Need.PREDICTIONS})
    title = T("The headline accuracy hides a class the model fails on",
              "全体の正解率が、モデルが苦手なクラスを隠している")
    params = {
        "min_recall": Param(0.6, "a class whose recall is below this counts as failed",
                            low=0.0, high=1.0),
        "gap": Param(0.15, "accuracy minus the class's recall that counts as hidden",
                     low=0.0, high=1.0),
        "min_n": Param(5, "classes with fewer evaluation images are not judged", low=1),
    }
    doc = Doc(
        what=T("Compares the overall accuracy with each class's recall (with 95% intervals "
               "that hold for small classes) and reports classes whose recall is below "
               "`min_recall` and at least `gap` under the accuracy, with the interval's upper "
               "end still below accuracy.",
               "全体の正解率とクラス別の再現率（少数クラスでも成り立つ 95% 信頼区間付き）を比べ、"
               "再現率が "
               "`min_recall` 未満かつ正解率より `gap` 以上低く、区間の上端も正解率を下回るクラスを"
               "報告します。"),
        why=T("Accuracy is dominated by the large classes: 95% accuracy on data with 5% "
              "defects is reached by never predicting a defect. The class that fails is often "
              "the one the project exists for.",
              "正解率は多数派クラスに支配されます。欠陥が 5% のデータでは、"
              "欠陥を一度も予測しなくても95% の正解率になります。取りこぼしているクラスこそ、"
              "プロジェクトの目的であることが多いのです。"),
        fix=T("Report balanced accuracy and per-class recall; collect more images of the failed "
              "class, re-weight or resample in training, and tune the decision threshold.",
              "バランス正解率とクラス別再現率を報告してください。苦手なクラスの画像を増やす、"
              "学習時に重み付けやリサンプリングをする、判定しきい値を調整する、などで改善します。"),
        cases=("buda-2018-class-imbalance", "oakden-rayner-2020-hidden-stratification"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        sc = scores(ctx)
        if sc is None:
            return
        acc = sc.value("accuracy")
        bad = [c for c in sc.per_class
               if c["n"] >= self.p["min_n"] and c["recall"] < self.p["min_recall"]
               and acc - c["recall"] >= self.p["gap"] and c["recall_ci"][1] < acc]
        if not bad:
            return
        worst = min(bad, key=lambda c: c["recall"])
        yield self.finding(
            T("Accuracy is {a:.1%} but recall of '{c}' is only {r:.1%} (95% CI {ci}); "
              "{k} class(es) fail behind the headline",
              "正解率は {a:.1%} ですが、'{c}' の再現率は {r:.1%}（95% 信頼区間 {ci}）にとどまり、"
              "{k} クラスが全体の数字の陰で失敗しています").format(
                  a=acc, c=worst["label"], r=worst["recall"], ci="[{:.3f}, {:.3f}]".format(
                      *worst["recall_ci"]),
                  k=len(bad)),
            metrics={"accuracy": acc, "accuracy_ci": sc.metrics["accuracy"]["ci"],
                     "balanced_accuracy": sc.value("balanced_accuracy"),
                     "balanced_accuracy_ci": sc.metrics["balanced_accuracy"]["ci"],
                     "failed_classes": {c["label"]: c["recall"] for c in bad}},
            items=[{"label": c["label"], "n": c["n"], "recall": c["recall"],
                    "recall_ci": c["recall_ci"]} for c in bad],
        )
