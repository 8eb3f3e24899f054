"""Benchmark (not a test): time `sihub refresh` on synthetic data and print stage timings.

    uv run python bench/refresh_timings.py --scale county

Data are generated once per scale and seed under bench/data/ and reused; every run starts
from an empty warehouse, archive and published folder. Results go to bench/results/.
"""

import argparse
import json
import os
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sihub.core.change_tracking import content
from sihub.core.db import literal, quote
from sihub.core.paths import HubPaths
from sihub.privacy.keys import ENV, create_key_file, key_file
from sihub.synthetic.generate import generate

BENCH = Path(__file__).resolve().parent
DAILY_ROWS = 300  # missing-episode reports: some three weeks' worth at county scale
DAILY_FILE = Path("police") / "missing_episodes" / "missing_episodes_daily.csv"


def prepare(scale: str, seed: int) -> tuple[Path, float | None]:
    home = BENCH / "data" / f"{scale}-seed{seed}"
    marker = home / ".generated"
    seconds = None
    if not marker.exists():
        shutil.rmtree(home, ignore_errors=True)
        result = generate(scale, seed, home / "landing")
        seconds = result.seconds
        marker.write_text(json.dumps({"rows": result.rows, "bytes": result.bytes, "seconds": result.seconds}))
    paths = HubPaths(home)
    (paths.landing / DAILY_FILE).unlink(missing_ok=True)  # delivered by an earlier run's `deliver_one_day`
    for folder in (paths.raw, paths.warehouse, paths.published, paths.governance, paths.dagster):
        shutil.rmtree(folder, ignore_errors=True)
    if ENV not in os.environ and not key_file(home).exists():
        create_key_file(home)  # synthetic data: a throwaway pseudonymisation key, as `sihub demo` makes
    return home, seconds


def deliver_one_day(home: Path) -> str:
    """Write one new police missing-episodes file into landing (the latest file's last
    DAILY_ROWS rows, with new episode references) and return its name: a quiet night's delivery."""
    import duckdb

    target = HubPaths(home).landing / DAILY_FILE
    latest = sorted(p for p in target.parent.glob("*.csv") if p != target)[-1]
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * REPLACE (episode_ref || '-D' AS episode_ref) FROM read_csv({literal(str(latest))}, "
            f"all_varchar = true) ORDER BY reported_missing_datetime DESC LIMIT {DAILY_ROWS}) "
            f"TO {literal(str(target))} (HEADER)"
        )
    return target.name


def delivered_rows(home: Path) -> int:
    """The rows of the file `deliver_one_day` wrote (fewer than DAILY_ROWS at small scale)."""
    import duckdb

    daily = HubPaths(home).landing / DAILY_FILE
    with duckdb.connect() as con:
        return con.execute(f"SELECT count(*) FROM read_csv({literal(str(daily))}, all_varchar = true)").fetchone()[0]


@dataclass
class Timed:
    outcome: object
    seconds: float
    by_stage: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    by_step: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def rows(self) -> int:
        return sum(d["rows_in"] for d in (self.outcome.summary or {}).get("datasets", []))

    def report(self, title: str) -> None:
        outcome, total = self.outcome, self.seconds
        print(f"{title}: {'success' if outcome.success else 'FAILED: ' + str(outcome.reason)}")
        print(f"rows read: {self.rows:,}; wall time {total:.1f} s; {self.rows / total:,.0f} rows/s")
        print(f"{'stage':<12}{'seconds':>10}{'share':>8}")
        for stage, seconds in sorted(self.by_stage.items(), key=lambda kv: -kv[1]):
            print(f"{stage:<12}{seconds:>10.1f}{seconds / total:>8.0%}")
        print(f"{'overhead':<12}{total - sum(self.by_stage.values()):>10.1f}")
        print("slowest steps:")
        for step, seconds in sorted(self.by_step.items(), key=lambda kv: -kv[1])[:8]:
            print(f"  {step:<50}{seconds:>8.1f}")

    def as_json(self) -> dict:
        return {
            "success": self.outcome.success,
            "rows": self.rows,
            "wall_seconds": self.seconds,
            "stages": self.by_stage,
            "steps": self.by_step,
        }


def timed_refresh(home: Path, progress: bool = False, processes: int | None = None) -> Timed:
    """One refresh of `home`, each step timed from the start and end events in the run's event
    log (steps of a multiprocess run report there from processes of their own); with
    `progress`, each step is printed as it ends (a national refresh takes hours). In one
    process unless `processes` (2 or more) asks for Dagster's multiprocess executor."""
    from dagster import DagsterEventType

    from assets.keys import stage_of
    from pipelines.definitions import build_definitions
    from pipelines.instance import hub_instance
    from pipelines.refresh import run_refresh, steps_of  # import cost counted apart from the run

    class Progress:
        def plan(self, steps: list) -> None:
            pass

        def warning(self, message: str) -> None:
            pass

        def step(self, event, key) -> None:
            if event in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                print(f"{time.strftime('%H:%M:%S')} {event.value.lower():<12} {key.to_user_string()}", flush=True)

    assets, instance = steps_of(build_definitions(home)), hub_instance(home)
    started = time.perf_counter()
    outcome = run_refresh(home, Progress() if progress else None, instance, processes)
    timed = Timed(outcome, time.perf_counter() - started)
    ends = {DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
    began: dict[str, float] = {}
    for entry in instance.all_logs(timed.outcome.run_id, of_type={DagsterEventType.STEP_START, *ends}):
        step = entry.step_key
        if entry.dagster_event_type == DagsterEventType.STEP_START:
            began[step] = entry.timestamp
        elif step in began and step in assets:  # a check's time adds to its asset's
            seconds, key = entry.timestamp - began.pop(step), assets[step]
            timed.by_step[key.to_user_string()] += seconds
            timed.by_stage[stage_of(key).value] += seconds
    return timed


def published_facts(home: Path) -> dict[str, str]:
    """Per table of the published DuckDB file, its rows' count and order-free hash (`content`)
    without the run id and timestamps (what differs between two runs of the same data by design)."""
    import duckdb

    with duckdb.connect(str(HubPaths(home).published / "metrics.duckdb"), read_only=True) as con:
        kept: dict[str, list[str]] = {}
        for table, column in con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal AND schema_name = 'main' "
            "AND column_name <> 'run_id' AND data_type NOT LIKE 'TIMESTAMP%' ORDER BY table_name, column_index"
        ).fetchall():
            kept.setdefault(table, []).append(quote(column))
        facts = {}
        for table, columns in kept.items():
            con.execute(f"CREATE OR REPLACE TEMP TABLE _facts AS SELECT {', '.join(columns)} FROM {quote(table)}")
            facts[table] = content(con, "_facts")
        return facts


def write_result(name: str, result: dict) -> Path:
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    return path


def scale_and_seed(doc: str) -> argparse.Namespace:
    """The benchmarks' command line: --scale and --seed, with the script's docstring as help."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="county", choices=["small", "county", "national"])
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def main() -> None:
    args = scale_and_seed(__doc__)

    home, generated = prepare(args.scale, args.seed)
    if generated is not None:
        print(f"generated the data first in {generated:.1f} s")
    timed = timed_refresh(home, progress=True)
    timed.report(f"refresh at {args.scale} scale")
    write_result(f"refresh-{args.scale}", {"scale": args.scale, "seed": args.seed, **timed.as_json()})


if __name__ == "__main__":
    main()
