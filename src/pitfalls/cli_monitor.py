"""`pitfalls monitor`: the monitoring service and its API tokens (the device client's `log`
command joins this sub-app). Everything heavy (uvicorn, FastAPI, SQLAlchemy) loads inside the
commands, so `pitfalls scan` never imports it."""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from pitfalls.errors import PitfallsError

monitor_app = typer.Typer(add_completion=False, no_args_is_help=True,
                          help="Production monitoring: the service, its tokens, the client.")
token_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="API tokens (shown once, stored hashed).")
monitor_app.add_typer(token_app, name="token")
console = Console()
err = Console(stderr=True)

DB_ENV = "PITFALLS_MONITOR_DB"
DbOption = Annotated[str, typer.Option(
    "--db", envvar=DB_ENV, help="Database URL: sqlite:///PATH or postgresql://USER@HOST/DB.")]
DEFAULT_DB = "sqlite:///pitfalls-monitor/monitor.db"


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(2)


def _migrate(db: str) -> None:
    """Bring the database to the current schema, or exit 2 saying why."""
    import sqlalchemy as sa

    from pitfalls.monitor.storage import migrate

    try:
        migrate(db)
    except (sa.exc.SQLAlchemyError, ValueError, OSError) as exc:
        orig = getattr(exc, "orig", None) or exc
        raise _fail(f"cannot open the database {_safe_url(db)}: "
                    f"{str(orig).splitlines()[0] if str(orig) else type(orig).__name__}"
                    ) from None


def _safe_url(db: str) -> str:
    """The URL without its password."""
    try:
        import sqlalchemy as sa

        return sa.engine.make_url(db).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say so without echoing it
        return "(invalid URL)"


