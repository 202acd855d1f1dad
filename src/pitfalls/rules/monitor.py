"""Production monitoring: one window of live records against the reference (MON001-MON008).

The window arrives as `ctx.extras["windows"]` (a `pitfalls.monitor.analysis.batch.WindowBatch`:
the window's flattened records over every source, the reference, and each source's recent record
counts); `pitfalls.monitor.analysis.check.check_window` builds it. A scan has no windows, so the
runner skips these rules there.

Honest alarms: each rule tests the window over all sources and each source with enough records,
and fires only when a test is significant at `alpha` after a Bonferroni correction over those
scopes (and Holm over the conditions in MON001) *and* the change is large enough to matter. With
the default `alpha` of 0.001 a stream with no shift raises about one false alert per thousand
windows per rule; tests/test_monitor_false_alarms.py measures it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from pitfalls.context import Context
from pitfalls.contract import Need
from pitfalls.field.conditions import CONDITIONS, compare
from pitfalls.field.conditions import changed as changed_conditions
from pitfalls.findings import Finding
from pitfalls.monitor.analysis.batch import WindowBatch
from pitfalls.monitor.analysis.estimate import (
    atc_estimate,
    below_range_p,
    realised,
    replay_below_range_p,
)
from pitfalls.monitor.analysis.records import COND_PREFIX, UNUSABLE_KINDS
from pitfalls.monitor.analysis.windows import ALL
from pitfalls.rules.base import Doc, Param, Rule, register
from pitfalls.text import T

ALPHA = Param(0.001, "false-alarm rate per window (Bonferroni-corrected over the sources tested)",
              low=0, high=1, open_low=True, open_high=True)
MIN_N = Param(50, "fewest records a window (or one source's share of it) needs to be tested",
              low=1)
SCOPE = T("all sources", "全ソース")


def _where(source: str) -> T:
    return SCOPE if source == ALL else T(f"source {source}", f"ソース {source}")


class WindowRule(Rule):
    """A MON rule: tests each scope (all sources, then each source) of one window."""

    phase = "production"
    needs = frozenset({Need.WINDOWS})

    def scopes(self, ctx: Context) -> tuple[WindowBatch, list[tuple[str, pd.DataFrame]]]:
        batch: WindowBatch = ctx.extras["windows"]
        return batch, list(batch.scopes(int(self.p["min_n"])))

    def window_finding(self, batch: WindowBatch, source: str, summary: T,
                       metrics: dict[str, Any], items: list[dict[str, Any]] | None = None,
                       severity: str | None = None) -> Finding:
        where = _where(source)
        text = T(f"{summary['en']} ({where['en']}, window from {batch.key.start:%Y-%m-%d %H:%M} "
                 f"UTC)", f"{summary['ja']}（{where['ja']}、{batch.key.start:%Y-%m-%d %H:%M} UTC "
                 "からのウィンドウ）")
        meta = {"source": source, "every": batch.key.every,
                "window_start": batch.key.start.isoformat(), "window_end": batch.end.isoformat()}
        return self.finding(text, metrics={**meta, **metrics}, items=items, severity=severity)


@register
class ConditionDrift(WindowRule):
    code = "MON001"
    name = "capture-condition-drift"
    severity = "warning"
    title = T("Capture conditions of live traffic drift from the reference",
              "本番の撮影条件が基準から変化している")
    params = {"alpha": ALPHA, "min_n": MIN_N,
              "min_effect": Param(0.5, "smallest shift of the median, in reference standard "
                                       "deviations, that counts")}
    doc = Doc(
        what=T("For each window, over all sources and per source, compares every capture "
               "condition of the live inputs (exposure, contrast, tone curve, colour cast, blur, "
               "noise, resolution, JPEG quality, aspect ratio, vignetting; the same measures as "
               "FIELD001, from the "
               "features the device computed) with the reference photos by a two-sample "
               "Kolmogorov-Smirnov test, Holm-corrected over the conditions and "
               "Bonferroni-corrected over the sources, and reports the conditions whose median "
               "moved by at least `min_effect` reference standard deviations.",
               "ウィンドウごとに、全ソースとソース別に、本番"
               "入力の撮影条件（露出・コントラスト・トーンカーブ・色かぶり・"
               "ぼけ・ノイズ・解像度・JPEG 品質・縦横比・周辺減光。FI"
               "ELD001 と同じ尺度を端末が計算した特徴量から"
               "求めます）を基準写真と 2 標本コルモゴロフ・ス"
               "ミルノフ検定で比べます。条件間は Holm 補正、"
               "ソース間は Bonferroni 補正をかけ、中央値が"
               "基準の標準偏差の `min_effect` 倍以上ずれた"
               "条件を報告します。"),
        why=T("Cameras get dirty, lamps fail, firmware updates change the JPEG settings, a site "
              "moves its camera next to a window. Each change moves inputs away from what the "
              "model was tested on, and accuracy falls without any error message.",
              "カメラは汚れ、照明は切れ、ファームウェア更新で JPEG 設定が変わり、設置場所が窓際に"
              "移されることもあります。そのたびに入力はモデルをテストした条件から離れ、エラーを出す"
              "ことなく正解率が下がります。"),
        fix=T("Look at the condition and the source named: clean or refocus the camera, restore "
              "the light or the capture settings; if the change is permanent, collect photos "
              "under it, retrain and re-test, and update the reference.",
              "報告された条件とソースを確認し、カメラの清掃・ピント調整、照明や撮影設定の復旧を"
              "行ってください。変化が恒久的なら、その条件で写真を集めて再学習・再テストし、"
              "基準を更新してください。"),
        cases=("rabanser-2019-failing-loudly", "hendrycks-dietterich-2019-imagenet-c"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        batch, scopes = self.scopes(ctx)
        ref = batch.reference.usable
        lab = ref[[COND_PREFIX + c for c in CONDITIONS]].rename(
            columns=lambda c: c.removeprefix(COND_PREFIX))
        for source, rows in scopes:
            live = rows[~rows["unusable"]][[COND_PREFIX + c for c in CONDITIONS]].rename(
                columns=lambda c: c.removeprefix(COND_PREFIX))
            cmp = compare(lab, live)
            hit = changed_conditions(cmp, self.p["alpha"] / len(scopes), self.p["min_effect"])
            if hit.empty:
                continue
            top = hit.iloc[0]
            label = CONDITIONS[str(top["condition"])].label
            items = [{"condition": r["condition"], "effect": round(float(r["effect"]), 2),
                      "ks": round(float(r["ks"]), 3), "p_holm": float(r["p_holm"]),
                      "reference_median": float(r["lab_median"]),
                      "live_median": float(r["field_median"])} for r in hit.to_dict("records")]
            yield self.window_finding(
                batch, source,
                T("{k} capture condition(s) drifted, most of all {top} ({e:+.1f} reference SD)",
                  "撮影条件が {k} 項目で変化しています（最も大きいのは{top_ja}で、基準の標準偏差の "
                  "{e:+.1f} 倍）").format(k=len(hit), top=label["en"], top_ja=label["ja"],
                                         e=float(top["effect"])),
                {"changed": list(hit["condition"]), "top": str(top["condition"]),
                 "effect": float(top["effect"]), "p_value": float(top["p_holm"]),
                 "n": int(len(live))},
                items, severity="error" if abs(float(top["effect"])) >= 3 else None)


@register
class EstimatedAccuracy(WindowRule):
    code = "MON002"
    name = "estimated-accuracy-below-range"
    severity = "error"
    title = T("Estimated accuracy (no labels) below the agreed range",
              "推定正解率（ラベルなし）が合意した範囲を下回る")
    params = {"alpha": ALPHA, "min_n": MIN_N}
    doc = Doc(
        what=T("Estimates each window's accuracy without labels by Average Thresholded "
               "Confidence (ATC-NE, Garg et al. 2022): the confidence threshold at which the "
               "reference's share of confident predictions equals its accuracy, applied to the "
               "window. Where the service has the model and the reference photos, the capture "
               "replay (FIELD002's method: the window's measured conditions applied to the "
               "reference photos) replaces it. Fires when the estimate is significantly below "
               "the low end of the range agreed on the expectation sheet (one-sided test "
               "counting the window's and the reference's sampling error).",
               "各ウィンドウの正解率をラベルなしで ATC-NE（G"
               "arg ら 2022）により推定します。基準データで"
               "確信度の高い予測の割合が正解率と一致するしき"
               "い値を求め、それをウィンドウに当てはめます。"
               "サービスがモデルと基準写真を持っている場合は、"
               "撮影条件の再現（FIELD002 と同じ方法で、"
               "ウィンドウで測った撮影条件を基準写真に適用する）による推定を代わりに使います。"
               "推定値が期待値シートで合意した範囲の下限を"
               "有意に下回ったとき（ウィンドウと基準の両方の"
               "標本誤差を考慮した片側検定）に報告します。"),
        why=T("Labels arrive late or never. Without an estimate, a model can fail for weeks "
              "before anyone measures it; stakeholders who were promised a range learn of the "
              "miss from their customers.",
              "ラベルは遅れて届くか、届きません。推定がなければ、誰かが測るまで何週間もモデルが"
              "失敗し続けることがあり、範囲を約束された関係"
              "者は顧客から問題を知らされることになります。"),
        fix=T("Read MON001, MON005 and MON007 for the same window: they usually say why. "
              "Collect labels for a sample of the window to confirm (MON006), then fix the "
              "capture or retrain.",
              "同じウィンドウの MON001・MON005・MON0"
              "07 を確認してください。多くの場合、原因が分かります。"
              "ウィンドウの一部にラベルを付けて確認し（MON"
              "006）、撮影を改善するか再学習してください。"),
        cases=("garg-2022-atc", "recht-2019-imagenet-v2"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        batch, scopes = self.scopes(ctx)
        ref = batch.reference
        if ref.expected_range is None or (ref.correct is None and batch.replay is None):
            return
        low = ref.expected_range[0]
        n_ref = len(ref.correct) if ref.correct is not None else 0
        for source, rows in scopes:
            est = batch.replay(rows) if batch.replay is not None else atc_estimate(ref, rows)
            if est.value is None or est.value >= low:
                continue
            p = (replay_below_range_p(est, low) if est.method == "replay"
                 else below_range_p(est.value, est.n, n_ref, low))
            if p >= self.p["alpha"] / len(scopes):
                continue
            yield self.window_finding(
                batch, source,
                T("Estimated accuracy {v:.1%} [{lo:.1%}, {hi:.1%}] is below the agreed "
                  "{a:.0%}-{b:.0%}",
                  "推定正解率 {v:.1%} [{lo:.1%}, {hi:.1%}] が合意した {a:.0%}〜{b:.0%} を下回って"
                  "います").format(v=est.value, lo=est.ci[0], hi=est.ci[1], a=low,
                                  b=ref.expected_range[1]),
                {"estimated_accuracy": est.value, "ci": est.ci, "method": est.method,
                 "expected_range": list(ref.expected_range), "p_value": p, "n": est.n})


@register
class PredictionMix(WindowRule):
    code = "MON003"
    name = "prediction-mix-shift"
    severity = "warning"
    title = T("The mix of predicted classes shifts", "予測クラスの構成が変化している")
    params = {"alpha": ALPHA, "min_n": MIN_N,
              "min_psi": Param(0.1, "smallest population stability index that counts")}
    doc = Doc(
        what=T("Compares the window's counts of predicted classes with the reference's by a "
               "chi-squared test of the 2 x k table (both sides are samples), Bonferroni-"
               "corrected over the sources, and reports the population stability index (PSI) "
               "with the classes that gained and lost most; fires when the test is significant "
               "and the PSI is at least `min_psi`.",
               "ウィンドウの予測クラスの件数を基準と 2 x "
               "k 分割表のカイ二乗検定（両側とも標本）で比べ、"
               "ソース間は Bonferroni 補正をかけます。"
               "母集団安定性指標（PSI）と、増えた・減ったクラスを"
               "示し、検定が有意で PSI が `min_psi` 以上のときに報告します。"),
        why=T("A shift in what the model predicts is the first sign of a change in what it sees "
              "(new products, a season, a different site) or of a model that has started to "
              "fail towards one class, and it needs no labels.",
              "予測の構成の変化は、入力の変化（新製品・季"
              "節・別の拠点）や、特定のクラスに偏って失敗し"
              "始めたモデルの最初の兆候で、ラベルなしで分かります。"),
        fix=T("Check whether the world changed (then the reference and the expected class mix "
              "need updating, and accuracy should be re-checked) or the model did (then look "
              "at MON001 and MON005 for the same window).",
              "現実が変わったのか（基準と想定するクラス構成を更新し、正解率を確認し直す）、モデルの"
              "振る舞いが変わったのか（同じウィンドウの MON0"
              "01・MON005 を確認する）を見極めてください。"),
        cases=("lipton-2018-label-shift", "rabanser-2019-failing-loudly"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        from scipy.stats import chi2_contingency

        batch, scopes = self.scopes(ctx)
        ref_counts = batch.reference.table["pred"].dropna().astype(str).value_counts()
        if ref_counts.sum() == 0:
            return
        for source, rows in scopes:
            live = rows["pred"].dropna().astype(str).value_counts()
            classes = sorted(set(ref_counts.index) | set(live.index))
            a = ref_counts.reindex(classes, fill_value=0).to_numpy(float)
            b = live.reindex(classes, fill_value=0).to_numpy(float)
            if b.sum() == 0 or len(classes) < 2:
                continue
            p = float(chi2_contingency(np.vstack([a, b])).pvalue)
            pa = (a + 0.5) / (a.sum() + 0.5 * len(a))
            pb = (b + 0.5) / (b.sum() + 0.5 * len(b))
            psi = float(((pb - pa) * np.log(pb / pa)).sum())
            if p >= self.p["alpha"] / len(scopes) or psi < self.p["min_psi"]:
                continue
            delta = pb - pa
            order = np.argsort(delta)
            items = [{"class": classes[i], "reference_share": float(a[i] / a.sum()),
                      "live_share": float(b[i] / b.sum())}
                     for i in [*order[::-1][:3], *order[:3]] if abs(delta[i]) > 0.01]
            up, down = classes[int(order[-1])], classes[int(order[0])]
            yield self.window_finding(
                batch, source,
                T("Predicted class mix shifted (PSI {psi:.2f}): more {up}, fewer {down}",
                  "予測クラスの構成が変化しています（PSI {psi:.2f}）：{up} が増え、{down} が減少")
                .format(psi=psi, up=up, down=down),
                {"psi": psi, "p_value": p, "n": int(b.sum()),
                 "prediction_mix": {c: float(v / b.sum()) for c, v in zip(classes, b,
                                                                           strict=True)},
                 "reference_mix": {c: float(v / a.sum()) for c, v in zip(classes, a,
                                                                         strict=True)}},
                items, severity="error" if psi >= 0.25 else None)


@register
class ConfidenceDrop(WindowRule):
    code = "MON004"
    name = "confidence-drop"
    severity = "warning"
    title = T("Model confidence drops", "モデルの確信度が下がっている")
    params = {"alpha": ALPHA, "min_n": MIN_N,
              "min_drop": Param(0.05, "smallest drop of the mean top-class probability that "
                                      "counts", low=0, high=1)}
    doc = Doc(
        what=T("Compares the window's top-class probabilities with the reference's by a "
               "one-sided Mann-Whitney U test (Bonferroni-corrected over the sources) and fires "
               "when they are significantly lower and the mean fell by at least `min_drop`; "
               "reports the share of confident predictions (above the reference's median "
               "confidence) on both sides.",
               "ウィンドウの最上位クラスの確率を基準と片側マン・ホイットニーの U 検定（ソース間は "
               "Bonferroni 補正）で比べ、有意に低く、平均が"
               " `min_drop` 以上下がったときに報告します。"
               "確信度の高い予測（基準の確信度の中央値を"
               "超えるもの）の割合を両側について示します。"),
        why=T("A model meeting inputs unlike its training data usually becomes less sure before "
              "anyone sees its errors; falling confidence is an early, label-free warning.",
              "学習データと異なる入力に出会ったモデルは、誤"
              "りが目に見える前に確信度が下がるのが普通です。"
              "確信度の低下は、ラベルなしで得られる早期の警告です。"),
        fix=T("Look at the least confident inputs of the window and at MON001/MON005; collect "
              "and label such inputs, retrain, and consider routing low-confidence predictions "
              "to a person.",
              "ウィンドウで確信度の低い入力と MON001・MO"
              "N005 を確認してください。そうした入力を集めて"
              "ラベルを付けて再学習し、確信度の低い予測は人に回す運用も検討してください。"),
        cases=("hendrycks-gimpel-2017-msp-baseline", "ovadia-2019-uncertainty-shift"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        from scipy.stats import mannwhitneyu

        batch, scopes = self.scopes(ctx)
        ref = batch.reference.table["conf"].dropna().to_numpy(float)
        if len(ref) < 10:
            return
        median = float(np.median(ref))
        for source, rows in scopes:
            live = rows["conf"].dropna().to_numpy(float)
            if len(live) < 10:
                continue
            drop = float(ref.mean() - live.mean())
            if drop < self.p["min_drop"]:
                continue
            p = float(mannwhitneyu(live, ref, alternative="less").pvalue)
            if p >= self.p["alpha"] / len(scopes):
                continue
            yield self.window_finding(
                batch, source,
                T("Mean confidence fell from {r:.1%} to {l:.1%}; confident predictions "
                  "{rs:.0%} -> {ls:.0%}",
                  "平均確信度が {r:.1%} から {l:.1%} に低下"
                  "。確信度の高い予測は {rs:.0%} → {ls:.0%}")
                .format(r=ref.mean(), l=live.mean(), rs=float((ref > median).mean()),
                        ls=float((live > median).mean())),
                {"reference_confidence": float(ref.mean()), "live_confidence": float(live.mean()),
                 "drop": drop, "confident_share": float((live > median).mean()),
                 "reference_confident_share": float((ref > median).mean()), "p_value": p,
                 "n": int(len(live))},
                severity="error" if drop >= 3 * self.p["min_drop"] else None)


@register
class OutOfDistribution(WindowRule):
    code = "MON005"
    name = "out-of-distribution-share"
    severity = "warning"
    title = T("A growing share of inputs lies outside the training distribution",
              "学習データの分布から外れた入力の割合が増えている")
    params = {"alpha": ALPHA, "min_n": MIN_N,
              "min_excess": Param(0.05, "smallest excess of the outside share over the "
                                        "expected one that counts", low=0, high=1)}
    doc = Doc(
        what=T("Measures each input's mean distance to its 5 nearest reference photos on the "
               "robustly standardised capture conditions and content properties (colourfulness, "
               "saturation, entropy, edges, fine detail). The limit is the reference's own "
               "leave-one-out 95th percentile, so about 5% of ordinary inputs lie beyond it; "
               "fires when the window's share beyond it is significantly higher (one-sided "
               "binomial test against the 99% upper bound of that 5% given the reference's "
               "size, Bonferroni over the sources) and at least `min_excess` above 5%.",
               "各入力から最も近い基準写真 5 枚までの平均"
               "距離を、ロバストに標準化した撮影条件と内容の"
               "特性（色彩度・彩度・エントロピー・エッジ・"
               "細部）で測ります。しきい値は基準写真どうしの"
               "一つ抜き距離の 95 パーセンタイルなので、通常"
               "の入力の約 5% がそれを超えます。ウィンドウで"
               "超える割合が有意に高く（基準の枚数から求めた "
               "5% の 99% 上側限界に対する片側二項検定、"
               "ソース間は Bonferroni 補正）、5% より `min_excess` 以上多いときに報告します。"),
        why=T("A model's tested accuracy holds only for inputs like its test photos. New "
              "products, backgrounds, a camera pointed elsewhere or a covered lens produce "
              "inputs on which any prediction is a guess.",
              "テストで測った正解率は、テスト写真に似た入力"
              "にしか当てはまりません。新製品、背景の変化、"
              "向きの変わったカメラ、覆われたレンズなどに"
              "よる入力では、どの予測も当て推量になります。"),
        fix=T("Look at the farthest inputs of the window: add such scenes to training and test "
              "data, or reject them and route them to a person.",
              "ウィンドウで最も遠い入力を確認し、同様の場面を学習・テストデータに加えるか、棄却して"
              "人に回してください。"),
        cases=("koh-2021-wilds", "zech-2018-pneumonia-hospitals"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        from scipy.stats import binomtest

        batch, scopes = self.scopes(ctx)
        ref = batch.reference
        expected = 1.0 - ref.ood_quantile
        n_ref = len(ref.usable)
        if n_ref < 20 or not np.isfinite(ref.ood_limit):  # no image features to compare on
            return
        for source, rows in scopes:
            usable = rows[~rows["unusable"]]
            if len(usable) < 10:
                continue
            dist = ref.ood_distance(usable)
            outside = dist > ref.ood_limit
            share = float(outside.mean())
            if share < expected + self.p["min_excess"]:
                continue
            # The limit is a quantile of a finite reference, so the share beyond it is not
            # exactly `expected` for every stream: test against its one-sided 99% upper bound,
            # which holds for (almost) every reference, not just on average over references.
            upper = expected + 2.326 * np.sqrt(expected * (1 - expected) / n_ref)
            p = float(binomtest(int(outside.sum()), len(usable), min(upper, 1.0),
                                alternative="greater").pvalue)
            if p >= self.p["alpha"] / len(scopes):
                continue
            far = np.argsort(-dist)[:12]
            items = [{"id": str(usable["id"].iloc[i]), "score": round(float(dist[i]), 3)}
                     for i in far if outside[i]]
            yield self.window_finding(
                batch, source,
                T("{s:.0%} of inputs lie outside the reference distribution (expected about "
                  "{e:.0%})", "入力の {s:.0%} が基準の分布から外れています（通常は約 {e:.0%}）")
                .format(s=share, e=expected),
                {"share_outside": share, "expected_share": expected,
                 "distance_limit": ref.ood_limit, "p_value": p, "n": int(len(usable))},
                items, severity="error" if share >= 0.5 else None)


@register
class RealisedAccuracy(WindowRule):
    code = "MON006"
    name = "realised-accuracy-below-range"
    severity = "error"
    title = T("Realised accuracy on delayed labels below the agreed range",
              "後から届いたラベルで測った正解率が合意した範囲を下回る")
    params = {"alpha": ALPHA,
              "min_n": Param(30, "fewest labelled records a window (or source) needs", low=1)}
    doc = Doc(
        what=T("Once labels arrive for a window's records, measures accuracy on them with a "
               "Wilson interval and fires when an exact one-sided binomial test says it is "
               "below the low end of the range agreed on the expectation sheet (Bonferroni over "
               "the sources).",
               "ウィンドウのレコードにラベルが届いたら、そ"
               "の正解率をウィルソン区間付きで測り、正確な"
               "片側二項検定で期待値シートの合意範囲の下限を下回ると判断されたとき（ソース間は "
               "Bonferroni 補正）に報告します。"),
        why=T("This is the number stakeholders were promised. Measuring it, with its "
              "uncertainty, is the only way to know whether the promise holds and to catch an "
              "estimate that has gone wrong.",
              "これが関係者に約束した数字です。不確かさとと"
              "もに測ることが、約束が守られているかを知り、"
              "推定の誤りに気づく唯一の方法です。"),
        fix=T("Compare with the estimate (MON002) and the conditions (MON001); tell the "
              "stakeholders the measured figure; fix the capture or retrain on labelled "
              "field data.",
              "推定（MON002）と撮影条件（MON001）と比べ、関係者に実測値を伝え、撮影を改善するか、"
              "ラベル付きの現場データで再学習してください。"),
        cases=("wong-2021-epic-sepsis",),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        from scipy.stats import binomtest

        batch: WindowBatch = ctx.extras["windows"]
        ref = batch.reference
        if ref.expected_range is None:
            return
        low = ref.expected_range[0]
        labelled = batch.records[batch.records["label"].notna()]
        scopes = [(s, r) for s, r in WindowBatch(ref, batch.key, labelled).scopes(
            int(self.p["min_n"]))]
        for source, rows in scopes:
            est = realised(rows)
            if est.value is None or est.value >= low:
                continue
            k = int(round(est.value * est.n))
            p = float(binomtest(k, est.n, low, alternative="less").pvalue)
            if p >= self.p["alpha"] / len(scopes):
                continue
            yield self.window_finding(
                batch, source,
                T("Realised accuracy {v:.1%} [{lo:.1%}, {hi:.1%}] on {n} labels is below the "
                  "agreed {a:.0%}-{b:.0%}",
                  "ラベル {n} 件で測った正解率 {v:.1%} [{lo:.1%}, {hi:.1%}] が合意した "
                  "{a:.0%}〜{b:.0%} を下回っています").format(
                      v=est.value, lo=est.ci[0], hi=est.ci[1], n=est.n, a=low,
                      b=ref.expected_range[1]),
                {"realised_accuracy": est.value, "ci": est.ci, "n_labelled": est.n,
                 "expected_range": list(ref.expected_range), "p_value": p})


@register
class UnusableInputs(WindowRule):
    code = "MON007"
    name = "unusable-inputs-rising"
    severity = "warning"
    title = T("Unreadable, dark, blurry or otherwise unusable inputs rise",
              "読めない・暗い・ぼけたなど使えない入力が増えている")
    params = {"alpha": ALPHA, "min_n": MIN_N,
              "min_increase": Param(0.05, "smallest rise of the unusable share over the "
                                          "reference's that counts", low=0, high=1)}
    doc = Doc(
        what=T("Counts the window's unusable inputs by the image-quality rules' own limits "
               "(unreadable as the device reported it, dark as QUAL002, washed out as QUAL003, "
               "nearly blank as QUAL005, blurred as QUAL004 against the reference's median) and "
               "compares the share with the reference's by a one-sided Fisher exact test "
               "(Bonferroni over the sources); fires when it is significantly higher and at "
               "least `min_increase` above it.",
               "ウィンドウ内の使えない入力を画質ルールと同じ"
               "基準で数えます（端末が報告した読み込み失敗、"
               "QUAL002 の暗い画像、QUAL003 の白飛び、QUA"
               "L005 のほぼ無地、基準の中央値に対する QUAL004 "
               "のぼけ）。その割合を基準と片側フィッシャーの正確検"
               "定（ソース間は Bonferroni 補正）で比べ、"
               "有意に高く、`min_increase` 以上増えたときに報告します。"),
        why=T("Every unusable input is a prediction nobody should trust; when they rise, a "
              "camera, a lamp or an upload path is failing, and the model's accuracy on them is "
              "close to chance.",
              "使えない入力に対する予測は信頼できません。それが増えているなら、カメラ・照明・"
              "アップロード経路のどこかが故障しており、その入力での正解率は偶然と大差ありません。"),
        fix=T("Fix the capture at the source named (light, focus, lens, upload); reject "
              "unusable inputs before prediction and ask for a new photo.",
              "報告されたソースの撮影（照明・ピント・レンズ"
              "・アップロード）を直し、使えない入力は予測前に"
              "棄却して撮り直しを求めてください。"),
        cases=("beede-2020-dr-thailand",),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        from scipy.stats import fisher_exact

        batch, scopes = self.scopes(ctx)
        ref = batch.reference.table["unusable"].to_numpy(bool)
        k_ref, n_ref = int(ref.sum()), len(ref)
        base = k_ref / max(n_ref, 1)
        for source, rows in scopes:
            k, n = int(rows["unusable"].sum()), len(rows)
            share = k / n
            if share < base + self.p["min_increase"]:
                continue
            p = float(fisher_exact([[k, n - k], [k_ref, n_ref - k_ref]],
                                   alternative="greater").pvalue)
            if p >= self.p["alpha"] / len(scopes):
                continue
            kinds = rows["unusable_kind"].value_counts()
            by_kind = {kind: int(kinds.get(kind, 0)) for kind in UNUSABLE_KINDS
                       if kinds.get(kind, 0)}
            items = [{"id": str(i), "kind": str(kd)} for i, kd in
                     zip(rows["id"], rows["unusable_kind"], strict=True) if kd is not None][:20]
            yield self.window_finding(
                batch, source,
                T("{s:.0%} of inputs are unusable (reference {b:.0%}): {kinds}",
                  "入力の {s:.0%} が使えません（基準では {b:.0%}）：{kinds}").format(
                    s=share, b=base, kinds=", ".join(f"{v} {k}" for k, v in by_kind.items())),
                {"unusable_share": share, "reference_share": base, "by_kind": by_kind,
                 "p_value": p, "n": n},
                items, severity="error" if share >= 0.3 else None)


@register
class SilentSource(WindowRule):
    code = "MON008"
    name = "silent-source"
    severity = "error"
    title = T("A source (camera, site, device) has gone silent",
              "ソース（カメラ・拠点・端末）からの送信が止まった")
    params = {"alpha": ALPHA,
              "min_n": Param(0, "unused (a silent source has no records); kept for symmetry"),
              "lookback": Param(24, "previous windows whose counts give each source's usual "
                                    "rate", low=1),
              "min_history": Param(3, "fewest windows since a source's first record needed to "
                                      "know its usual rate", low=1),
              "max_ratio": Param(0.2, "at most this share of the usual count counts as silent",
                                 low=0, high=1)}
    doc = Doc(
        what=T("For every source that sent records in the previous `lookback` windows, takes "
               "its usual count per window (the median from its first record to its last, "
               "given at least `min_history` such windows, so a source silent for hours is still "
               "held to the rate it had before) and fires when this window's count is "
               "at most `max_ratio` of it and a Poisson test says so few is unlikely "
               "(Bonferroni over the sources). A window still running is held to the share "
               "of its time that has passed.",
               "直前 `lookback` 個のウィンドウで送信"
               "のあったソースごとに、ウィンドウあたりの通常の件数"
               "（最初のレコードから最後のレコードまでのウィンドウの中央値。`min_history` 個以上の"
               "ウィンドウが必要。何時間も止まっているソースも、止まる前の件数と比べ続けます）を"
               "求め、"
               "このウィンドウの件数がその `max_ratio` 倍以下で、ポアソン検定で"
               "その少なさが偶然とは考えにくいとき（ソース間は Bonferroni 補正）に報告します。"
               "進行中のウィンドウでは、経過した時間の割合に応じた件数と比べます。"),
        why=T("A camera that stops sending raises no error on the server: its records simply "
              "stop, and every dashboard average still looks healthy while a site runs "
              "unwatched or falls back to manual work.",
              "送信を止めたカメラはサーバー側でエラーになりません。レコードが届かなくなるだけで、"
              "ダッシュボードの平均値は正常に見えたまま、その拠点は監視されずに動くか、手作業に"
              "戻っています。"),
        fix=T("Check the device, its network and its client's spool (`pitfalls monitor log` "
              "resends what it kept); if the source was retired on purpose, it drops out "
              "after `lookback` windows.",
              "端末・ネットワーク・クライアントのスプールを確認してく"
              "ださい（`pitfalls monitor log` は"
              "保存していた分を再送します）。意図的に廃止したソー"
              "スなら、`lookback` 個のウィンドウの後に"
              "対象から外れます。"),
        cases=("breck-2019-data-validation",),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        from scipy.stats import poisson

        batch: WindowBatch = ctx.extras["windows"]
        hist = batch.history
        if hist.empty:
            return
        # each source's usual rate: the windows from its first record to its last one, so a
        # silence already hours long is still held to the rate it had before going silent
        active = hist.fillna(0).gt(0).to_numpy()
        after_last = np.flip(np.cumsum(np.flip(active, axis=0), axis=0), axis=0) == 0
        before = hist.mask(after_last)
        known = before.notna().sum(axis=0)
        usual = before.median(axis=0, skipna=True)
        usual = usual[(usual > 0) & (known >= self.p["min_history"])]
        if usual.empty:
            return
        now = batch.source_counts()
        m = len(usual)
        for source, lam in usual.items():
            count = int(now.get(source, 0))
            due = lam * batch.elapsed  # a window still running has had only part of its time
            if count > self.p["max_ratio"] * due:
                continue
            p = float(poisson.cdf(count, due))
            if p >= self.p["alpha"] / m:
                continue
            last = hist.index[hist[source].fillna(0).to_numpy() > 0]
            yield self.window_finding(
                batch, str(source),
                T("{c} record(s) where about {u:.0f} per window are usual",
                  "通常はウィンドウあたり約 {u:.0f} 件のところ {c} 件").format(c=count, u=lam),
                {"count": count, "usual": float(lam), "elapsed": batch.elapsed, "p_value": p,
                 "last_active_window": last[-1].isoformat() if len(last) else None})
