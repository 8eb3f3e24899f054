"""One writer at a time on a hub home. The DuckDB stores take one writing process each; two
refreshes at once used to die on each other's file locks, the one already running included.
Every command that writes (`sihub refresh`, `revalidate`, `purge`, `release`, `sar --erase`)
and every Dagster run takes this lock first; a second one is refused at once, with the running
one named (what, process, since when). The lock is an advisory `flock` on
`$SIHUB_HOME/run.lock`: the kernel lets go of it when its process ends, however it ends, so
the lock of a killed process is simply taken over. Within one process it is re-entrant (the
CLI holds it around the in-process Dagster run that takes it again)."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

from sihub.core.paths import HubPaths

_held: dict[str, tuple[int, int]] = {}  # lock path -> (descriptor, depth), in this process


class RunLocked(Exception):
    """Another process is working on this home; the message names it."""


def holder(paths: HubPaths) -> dict:
    """What the lock file says about its last holder (running or not)."""
    try:
        return json.loads(paths.run_lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@contextmanager
def run_lock(paths: HubPaths, what: str, run_id: str | None = None) -> Iterator[None]:
    """Hold the home's run lock for the block, or raise RunLocked at once."""
    key = str(paths.run_lock)
    if key in _held:
        fd, depth = _held[key]
        _held[key] = (fd, depth + 1)
        try:
            yield
        finally:
            _held[key] = (fd, _held[key][1] - 1)
        return
    paths.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.run_lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        other = holder(paths)
        raise RunLocked(
            f"another run is working on {paths.home}: {other.get('what', 'unknown')} "
            f"(process {other.get('pid', '?')}, run {other.get('run_id') or '-'}, started {other.get('since', '?')}); "
            "try again when it has finished"
        ) from None
    note = {
        "what": what,
        "pid": os.getpid(),
        "run_id": run_id,
        "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(note).encode(), 0)
    _held[key] = (fd, 1)
    try:
        yield
    finally:
        del _held[key]
        os.close(fd)  # releases the lock; the note stays as the last holder
