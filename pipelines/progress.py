"""Progress of an in-process refresh for the command line, fed by a Dagster logger.

Dagster hands step events to loggers; this one forwards them to whatever listener the CLI
has registered, so the terminal shows which stage and dataset is running.
"""

import logging
from collections.abc import Callable

from dagster import InitLoggerContext, logger

# (Dagster event type, "LOG" for a warning, or "PLAN" with the comma-separated step keys as
# message; step key; message)
Listener = Callable[[str, str | None, str], None]
_listeners: list[Listener] = []


def listen(listener: Listener) -> None:
    _listeners.append(listener)


def stop_listening(listener: Listener) -> None:
    _listeners.remove(listener)


class _Forward(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None)
        meta = getattr(record, "dagster_meta", {}) or {}
        kind = event.event_type_value if event is not None else ("LOG" if record.levelno >= logging.WARNING else "")
        if not kind:
            return
        step = event.step_key if event is not None else meta.get("step_key")
        message = meta.get("orig_message") or record.getMessage()
        for listener in list(_listeners):
            try:
                listener(kind, step, str(message))
            except Exception:  # a broken display must never fail the step that logged
                self.handleError(record)


@logger(description="Forwards step events to the sihub command line's progress display.")
def progress_logger(_: InitLoggerContext) -> logging.Logger:
    log = logging.Logger("sihub.progress", level=logging.DEBUG)
    log.addHandler(_Forward())
    return log
