"""The `pitfalls` command line (typer + rich). Exit codes: 0 clean, 1 findings at or above
`--fail-on`, 2 usage or input error, or a rule that raised (whatever `--fail-on`)."""

from __future__ import annotations

import gc
import logging
import os
import sys
from concurrent.futures import BrokenExecutor
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from pitfalls.cli_progress import progress as _progress
from pitfalls.errors import PitfallsError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Catch the pitfalls of image-recognition projects, with evidence.")
console = Console(stderr=False)
err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    """Print `message` (escaped: `[rules.X]` is text, not rich markup) and exit with code 2."""
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(2)


def _bold(value: object) -> str:
    """`value` in bold, its own brackets kept as text."""
    return f"[bold]{escape(str(value))}[/]"


def run_scan(data: Path, out: Path, *, lang: str | None = None, fail_on: str | None = None,
             sheet: bool = False, junit: Path | None = None, sarif: Path | None = None,
             **kwargs: Any) -> int:
    """Scan with a progress bar, save the report, print the summary; return the exit code."""
    from pitfalls.config import find_config
    from pitfalls.features.early import start_early

    # A cold scan of a folder starts its feature workers before pandas and the rules load.
    overrides = {k: kwargs.get(k) for k in ("workers", "scheduler")}
    overrides["embedder"] = str(kwargs["embedder"]) if kwargs.get("embedder") else None
    early = start_early(data, find_config().merged(**overrides), cache=kwargs.get("cache", True))
    try:
        from pitfalls.api import scan
        from pitfalls.report.terminal import print_summary

        with _progress() as bar:
            task = bar.add_task("features", total=None)

            def progress(stage: str, done: int, total: int) -> None:
                bar.update(task, description=stage, completed=done, total=total)

            report = scan(data, lang=lang, fail_on=fail_on, progress=progress, _early=early,
                          **kwargs)
    finally:
        if early is not None:
            early.close()
    report.save(out)
    sheets = []
    if sheet:
        from pitfalls.sheet import write_sheet

        sheets = write_sheet(report.to_dict(), out, lang=lang or report.lang)
    cfg = find_config()
    gate = fail_on or cfg.fail_on
    ci_files = _write_ci_outputs(report.to_dict(), junit=junit, sarif=sarif, fail_on=gate,
                                 lang=lang or report.lang)
    print_summary(report, console)
    console.print(f"report: {_bold((out / 'report.html').resolve())}  "
                  f"(json: {escape(str((out / 'report.json').resolve()))})")
    for kind, files in (("sheet", sheets), ("ci", ci_files)):
        for written in files:
            console.print(f"{kind}: {_bold(written.resolve())}")
    return report.exit_code(gate)


def _write_ci_outputs(report: dict, *, junit: Path | None, sarif: Path | None, fail_on: str,
                      lang: str) -> list[Path]:
    """JUnit and SARIF files when asked for; annotations on the run inside GitHub Actions."""
    from pitfalls.report.ci_outputs import github_annotations, in_github_actions, write_ci_outputs

    if in_github_actions():
        for line in github_annotations(report):
            print(line, flush=True)
    try:
        return write_ci_outputs(report, junit=junit, sarif=sarif, fail_on=fail_on, lang=lang)
    except OSError as exc:
        raise PitfallsError(f"cannot write the CI outputs: {exc}") from exc


