"""Benchmark (not a test): what a one-file daily delivery costs against a full refresh.

    uv run python bench/incremental_refresh.py --scale county

From an empty warehouse: (1) a full refresh of everything in landing; (2) the same refresh
again with nothing new; (3) one new file for one dataset (a day's missing-episode reports:
the latest file's last rows with new episode references), then a refresh. Prints each with
its stage breakdown and writes bench/results/incremental-<scale>-<time>.json.
"""

from refresh_timings import DAILY_ROWS, deliver_one_day, prepare, scale_and_seed, timed_refresh, write_result


def main() -> None:
    args = scale_and_seed(__doc__)

    home, _ = prepare(args.scale, args.seed)
    full = timed_refresh(home)
    full.report(f"full refresh at {args.scale} scale")
    again = timed_refresh(home)
    again.report("the same refresh again, nothing new")
    name = deliver_one_day(home)
    one = timed_refresh(home)
    one.report(f"one new file ({name}, {DAILY_ROWS} rows)")
    print(
        f"\none-file refresh {one.seconds:.1f} s = {one.seconds / full.seconds:.0%} of the full refresh "
        f"({full.seconds:.1f} s); nothing new {again.seconds:.1f} s"
    )
    result = {"scale": args.scale, "seed": args.seed, "daily_rows": DAILY_ROWS}
    result |= {"full": full.as_json(), "nothing_new": again.as_json(), "one_file": one.as_json()}
    print(f"results: {write_result(f'incremental-{args.scale}', result)}")


if __name__ == "__main__":
    main()
