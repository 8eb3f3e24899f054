"""Benchmark (not a test): the hub against a bare DuckDB load and a pandas pipeline.

    make bench                             # county scale
    make bench SCALE=national REPEATS=1    # 50x county: (a) and (c) only; about 2 hours a repeat

Synthetic data are generated once per scale and seed (bench/data/). Then, each in a process
of its own, in turn, three times over (--repeats):
  (a) floor   DuckDB alone reads every landing file into a table with its types, nothing else;
  (b) pandas  the same ingest and three headline metrics (contacts, referrals and children on a
              child protection plan per 10,000 children, by district and month), written the
              way an analyst without this project would write them;
  (c) hub     `sihub refresh`, full, from an empty warehouse;
  (d) one file  then one new file (a day's missing-episode reports) and `sihub refresh` again,
              on (c)'s warehouse: what a quiet night costs;
  (e) multiprocess  (c) under Dagster's multiprocess executor, up to --processes steps at once
              (default: one per CPU), each step a process of its own.
It prints the median wall time, CPU time and peak RSS of each, the ratios (c)/(a), (b)/(c),
(d)/(c) and (e)/(c), and the stage breakdowns of (c) and (d), and writes it all to
bench/results/bench-<scale>-<time>.json. At national scale, (b) and (e) are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from refresh_timings import deliver_one_day, prepare, write_result

ROLES = {
    "floor": "(a) floor: DuckDB reads the files",
    "pandas": "(b) pandas baseline",
    "hub": "(c) sihub refresh, full",
    "delivery": "(d) one new file, after (c)",
    "multiprocess": "(e) (c), multiprocess executor",
}
REPEATS = 3


def _contract_files(home: Path):
    from sihub.core.contracts import load_contracts
    from sihub.intake.archive import landing_files

    for contract in load_contracts():
        yield contract, landing_files(home / "landing", contract)


def floor(home: Path) -> None:
    """(a) Every landing file into a DuckDB table, typed by DuckDB's CSV sniffer with the
    contract's date format; workbooks through fastexcel to Arrow. No checks, no governance."""
    import duckdb
    import fastexcel

    with tempfile.TemporaryDirectory() as tmp, duckdb.connect(str(Path(tmp) / "floor.duckdb")) as con:
        for contract, files in _contract_files(home):
            for i, path in enumerate(files):
                table = f"{contract.table}_{i}"
                if contract.source.format == "csv":
                    encoding = "utf-8" if contract.source.encoding.startswith("utf-8") else "latin-1"
                    con.execute(
                        f"CREATE TABLE {table} AS SELECT * FROM read_csv(?, header = true, encoding = '{encoding}', "
                        "dateformat = ?, ignore_errors = true)",
                        [str(path), contract.date_formats[0]],
                    )
                else:
                    sheet = fastexcel.read_excel(str(path)).load_sheet(0, header_row=contract.source.header_row - 1)
                    con.register("sheet_rows", sheet.to_arrow())
                    con.execute(f"CREATE TABLE {table} AS SELECT * FROM sheet_rows")
                    con.unregister("sheet_rows")


