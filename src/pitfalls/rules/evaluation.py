"""Is the evaluation correct? Too-small test sets, leakage-inflated scores, miscalibration and
weak slices."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from pitfalls.context import Context
from pitfalls.contract import Need
from pitfalls.evaluation.evalset import eval_set, leak_comparison, outcome, scores, slice_table
from pitfalls.evaluation.metrics import wilson_half_width
from pitfalls.findings import Finding
from pitfalls.rules.base import Doc, Param, Rule, register
from pitfalls.text import T

EVAL_NEEDS = frozenset({Need.LABELS, Need.PREDICTIONS})


def _ci(ci: list[float]) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


@register
class TestSetTooSmall(Rule):
    code = "EVAL001"
    name = "test-set-too-small"
    severity = "warning"
    needs = EVAL_NEEDS
    title = T("Test set too small for the precision claimed",
              "主張する精度に対してテストセットが小さすぎる")
    params = {
        "target_half_width": Param(0.05, "largest acceptable half-width of a class's 95% "
                                         "recall interval", low=0.0, high=1.0, open_low=True),
    }
    doc = Doc(
        what=T("Measures the half-width of each class's 95% interval of recall and "
               "reports classes above `target_half_width`, with how many more test images of "
               "that class would bring it to the target (half-width shrinks as 1/√n).",
               "クラスごとに再現率の 95% 信頼区間の半幅を求め、`target_half_width` を"
               "超えるクラスを報告します。目標に届くにはそのクラスのテスト画像があと何枚必要かも"
               "示します（半幅は 1/√n で縮みます）。"),
        why=T("With 30 test images of a class, a measured 90% recall is compatible with anything "
              "from about 77% to 98%. Differences between models smaller than the interval are "
              "noise, yet they decide which model ships.",
              "あるクラスのテスト画像が 30 枚なら、測定した再現率 90% は実際には約 77%〜98% の"
              "どれでもあり得ます。区間より小さいモデル間の差はノイズですが、それでどのモデルを"
              "出すかが決められています。"),
        fix=T("Collect the number of additional test images given per class, or state the "
              "intervals alongside every score and do not claim differences inside them.",
              "クラスごとに示した枚数のテスト画像を追加するか、すべてのスコアに区間を併記し、"
              "区間内の差を主張しないでください。"),
        cases=("dietterich-1998-statistical-tests", "recht-2019-imagenet-v2"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        sc = scores(ctx)
        if sc is None:
            return
        target = float(self.p["target_half_width"])
        items = []
        for c in sc.per_class:
            lo, hi = c["recall_ci"]
            if c["n"] == 0 or not (math.isfinite(lo) and math.isfinite(hi)):
                continue
            # the Wilson half-width as a floor: the target is about the sample size needed
            half = max((hi - lo) / 2, wilson_half_width(c["recall"], c["n"]))
            if half <= target:
                continue
            needed = math.ceil(c["n"] * (half / target) ** 2) - c["n"]
            items.append({"label": c["label"], "n": c["n"], "recall": c["recall"],
                          "recall_ci": c["recall_ci"], "half_width": half,
                          "more_needed": int(max(needed, 1))})
        if not items:
            return
        items.sort(key=lambda d: -d["half_width"])
        yield self.finding(
            T("{k} class(es) have a recall interval wider than ±{t:.0%}; e.g. '{c}' needs about "
              "{m} more test images (now {n}, ±{h:.1%})",
              "{k} クラスの再現率の区間が ±{t:.0%} より広くなっています。"
              "例えば '{c}' はテスト画像があと約 {m} 枚必要です（現在 {n} 枚、±{h:.1%}）").format(
                  k=len(items), t=target, c=items[0]["label"], m=items[0]["more_needed"],
                  n=items[0]["n"], h=items[0]["half_width"]),
            metrics={"target_half_width": target,
                     "more_needed": {d["label"]: d["more_needed"] for d in items},
                     "half_widths": {d["label"]: d["half_width"] for d in items},
                     "accuracy_ci": sc.metrics["accuracy"]["ci"], "n": sc.n},
            items=items,
        )


@register
class LeakInflatedScore(Rule):
    code = "EVAL002"
    name = "leak-inflated-score"
    severity = "error"
    needs = EVAL_NEEDS | {Need.SPLITS}
    title = T("The score is inflated by leakage", "リークでスコアが水増しされている")
    params = {
        "alpha": Param(0.01, "significance level of the one-sided test",
                       low=0.0, high=1.0, open_low=True, open_high=True),
        "min_difference": Param(0.01, "smallest inflation (accuracy points) worth reporting",
                                low=0.0, high=1.0),
    }
    doc = Doc(
        what=T("Re-scores the evaluation split on its images with no LEAK001–LEAK004 link to "
               "train (no exact copy, near-duplicate, shared group or capture session) and "
               "compares it with the score on every image: both with 95% intervals, their "
               "difference with a 95% interval (Newcombe's method) and the one-sided p-value "
               "of that interval (on the effective sample size when images come in groups).",
               "評価用分割を、学習データとリーク関係（完全一致・類似画像・同じグループ・同じ撮影"
               "セッション）のない画像だけで再採点し、全画像でのスコアと比較します。"
               "両方に 95% 区間、差には 95% 区間（Newcombe の方法）とその区間に基づく片側 p 値を"
               "付けます"
               "（関連する画像のグループがある場合は有効サンプルサイズで計算）。"),
        why=T("A test image that is a copy or a sibling shot of a training image is answered "
              "from memory. The published accuracy then measures recall of the training set, "
              "not performance on new photos, and drops when the model meets the field.",
              "学習画像のコピーや同じ撮影の別カットであるテスト画像は、記憶で正解されます。すると"
              "公表した正解率は学習データの暗記度を測っているだけで、新しい写真での性能ではなく、"
              "現場で下がります。"),
        fix=T("Quote the leak-free score; re-split with `pitfalls split` so that groups, "
              "sessions and near-duplicates stay on one side, and retrain.",
              "リークのないスコアを報告してください。`pitfalls split` でグループ・セッション・類似"
              "画像を片側にまとめて分割し直し、再学習してください。"),
        cases=("kaufman-2012-leakage",
               "barz-denzler-2020-cifar-duplicates",
               "roberts-2021-covid-pitfalls"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        cmp = leak_comparison(ctx)
        if cmp is None or cmp["n_leaked"] == 0:
            return
        metrics = {k: v for k, v in cmp.items() if k != "leaked_paths"}
        paths = cmp["leaked_paths"]
        items = [{"paths": paths[:50], "kind": "leaked evaluation images",
                  "n": len(paths)}]
        if cmp["n_leak_free"] == 0:
            yield self.finding(
                T("All {n} images of '{s}' are linked to train: there is no leak-free part "
                  "left to score", "'{s}' の {n} 枚すべてが学習データとリーク関係にあり、リークの"
                  "ない部分で採点できません").format(n=cmp["n_all"], s=cmp["split"]),
                metrics=metrics, items=items)
            return
        inflated = (cmp["difference"] >= self.p["min_difference"]
                    and cmp["p_value"] < self.p["alpha"])
        if not inflated:
            return
        yield self.finding(
            T("{m} on '{s}' is {a:.1%} {ca} on all {n} images but {f:.1%} {cf} on the {nf} "
              "images with no leak to train (inflated by {d:.1%}, p={p:.2g})",
              "'{s}' の {m} は全 {n} 枚で {a:.1%} {ca} ですが、学習データとリーク関係のない {nf} 枚"
              "では {f:.1%} {cf} です（{d:.1%} の水増し, p={p:.2g}）").format(
                  m=cmp["metric"], s=cmp["split"], a=cmp["score_all"], ca=_ci(cmp["ci_all"]),
                  n=cmp["n_all"], f=cmp["score_leak_free"], cf=_ci(cmp["ci_leak_free"]),
                  nf=cmp["n_leak_free"], d=cmp["difference"], p=cmp["p_value"]),
            metrics=metrics, items=items)


@register
class Miscalibration(Rule):
    code = "EVAL003"
    name = "miscalibrated-probabilities"
    severity = "warning"
    needs = EVAL_NEEDS
    title = T("Predicted probabilities are miscalibrated", "予測確率が較正されていない")
    params = {
        "max_ece": Param(0.05, "expected calibration error above which the rule fires",
                         low=0.0, high=1.0),
        "alpha": Param(0.01, "significance level against a perfectly calibrated model",
                       low=0.0, high=1.0, open_low=True, open_high=True),
        "min_n": Param(50, "fewer evaluation images are not judged", low=1),
    }
    doc = Doc(
        what=T("Bins the top-class confidence into 15 equal-width bins and computes the "
               "expected calibration error (ECE): the count-weighted gap between confidence and "
               "accuracy. Fires when ECE exceeds `max_ece` and is significantly above what a "
               "perfectly calibrated model would show on this many images (consistency "
               "resampling: outcomes drawn from the predicted confidences).",
               "最上位クラスの確信度を幅の等しい 15 区間に分け、"
               "確信度と正解率の差を件数で重み付けした期待較正誤差（ECE）を求めます。"
               "ECE が `max_ece` を超え、かつ同じ枚数で完全に較正されたモデルが示す値より有意に大き"
               "いとき報告します（確信度どおりに結果を引き直す一貫性リサンプリング）。"),
        why=T("Downstream decisions (thresholds, abstaining, human review, risk estimates) read "
              "the probability as a probability. Modern deep networks are overconfident: a "
              "'99%' that is right 90% of the time sends wrong cases past review.",
              "しきい値、判定保留、人による確認、リスク推定などの後工程は、確率を確率として"
              "使います。現代の深層ネットワークは過信しがちで、正解率 90% の「99%」は誤りを確認"
              "なしで通してしまいます。"),
        fix=T("Calibrate on a held-out split (temperature scaling, Platt or isotonic "
              "regression) and re-check the reliability diagram.",
              "別の検証用分割で較正（温度スケーリング、Platt 法、等調回帰）し、信頼性図を"
              "確認し直してください。"),
        cases=("guo-2017-calibration",),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        es, sc = eval_set(ctx), scores(ctx)
        if (es is None or es.probs is None or sc is None or sc.calibration is None
                or len(es) < self.p["min_n"]):
            return
        cal = sc.calibration
        conf = es.probs.max(axis=1)
        rng = np.random.default_rng(0)
        draws = rng.random((1000, len(conf))) < conf[None, :]
        null = np.array([_ece(conf, d) for d in draws])
        p = float((1 + np.sum(null >= cal["ece"])) / (1 + len(null)))
        if cal["ece"] <= self.p["max_ece"] or p >= self.p["alpha"]:
            return
        acc = sc.value("accuracy")
        mean_conf = float(conf.mean())
        direction = T("overconfident", "過信") if mean_conf > acc else T("underconfident",
                                                                          "自信不足")
        args = {"e": cal["ece"], "ci": _ci(cal["ci"]), "p": p, "c": mean_conf, "a": acc}
        yield self.finding(
            T("ECE is {e:.3f} (95% CI {ci}, p={p:.2g}); mean confidence {c:.1%} vs accuracy "
              "{a:.1%}: the model is {d}".format(**args, d=direction["en"]),
              "ECE は {e:.3f}（95% 信頼区間 {ci}, p={p:.2g}）。平均確信度 {c:.1%} に対し正解率 "
              "{a:.1%} で、モデルは{d}です".format(**args, d=direction["ja"])),
            metrics={"ece": cal["ece"], "ci": cal["ci"], "p_value": p,
                     "mean_confidence": mean_conf, "accuracy": acc, "bins": cal["bins"]},
            items=[{"bin": f"{b['lo']:.2f}-{b['hi']:.2f}", **b} for b in cal["bins"] if b["n"]],
        )


def _ece(conf: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    idx = np.clip((conf * n_bins).astype(int), 0, n_bins - 1)
    cnt = np.bincount(idx, minlength=n_bins)
    gap = np.abs(np.bincount(idx, correct, n_bins) - np.bincount(idx, conf, n_bins))
    return float(gap.sum() / max(cnt.sum(), 1))


@register
class WeakSlice(Rule):
    code = "EVAL004"
    name = "weak-slice"
    severity = "warning"
    needs = EVAL_NEEDS
    title = T("A slice of the data performs significantly worse",
              "特定のスライスで性能が有意に低い")
    params = {
        "alpha": Param(0.05, "false discovery rate (Benjamini–Hochberg) across all slices",
                       low=0.0, high=1.0, open_low=True, open_high=True),
        "min_gap": Param(0.1, "smallest accuracy gap (slice vs rest) worth reporting",
                         low=0.0, high=1.0),
        "min_n": Param(20, "slices with fewer evaluation images are not tested", low=1),
        "max_levels": Param(20, "metadata columns with more distinct values are not sliced", low=2),
    }
    doc = Doc(
        what=T("Slices the evaluation set by each metadata column's values and by image "
               "conditions (brightness, sharpness and size quartiles, camera model), tests "
               "whether each slice's accuracy is below the rest's (one-sided Fisher exact "
               "test), corrects for testing many slices (Benjamini–Hochberg), and shows failed "
               "examples of the slices that remain significant.",
               "評価セットをメタデータ列の値と画像条件（明るさ・鮮鋭度・サイズの四分位、"
               "カメラ機種）で分け、各スライスの正解率が残りより低いかを片側フィッシャー正確検定で"
               "調べ、多重検定を補正（Benjamini–Hochberg）したうえで、"
               "有意なスライスの失敗例を示します。"),
        why=T("An average hides subgroups where the model fails: dark photos, one camera, one "
              "site. Those are exactly the conditions the field will bring.",
              "平均値は、モデルが失敗する部分集団（暗い写真、特定のカメラ、特定の拠点）を隠します。"
              "それこそ現場で出会う条件です。"),
        fix=T("Collect training images for the weak slice, augment towards its conditions, and "
              "report per-slice metrics; if the slice is out of scope, say so in the spec.",
              "弱いスライスの学習画像を集める、その条件に向けたデータ拡張をする、スライス別の指標を"
              "報告する、などを行ってください。対象外の条件なら仕様に明記してください。"),
        cases=("buolamwini-gebru-2018-gender-shades",
               "oakden-rayner-2020-hidden-stratification"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        es = eval_set(ctx)
        if es is None:
            return
        sl = slice_table(ctx, min_n=int(self.p["min_n"]), max_levels=int(self.p["max_levels"]))
        bad = sl[(sl["q_value"] < self.p["alpha"])
                 & (sl["accuracy_rest"] - sl["accuracy"] >= self.p["min_gap"])]
        if bad.empty:
            return
        paths = ctx.table["path"].to_numpy()
        correct = dict(zip(es.rows.tolist(), es.correct.tolist(), strict=True))
        items = []
        for rec in bad.to_dict("records"):
            wrong = [int(r) for r in rec["rows"] if not correct[int(r)]][:8]
            seen = [outcome(es, r) for r in wrong]
            items.append({"paths": [str(paths[r]) for r in wrong],
                          "label": [o["label"] for o in seen], "pred": [o["pred"] for o in seen],
                          "column": rec["column"],
                          "kind": rec["kind"], "value": rec["value"], "n": int(rec["n"]),
                          "accuracy": rec["accuracy"], "accuracy_rest": rec["accuracy_rest"],
                          "p_value": rec["p_value"], "q_value": rec["q_value"]})
        w = items[0]
        yield self.finding(
            T("{k} slice(s) are significantly worse; e.g. {c}={v}: accuracy {a:.1%} on {n} "
              "images vs {r:.1%} elsewhere (q={q:.2g})",
              "{k} 個のスライスで有意に性能が低くなっています。例: {c}={v} の {n} 枚で正解率 "
              "{a:.1%}、それ以外では {r:.1%}（q={q:.2g}）").format(
                  k=len(items), c=w["column"], v=w["value"], a=w["accuracy"], n=w["n"],
                  r=w["accuracy_rest"], q=w["q_value"]),
            metrics={"n_slices_tested": int(len(sl)), "n_slices_worse": len(items),
                     "correction": "benjamini-hochberg", "alpha": self.p["alpha"]},
            items=items,
        )
