"""`sihub generate`: the whole synthetic partnership, deterministic for a seed.

The population is generated in chunks of at most one county (national scale is fifty of
them), each with its own random streams, so memory stays flat however large the scale.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sihub.core import reference
from sihub.synthetic import population, profile
from sihub.synthetic.builders import Chunk
from sihub.synthetic.catalogue import CATALOGUE
from sihub.synthetic.defects import plant
from sihub.synthetic.identity import identify
from sihub.synthetic.render import render
from sihub.synthetic.statutory import StatutoryReturns
from sihub.synthetic.writers import DeliverySink, TruthWriter

CHILD_COLUMNS = [
    "child_id",
    "household",
    "forename",
    "surname",
    "dob",
    "sex",
    "nhs_number",
    "upn",
    "la_ref",
    "police_ref",
    "district_code",
    "death_day",
]


@dataclass
class GenerationResult:
    out: Path
    truth: Path
    children: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # "partner/dataset" -> data rows written
    files: int = 0
    defects: int = 0
    bytes: int = 0
    seconds: float = 0.0


def _children_table(pop: population.Population) -> pa.Table:
    kids = pop.children[CHILD_COLUMNS].copy()
    kids["dob"] = kids["dob"].to_numpy().astype("datetime64[D]")
    return pa.Table.from_pandas(kids, preserve_index=False)


def _write_denominators(folder: Path, scale: float) -> None:
    """The synthetic partnership's own population denominators (reference x scale), which the
    hub reads from `$SIHUB_HOME/reference/` in place of the repository's figures."""
    pop = reference.population()
    pop["population"] = np.round(pop["population"] * scale).astype(int)
    pop["estimate_type"] = f"synthetic (reference x {scale:g})"
    folder.mkdir(parents=True, exist_ok=True)
    pop.to_csv(folder / "population.csv", index=False, lineterminator="\n")


def generate(
    scale: str = "small",
    seed: int = 1,
    out: Path | None = None,
    truth: Path | None = None,
    defect_rate: float = profile.DEFAULT_DEFECT_RATE,
    progress: Callable[[str], None] | None = None,
    statutory: bool = False,
) -> GenerationResult:
    """Write every partner's extracts under `out` and the truth under `truth`.

    `out/<partner>/<dataset>/` folders of the catalogue are replaced, nothing else in `out`
    is touched; the truth folder defaults to `truth` beside `out`, outside the landing area.
    With `statutory`, the council's statutory returns (SSDA903, CIN census, Annex A, school
    census pupils on roll) are written too, from the same records (`statutory.py`).
    """
    if scale not in profile.SCALES:
        raise ValueError(f"unknown scale {scale!r}: choose one of {', '.join(profile.SCALES)}")
    started = time.perf_counter()
    out = out.resolve()
    truth = (truth or out.parent / "truth").resolve()
    if truth == out or out in truth.parents:
        raise ValueError("the truth folder must be outside the landing area")
    if truth.exists():
        shutil.rmtree(truth)
    _write_denominators(out.parent / "reference", profile.SCALES[scale])
    out.mkdir(parents=True, exist_ok=True)
    result = GenerationResult(out=out, truth=truth)
    chunks = max(1, math.ceil(profile.SCALES[scale] / profile.CHUNK_SCALE))
    per_chunk = profile.SCALES[scale] / chunks
    salt = int(np.random.default_rng(seed).integers(0, 2**31))

    truth_writer = TruthWriter(truth)
    stash = truth / "_stash"
    sinks = {spec.dataset: DeliverySink(spec, out, truth_writer, stash) for spec in CATALOGUE}
    returns = StatutoryReturns(out, truth) if statutory else None
    children_writer: pq.ParquetWriter | None = None
    for number in range(chunks):
        pop = population.build(np.random.default_rng([seed, number]), per_chunk, number, number * 10_000_000, salt)
        table = _children_table(pop)
        children_writer = children_writer or pq.ParquetWriter(truth / "children.parquet", table.schema)
        children_writer.write_table(table)
        result.children += len(pop.children)
        built = {}
        for index, spec in enumerate(CATALOGUE):
            if progress:
                progress(f"chunk {number + 1}/{chunks}: {spec.partner}/{spec.dataset}")
            rng = np.random.default_rng([seed, number, index + 1])
            chunk = Chunk(rng, pop, number)
            records = spec.build(chunk, built[spec.depends_on]) if spec.depends_on else spec.build(chunk)
            built[spec.dataset] = records
            records = identify(rng, records, pop.children, pop.households, spec.habits)
            records = records.sort_values(["_date", spec.columns[0][0]], kind="stable").reset_index(drop=True)
            frame = plant(rng, spec, render(spec, records), records, defect_rate)
            sinks[spec.dataset].add(frame)
        if returns:
            returns.add(pop, built)
    for spec in CATALOGUE:
        if progress:
            progress(f"writing {spec.partner}/{spec.dataset}")
        sinks[spec.dataset].close()
        key = f"{spec.partner}/{spec.dataset}"
        result.rows[key] = sum(sinks[spec.dataset].rows.values())
        result.files += len(sinks[spec.dataset].rows)
    if returns:
        if progress:
            progress("writing the statutory returns")
        result.rows |= {f"statutory/{name}": n for name, n in returns.close().items()}
    if children_writer:
        children_writer.close()
    truth_writer.close()
    if stash.exists():
        shutil.rmtree(stash)
    result.defects = truth_writer.defects
    result.bytes = sum(p.stat().st_size for spec in CATALOGUE for p in (out / spec.partner / spec.dataset).iterdir())
    result.seconds = time.perf_counter() - started
    return result