def pandas_pipeline(home: Path) -> None:
    """(b) Read every file with pandas, then the three headline metrics in pandas."""
    import pandas as pd

    from sihub.core.reference import reference_file

    frames: dict[str, pd.DataFrame] = {}
    for contract, files in _contract_files(home):
        parts = []
        for path in files:
            if contract.source.format == "csv":
                parts.append(pd.read_csv(path, encoding=contract.source.encoding, low_memory=False))
            else:
                parts.append(pd.read_excel(path, header=contract.source.header_row - 1))
        if parts:
            frames[contract.dataset] = pd.concat(parts, ignore_index=True)

    postcodes = pd.read_csv(reference_file("postcode_districts.csv", home))
    population = pd.read_csv(reference_file("population.csv", home))
    children = population[population["age"] <= 17].groupby("district_code")["population"].sum()

    def with_district(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df["postcode_district"] = df["Postcode"].astype(str).str.upper().str.split().str[0]
        return df.merge(postcodes, on="postcode_district", how="left")

    def per_10k(counts: pd.Series) -> pd.DataFrame:
        out = counts.rename("count").reset_index()
        out["rate"] = out["count"] / out["district_code"].map(children) * 10_000
        return out

    contacts = with_district(frames["contacts"])
    contacts["contact_month"] = pd.to_datetime(contacts["Contact Date"], dayfirst=True, errors="coerce").dt.to_period(
        "M"
    )
    contacts["referral_month"] = pd.to_datetime(contacts["Referral Date"], dayfirst=True, errors="coerce").dt.to_period(
        "M"
    )
    results = {
        "contacts_per_10k": per_10k(contacts.groupby(["district_code", "contact_month"]).size()),
        "referrals_per_10k": per_10k(
            contacts.dropna(subset=["referral_month"]).groupby(["district_code", "referral_month"]).size()
        ),
    }
    plans = with_district(frames["cp_plans"])
    plans["start"] = pd.to_datetime(plans["Plan Start Date"], dayfirst=True, errors="coerce")
    plans["end"] = pd.to_datetime(plans["Plan End Date"], dayfirst=True, errors="coerce")
    rows = []
    for month in pd.period_range(plans["start"].min(), plans["start"].max(), freq="M"):
        month_end = month.to_timestamp(how="end")
        open_plans = plans[(plans["start"] <= month_end) & (plans["end"].isna() | (plans["end"] > month_end))]
        for district, n in open_plans.groupby("district_code")["Child ID"].nunique().items():
            rows.append({"district_code": district, "month": month, "count": n})
    on_plan = pd.DataFrame(rows).set_index(["district_code", "month"])["count"]
    results["children_on_cp_plan_per_10k"] = per_10k(on_plan)
    print(json.dumps({k: len(v) for k, v in results.items()}))


def hub(home: Path, out: Path, progress: bool, processes: int | None) -> None:
    """(c), (d) and (e): a refresh, with its stage breakdown written to `out`; with `progress`,
    each step is printed as it ends, since a national run is long enough to need watching."""
    from refresh_timings import timed_refresh

    timed = timed_refresh(home, progress, processes)
    if processes:  # the steps ran in children of the executor's forkserver: stopping it reaps them all,
        import multiprocessing.forkserver  # so their CPU time and peak RSS reach this process's parent

        multiprocessing.forkserver._forkserver._stop()
    if not timed.outcome.success:
        raise SystemExit(f"the refresh failed: {timed.outcome.reason}")
    out.write_text(json.dumps(timed.as_json()))


def measure(role: str, home: Path, progress: bool, processes: int) -> dict:
    """One role in a child process: wall time, CPU time (user + system, its reaped children's
    included: the multiprocess executor's step processes) and peak RSS (of the largest)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, __file__, "--role", role, "--home", str(home), "--out", out.name]
        command += ["--progress"] if progress else []
        command += ["--processes", str(processes)] if role == "multiprocess" else []
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=Path(__file__).parent)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{role} failed")
        result = {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}
        if role in ("hub", "delivery", "multiprocess"):
            result["stages"] = json.loads(Path(out.name).read_text())["stages"]
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="county", choices=["small", "county", "national"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--processes", type=int, default=os.cpu_count(), help="steps at once in (e)")
    parser.add_argument("--role", choices=ROLES, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--progress", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        if args.role in ("floor", "pandas"):
            {"floor": floor, "pandas": pandas_pipeline}[args.role](args.home)
        else:
            hub(args.home, args.out, args.progress, args.processes if args.role == "multiprocess" else None)
        return
    if args.generate:
        _, generated = prepare(args.scale, args.seed)
        if generated is not None:
            print(f"generated {args.scale} data in {generated:.0f} s", flush=True)
        return

    # The data are generated (when not yet cached) in a process of their own: Linux carries a
    # process's peak RSS over fork and exec into its children, so a bench process that had
    # generated the data itself reported the generator's peak (2.7 GB at county) for every run.
    generate = [sys.executable, __file__, "--generate", "--scale", args.scale, "--seed", str(args.seed)]
    subprocess.run(generate, cwd=Path(__file__).parent, check=True)

    # pandas cannot hold national data, and a national run under the multiprocess executor would take a day
    roles = [r for r in ROLES if not (args.scale == "national" and r in ("pandas", "multiprocess"))]
    runs: dict[str, list[dict]] = {r: [] for r in roles}
    home, _ = prepare(args.scale, args.seed)
    for repeat in range(args.repeats):
        for role in roles:
            if role == "delivery":  # on the warehouse (c) has just built
                deliver_one_day(home)
            else:
                prepare(args.scale, args.seed)  # an empty warehouse
            runs[role].append(measure(role, home, args.scale == "national", args.processes))
            print(f"repeat {repeat + 1}/{args.repeats} {role:<13} {runs[role][-1]['wall_s']:8.1f} s", flush=True)

    measures = ("wall_s", "cpu_s", "peak_rss_mb")
    median = {r: {k: statistics.median(x[k] for x in runs[r]) for k in measures} for r in roles}
    print(f"\n{args.scale} scale, seed {args.seed}, median of {args.repeats}, {os.cpu_count()} CPUs")
    print(f"{'':<34}{'wall s':>10}{'CPU s':>10}{'peak RSS MB':>14}")
    for role in roles:
        m = median[role]
        print(f"{ROLES[role]:<34}{m['wall_s']:>10.1f}{m['cpu_s']:>10.1f}{m['peak_rss_mb']:>14.0f}")
    wall = {r: median[r]["wall_s"] for r in roles}
    ratios = {"hub/floor": wall["hub"] / wall["floor"], "one file/hub": wall["delivery"] / wall["hub"]}
    if "pandas" in wall:
        ratios["pandas/hub"] = wall["pandas"] / wall["hub"]
    if "multiprocess" in wall:
        ratios[f"multiprocess ({args.processes})/hub"] = wall["multiprocess"] / wall["hub"]
    print("  ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    stages = {}
    for role in ("hub", "delivery"):
        names = runs[role][0]["stages"]
        stages[role] = {s: statistics.median(x["stages"].get(s, 0.0) for x in runs[role]) for s in names}
        slowest = sorted(stages[role].items(), key=lambda kv: -kv[1])
        print(f"{role} stages (median s): " + ", ".join(f"{s} {v:.1f}" for s, v in slowest))
    path = write_result(
        f"bench-{args.scale}",
        {"scale": args.scale, "seed": args.seed, "cpus": os.cpu_count(), "runs": runs, "median": median}
        | {"processes": args.processes, "ratios": ratios, "stages": stages},
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
