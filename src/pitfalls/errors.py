"""Exceptions that reach the user as a clear message (exit code 2), never as a traceback."""


class PitfallsError(Exception):
    """Base class of every error `pitfalls` reports to the user."""


class InputError(PitfallsError, ValueError):
    """The dataset, manifest, predictions or options cannot be used as given."""


class ConfigError(PitfallsError, ValueError):
    """The configuration (`[tool.pitfalls]` or `pitfalls.toml`) is invalid."""


class WorkerError(PitfallsError, RuntimeError):
    """A worker process died (killed, out of memory) while it computed features."""
