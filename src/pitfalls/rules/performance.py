"""System-phase rules over `pitfalls bench` results: latency budget, dominated models, train/serve
preprocessing skew, quantization accuracy loss. They read `ctx.extras["bench"]` (a
`BenchResult`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pitfalls.bench.pareto import dominated_by
from pitfalls.context import Context
from pitfalls.contract import Need
from pitfalls.findings import Finding
from pitfalls.rules.base import Doc, Param, Rule, register
from pitfalls.text import T


def _rows(ctx: Context) -> list[dict[str, Any]]:
    return list(ctx.extras["bench"].rows)


def _config(r: dict[str, Any]) -> str:
    return (f"{r['model']} [{r['quantization']}, {r['provider']}, "
            f"{r['threads']} thr, batch {r['batch_size']}]")


def _pkey(p: float) -> str:
    return f"p{p:g}"


@register
class LatencyBudget(Rule):
    code = "PERF001"
    name = "latency-budget-missed"
    phase = "system"
    severity = "error"
    needs = frozenset({Need.BENCH})
    title = T("A model misses the latency budget", "モデルがレイテンシ予算を満たしていない")
    params = {
        "budget_ms": Param(None, "end-to-end latency budget per request in ms (none: rule off)",
                           low=0.0, open_low=True, kind=float),
        "percentile": Param(95.0, "latency percentile that must be within the budget",
                            low=0.0, high=100.0),
    }
    doc = Doc(
        what=T("For every benchmarked configuration, compares the end-to-end single-request "
               "latency (pre-processing + inference + post-processing) at the chosen percentile "
               "with the budget.",
               "ベンチマークした各構成について、前処理・推論・後処理を含むリクエスト単位の"
               "レイテンシの指定パーセンタイル値を予算と比較します。"),
        why=T("Models are chosen on accuracy in research and then found too slow for the camera "
              "box or server; the mean hides the tail that users and timeouts feel.",
              "研究段階では精度だけでモデルを選び、後で現場の機器やサーバーで遅すぎると判明します。"
              "平均値は利用者やタイムアウトが感じる裾の遅さを隠します。"),
        fix=T("Pick a configuration under the budget from the Pareto front (smaller input, smaller "
              "model, int8, more threads), or renegotiate the budget with the numbers in hand.",
              "パレートフロントから予算内の構成（入力解像度を下げる、小さいモデル、int8、"
              "スレッド数）を選ぶか、数値を示して予算を見直してください。"),
        cases=("dean-barroso-2013-tail-at-scale",
               "canziani-2016-accuracy-speed",
               "reddi-2020-mlperf-inference"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        budget, pct = self.p["budget_ms"], float(self.p["percentile"])
        if budget is None:
            return
        key = _pkey(pct)
        over = [r for r in _rows(ctx) if (r["latency_ms"].get(key) or 0) > budget]
        if not over:
            return
        models = sorted({r["model"] for r in over})
        ok = [r for r in _rows(ctx) if r not in over]
        yield self.finding(
            T("{n} configuration(s) of {m} exceed {b:g} ms at {k} (worst {w:.2f} ms)",
              "{m} の {n} 構成が {k} で {b:g} ms を超えています（最悪 {w:.2f} ms）").format(
                n=len(over), m=", ".join(models), b=budget, k=key,
                w=max(r["latency_ms"][key] for r in over)),
            metrics={"budget_ms": budget, "percentile": pct, "n_over": len(over),
                     "n_within": len(ok), "models_over": models},
            items=[{"config": _config(r), "latency_ms": r["latency_ms"][key],
                    "over_by_ms": r["latency_ms"][key] - budget} for r in over],
            severity="error" if not ok else "warning",
        )


@register
class DominatedModel(Rule):
    code = "PERF002"
    name = "dominated-model"
    phase = "system"
    severity = "warning"
    needs = frozenset({Need.BENCH})
    title = T("A model is dominated: another is faster and at least as accurate",
              "より速く同等以上の精度のモデルが存在する")
    params = {
        "accuracy_tolerance": Param(0.0, "accuracy the faster model may lack and still dominate",
                                    low=0.0, high=1.0),
        "latency_margin": Param(0.05, "relative p95 latency gain below which 'faster' is noise"),
    }
    doc = Doc(
        what=T("Within each deployment configuration (provider, threads, batch size), finds the "
               "models and int8 variants for which another is at least as accurate and faster at "
               "p95 by more than the margin.",
               "同じ実行構成（プロバイダ・スレッド数・バッチサイズ）の中で、別のモデルや int8 版が"
               "同等以上の精度で p95 レイテンシも余裕をもって速い場合を見つけます。"),
        why=T("A dominated model costs latency, memory and money for no accuracy; choosing it "
              "usually means the choice was made on accuracy tables alone.",
              "劣位のモデルは精度の見返りなしに遅延・メモリ・費用を消費します。精度表だけで"
              "選んだ兆候です。"),
        fix=T("Drop it from the candidates and choose on the Pareto front in the report.",
              "候補から外し、レポートのパレートフロント上から選んでください。"),
        cases=("canziani-2016-accuracy-speed", "tan-le-2019-efficientnet"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        rows = _rows(ctx)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, r in enumerate(rows):
            groups.setdefault((r["provider"], r["threads"], r["batch_size"]), []).append(i)
        items = []
        for idx in groups.values():
            sub = [rows[i] for i in idx]
            dom = dominated_by(sub, "p95", self.p["accuracy_tolerance"], self.p["latency_margin"])
            for i, j in dom.items():
                a, b = sub[i], sub[j]
                items.append({"config": _config(a), "dominated_by": _config(b),
                              "accuracy": a["accuracy"], "accuracy_other": b["accuracy"],
                              "p95_ms": a["latency_ms"]["p95"],
                              "p95_ms_other": b["latency_ms"]["p95"]})
        if not items:
            return
        models = sorted({it["config"].split(" [")[0] for it in items})
        yield self.finding(
            T("{n} configuration(s) are dominated ({m})", "{n} 構成が劣位です（{m}）").format(
                n=len(items), m=", ".join(models)),
            metrics={"n_dominated": len(items), "models": models},
            items=items,
        )


@register
class PreprocessingSkew(Rule):
    code = "PERF003"
    name = "train-serve-preprocessing-skew"
    phase = "system"
    severity = "warning"
    needs = frozenset({Need.BENCH})
    title = T("Serving preprocessing differs from training and changes predictions",
              "推論時の前処理が学習時と異なり予測が変わる")
    params = {
        "max_flip_rate": Param(0.01, "share of changed predictions tolerated", low=0.0, high=1.0),
        "max_accuracy_drop": Param(0.02, "accuracy drop above which the finding is an error",
                                   low=0.0, high=1.0),
    }
    doc = Doc(
        what=T("Runs the training preprocessing spec and the serving spec (or the serving "
               "function) on the same evaluation images through the same model; reports the "
               "share of predictions that change and the accuracy change with a paired bootstrap "
               "interval, and which settings differ (resize interpolation, RGB/BGR, 0-1 vs 0-255, "
               "mean/std, crop).",
               "同じ評価画像を学習時の前処理と推論時の前処理（または推論関数）で同じモデルに通し、"
               "予測が変わる割合と正解率の変化（対応のあるブートストラップ区間付き）、"
               "異なる設定（リサイズ補間、RGB/BGR、0–1 と 0–255、"
               "平均・標準偏差、クロップ）を報告します。"),
        why=T("A serving pipeline written again for production (OpenCV instead of PIL, another "
              "resize, BGR order, forgotten normalisation) quietly feeds the model inputs it never "
              "saw; accuracy drops with no error anywhere.",
              "本番用に書き直した推論パイプライン（PIL ではなく OpenCV、別のリサイズ、BGR 順、"
              "正規化の漏れ）は、モデルが学習で見たことのない入力を黙って与え、"
              "どこにもエラーが出ないまま精度が落ちます。"),
        fix=T("Serve with the exact training transform (ship it with the model as a spec, or "
              "export it into the graph), and keep this check in CI.",
              "学習時と全く同じ変換で推論してください（仕様ファイルとしてモデルと一緒に配布するか"
              "グラフに組み込む）。このチェックを CI に入れてください。"),
        cases=("sculley-2015-hidden-technical-debt",
               "breck-2017-ml-test-score",
               "touvron-2019-train-test-resolution",
               "parmar-2022-aliased-resizing"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        for s in ctx.extras["bench"].skew:
            drop = -(s.accuracy_change or 0.0)
            if s.flip_rate <= self.p["max_flip_rate"] and drop <= self.p["max_accuracy_drop"]:
                continue
            diffs = ", ".join(f"{k}: {a} → {b}" for k, (a, b) in s.differences.items()) or "—"
            acc = ("" if s.accuracy_change is None else
                   f"; accuracy {s.accuracy_train_spec:.3f} → {s.accuracy_serving_spec:.3f}")
            acc_ja = ("" if s.accuracy_change is None else
                      f"。正解率 {s.accuracy_train_spec:.3f} → {s.accuracy_serving_spec:.3f}")
            yield self.finding(
                T(f"{s.model}: serving preprocessing changes {s.flip_rate:.1%} of predictions "
                  f"({diffs}){acc}",
                  f"{s.model}: 推論時の前処理で予測の {s.flip_rate:.1%} が変わります"
                  f"（{diffs}）{acc_ja}"),
                metrics=s.to_dict() | {"differences": {k: [a, b] for k, (a, b)
                                                        in s.differences.items()}},
                items=[{"paths": [p]} for p in s.flipped_paths[:20]],
                severity="error" if drop > self.p["max_accuracy_drop"] else None,
            )


@register
class QuantizationLoss(Rule):
    code = "PERF004"
    name = "quantization-accuracy-loss"
    phase = "system"
    severity = "warning"
    needs = frozenset({Need.BENCH})
    title = T("Quantization costs more accuracy than the tolerance",
              "量子化による精度低下が許容範囲を超える")
    params = {
        "min_ratio": Param(0.99, "quantized accuracy must be at least this share of fp32's "
                                 "(MLPerf: 0.99; above 1 demands a gain)"),
    }
    doc = Doc(
        what=T("Compares each int8 variant's accuracy on the evaluation split with its fp32 "
               "original's and reports when it falls below `min_ratio` of it.",
               "各 int8 版の評価データでの正解率を元の fp32 モデルと比べ、`min_ratio` 倍を"
               "下回るときに報告します。"),
        why=T("Post-training quantization is often applied for speed without re-measuring "
              "accuracy; some architectures and calibration sets lose a lot.",
              "速度のために学習後量子化を行い、精度を測り直さないことがよくあります。"
              "構造や較正データによっては大きく精度を失います。"),
        fix=T("Calibrate on more representative training images, quantize per channel, keep "
              "sensitive layers in float, or use quantization-aware training.",
              "より代表的な学習画像で較正する、チャネル単位で量子化する、敏感な層を浮動小数点のまま"
              "残す、または量子化を考慮した学習を使ってください。"),
        cases=("krishnamoorthi-2018-quantization", "reddi-2020-mlperf-inference"),
    )

    def check(self, ctx: Context) -> Iterator[Finding]:
        rows = _rows(ctx)
        fp32 = {(r["model"], r["provider"]): r["accuracy"] for r in rows
                if r["quantization"] == "fp32" and r.get("accuracy") is not None}
        seen: set[tuple[str, str, str]] = set()
        items = []
        for r in rows:
            key = (r["model"], r["provider"], r["quantization"])
            base = fp32.get((r["model"], r["provider"]))
            if r["quantization"] == "fp32" or key in seen or base is None or not base:
                continue
            seen.add(key)
            if r.get("accuracy") is None:
                continue
            ratio = r["accuracy"] / base
            if ratio < self.p["min_ratio"]:
                items.append({"model": r["model"], "quantization": r["quantization"],
                              "provider": r["provider"], "accuracy_fp32": base,
                              "accuracy": r["accuracy"], "ratio": ratio,
                              "delta": r["accuracy"] - base})
        if not items:
            return
        worst = min(items, key=lambda it: it["ratio"])
        yield self.finding(
            T("{n} int8 variant(s) fall below {p:.1%} of fp32 accuracy (worst: {m} {q}, "
              "{a:.3f} vs {b:.3f})",
              "{n} 個の int8 版が fp32 精度の {p:.1%} を下回ります（最悪: {m} {q}、"
              "{a:.3f} 対 {b:.3f}）").format(
                n=len(items), p=self.p["min_ratio"], m=worst["model"], q=worst["quantization"],
                a=worst["accuracy"], b=worst["accuracy_fp32"]),
            metrics={"min_ratio": self.p["min_ratio"], "n_below": len(items),
                     "worst_ratio": worst["ratio"]},
            items=items,
        )
