"""A contract's raw Great Expectations run by GX on new rows in batches: the verdict and
counts are those of the whole delivery at once, recomputed here with pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sihub.core.contracts import RawExpectation, load_contracts
from sihub.validation.data_docs import run_raw_expectations

ATTENDANCE = next(c for c in load_contracts() if c.table == "education__attendance")


def _with(*expectations: RawExpectation):
    return ATTENDANCE.model_copy(update={"expectations": list(expectations)})


def _rows(n: int = 2_000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 100, n).astype(float)
    b = a - rng.integers(0, 10, n)
    b[rng.random(n) < 0.06] += 50  # about 6% break a >= b
    a[rng.random(n) < 0.03] = np.nan  # a missing: breaks it too
    both = rng.random(n) < 0.02
    a[both], b[both] = np.nan, np.nan  # both missing: not counted (GX's ignore_row_if default)
    return pd.DataFrame({"sessions_possible": a, "unauthorised_absence": b})


def _batches(frame: pd.DataFrame, size: int = 300):
    return (frame.iloc[i : i + size] for i in range(0, len(frame), size))


def test_row_wise_expectations_in_batches_give_the_whole_delivery_verdict() -> None:
    frame = _rows()
    both_missing = frame.isna().all(axis=1)
    judged = frame[~both_missing]
    broken = int((~(judged["sessions_possible"] >= judged["unauthorised_absence"])).sum())
    share_kept = (len(judged) - broken) / len(judged)
    assert 0.85 < share_kept < 0.95  # the data straddle the two `mostly` values below
    for mostly, passes in ((0.8, True), (0.97, False)):
        pair = RawExpectation(
            type="expect_column_pair_values_a_to_be_greater_than_b",
            kwargs={
                "column_A": "sessions_possible",
                "column_B": "unauthorised_absence",
                "or_equal": True,
                "mostly": mostly,
            },
        )
        (in_batches,) = run_raw_expectations(_with(pair), _batches(frame))
        (at_once,) = run_raw_expectations(_with(pair), [frame])
        assert in_batches.passed is at_once.passed is passes
        assert in_batches.metadata == at_once.metadata == {"unexpected_count": broken, "rows": len(frame)}


def test_an_expectation_on_the_whole_delivery_sees_all_its_rows_at_once() -> None:
    frame = _rows()
    mean = frame["sessions_possible"].mean()
    around = RawExpectation(
        type="expect_column_mean_to_be_between",
        kwargs={"column": "sessions_possible", "min_value": mean - 0.5, "max_value": mean + 0.5},
    )
    first_batch_mean = frame["sessions_possible"].iloc[:300].mean()
    assert abs(first_batch_mean - mean) > 0.5  # a batch alone would be judged differently
    (outcome,) = run_raw_expectations(_with(around), _batches(frame))
    assert outcome.passed


def test_a_night_with_no_new_rows_judges_nothing_and_fails_nothing() -> None:
    """No delivery, no rows to judge: a whole-delivery expectation (which, over no rows, GX
    could not even be given a frame for) passes with no rows, as a row-wise one does."""
    around = RawExpectation(
        type="expect_column_mean_to_be_between", kwargs={"column": "sessions_possible", "min_value": 1, "max_value": 2}
    )
    pair = RawExpectation(
        type="expect_column_pair_values_a_to_be_greater_than_b",
        kwargs={"column_A": "sessions_possible", "column_B": "unauthorised_absence"},
    )
    outcomes = run_raw_expectations(_with(around, pair), iter([]))
    assert [(o.passed, o.metadata) for o in outcomes] == [(True, {"unexpected_count": 0, "rows": 0})] * 2
