"""Progress of an in-process refresh for the command line, fed by a Dagster logger.

Dagster hands step events to loggers; this one forwards them, by asset key, to whatever
display the CLI has registered, so the terminal shows which stage and dataset is running.
"""

from __future__ import annotations

import logging
from typing import Protocol

from dagster import AssetKey, DagsterEventType, InitLoggerContext, logger


class Display(Protocol):
    def plan(self, steps: list[AssetKey]) -> None:
        """The run's steps, one asset key each (a check's step: the asset it checks)."""

    def step(self, event: DagsterEventType, key: AssetKey) -> None:
        """A step started, succeeded, failed or was skipped."""

    def warning(self, message: str) -> None: ...


_displays: list[tuple[Display, dict[str, AssetKey]]] = []


def listen(display: Display, steps: dict[str, AssetKey]) -> None:
    """Forward events to `display` until `stop_listening`; `steps` maps step keys to assets."""
    _displays.append((display, steps))
    display.plan(list(steps.values()))


def stop_listening(display: Display) -> None:
    _displays[:] = [(d, s) for d, s in _displays if d is not display]


class _Forward(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None)
        meta = getattr(record, "dagster_meta", {}) or {}
        for display, steps in list(_displays):
            try:
                if event is not None and event.step_key in steps:
                    display.step(event.event_type, steps[event.step_key])
                elif event is None and record.levelno >= logging.WARNING:
                    display.warning(str(meta.get("orig_message") or record.getMessage()))
            except Exception:  # a broken display must never fail the step that logged
                self.handleError(record)


@logger(description="Forwards step events to the sihub command line's progress display.")
def progress_logger(_: InitLoggerContext) -> logging.Logger:
    log = logging.Logger("sihub.progress", level=logging.DEBUG)
    log.addHandler(_Forward())
    return log
