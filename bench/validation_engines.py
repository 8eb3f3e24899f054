"""Benchmark (not a test): validating partner data inside DuckDB (the hub's SQL engine) vs
with Great Expectations' pandas engine, on the same rows and rules.

    uv run python bench/validation_engines.py --scale county [--datasets contacts,ed_attendances]

For each dataset: read every file into DuckDB (common to both), then
  (a) SQL: the hub's one-pass validation of every row rule, with quarantine and typed inserts;
  (b) GX pandas: the typed rows pulled into pandas and the suite's standard expectations
      validated by GX with the failing rows' indexes (what quarantine needs).
GX's import and context are paid once, before timing. Data from bench/refresh_timings.py.
"""

import argparse
import time
from pathlib import Path

import duckdb

from sihub.core.contracts import load_contracts
from sihub.intake.readers import load_raw
from sihub.validation.conform import conform
from sihub.validation.rules import row_rules

BENCH = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="county")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--datasets", default="contacts,ed_attendances,school_census")
    args = parser.parse_args()
    landing = BENCH / "data" / f"{args.scale}-seed{args.seed}" / "landing"
    if not landing.exists():
        raise SystemExit(f"no data at {landing}: run bench/refresh_timings.py --scale {args.scale} first")

    t0 = time.perf_counter()
    from sihub.validation import data_docs

    context = data_docs._context()
    gx_setup = time.perf_counter() - t0
    print(f"GX import and context: {gx_setup:.1f} s (once per run)")
    print(f"{'dataset':<26}{'rows':>10}{'read':>8}{'SQL':>8}{'GX pandas':>11}{'GX/SQL':>8}")
    totals = {"read": 0.0, "sql": 0.0, "gx": 0.0}
    for contract in (c for c in load_contracts() if c.dataset in args.datasets.split(",")):
        files = sorted((landing / contract.partner / contract.dataset).glob(contract.source.file_pattern))
        con = duckdb.connect()
        read = sql = 0.0
        rows = 0
        for i, path in enumerate(files):
            t = time.perf_counter()
            load_raw(con, contract, path, "_raw")
            read += time.perf_counter() - t
            t = time.perf_counter()
            result = conform(con, contract, "_raw", f"sha{i}", path.name, "bench")
            sql += time.perf_counter() - t
            rows += result.rows_in
        # GX pandas on the same typed rows (loaded ones: the suite's standard expectations)
        t = time.perf_counter()
        frame = con.execute(f'SELECT * FROM "{contract.table}"').df()
        suite = context.suites.add_or_update(
            data_docs._gx().ExpectationSuite(
                name=f"bench_{contract.table}",
                expectations=[
                    data_docs.expectation(contract, r)
                    for r in row_rules(contract)
                    if r.kind in data_docs.STANDARD_KINDS
                ],
            )
        )
        source = context.data_sources.add_or_update_pandas(f"bench_{contract.table}")
        batch = (
            source.add_dataframe_asset("rows")
            .add_batch_definition_whole_dataframe("all")
            .get_batch(batch_parameters={"dataframe": frame})
        )
        batch.validate(suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["_row"]})
        gx = time.perf_counter() - t
        totals["read"] += read
        totals["sql"] += sql
        totals["gx"] += gx
        print(f"{contract.key:<26}{rows:>10,}{read:>8.1f}{sql:>8.1f}{gx:>11.1f}{gx / sql:>8.1f}x")
    print(
        f"{'all':<26}{'':>10}{totals['read']:>8.1f}{totals['sql']:>8.1f}{totals['gx']:>11.1f}"
        f"{totals['gx'] / totals['sql']:>8.1f}x"
    )
    print("median not taken: one pass each; GX pandas validates only the standard expectations (no type rules)")


if __name__ == "__main__":
    main()
