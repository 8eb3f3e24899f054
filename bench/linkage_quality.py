"""Linkage quality against the generator's truth, for a hub home that has been refreshed
(`sihub demo --scale county` leaves one): pairwise precision and recall over all records,
and for each partner's records on their own.

    uv run python bench/linkage_quality.py [SIHUB_HOME]
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from sihub.core.paths import HubPaths
from sihub.synthetic.linkage_truth import score


def main(home: Path) -> None:
    with duckdb.connect(str(HubPaths(home).personal_store), read_only=True) as con:
        links = con.execute(
            "SELECT r.source_table, r.source_file, r.source_row, n.label AS cluster "
            "FROM link_records r LEFT JOIN link_nodes n ON n.node = r.identity"
        ).df()
        rules = con.execute("SELECT rule, count(*) FROM link_nodes GROUP BY ALL ORDER BY 2 DESC").fetchall()
    print(f"{'records':<22}{'n':>10}{'precision':>11}{'recall':>9}{'true pairs':>14}")
    q = score(links, home / "truth")
    print(f"{'across partners':<22}{'':>10}{q.cross_precision:>11.6f}{q.cross_recall:>9.6f}")
    partners = sorted({t.split("__")[0] for t in links["source_table"]})
    for name, part in [("all", links), *((p, links[links["source_table"].str.startswith(p + "__")]) for p in partners)]:
        q = score(part, home / "truth")
        print(f"{name:<22}{q.records:>10,}{q.precision:>11.6f}{q.recall:>9.6f}{q.true_pairs:>14,}")
    print("nodes by link rule:", ", ".join(f"{r} {n:,}" for r, n in rules))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "data"))
