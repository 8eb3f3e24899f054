"""Benchmark (not a test): the hub against a bare DuckDB load and a pandas pipeline, a quiet
night's delivery against a full refresh, and the multiprocess executor against one process.

    make bench                             # county scale
    make bench SCALE=national REPEATS=1    # 50x county: (a), (c) and (d) only; hours a repeat

Synthetic data are generated once per scale and seed (bench/data/). Then, each in a process
of its own, in turn, three times over (--repeats):
  (a) floor   DuckDB alone reads every landing file into a table with its types, nothing else;
  (b) pandas  the same ingest and three headline metrics (contacts, referrals and children on a
              child protection plan per 10,000 children, by district and month), written the
              way an analyst without this project would write them;
  (c) hub     `sihub refresh`, full, from an empty warehouse;
  (d) delivery  one new police missing-episodes file of DAILY_ROWS rows (the latest file's
              last rows, new episode references), then a refresh of (c)'s warehouse: what a
              quiet night costs (the run must read exactly those rows, each loaded or quarantined);
  (e) multiprocess  (c) under Dagster's multiprocess executor, up to --processes steps at once
              (default: one per CPU), each step a process of its own; its published tables must
              hash the same as (c)'s, run ids and timestamps left out.
It prints the median wall time, CPU time and peak RSS of each; each ratio against its target
(the median of each repeat's own ratio, since timings drift between repeats); the stage
breakdowns of (c) and (d); and writes it all to bench/results/bench-<scale>-<time>.json. A
refresh that fails or stops part-way stops the bench. At national scale, (b) and (e) are
left out. (d) follows (c) at once, so (c)'s files may still be in the page cache.
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

from refresh_timings import deliver_one_day, delivered_rows, prepare, write_result

ROLES = {
    "floor": "(a) floor: DuckDB reads the files",
    "pandas": "(b) pandas baseline",
    "hub": "(c) sihub refresh, full",
    "delivery": "(d) one new file, after (c)",
    "multiprocess": "(e) (c) under the multiprocess executor",
}
REFRESHES = ("hub", "delivery", "multiprocess")
# (top, bottom) wall-time ratio: its label and the target
RATIOS = {
    ("hub", "floor"): ("(c)/(a) refresh/floor", "<= 3"),
    ("pandas", "hub"): ("(b)/(c) pandas/refresh", "> 1"),
    ("delivery", "hub"): ("(d)/(c) one file/full", "<= 0.10"),
    ("multiprocess", "hub"): ("(e)/(c) multiprocess/in-process", "< 1"),
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


def hub(home: Path, out: Path, progress: bool, processes: int | None, rows: int | None) -> None:
    """(c), (d) and (e): a refresh, its stage breakdown and a digest of what it published
    written to `out`. A refresh that failed, or did part of its work, is not a time; nor is
    one that did not read `rows` rows in all and load or quarantine each, when given (so (d)
    is known to have taken in the new file, and only it). With `progress`, each step is
    printed as it ends (national)."""
    from refresh_timings import published_facts, timed_refresh

    timed = timed_refresh(home, progress, processes)
    if processes:  # the steps ran in children of the executor's forkserver: stopping it reaps them all,
        import multiprocessing.forkserver  # so their CPU time and peak RSS reach this process's parent

        multiprocessing.forkserver._forkserver._stop()
    if not timed.outcome.success or timed.outcome.reason:
        raise SystemExit(f"the refresh failed: {timed.outcome.reason}")
    datasets = timed.outcome.summary["datasets"]
    placed = sum(d["rows_loaded"] + d["rows_quarantined"] for d in datasets)
    if rows is not None and (timed.rows != rows or placed != rows):  # generated files carry some bad rows
        raise SystemExit(f"the refresh read {timed.rows} rows and placed {placed}, not the {rows} delivered")
    out.write_text(json.dumps(timed.as_json() | {"facts": published_facts(home)}))


def measure(role: str, home: Path, progress: bool, processes: int) -> dict:
    """One role in a child process: wall time, CPU time (user + system, its reaped children's
    included: the multiprocess executor's step processes) and peak RSS (of its largest process).
    The hub's Dagster instance is the one under `home` (cleared by `prepare`), whatever
    DAGSTER_HOME the bench was started with."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, __file__, "--role", role, "--home", str(home), "--out", out.name]
        command += ["--progress"] if progress else []
        command += ["--processes", str(processes)] if role == "multiprocess" else []
        environment = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=Path(__file__).parent, env=environment)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{role} failed")
        result = {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}
        if role in REFRESHES:
            written = json.loads(Path(out.name).read_text())
            result |= {"refresh_s": written["wall_seconds"], "stages": written["stages"], "facts": written["facts"]}
        return result


