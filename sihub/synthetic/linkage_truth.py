"""Scoring cross-agency linkage against the generator's truth (which record is which child).

Pairwise precision and recall, the usual measures for record linkage: of the record pairs the
hub put in one child, the share that are one child in truth; of the record pairs that are one
child in truth, the share the hub put together. Counted from cluster sizes, never pair by pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class LinkQuality:
    records: int
    precision: float
    recall: float
    predicted_pairs: int
    true_pairs: int
    cross_precision: float  # the same, over pairs of records from two different partners
    cross_recall: float


def _pairs(sizes: pd.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def score(links: pd.DataFrame, truth_dir: Path) -> LinkQuality:
    """`links` has one row per loaded record: source_table (`partner__dataset`), source_file (name),
    source_row and cluster (the hub's child, any label; NULL when the record has no identifier)."""
    truth = pd.read_parquet(truth_dir / "records.parquet", columns=["partner", "dataset", "file", "row", "child_id"])
    truth["source_table"] = truth["partner"] + "__" + truth["dataset"]
    truth["file"] = truth["file"].str.rsplit("/", n=1).str[-1]
    merged = links.merge(
        truth.rename(columns={"file": "source_file", "row": "source_row"}),
        on=["source_table", "source_file", "source_row"],
        how="left",
        validate="one_to_one",
    )
    if merged["child_id"].isna().any():
        raise ValueError("some linked records are missing from the truth")
    # a record with no identifier is its own cluster
    missing = merged["cluster"].isna()
    merged.loc[missing, "cluster"] = "unlinked:" + merged.index[missing].astype(str)
    partner = merged["source_table"].str.split("__").str[0]

    def pairs(*by: str, within_partner: bool = False) -> int:
        keys = [merged[b] for b in by] + ([partner] if within_partner else [])
        return _pairs(merged.groupby(keys).size())

    together, predicted, true = pairs("cluster", "child_id"), pairs("cluster"), pairs("child_id")
    cross_together = together - pairs("cluster", "child_id", within_partner=True)
    cross_predicted = predicted - pairs("cluster", within_partner=True)
    cross_true = true - pairs("child_id", within_partner=True)
    return LinkQuality(
        records=len(merged),
        precision=together / predicted if predicted else 1.0,
        recall=together / true if true else 1.0,
        predicted_pairs=predicted,
        true_pairs=true,
        cross_precision=cross_together / cross_predicted if cross_predicted else 1.0,
        cross_recall=cross_together / cross_true if cross_true else 1.0,
    )
