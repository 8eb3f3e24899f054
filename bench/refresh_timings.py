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

from sihub.core.paths import HubPaths
from sihub.privacy.keys import ENV, create_key_file, key_file
from sihub.synthetic.generate import generate

BENCH = Path(__file__).resolve().parent


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
    for folder in (paths.raw, paths.warehouse, paths.published, paths.governance, paths.dagster):
        shutil.rmtree(folder, ignore_errors=True)
    if ENV not in os.environ and not key_file(home).exists():
        create_key_file(home)  # synthetic data: a throwaway pseudonymisation key, as `sihub demo` makes
    return home, seconds


@dataclass
class Timed:
    outcome: object
    seconds: float
    by_stage: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    by_step: dict[str, float] = field(default_factory=dict)

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


def timed_refresh(home: Path, progress: bool = False) -> Timed:
    """One in-process refresh of `home`, timed per step from Dagster's step events; with
    `progress`, each step is printed as it ends (a national refresh takes hours)."""
    from dagster import DagsterEventType

    from assets.keys import stage_of
    from pipelines.refresh import run_refresh  # import cost counted separately from the run

    timed = Timed(None, 0.0)

    class Clock:
        """Times each step by the asset it builds or checks (a check's time adds to its asset's)."""

        def __init__(self) -> None:
            self.started: dict[str, float] = {}

        def plan(self, steps: list) -> None:
            pass

        def warning(self, message: str) -> None:
            pass

        def step(self, event, key) -> None:
            name = key.to_user_string()
            if event == DagsterEventType.STEP_START:
                self.started[name] = time.perf_counter()
            elif event in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE) and name in self.started:
                seconds = time.perf_counter() - self.started.pop(name)
                timed.by_step[name] = timed.by_step.get(name, 0.0) + seconds
                timed.by_stage[stage_of(key).value] += seconds
                if progress:
                    print(
                        f"{time.strftime('%H:%M:%S')} {event.value.lower():<12} {name:<50}{seconds:8.1f} s", flush=True
                    )

    t0 = time.perf_counter()
    timed.outcome = run_refresh(home, Clock())
    timed.seconds = time.perf_counter() - t0
    return timed


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
