"""`pitfalls monitor log`: measure images (and run the model) on this machine, spool the records
and send them to the monitoring service.

Exit codes: 0 every image logged and every record acknowledged; 1 some images could not be read,
or records are still waiting in the spool after `--timeout` (they are sent by the next run on the
same spool), or the service refused some records (dead letters); 2 usage or input error.
"""

from __future__ import annotations

import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from pitfalls.errors import InputError, PitfallsError

err = Console(stderr=True)

TOKEN_HELP = ("API token with the ingest scope. Prefer the PITFALLS_TOKEN environment variable: "
              "a token on the command line is visible to other users in the process list.")


def _images(items: list[Path]) -> list[Path]:
    """The files named, and the candidate images under the folders named, in order."""
    from pitfalls.listing import list_folder

    out: list[Path] = []
    for item in items:
        if item.is_dir():
            out.extend(Path(p) for p in list_folder(item).paths())
        else:
            out.append(item)
    return out


class _Model:
    """The ONNX classifier run on the device: the scan's runner and preprocessing spec."""

    def __init__(self, path: Path, preprocess: Path | None) -> None:
        from pitfalls.bench.spec import spec_for_model
        from pitfalls.evaluation.model import ModelRunner, load_spec

        spec = load_spec(preprocess) if preprocess else spec_for_model(path)
        if spec is None:
            raise InputError(f"no preprocessing spec for {path.name}: give --preprocess or put "
                             f"{path.with_suffix('.toml').name} beside the model")
        if not spec.classes:
            raise InputError("the preprocessing spec must list the model's classes "
                             "(classes = [...], in output order)")
        self.runner = ModelRunner(path, spec)
        self.classes = list(spec.classes)
        self.version = f"{path.stem}@{self.runner.digest}"
        self.batch_size = spec.batch_size

    def probs(self, pixels: list[Any]) -> list[dict[str, float]]:
        out = self.runner.probabilities(pixels)
        if out.shape[1] != len(self.classes):
            raise InputError(f"model {self.runner.path.name} outputs {out.shape[1]} values per "
                             f"image but its spec lists {len(self.classes)} classes")
        return [dict(zip(self.classes, map(float, row), strict=True)) for row in out]


def _when(text: str) -> str:
    """`--captured-at` checked once (not once per image), as UTC ISO 8601."""
    from pitfalls.monitor.records import format_time, parse_time

    try:
        return format_time(parse_time(text))
    except ValueError:
        raise InputError(f"--captured-at {text!r} is not an ISO 8601 time, e.g. "
                         "2026-11-30T09:15:00+09:00") from None


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat()


