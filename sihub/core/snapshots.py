"""Published snapshots: each refresh publishes into a folder of its own that is never written
again, and the stable paths of DESIGN.md (`published/metrics.duckdb`, `published/parquet/`,
...) are symbolic links to the current snapshot, each swapped by one atomic rename.

Why links and not copies: a reader opening `published/metrics.duckdb` gets the old file or
the new one, whole, and a reader that still holds the old file keeps reading it; nothing is
ever written in place, so no reader meets a lock. `published/current.json` names the current
snapshot too, for tools that should pin one snapshot (Power BI on Windows, where renaming over
an open file fails: point it at `snapshots/<name>/`). Where links cannot be made (Windows
without the privilege), files are copied in and renamed over the stable paths one by one.
The previous snapshots are kept for `sihub rollback`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

from sihub.core.atomic_files import write_text_atomically

SNAPSHOTS = "snapshots"
POINTER = "current.json"
KEEP = 5


class SnapshotError(Exception):
    """No snapshot to roll back to, or one that does not exist; the message says which."""


def new_snapshot(published: Path, run_id: str) -> tuple[Path, Path]:
    """A building folder (hidden from readers) and the name it will have when complete."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    final = published / SNAPSHOTS / f"{stamp}-{run_id[:8]}"
    building = published / SNAPSHOTS / f".building-{final.name}"
    if building.exists():
        shutil.rmtree(building)
    building.mkdir(parents=True)
    return building, final


def snapshot_name(building: Path) -> str:
    """The name a snapshot being built will have when complete (what readers see)."""
    return building.name.removeprefix(".building-")


def _swap(link: Path, target: Path) -> None:
    """Point `link` at `target` with one rename (or copy `target` in, where links fail)."""
    swap = link.with_name(f".{link.name}.swap")
    if swap.is_symlink() or swap.is_file():
        swap.unlink()
    elif swap.is_dir():
        shutil.rmtree(swap)
    try:
        os.symlink(os.path.relpath(target, link.parent), swap, target_is_directory=target.is_dir())
    except OSError:
        (shutil.copytree if target.is_dir() else shutil.copy2)(target, swap)
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)  # a folder from before snapshots, or from the copying fallback
    os.replace(swap, link)


def activate(published: Path, snapshot: Path) -> None:
    """Make `snapshot` current: each of its outputs swapped in, then the pointer."""
    for item in sorted(snapshot.iterdir()):
        _swap(published / item.name, item)
    write_text_atomically(
        published / POINTER, json.dumps({"snapshot": snapshot.name, "path": f"{SNAPSHOTS}/{snapshot.name}"})
    )


def current(published: Path) -> str | None:
    path = published / POINTER
    return json.loads(path.read_text("utf-8"))["snapshot"] if path.exists() else None


def snapshots(published: Path) -> list[Path]:
    """Complete snapshots, oldest first."""
    folder = published / SNAPSHOTS
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.exists() else []


def prune(published: Path, keep: int = KEEP) -> list[str]:
    """Delete all but the newest `keep` snapshots, never the current one, and any half-built
    one a killed refresh left; returns the names of the complete ones deleted.
    A snapshot a reader still holds open elsewhere (Windows) stays until the next refresh."""
    now = current(published)
    removed = []
    for stale in (published / SNAPSHOTS).glob(".building-*"):  # left by a refresh killed mid-build
        shutil.rmtree(stale, ignore_errors=True)
    for old in snapshots(published)[:-keep]:
        if old.name != now:
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old.name)
    return removed


def rollback(published: Path, to: str | None = None) -> str:
    """Make an earlier snapshot current again: `to`, or the one before the current one."""
    kept = [p.name for p in snapshots(published)]
    now = current(published)
    if to is None:
        earlier = [n for n in kept if now is None or n < now]
        if not earlier:
            raise SnapshotError(f"no snapshot before {now} to roll back to (kept: {', '.join(kept) or 'none'})")
        to = earlier[-1]
    if to not in kept:
        raise SnapshotError(f"no snapshot {to!r} (kept: {', '.join(kept) or 'none'})")
    activate(published, published / SNAPSHOTS / to)
    return to