@monitor_app.command()
def serve(
    reference: Annotated[Path, typer.Option(help="The reference/ folder a scan with --model or "
                                                 "--predictions wrote beside its report.")],
    db: DbOption = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Address to bind (loopback unless told).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
    max_body: Annotated[int, typer.Option("--max-body", min=1024, help="Largest request body, bytes.")] = 16 * 1024 * 1024,
    max_records: Annotated[int, typer.Option("--max-records", min=1, help="Most records per request.")] = 1000,
    rate: Annotated[float, typer.Option(help="Requests per second per token (0: no limit).")] = 200.0,
    burst: Annotated[float | None, typer.Option(help="Token-bucket size (default: 2 x rate).")] = None,
    retention_days: Annotated[float, typer.Option("--retention-days", min=0, help="Delete records captured longer ago (0: keep all; hourly aggregates stay).")] = 0.0,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
    webhook: Annotated[list[str] | None, typer.Option(help="POST new alerts to this URL (repeatable): a Slack-compatible payload, or signed JSON with --webhook-secret.")] = None,
    webhook_secret: Annotated[str | None, typer.Option("--webhook-secret", envvar="PITFALLS_WEBHOOK_SECRET", help="Sign the webhooks' generic JSON payload with HMAC-SHA256 (X-Pitfalls-Signature).")] = None,
    smtp_host: Annotated[str | None, typer.Option("--smtp-host", help="Mail new alerts through this SMTP server.")] = None,
    smtp_port: Annotated[int, typer.Option("--smtp-port", min=1, max=65535)] = 25,
    smtp_from: Annotated[str, typer.Option("--smtp-from")] = "pitfalls@localhost",
    smtp_to: Annotated[list[str] | None, typer.Option("--smtp-to", help="Recipient (repeatable).")] = None,
    smtp_starttls: Annotated[bool, typer.Option("--smtp-starttls/--no-smtp-starttls")] = False,
    cooldown_hours: Annotated[float, typer.Option("--cooldown-hours", min=0, help="A resolved alert that comes back within this reopens silently.")] = 6.0,
    lang: Annotated[str, typer.Option(help="Language of delivered alerts: en or ja.")] = "en",
    analysis_interval: Annotated[float, typer.Option("--analysis-interval", min=0, help="Seconds the MON rules wait to gather new records before checking the windows they touched.")] = 30.0,
    analysis_sample: Annotated[int, typer.Option("--analysis-sample", min=100, help="Most records of one window the analysis reads (a uniform sample of a busier window).")] = 5000,
    replay: Annotated[bool | None, typer.Option("--replay/--no-replay", help="Estimate each window's accuracy by the capture replay (default: on when the reference's model and photos are there).")] = None,
    model: Annotated[Path | None, typer.Option(help="The reference's model where it is now (a reference moved to another machine).")] = None,
    photos: Annotated[Path | None, typer.Option(help="The reference's photos' root where it is now.")] = None,
) -> None:
    """Run the monitoring service (ingest API, windows, MON rules, alerts, metrics)."""
    if lang not in ("en", "ja"):
        raise _fail("--lang must be en or ja")
    hooks = []
    for url in webhook or []:
        if not url.startswith(("http://", "https://")):
            raise _fail(f"--webhook must be an http:// or https:// URL, not {url[:80]!r}")
        hooks.append({"url": url, "kind": "json" if webhook_secret else "slack",
                      "secret": webhook_secret})
    if bool(smtp_host) != bool(smtp_to):
        raise _fail("--smtp-host and --smtp-to go together")
    smtp = ({"host": smtp_host, "port": smtp_port, "sender": smtp_from, "to": smtp_to,
             "starttls": smtp_starttls} if smtp_host else None)
    from pitfalls.monitor.reference import load_reference

    try:
        ref = load_reference(reference)
    except PitfallsError as exc:
        raise _fail(str(exc)) from None
    from pitfalls.config import Config
    from pitfalls.monitor.replay import ReplayError, replay_setup

    try:
        setup, line = replay_setup(ref, replay, model, photos,
                                   int(Config().params_for("MON002").get("min_n", 50)))
    except ReplayError as exc:
        raise _fail(f"--replay: the capture replay cannot run: {exc}") from None
    err.print(line, markup=False, highlight=False, soft_wrap=True)
    _migrate(db)
    import uvicorn

    from pitfalls.monitor.server import SETTINGS_ENV, Settings, create_app

    settings = Settings(db=db, reference=str(reference.resolve()), max_body=max_body,
                        max_records=max_records, rate=rate, burst=burst,
                        retention_days=retention_days, webhooks=hooks, smtp=smtp,
                        alert_cooldown_hours=cooldown_hours, lang=lang,
                        analysis_interval=analysis_interval, analysis_sample=analysis_sample,
                        replay=setup.to_dict() if setup is not None else None)
    if not _loopback(host):
        err.print(f"[yellow]note:[/] listening on {host}: put a TLS reverse proxy in front "
                  "(tokens travel in each request)")
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO))
    common: dict[str, Any] = {"host": host, "port": port, "log_level": log_level, "server_header": False,
              "date_header": True}
    if workers == 1:
        uvicorn.run(create_app(settings, ref), **common)
    else:
        os.environ[SETTINGS_ENV] = settings.to_env()
        uvicorn.run("pitfalls.monitor.server:app_from_env", factory=True, workers=workers,
                    **common)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@monitor_app.command()
def migrate(db: DbOption = DEFAULT_DB) -> None:
    """Create or upgrade the database schema (serve does it at start too)."""
    _migrate(db)
    console.print(f"database {_safe_url(db)} is at the current schema")


