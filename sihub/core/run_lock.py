"""One run at a time on a hub home. The DuckDB stores take one writing process each; two
refreshes at once used to die on each other's file locks, the one already running included.
Every command that writes (`sihub refresh`, `revalidate`, `purge`, `release`, `sar --erase`)
and every Dagster run takes this lock first; a second one is refused at once, with the running
one named (what, process, since when). The lock is an advisory `flock` on
`$SIHUB_HOME/run.lock`: the kernel lets go of it when its process ends, however it ends, so
the lock of a killed process is simply taken over. Within one process it is re-entrant (the
CLI holds it around the in-process Dagster run that takes it again).

A Dagster run may be many processes (the multiprocess executor runs each step in its own),
so a run's processes share the lock: the first takes it exclusively, writes its run id into
the lock file and holds it shared; a process of the same run joins, one of any other run or
command is refused as before. Processes that share it take turns on the stores
(`store_turn`), since DuckDB lets one process at a time open a file for writing; work outside
the stores (reading and archiving files, Python) runs side by side."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sihub.core.paths import HubPaths

_held: dict[str, tuple[int, int]] = {}  # lock path -> (descriptor, depth), in this process
JOIN_WAIT_S = 2.0  # how long a process waits out another's exclusive hold before it is refused


class RunLocked(Exception):
    """Another process is working on this home; the message names it."""


@dataclass
class _Turn:
    """The store-turn lock of the home whose run lock this process shares with its run."""

    path: Path
    fd: int = -1
    depth: int = 0  # re-entrant: a store is attached inside another's connection


_turn: _Turn | None = None


def holder(paths: HubPaths) -> dict:
    """What the lock file says about its last holder (running or not)."""
    try:
        return json.loads(paths.run_lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _refused(paths: HubPaths) -> RunLocked:
    other = holder(paths)
    return RunLocked(
        f"another run is working on {paths.home}: {other.get('what', 'unknown')} "
        f"(process {other.get('pid', '?')}, run {other.get('run_id') or '-'}, started {other.get('since', '?')}); "
        "try again when it has finished"
    )


def _try(fd: int, how: int) -> bool:
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _join(fd: int, paths: HubPaths, run_id: str) -> bool:
    """Share the lock with the other processes of run `run_id`, if it is they who hold it. A
    run's first process holds it exclusively only while it writes the file, so an exclusive
    hold is waited out briefly: one that lasts is a command's."""
    deadline = time.monotonic() + JOIN_WAIT_S
    while not _try(fd, fcntl.LOCK_SH):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    if holder(paths).get("run_id") == run_id:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


@contextmanager
def run_lock(paths: HubPaths, what: str, run_id: str | None = None) -> Iterator[None]:
    """Hold the home's run lock for the block, or raise RunLocked at once. With a Dagster
    `run_id`, the lock is shared with the other processes of that run (and theirs with it)."""
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
    if _try(fd, fcntl.LOCK_EX):
        note = {
            "what": what,
            "pid": os.getpid(),
            "run_id": run_id,
            "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(note).encode(), 0)
        shared = run_id is not None
        if shared and not _try(fd, fcntl.LOCK_SH):  # opened to the run's other processes; lost only
            os.close(fd)  # if another took it in the moment the hold changed
            raise _refused(paths)
    elif run_id is not None and _join(fd, paths, run_id):
        shared = True
    else:
        os.close(fd)
        raise _refused(paths)
    global _turn
    _held[key] = (fd, 1)
    _turn = _Turn(paths.store_turn) if shared else None
    try:
        yield
    finally:
        del _held[key]
        _turn = None
        os.close(fd)  # releases the lock; the note stays as the last holder


@contextmanager
def store_turn() -> Iterator[None]:
    """This process's turn on the stores of the home whose run lock it shares: waited for,
    held for the block (re-entrant), then given up. A process holding the lock alone, or not
    at all, has nothing to wait for."""
    turn = _turn
    if turn is None:
        yield
        return
    if turn.depth == 0:
        turn.fd = os.open(turn.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(turn.fd, fcntl.LOCK_EX)  # waits while another process of the run has its turn
    turn.depth += 1
    try:
        yield
    finally:
        turn.depth -= 1
        if turn.depth == 0:
            os.close(turn.fd)  # gives the turn up
