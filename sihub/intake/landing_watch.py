"""Watching the landing area for deliveries: which partners have new or changed files since
the last look, and a run key made from the files' contents, so that the same files never
trigger two runs (Dagster refuses a run key it has seen) and a re-delivered identical file
triggers none.

The state kept between looks is each file's size and modification time; a file is hashed
only when those change. The first look starts from what the archive has already read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from sihub.core.contracts import Contract
from sihub.core.db import scalar, table_exists
from sihub.intake.archive import Refused, hash_landing_file, landing_files, refusal


@dataclass(frozen=True)
class Delivery:
    partner: str
    datasets: tuple[str, ...]
    run_key: str  # partner + the SHA-256 of the new files' hashes, sorted
    files: int


def _folder(key: str) -> str:
    return key.rsplit("/", 1)[0]


def look(landing: Path, contracts: list[Contract], seen: dict[str, list]) -> tuple[list[Delivery], dict[str, list]]:
    """New or changed files by partner, and the state to keep for the next look.
    `seen` maps a file's path under landing to [size, mtime_ns, sha256 of the file]. A file is
    new when its folder has not held the same bytes under any name (the same bytes in another
    dataset's folder are that dataset's delivery); a file in a folder several contracts share
    is a delivery to each of them."""
    readers: dict[Path, list[Contract]] = {}
    for contract in contracts:
        for path in landing_files(landing, contract):
            readers.setdefault(path, []).append(contract)
    state: dict[str, list] = {}
    known = {(_folder(key), entry[2]) for key, entry in seen.items()}
    new: dict[str, list[tuple[str, str]]] = {}
    for path, readers_of_path in readers.items():
        if refusal(landing, path):  # never opened through a link: the refresh reports it
            continue
        stat = path.lstat()
        key = path.relative_to(landing).as_posix()
        before = seen.get(key)
        if before and before[:2] == [stat.st_size, stat.st_mtime_ns]:
            state[key] = before
            continue
        try:
            digest = hash_landing_file(landing, path)
        except Refused:  # swapped for a link since it was judged
            continue
        state[key] = [stat.st_size, stat.st_mtime_ns, digest]
        if (_folder(key), digest) not in known:  # new content for this folder, under any name
            known.add((_folder(key), digest))
            for contract in readers_of_path:
                new.setdefault(contract.partner, []).append((contract.dataset, digest))
    deliveries = []
    for partner, files in sorted(new.items()):
        combined = hashlib.sha256("".join(sorted(d for _, d in files)).encode()).hexdigest()
        datasets = tuple(sorted({dataset for dataset, _ in files}))
        deliveries.append(Delivery(partner, datasets, f"{partner}:{combined}", len(files)))
    return deliveries, state


def archived(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    """The state of a first look, from the archive's delivery log (personal zone): every file
    the hub has already read, at the size and time it was read, so switching the sensor on
    does not treat the whole archive as new."""
    if not table_exists(con, "deliveries"):
        return {}
    with_content = scalar(  # a store from before delivery ids kept the file's hash as the id
        con,
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'archive_manifest' "
        "AND column_name = 'content_sha256'",
    )
    content = "coalesce(m.content_sha256, d.sha256)" if with_content else "d.sha256"
    rows = con.execute(
        f"SELECT d.landing_path, any_value(d.size_bytes), any_value(d.mtime_ns), any_value({content}) "
        "FROM deliveries d LEFT JOIN archive_manifest m USING (sha256) WHERE d.status <> 'held' GROUP BY d.landing_path"
    ).fetchall()
    return {path: [size, mtime, sha] for path, size, mtime, sha in rows}
