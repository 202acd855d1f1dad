"""Lab versus field: capture conditions (FIELD001), predicted field accuracy (FIELD002), field
photos outside the training distribution (FIELD003).

The field photos arrive as `ctx.extras["field"]` (a `pitfalls.field.data.FieldSet`: features from
the scan's own extractor); FIELD002 reads `ctx.extras["field_prediction"]`, computed before the
rules run by `pitfalls.field.predict` when a model is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from pitfalls.context import TRAIN, Context
from pitfalls.contract import Need
from pitfalls.field.conditions import CONDITIONS, conditions
from pitfalls.field.conditions import changed as changed_conditions
from pitfalls.field.data import FieldSet, comparison, lab_rows
from pitfalls.findings import Finding
from pitfalls.rules.base import Doc, Param, Rule, register
from pitfalls.text import T

QUANTILES = (0.1, 0.5, 0.9)


def _at_quantiles(values: np.ndarray, rows: np.ndarray) -> list[int]:
    """The row whose value is nearest each of QUANTILES of `values` (finite values only)."""
    ok = np.isfinite(values)
    if not ok.any():
        return []
    v, r = values[ok], rows[ok]
    return [int(r[np.argmin(np.abs(v - np.quantile(v, q)))]) for q in QUANTILES]


@register
class FieldConditions(Rule):
    code = "FIELD001"
    name = "field-capture-conditions"
    phase = "production"
    severity = "warning"
    needs = frozenset({Need.FIELD})
    title = T("Field capture conditions differ from the lab's", "現場の撮影条件がラボと異なる")
    params = {
        "alpha": Param(0.05, "family-wise significance level (Holm over the conditions)",
                       low=0.0, high=1.0, open_low=True, open_high=True),
        "min_effect": Param(0.5, "smallest shift of the median, in lab standard deviations, "
                                 "that counts"),
        "min_field": Param(8, "fewest readable field photos needed to compare", low=2),
        "min_cost": Param(0.02, "with a model: replayed accuracy a condition must cost to be "
                                "a warning (below, the difference is information)",
                          low=0.0, high=1.0),
        "error_cost": Param(0.10, "with a model: replayed accuracy a condition must cost to be "
                                  "an error", low=0.0, high=1.0),
    }
    doc = Doc(
        what=T("Measures each photo's capture conditions (exposure, contrast, tone curve, colour "
               "cast, blur, noise, resolution, JPEG quality, aspect ratio, vignetting) in the "
               "evaluation split and in the field photos, compares each pair of distributions "
               "with a two-sample Kolmogorov-Smirnov test (Holm-corrected), and ranks the "
               "conditions by effect size (median shift in lab standard deviations). With a "
               "model, each changed condition is graded by what it costs: the model's accuracy on"
               " the evaluation photos replayed with that condition alone; a difference that "
               "costs less than `min_cost` is information, not a warning. Evidence: photos from "
               "both sides at the 10th, 50th and 90th percentiles of each changed condition.",
               "評価用分割と現場写真それぞれについて、撮影条件（露出・コントラスト・トーンカーブ・"
               "色かぶり・ぼけ・ノイズ・解像度・JPEG 品質・縦横比・周辺減光）を 1 枚ずつ測り、"
               "条件ごとに 2 標本コルモゴロフ・スミルノフ検定（Holm 補正）で比べ、"
               "効果量（中央値のずれをラボの標準偏差で割った値）の大きい順に並べます。モデルが"
               "あれば、その条件だけを再現した評価写真でモデルの正解率がどれだけ下がるかで各条件"
               "を評価し、下がり幅が `min_cost` 未満の違いは警告ではなく情報として扱います。"
               "証拠として、"
               "変わった条件ごとに両側の 10・50・90 パーセンタイルの写真を並べます。"),
        why=T("A model is only as good as the conditions it was tested under. Darker rooms, "
              "cheaper cameras, motion blur, stronger compression or a different white balance "
              "in the field silently lower accuracy, and nobody notices until users complain.",
              "モデルの性能は、テストした条件の範囲でしか保証されません。現場の暗い部屋、安価な"
              "カメラ、手ぶれ、強い圧縮、異なるホワイトバランスは、気づかれないまま精度を下げ、"
              "利用者の苦情で初めて発覚します。"),
        fix=T("Collect training and test photos under the field's conditions (same cameras, "
              "light, distance, app settings); augment with the measured changes; or fix the "
              "capture (lighting, shutter speed, JPEG quality) in the field. Then re-test.",
              "現場と同じ条件（同じカメラ・照明・距離・アプリ設定）で学習・テスト用の写真を集める、"
              "測定された変化でデータ拡張する、または現場の撮影（照明・シャッター速度・JPEG 品質）"
              "を改善してから再テストしてください。"),
        cases=("hendrycks-dietterich-2019-imagenet-c", "beede-2020-dr-thailand"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        fs: FieldSet = ctx.extras["field"]
        if int(fs.ok.sum()) < self.p["min_field"]:
            return
        cmp = comparison(ctx)
        changed = changed_conditions(cmp, self.p["alpha"], self.p["min_effect"])
        if changed.empty:
            return
        rows = lab_rows(ctx)
        lab = conditions(ctx.table.iloc[rows])
        frows = np.flatnonzero(fs.ok)
        fld = conditions(fs.table.iloc[frows])
        items = []
        for rec in changed.head(4).to_dict("records"):
            name = rec["condition"]
            lab_pick = _at_quantiles(lab[name].to_numpy(float), rows)
            fld_pick = _at_quantiles(fld[name].to_numpy(float), frows)
            if not lab_pick or not fld_pick:
                continue
            paths = [str(ctx.table["path"].iloc[r]) for r in lab_pick]
            paths += fs.report_paths(ctx.root, fld_pick)
            items.append({"paths": paths, "condition": name,
                          "side": ["lab p10", "lab p50", "lab p90",
                                   "field p10", "field p50", "field p90"],
                          "effect": round(float(rec["effect"]), 2)})
        costs = self._costs(ctx)
        severity = self._severity(changed, costs)
        if costs:  # rank by what each condition costs the model, then by effect size
            changed = changed.assign(cost=[costs.get(c, -1.0) for c in changed["condition"]])
            changed = changed.sort_values("cost", ascending=False, kind="stable")
        top = changed.iloc[0]
        ranked = [{"condition": r["condition"], "label": CONDITIONS[r["condition"]].label["en"],
                   "effect": float(r["effect"]), "ks": float(r["ks"]),
                   "p_holm": float(r["p_holm"]), "lab_median": float(r["lab_median"]),
                   "field_median": float(r["field_median"]),
                   "cost": costs.get(r["condition"])}
                  for r in cmp.to_dict("records")]
        names_en = ", ".join(CONDITIONS[c].label["en"] for c in changed["condition"])
        names_ja = "、".join(CONDITIONS[c].label["ja"] for c in changed["condition"])
        summary = T("{n} capture condition(s) differ in the field, most of all {top} "
                    "({e:+.1f} lab SD): {names}",
                    "現場では撮影条件が {n} 項目でラボと異なります（差が最も大きいのは{top_ja}で、"
                    "ラボの標準偏差の {e:+.1f} 倍）。異なる条件：{names_ja}")
        worst = max((costs.get(c, 0.0) for c in changed["condition"]), default=0.0)
        if costs:
            summary = T(summary["en"] + "; replayed on the evaluation photos, the costliest "
                        "lowers accuracy by {cost:.1f} points",
                        summary["ja"] + "。評価写真で再現すると、最も影響の大きい条件で正解率が "
                        "{cost:.1f} ポイント下がります")
        yield self.finding(
            summary.format(
                n=len(changed), top=CONDITIONS[top["condition"]].label["en"],
                top_ja=CONDITIONS[top["condition"]].label["ja"], e=float(top["effect"]),
                names=names_en, names_ja=names_ja, cost=100 * worst),
            metrics={"changed": list(changed["condition"]), "top": str(top["condition"]),
                     "n_lab": int(len(rows)), "n_field": int(fs.ok.sum()),
                     "conditions": ranked},
            items=items,
            severity=severity,
        )

    @staticmethod
    def _costs(ctx: Context) -> dict[str, float]:
        """What each simulated condition alone costs in replayed accuracy (empty without a
        model)."""
        fp = ctx.extras.get("field_prediction")
        return {c: float(g["cost"]) for g in (fp.costs if fp is not None else [])
                for c in g["conditions"]}

    def _severity(self, changed: Any, costs: dict[str, float]) -> str | None:
        """Graded by impact where every changed condition has a replayed cost, else by effect."""
        names = list(changed["condition"])
        if costs and all(c in costs for c in names):
            worst = max(costs[c] for c in names)
            if worst >= self.p["error_cost"]:
                return "error"
            return "warning" if worst >= self.p["min_cost"] else "info"
        return "error" if abs(float(changed.iloc[0]["effect"])) >= 3 else None


@register
class FieldAccuracy(Rule):
    code = "FIELD002"
    name = "predicted-field-accuracy"
    phase = "production"
    severity = "warning"
    needs = frozenset({Need.FIELD, Need.FIELD_PREDICTION})
    title = T("Predicted field accuracy is well below lab accuracy",
              "現場で予測される正解率がラボより大きく低い")
    params = {"max_drop": Param(0.05, "drop in accuracy (lab - predicted field) that counts",
                                low=0.0, high=1.0)}
    doc = Doc(
        what=T("Fits a capture model (exposure, contrast, tone curve, colour cast, lens fall-off,"
               " Gaussian and motion blur or sharpening, sensor noise, down-scaling, JPEG "
               "quality) so that the transformed evaluation photos match the field photos' "
               "measured conditions, and runs the model on them (the replay): its accuracy is the"
               " prediction. As a check on the field photos themselves, the replay's accuracy is "
               "carried to them through the model's confidence (Average Thresholded Confidence, "
               "Garg et al. 2022, calibrated on the replay rather than the lab), so a shift the "
               "capture model cannot represent still shows: the 95% interval counts the noise of "
               "both samples, resamples lab and field photos and spans both; a condition the "
               "replay could not reproduce is named, and the interval also spans the replay "
               "pushed on by the share the fit fell short (with a tone curve in the fit, also the"
               " fit without one; the estimate is then the mean of the two). Also shown: lab "
               "accuracy, the condition that costs most, and plain ATC.",
               "撮影モデル（露出・コントラスト・トーンカーブ・色かぶり・周辺減光・ガウスぼけと手ぶれ"
               "またはシャープ化・センサーノイズ・縮小・JPEG 品質）を、"
               "変換後の評価写真が現場写真の撮影条件と一致するように当てはめ、"
               "モデルを実行します（再現）。その正解率が予測値です。現場写真そのものでの確認として、"
               "再現した写真での正解率をモデルの確信度を介して現場写真へ引き継ぐため（ATC, Garg "
               "ら 2022 をラボではなく再現写真で較正）、撮影モデルで表せない変化も見えます。95% "
               "区間は両方の標本のばらつきを数え、ラボと現場の写真を再標本化し、両方の値を含みます。"
               "再現できなかった条件は名前を挙げ、当てはめが届かなかった分だけ再現をさらに"
               "進めたときの正解率も区間に含めます（トーンカーブを当てはめた場合は、"
               "トーンカーブなしの当てはめも区間に含め、予測値は両者の平均とします）。"
               "ラボの正解率、最も影響の大きい条件、通常の ATC も並べて示します。"),
        why=T("Stakeholders plan with the lab number. If the field's cameras and light cost ten "
              "points, the project is judged a failure after release although the model did "
              "what it was tested to do.",
              "関係者はラボの数字を前提に計画します。現場のカメラや照明で 10 ポイント下がれば、"
              "モデルはテストどおりに動いているのに、"
              "リリース後にプロジェクトは失敗と見なされます。"),
        fix=T("Tell stakeholders the field figure, not the lab one (`pitfalls sheet`); fix the "
              "condition that costs most (light, focus, compression) or train with it.",
              "関係者にはラボではなく現場の数字を伝えてください（`pitfalls sheet`）。"
              "最も影響の大きい条件（照明・ピント・圧縮）を改善するか、"
              "その条件で学習してください。"),
        cases=("beede-2020-dr-thailand", "koh-2021-wilds", "garg-2022-atc"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        fp = ctx.extras["field_prediction"]
        drop = fp.lab_accuracy - fp.predicted_field_accuracy
        if drop < self.p["max_drop"]:
            return
        worst = [CONDITIONS[c] for c in (fp.costs[0]["conditions"] if fp.costs else [])
                 if c in CONDITIONS]
        items = [{"conditions": ", ".join(c["conditions"]), "accuracy": round(c["accuracy"], 4),
                  "cost": round(c["cost"], 4)} for c in fp.costs]
        summary = T("Predicted field accuracy {f:.1%} [{lo:.1%}, {hi:.1%}] against {lab:.1%} in "
                    "the lab; costs most: {w}",
                    "現場で予測される正解率は {f:.1%} [{lo:.1%}, {hi:.1%}]（ラボでは {lab:.1%}）。"
                    "最も影響が大きい条件：{w_ja}")
        missed = [CONDITIONS[m["condition"]] for m in fp.unreproduced
                  if m["condition"] in CONDITIONS]
        if missed:
            summary = T(summary["en"] + ". The replay could not reproduce the field's {m}, so "
                        "the interval is widened to the field photos' own confidence and to the "
                        "replay pushed on to close the gap",
                        summary["ja"] + "。現場の{m_ja}は再現できなかったため、区間を現場写真"
                        "そのものの確信度と、差を埋めるまで再現を進めた場合の正解率まで広げて"
                        "います")
        yield self.finding(
            summary.format(
                f=fp.predicted_field_accuracy, lo=fp.ci[0], hi=fp.ci[1], lab=fp.lab_accuracy,
                w=", ".join(c.label["en"] for c in worst) or "-",
                w_ja="、".join(c.label["ja"] for c in worst) or "-",
                m=", ".join(c.label["en"] for c in missed),
                m_ja="・".join(c.label["ja"] for c in missed)),
            metrics={"lab_accuracy": fp.lab_accuracy, "lab_ci": fp.lab_ci,
                     "predicted_field_accuracy": fp.predicted_field_accuracy, "ci": fp.ci,
                     "atc_estimate": fp.atc_estimate, "replay_accuracy": fp.replay_accuracy,
                     "replay_ci": fp.replay_ci, "atc_replay": fp.atc_replay,
                     "mismatch": fp.mismatch,
                     "unreproduced": [m["condition"] for m in fp.unreproduced],
                     "pushed_accuracy": fp.pushed_accuracy,
                     "untoned_accuracy": fp.untoned_accuracy, "drop": drop,
                     "simulated": fp.simulated, "n_eval": fp.n_eval, "n_field": fp.n_field},
            items=items,
            severity="error" if drop >= 2 * self.p["max_drop"] else None,
        )


@register
class FieldOutOfDistribution(Rule):
    code = "FIELD003"
    name = "field-out-of-distribution"
    phase = "production"
    severity = "warning"
    needs = frozenset({Need.FIELD, Need.SPLITS})
    title = T("Field photos outside the "
              "training distribution", "学習データの分布から外れた現場写真")
    params = {
        "quantile": Param(0.95, "quantile of the evaluation split's own distances to train "
                                "beyond which a field "
                                "photo counts "
                                "as outside", low=0.0, high=1.0, open_low=True, open_high=True),
        "alpha": Param(0.01, "significance level of the binomial test on the share outside",
                       low=0.0, high=1.0, open_low=True, open_high=True),
    }
    doc = Doc(
        what=T("For every evaluation photo, the distance (1 - cosine similarity of embeddings) "
               "to its nearest training photo gives the spread of ordinary new photos; field "
               "photos farther from train than that distribution's `quantile` are outside. Fires "
               "when more of them are outside than the 5% expected (one-sided binomial test), "
               "with the farthest photos and their nearest training photo.",
               "評価写真それぞれについて最も近い学習写真までの距離（埋め込みの 1 - コサイン類似度）"
               "を測り、通常の新しい写真のばらつきとします。その `quantile` 分位点より学習データか"
               "ら遠い現場写真を「分布外」とし、期待される 5% を有意に超えたとき（片側二項検定）"
               "に、最も遠い写真とその最近傍の学習写真を示して報告します。"),
        why=T("Accuracy measured on photos like the training set says nothing about photos "
              "unlike it: new backgrounds, objects, viewpoints or devices in the field.",
              "学習データに似た写真で測った正解率は、似ていない写真（新しい背景・対象・"
              "撮影角度・機器）については何も保証しません。"),
        fix=T("Look at the outside photos: add such scenes to training and test data, or "
              "restrict the model's use (reject and route to a person) where they occur.",
              "分布外の写真を確認し、同様の場面を学習・テストデータに加えるか、そうした写真では"
              "モデルを使わない（棄却して人に回す）運用にしてください。"),
        cases=("beery-2018-terra-incognita", "zech-2018-pneumonia-hospitals", "koh-2021-wilds"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        from scipy.stats import binomtest

        fs: FieldSet = ctx.extras["field"]
        t = ctx.table
        emb = ctx.embeddings()
        train = np.flatnonzero(ctx.ok.to_numpy() & (t["split"] == TRAIN).to_numpy())
        evals = lab_rows(ctx)
        frows = np.flatnonzero(fs.ok)
        if len(train) < 5 or len(evals) < 10 or len(frows) < 5:
            return
        x_train = emb[train]
        own = np.array([1.0 - float(np.max(x_train @ v)) for v in emb[evals]])
        limit = float(np.quantile(own, self.p["quantile"]))
        sims = fs.embeddings[frows] @ x_train.T
        nearest = sims.argmax(axis=1)
        dist = 1.0 - sims.max(axis=1)
        outside = np.flatnonzero(dist > limit)
        expected = 1.0 - self.p["quantile"]
        test = binomtest(len(outside), len(frows), expected, alternative="greater")
        if test.pvalue >= self.p["alpha"]:
            return
        order = outside[np.argsort(-dist[outside])][:12]
        field_paths = fs.report_paths(ctx.root, frows[order])
        items = [{"paths": [fp, str(t["path"].iloc[train[nearest[k]]])],
                  "score": round(float(dist[k]), 4), "side": ["field", "nearest train"]}
                 for fp, k in zip(field_paths, order, strict=True)]
        share = len(outside) / len(frows)
        yield self.finding(
            T("{k} of {n} field photos ({s:.0%}) are farther from the training photos than 95% "
              "of the evaluation photos (expected about 5%)",
              "現場写真 {n} 枚のうち {k} 枚（{s:.0%}）は、評価写真の 95% よりも学習写真から"
              "離れています（通常は 5% 程度）").format(k=len(outside), n=len(frows), s=share),
            metrics={"n_outside": int(len(outside)), "n_field": int(len(frows)),
                     "share_outside": share, "expected_share": expected,
                     "distance_limit": limit, "p_value": float(test.pvalue)},
            items=items,
            severity="error" if share >= 0.5 else None,
        )