def _processes(text: str) -> int:
    if not text.isdigit() or int(text) < 2:
        raise argparse.ArgumentTypeError("the multiprocess executor needs 2 processes or more")
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="county", choices=["small", "county", "national"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    default = max(2, len(os.sched_getaffinity(0)))
    parser.add_argument("--processes", type=_processes, default=default, help="steps at once in (e); default: the CPUs")
    parser.add_argument("--role", choices=ROLES, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--progress", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--deliver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role in ("floor", "pandas"):
        {"floor": floor, "pandas": pandas_pipeline}[args.role](args.home)
    elif args.role:
        processes = args.processes if args.role == "multiprocess" else None
        rows = delivered_rows(args.home) if args.role == "delivery" else None
        hub(args.home, args.out, args.progress, processes, rows)
    elif args.generate:
        _, generated = prepare(args.scale, args.seed)
        if generated is not None:
            print(f"generated {args.scale} data in {generated:.0f} s", flush=True)
    elif args.deliver:
        deliver_one_day(args.home)
    else:
        compare(args)


def _aside(*options: str) -> None:
    """This script with `options`, in a process of its own: Linux carries a process's peak RSS
    over fork and exec into its children, so work done in the bench process itself (generating
    the data: 2.7 GB at county) would be reported as the peak of every run after it."""
    subprocess.run([sys.executable, __file__, *options], cwd=Path(__file__).parent, check=True)


def compare(args: argparse.Namespace) -> None:
    """Every role, repeat after repeat; the medians, ratios, stages and results file."""
    _aside("--generate", "--scale", args.scale, "--seed", str(args.seed))
    # pandas cannot hold national data, and a national run under the multiprocess executor would take a day
    roles = [r for r in ROLES if not (args.scale == "national" and r in ("pandas", "multiprocess"))]
    runs: dict[str, list[dict]] = {r: [] for r in roles}
    home, _ = prepare(args.scale, args.seed)
    for repeat in range(args.repeats):
        for role in roles:
            if role == "delivery":  # on the warehouse (c) has just built
                _aside("--deliver", "--home", str(home))
            else:
                prepare(args.scale, args.seed)  # an empty warehouse
            runs[role].append(measure(role, home, args.scale == "national", args.processes))
            print(f"repeat {repeat + 1}/{args.repeats} {role:<13} {runs[role][-1]['wall_s']:8.1f} s", flush=True)

    measures, cpus = ("wall_s", "cpu_s", "peak_rss_mb"), len(os.sched_getaffinity(0))
    median = {r: {k: statistics.median(x[k] for x in runs[r]) for k in measures} for r in roles}
    print(f"\n{args.scale} scale, seed {args.seed}, median of {args.repeats}, {cpus} CPUs")
    print(f"{'':<38}{'wall s':>10}{'CPU s':>10}{'peak RSS MB':>14}")
    for role in roles:
        m = median[role]
        print(f"{ROLES[role]:<38}{m['wall_s']:>10.1f}{m['cpu_s']:>10.1f}{m['peak_rss_mb']:>14.0f}")
    ratios = {}
    for (top, bottom), (label, target) in RATIOS.items():
        if top in runs and bottom in runs:  # the median of each repeat's own ratio: repeats drift
            ratio = statistics.median(a["wall_s"] / b["wall_s"] for a, b in zip(runs[top], runs[bottom], strict=True))
            ratios[label] = ratio
            print(f"{label:<30}{ratio:>8.2f}x   target {target}")
    same = sum(e["facts"] == c["facts"] for e, c in zip(runs.get("multiprocess", []), runs["hub"], strict=False))
    if "multiprocess" in runs:
        print(f"(e) published the same facts as (c) in {same} of {args.repeats} repeats")
    stages = {}
    for role in ("hub", "delivery"):
        names = {s for x in runs[role] for s in x["stages"]}
        stages[role] = {s: statistics.median(x["stages"].get(s, 0.0) for x in runs[role]) for s in names}
        slowest = sorted(stages[role].items(), key=lambda kv: -kv[1])
        print(f"{role} stages (median s): " + ", ".join(f"{s} {v:.1f}" for s, v in slowest))
    path = write_result(
        f"bench-{args.scale}",
        {"scale": args.scale, "seed": args.seed, "cpus": cpus, "runs": runs}
        | {"median": median, "processes": args.processes, "ratios": ratios, "stages": stages},
    )
    print(f"results: {path}")
    if "multiprocess" in runs and same < args.repeats:
        raise SystemExit("the multiprocess executor published different facts from the in-process run")


if __name__ == "__main__":
    main()
