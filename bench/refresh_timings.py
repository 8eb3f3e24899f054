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
from pathlib import Path

from governance.keys import ENV, create_key_file, key_file
from synthetic.generate import generate

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
    for folder in ("raw", "warehouse", "published", "governance"):
        shutil.rmtree(home / folder, ignore_errors=True)
    if ENV not in os.environ and not key_file(home).exists():
        create_key_file(home)  # synthetic data: a throwaway pseudonymisation key, as `sihub demo` makes
    return home, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="county", choices=["small", "county", "national"])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    home, generated = prepare(args.scale, args.seed)
    from pipelines.refresh import run_refresh  # import cost counted separately from the run

    started: dict[str, float] = {}
    by_stage: dict[str, float] = defaultdict(float)
    by_step: dict[str, float] = {}

    def on_event(kind: str, step: str | None, message: str) -> None:
        if kind == "STEP_START" and step:
            started[step] = time.perf_counter()
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and step in started:
            by_step[step] = time.perf_counter() - started[step]
            by_stage[step.split("__")[0]] += by_step[step]

    t0 = time.perf_counter()
    outcome = run_refresh(home, on_event)
    total = time.perf_counter() - t0
    rows = sum(d["rows_in"] for d in (outcome.summary or {}).get("datasets", []))
    print(f"refresh at {args.scale} scale: {'success' if outcome.success else 'FAILED: ' + str(outcome.reason)}")
    if generated is not None:
        print(f"generated the data first in {generated:.1f} s")
    print(f"rows read: {rows:,}; wall time {total:.1f} s; {rows / total:,.0f} rows/s")
    print(f"{'stage':<12}{'seconds':>10}{'share':>8}")
    for stage, seconds in sorted(by_stage.items(), key=lambda kv: -kv[1]):
        print(f"{stage:<12}{seconds:>10.1f}{seconds / total:>8.0%}")
    print(f"{'overhead':<12}{total - sum(by_stage.values()):>10.1f}")
    print("slowest steps:")
    for step, seconds in sorted(by_step.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {step:<50}{seconds:>8.1f}")
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"refresh-{args.scale}-{stamp}.json").write_text(
        json.dumps(
            {
                "scale": args.scale,
                "seed": args.seed,
                "success": outcome.success,
                "rows": rows,
                "wall_seconds": total,
                "stages": by_stage,
                "steps": by_step,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