@monitor_app.command()
def report(
    period: Annotated[str, typer.Option(help="How far back: 24h, 7d, 2w (hours, days, weeks).")] = "7d",
    end: Annotated[str | None, typer.Option(help="End of the period, ISO 8601 (default: now).")] = None,
    db: DbOption = DEFAULT_DB,
    reference: Annotated[Path, typer.Option(help="The reference/ folder the service runs on (what was promised).")] = Path("pitfalls-report/reference"),
    source: Annotated[str | None, typer.Option(help="Only this source (camera, site or device).")] = None,
    lang: Annotated[str, typer.Option(help="en or ja.")] = "en",
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for after-release.html and .pdf.")] = Path("pitfalls-monitor"),
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also print after-release.pdf when Chromium is installed.")] = True,
) -> None:
    """Write the after-release report: what was promised, what was measured since, where and
    why they differ (after-release.html, and .pdf), from the stored records of the period."""
    from pitfalls.config import find_config
    from pitfalls.monitor import after_release
    from pitfalls.monitor.reference import load_reference
    from pitfalls.runner import check_rule_config
    from pitfalls.sheet import chromium

    if lang not in ("en", "ja"):
        raise _fail("--lang must be en or ja")
    try:
        length = after_release.parse_period(period)
        until = after_release.parse_end(end)
        folder = load_reference(reference)
        config = find_config()
        check_rule_config(config)  # the MON rules' thresholds, before the database is read
        store = after_release.open_store(db)
    except PitfallsError as exc:
        raise _fail(str(exc)) from None
    try:
        with err.status("analysing the period"):
            result = after_release.analyse(store, folder, period=length, end=until,
                                           source=source, config=config)
        written = after_release.write(result, out, lang=lang, pdf=pdf)
    except (PitfallsError, OSError) as exc:
        raise _fail(str(exc)) from None
    finally:
        store.engine.dispose()
    console.print(f"{result.n} records from {len(result.sources)} source(s), "
                  f"{len(result.windows)} {'daily' if result.every == '1d' else 'hourly'} "
                  f"windows, {len({(f.rule, f.metrics.get('source')) for f in result.findings})} "
                  f"problem(s), {len(result.alerts)} alert(s)")
    if not result.n:
        console.print("[yellow]no records were received in this period[/]")
    for path in written:
        console.print(f"report: [bold]{escape(str(path.resolve()))}[/]", soft_wrap=True)
    if pdf and len(written) == 1:
        console.print("no PDF: " + ("Chromium failed to print it" if chromium() else
                                    "install Chromium to print one, or print "
                                    "after-release.html from a browser"))


@token_app.command("create")
def token_create(
    scope: Annotated[str, typer.Option(help="ingest (write records), read, or admin (both).")],
    name: Annotated[str, typer.Option(help="A name to recognise it by.")] = "",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Create a token and print it once (only its SHA-256 digest is stored)."""
    from pitfalls.monitor import tokens
    from pitfalls.monitor.storage import make_engine

    if scope not in tokens.SCOPES:
        raise _fail(f"--scope must be one of {', '.join(tokens.SCOPES)}")
    _migrate(db)
    engine = make_engine(db)
    try:
        secret, row = tokens.create(engine, scope, name)
    finally:
        engine.dispose()
    err.print(f"token {row.id} ({row.name}, scope {row.scope}); shown once, keep it safe:")
    print(secret)


@token_app.command("list")
def token_list(db: DbOption = DEFAULT_DB) -> None:
    """List tokens (never their secrets)."""
    from rich.table import Table

    from pitfalls.monitor import tokens
    from pitfalls.monitor.storage import make_engine

    _migrate(db)
    engine = make_engine(db)
    try:
        rows = tokens.listing(engine)
    finally:
        engine.dispose()
    table = Table("id", "name", "scope", "created", "revoked")
    for row in rows:
        table.add_row(str(row.id), row.name, row.scope, f"{row.created_at:%Y-%m-%d %H:%M}",
                      f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "")
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    key: Annotated[str, typer.Argument(help="The token's id or name.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Revoke a token (every server refuses it within a few seconds)."""
    from pitfalls.monitor import tokens
    from pitfalls.monitor.storage import make_engine

    _migrate(db)
    engine = make_engine(db)
    try:
        n = tokens.revoke(engine, key)
    finally:
        engine.dispose()
    if not n:
        raise _fail(f"no live token with id or name {key!r}")
    console.print(f"revoked {n} token(s)")


from pitfalls.monitor.cli_log import log_command  # noqa: E402 - the device client's command

monitor_app.command("log")(log_command)