@app.command()
def scan(
    data: Annotated[Path, typer.Argument(help="Dataset folder or manifest (CSV, Parquet, JSONL).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path("pitfalls-report"),
    select: Annotated[str | None, typer.Option(help="Only these rule codes/prefixes (comma-separated).")] = None,
    ignore: Annotated[str | None, typer.Option(help="Skip these rule codes/prefixes.")] = None,
    fail_on: Annotated[str | None, typer.Option("--fail-on", help="error, warning, info or never.")] = None,
    lang: Annotated[str | None, typer.Option(help="Report language: en or ja.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Feature-extraction processes.")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address, e.g. tcp://host:8786.")] = None,
    embedder: Annotated[Path | None, typer.Option(help="ONNX embedding model (default: weight-free).")] = None,
    cache: Annotated[str | None, typer.Option(help="Feature cache folder or fsspec URL (s3://…).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the cache.")] = False,
    predictions: Annotated[Path | None, typer.Option(help="Predictions table (CSV, Parquet, JSONL): path, pred and/or prob_<class>.")] = None,
    model: Annotated[Path | None, typer.Option(help="ONNX classifier to run over the evaluation images.")] = None,
    preprocess: Annotated[Path | None, typer.Option(help="Preprocessing spec (TOML) for --model.")] = None,
    field: Annotated[Path | None, typer.Option("--field", help="Folder of field photos (where the model will be used).")] = None,
    sheet: Annotated[bool, typer.Option("--sheet", help="Also write the expectation sheet (sheet.html, sheet.pdf).")] = False,
    junit: Annotated[Path | None, typer.Option("--junit", help="Also write JUnit XML: one test case per rule (CI test reports).")] = None,
    sarif: Annotated[Path | None, typer.Option("--sarif", help="Also write SARIF 2.1.0 (code-scanning tools).")] = None,
    allow_outside_root: Annotated[bool, typer.Option("--allow-outside-root", help="Let a manifest name files outside its own folder (absolute or ../ paths).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run every rule the inputs allow; write report.html and report.json into --out."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING)
    try:
        code = run_scan(data, out, select=select, ignore=ignore, fail_on=fail_on, lang=lang,
                        predictions=predictions, model=model, preprocess=preprocess,
                        field=field, sheet=sheet, junit=junit, sarif=sarif, workers=workers,
                        scheduler=scheduler, embedder=embedder,
                        cache=False if no_cache else (cache if cache else True),
                        allow_outside_root=allow_outside_root or None)
    except PitfallsError as exc:
        raise _fail(str(exc)) from None
    except BrokenExecutor:  # a worker died before extraction proper (WorkerError after)
        raise _fail("a feature worker process died (killed by the system, often for lack of "
                    "memory); run the scan again, or use fewer --workers") from None
    except OSError as exc:  # e.g. the report folder cannot be written
        logging.getLogger(__name__).debug("scan failed", exc_info=True)
        raise _fail(str(exc)) from None
    raise typer.Exit(code)


@app.command()
def rules(
    code: Annotated[str | None, typer.Argument(help="A rule code, e.g. LEAK002.")] = None,
    lang: Annotated[str, typer.Option(help="en or ja.")] = "en",
) -> None:
    """List the rule catalogue, or explain one rule."""
    from pitfalls.docs import rule_markdown, rules_table

    if code is None:
        console.print(rules_table(lang))
        return
    try:
        console.print(rule_markdown(code.upper(), lang))
    except KeyError:
        raise _fail(f"no rule {code!r}; run 'pitfalls rules' for the catalogue") from None


@app.command()
def split(
    data: Annotated[Path, typer.Argument(help="Dataset folder or manifest (CSV, Parquet, JSONL).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Manifest to write (CSV).")] = Path("manifest.csv"),
    test_size: Annotated[float, typer.Option("--test-size", help="Share of images for test.")] = 0.2,
    val_size: Annotated[float, typer.Option("--val-size", help="Share of images for val (0: none).")] = 0.0,
    seed: Annotated[int, typer.Option(help="Random seed (ties between equal-size clusters).")] = 0,
    cache: Annotated[str | None, typer.Option(help="Feature cache folder or fsspec URL.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the cache.")] = False,
) -> None:
    """Write a leak-free split: stratified by label; groups, sessions and duplicates kept together."""
    from rich.table import Table

    from pitfalls.config import find_config
    from pitfalls.pipeline import build_context
    from pitfalls.runner import check_rule_config
    from pitfalls.split import check_sizes, make_split, proportions, write_manifest

    try:
        check_sizes(test_size, val_size)
        cfg = find_config()
        check_rule_config(cfg)  # LEAK002/LEAK004 thresholds decide which images stay together
        with _progress() as bar:
            task = bar.add_task("features", total=None)
            ctx = build_context(data, cfg, cache=False if no_cache else (cache or True),
                                progress=lambda s, d, t: bar.update(task, description=s,
                                                                    completed=d, total=t))
        table = make_split(ctx, test_size=test_size, val_size=val_size, seed=seed)
        written = write_manifest(table, ctx.root, out)
    except (PitfallsError, OSError) as exc:
        raise _fail(str(exc)) from None
    shares = proportions(table)
    view = Table(title="class share per split")
    view.add_column("label")
    for col in shares.columns:
        n = int((table["split"] == col).sum()) if col != "all" else len(table)
        view.add_column(f"{col} (n={n})", justify="right")
    for label, row in shares.iterrows():
        view.add_row(escape(str(label)), *[f"{v:.1%}" for v in row.fillna(0)])
    console.print(view)
    console.print(f"manifest: {_bold(written.resolve())}")
    data_root = ctx.root.resolve()
    if not written.resolve().parent.is_relative_to(data_root) and \
            not data_root.is_relative_to(written.resolve().parent):
        console.print(escape(f"note: its paths lead outside its folder ({written.parent}): scan it "
                             "with --allow-outside-root, or write it in or above the data "
                             "folder"), style="yellow")


def _csv_list(value: str | None, kind: type = str, name: str = "") -> list:
    if not value:
        return []
    try:
        return [kind(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        raise _fail(f"{name} must be a comma-separated list of {kind.__name__}s, not {value!r}") from None


@app.command()
def bench(
    models: Annotated[list[Path], typer.Argument(help="ONNX model files.")],
    data: Annotated[Path, typer.Option("--data", help="Dataset folder or manifest (labelled eval split).")],
    preprocess: Annotated[Path | None, typer.Option(help="Preprocessing spec TOML (default: MODEL.toml).")] = None,
    serving_preprocess: Annotated[Path | None, typer.Option("--serving-preprocess", help="Serving spec TOML to compare with training's (PERF003).")] = None,
    batch_sizes: Annotated[str, typer.Option(help="Batch sizes, e.g. 1,8,32.")] = "1",
    threads: Annotated[str, typer.Option(help="Intra-op thread counts, e.g. 1,2.")] = "1",
    providers: Annotated[str, typer.Option(help="Execution providers: cpu,cuda.")] = "cpu",
    quantize: Annotated[str | None, typer.Option(help="Int8 variants: static,dynamic.")] = None,
    budget_ms: Annotated[float | None, typer.Option("--budget-ms", help="Latency budget per request (ms).")] = None,
    percentile: Annotated[float, typer.Option(help="Percentile the budget applies to.")] = 95.0,
    min_time: Annotated[float, typer.Option("--min-time", help="Minimum seconds per measurement.")] = 10.0,
    min_queries: Annotated[int, typer.Option("--min-queries", help="Minimum queries per measurement.")] = 500,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("pitfalls-bench"),
    fail_on: Annotated[str, typer.Option("--fail-on", help="error, warning, info or never.")] = "error",
    lang: Annotated[str, typer.Option(help="Report language: en or ja.")] = "en",
) -> None:
    """Accuracy against latency, throughput, memory and size; int8 variants; Pareto front."""
    from pitfalls.bench import BenchOptions, run_bench
    from pitfalls.bench.output import save
    from pitfalls.bench.quantize import METHODS
    from pitfalls.bench.spec import load_spec
    from pitfalls.config import find_config
    from pitfalls.runner import check_rule_config

    opts = BenchOptions(
        batch_sizes=_csv_list(batch_sizes, int, "--batch-sizes") or [1],
        threads=_csv_list(threads, int, "--threads") or [1],
        providers=_csv_list(providers, str, "--providers") or ["cpu"],
        quantize=_csv_list(quantize, str, "--quantize"), budget_ms=budget_ms,
        percentile=percentile, min_time=min_time, min_queries=min_queries)
    bad = [q for q in opts.quantize if q not in METHODS]
    if bad:
        raise _fail(f"--quantize: unknown method(s) {', '.join(bad)}; choose from {', '.join(METHODS)}")
    if any(v <= 0 for v in [*opts.batch_sizes, *opts.threads]) or min_queries < 1 or min_time < 0:
        raise _fail("batch sizes, thread counts and --min-queries must be positive")
    if not 0 < percentile <= 100:
        raise _fail("--percentile must be in (0, 100]")
    if lang not in ("en", "ja") or fail_on not in ("error", "warning", "info", "never"):
        raise _fail("--lang must be en or ja; --fail-on error, warning, info or never")
    try:
        check_rule_config(find_config())  # the PERF rules' tables, before minutes of timing
        spec = load_spec(preprocess) if preprocess else None
        serving = load_spec(serving_preprocess) if serving_preprocess else None
        with err.status("benchmarking") as status:
            result = run_bench(models, data, spec=spec, serving=serving, options=opts,
                               progress=lambda msg: status.update(msg))
    except (PitfallsError, OSError) as exc:
        raise _fail(str(exc)) from None
    save(result, out, lang)
    from rich.table import Column, Table

    table = Table("quant", "prov", "thr", "batch", "acc", "p50 ms", f"p{percentile:g} ms",
                  "img/s", "MB")
    table.columns.insert(0, Column("model", no_wrap=True))
    for r in result.rows:
        table.add_row(escape(str(r["model"])), r["quantization"], r["provider"], str(r["threads"]),
                      str(r["batch_size"]), f"{r['accuracy']:.3f}" if r.get("accuracy") is not None else "-",
                      f"{r['latency_ms']['p50']:.3f}", f"{r['latency_ms'][f'p{percentile:g}']:.3f}",
                      f"{r['throughput_ips']:.0f}", f"{r['size_mb']:.2f}")
    console.print(table)
    for f in result.findings:
        console.print(f"[bold]{f.rule}[/] {f.severity}: {escape(f.summary.get_text(lang))}")
    for r in result.rows:
        if r["spread_too_wide"]:
            console.print(f"[yellow]warning:[/] {escape(str(r['model']))} {r['quantization']} batch "
                          f"{r['batch_size']}: run-to-run spread {r['spread']['iqr_over_median']:.0%} "
                          "IQR/median (> 10%): too noisy to trust; close other work or raise --min-time")
    console.print(f"bench: {_bold((out / 'bench.json').resolve())}  "
                  f"report: {escape(str((out / 'report.html').resolve()))}")
    worst = max((f.severity for f in result.findings),
                key=("info", "warning", "error").index, default=None)
    rank = ("info", "warning", "error")
    code = int(fail_on != "never" and worst is not None and rank.index(worst) >= rank.index(fail_on))
    raise typer.Exit(code)


def _read_report(path: Path) -> dict:
    """A scan's report.json (or the folder holding it) as a dict; exit 2 when it is not one."""
    from pitfalls.report.read import read_report_json

    try:
        return read_report_json(path, need=("dataset", "findings"))[1]
    except PitfallsError as exc:
        raise _fail(str(exc)) from None


@app.command()
def sheet(
    report: Annotated[Path, typer.Argument(help="A scan's report.json, or the folder holding it.")] = Path("pitfalls-report"),
    bench: Annotated[Path | None, typer.Option(help="bench.json from 'pitfalls bench' (speed on the target hardware).")] = None,
    lang: Annotated[str | None, typer.Option(help="Sheet language: en or ja (default: the report's).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for sheet.html (default: the report's folder).")] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also print sheet.pdf when Chromium is installed.")] = True,
) -> None:
    """Write the expectation sheet (one printable page for non-engineers) from a scan's report."""
    from pitfalls.sheet import chromium, write_sheet

    if lang not in (None, "en", "ja"):
        raise _fail("--lang must be en or ja")
    data = _read_report(report)
    folder = out or (report if report.is_dir() else report.parent)
    try:
        written = write_sheet(data, folder, lang=lang or str(data.get("lang") or "en"),
                              bench=bench, pdf=pdf)
    except (PitfallsError, OSError) as exc:
        raise _fail(str(exc)) from None
    for path in written:
        console.print(f"sheet: {_bold(path.resolve())}")
    if pdf and len(written) == 1:
        console.print("no PDF: " + ("Chromium failed to print it" if chromium() else
                                    "install Chromium to print one, or print sheet.html from a browser"))


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to build the demo project.")] = Path("pitfalls-demo"),
    lang: Annotated[str, typer.Option(help="Report language: en or ja.")] = "en",
    monitor: Annotated[bool, typer.Option("--monitor", help="Then run the monitoring service on the demo's reference and stream a simulated week of three cameras into it.")] = False,
    port: Annotated[int, typer.Option(min=0, max=65535, help="With --monitor: the service's port on 127.0.0.1 (0: a free one).")] = 0,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="With --monitor: keep serving the dashboard until Ctrl-C, or stop once the week is analysed.")] = True,
) -> None:
    """Build a demonstration dataset with planted pitfalls and scan it end to end, with field
    photos, the demo's ONNX model, and the expectation sheet; with --monitor, watch it in
    production for a simulated week."""
    if lang not in ("en", "ja"):
        raise _fail("--lang must be en or ja")
    reference = directory / "report" / "reference" / "reference.json"
    if not (monitor and reference.is_file()):
        code = _demo_scan(directory, lang)
        if not monitor:
            raise typer.Exit(code)
    else:
        console.print(f"demo project: {_bold(directory.resolve())} (its scan's reference is "
                      "reused; run 'pitfalls demo' without --monitor to rebuild it)")
    from pitfalls.cli_demo import monitor_week

    raise typer.Exit(monitor_week(directory, port=port, serve=serve, lang=lang))


def _demo_scan(directory: Path, lang: str) -> int:
    """Build the demo project and scan it; the scan's exit code."""
    from pitfalls.demo import DEMO_MODEL, build_demo

    try:
        root = build_demo(directory)
    except PitfallsError as exc:
        raise _fail(str(exc)) from None
    data = root / "data"
    console.print(f"demo dataset: {_bold(data.resolve())} "
                  f"(answer key: {escape(str(data / 'PLANTED.md'))})")
    console.print(f"field photos: {_bold((root / 'field').resolve())}; model: {DEMO_MODEL.name}")
    # The model (not data/predictions.csv) is scanned: it gives the evaluation rules their
    # predictions on the test split *and* lets FIELD002 replay the field's conditions.
    code = run_scan(data / "manifest.csv", directory / "report", lang=lang, fail_on="never",
                    cache=directory / ".cache", model=DEMO_MODEL,
                    preprocess=DEMO_MODEL.with_suffix(".toml"), field=root / "field", sheet=True)
    console.print(escape(f"predictions as a table instead: pitfalls scan {data / 'manifest.csv'} "
                         f"--predictions {data / 'predictions.csv'}"))
    return code


from pitfalls.cli_monitor import monitor_app  # noqa: E402 - the sub-app's module is light

app.add_typer(monitor_app, name="monitor")
from pitfalls.cases.cli import cases  # noqa: E402  (the commands live with their modules)
from pitfalls.checklist.cli import app as checklist_app  # noqa: E402

app.command()(cases)
app.add_typer(checklist_app, name="checklist")


def main() -> None:
    """The console entry point: run the command, then leave without tearing the interpreter down.

    A scan loads pandas and SciPy; unloading them at exit costs about a quarter of
    a second, a twentieth of a scan of a few thousand images. Output is flushed and logging shut
    down first; the exit code is the command's.

    BLAS runs on one thread here unless the environment says otherwise (`OPENBLAS_NUM_THREADS`,
    `MKL_NUM_THREADS`): the heavy numeric work runs in single-threaded worker processes, and
    idle BLAS threads spinning beside them cost about a tenth of a scan's CPU time.
    """
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # Fewer cyclic-garbage passes: importing pandas and SciPy and framing the
    # feature table allocate millions of objects, and each full pass walks all of them (about
    # 0.15 s of CPU per scan at the default thresholds). Cycles are still collected.
    gc.set_threshold(100_000, 50, 100)
    try:
        app()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):  # as sys.exit does with a message: print it, exit 1
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0)