def log_command(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images.")],
    url: Annotated[str, typer.Option(help="The monitoring service, e.g. http://127.0.0.1:8000.")],
    token: Annotated[str | None, typer.Option(envvar="PITFALLS_TOKEN", show_envvar=True,
                                              help=TOKEN_HELP)] = None,
    model: Annotated[Path | None, typer.Option(help="ONNX classifier to run on each image.")] = None,
    preprocess: Annotated[Path | None, typer.Option(help="Preprocessing spec TOML for --model (default: MODEL.toml).")] = None,
    pred: Annotated[str | None, typer.Option(help="The prediction for every image, when no --model runs here.")] = None,
    model_version: Annotated[str | None, typer.Option("--model-version", help="Model version (default: the model file's name and digest).")] = None,
    source: Annotated[str | None, typer.Option(help="Camera, site or device (default: this host's name).")] = None,
    captured_at: Annotated[str | None, typer.Option("--captured-at", help="ISO 8601 capture time for every image (default: each file's modification time).")] = None,
    spool: Annotated[Path, typer.Option(help="Spool folder: records wait here until the service acknowledges them.")] = Path("pitfalls-spool"),
    timeout: Annotated[float, typer.Option(min=0, help="Seconds to wait for the service to acknowledge everything at the end.")] = 60.0,
    thumbnails: Annotated[bool, typer.Option("--thumbnails", help="Send a small JPEG of each image (no metadata) for the dashboard. Off by default: only features leave the site.")] = False,
    thumbnail_size: Annotated[int, typer.Option("--thumbnail-size", min=16, max=512, help="Longest side of a thumbnail, pixels.")] = 128,
) -> None:
    """Log predictions on images to the monitoring service (features computed here)."""
    from pitfalls.monitor.client import Client, DeliveryError

    if (model is None) == (pred is None):
        raise _fail("give --model (run the model here) or --pred (one prediction for all)")
    try:
        runner = _Model(model, preprocess) if model is not None else None
        version = model_version or (runner.version if runner else None)
        if not version:
            raise _fail("--model-version is required with --pred")
        if captured_at is not None:
            captured_at = _when(captured_at)
        files = _images(images)
        client = Client(url, token, spool=spool, source=source or socket.gethostname(),
                        model_version=version,
                        classes=runner.classes if runner else None,
                        thumbnails=thumbnails, thumbnail_size=thumbnail_size)
    except PitfallsError as exc:
        raise _fail(str(exc)) from None
    failed, dead_before, where = 0, len(client.dead_letters()), _safe(str(spool))
    try:
        failed = _log_files(client, files, runner, pred, captured_at)
        with err.status(f"sending {client.pending} records"):
            left = client.flush(timeout)
    except DeliveryError as exc:
        left = client.close(timeout=0)
        err.print(f"[bold red]error:[/] {_safe(str(exc))}; {left} records stay in {where}")
        raise typer.Exit(1) from None
    except PitfallsError as exc:
        client.close(timeout=0)
        raise _fail(str(exc)) from None
    dead = len(client.dead_letters()) - dead_before
    sent = client.sent
    left = client.close(timeout=0)
    err.print(f"logged {len(files) - failed} of {len(files)} images; the service acknowledged "
              f"{sent} records" + (f"; {dead} refused (dead letters in {where})" if dead else ""))
    if left:
        err.print(f"[bold yellow]{left} records not yet acknowledged[/] after {timeout:g} s: "
                  f"they stay in {where} and are sent by the next run on that spool")
    raise typer.Exit(1 if left or failed or dead else 0)


def _log_files(client: Any, files: list[Path], runner: _Model | None, pred: str | None,
               captured_at: str | None) -> int:
    """Log every file, a model batch at a time (one spool commit per batch); return how many
    could not be logged. A bad file is reported and skipped; the others are logged."""
    from pitfalls.cli_progress import progress as _progress
    from pitfalls.decode import DecodeError, decode_bytes
    from pitfalls.monitor.device_features import image_bytes, image_features

    failed = 0
    step = runner.batch_size if runner else 32
    with _progress() as bar:

        def skip(path: Path, exc: Exception) -> None:
            nonlocal failed
            failed += 1
            bar.console.print(f"[red]skipped[/] {_safe(_named(path, exc))}")

        task = bar.add_task("logging", total=len(files))
        for start in range(0, len(files), step):
            items: list[dict[str, Any]] = []
            paths: list[Path] = []
            pixels = []
            for path in files[start:start + step]:
                try:
                    blob, name = image_bytes(path)
                    features, _ = image_features(blob, name)
                    if runner is not None:
                        pixels.append(decode_bytes(blob).rgb)
                    when = captured_at or _mtime(path)
                except (PitfallsError, DecodeError, OSError) as exc:
                    skip(path, exc)
                    continue
                items.append({"image": blob, "features": features, "captured_at": when,
                              "pred": pred})
                paths.append(path)
            if runner is not None and pixels:
                for item, probs in zip(items, runner.probs(pixels), strict=True):
                    item["probs"] = probs
            try:
                client.log_many(items)
            except InputError:  # one invalid record fails the batch: find it, log the rest
                for path, item in zip(paths, items, strict=True):
                    try:
                        client.log(**item)
                    except InputError as exc:
                        skip(path, exc)
            bar.update(task, advance=min(step, len(files) - start))
    return failed


def _named(path: Path, exc: Exception) -> str:
    text = str(exc)
    return text if text.startswith(str(path)) else f"{path}: {text}"


def _safe(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {_safe(message)}")
    return typer.Exit(2)


__all__ = ["log_command"]
