"""The suppression audit's shortcuts (ranges seen from feasible points, LPs only where still
narrow; equal cells merged and repeated relations dropped) find exactly what two LPs per
cell over the whole programme would."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.sparse import csc_matrix

from sihub.privacy import sdc_audit
from sihub.privacy.sdc_audit import pinned, ranges
from sihub.privacy.sdc_programme import smaller

THRESHOLD = 5


def _totalled(rng: np.random.Generator, rows: int, cols: int) -> tuple[np.ndarray, list[list[tuple]]]:
    """A rows x cols table of counts with row, column and grand totals, and its relations
    (each a list of (row, column, coefficient))."""
    body = rng.integers(0, 12, size=(rows, cols))
    cells = np.zeros((rows + 1, cols + 1))
    cells[:rows, :cols] = body
    cells[rows, :cols], cells[:rows, cols], cells[rows, cols] = body.sum(0), body.sum(1), body.sum()
    equations = [[(i, j, 1.0) for j in range(cols)] + [(i, cols, -1.0)] for i in range(rows + 1)]
    equations += [[(i, j, 1.0) for i in range(rows)] + [(rows, j, -1.0)] for j in range(cols + 1)]
    return cells, equations


def _programme(equations: list[list[tuple]], hidden: np.ndarray, value) -> tuple[np.ndarray, ...]:
    """The matrix over the hidden cells (members keyed as `hidden`'s indices), the right-hand
    side from the shown ones, the truth."""
    index = {cell: k for k, cell in enumerate(zip(*np.nonzero(hidden), strict=True))}
    a, rhs = np.zeros((len(equations), len(index))), np.zeros(len(equations))
    for e, members in enumerate(equations):
        for *cell, coef in members:
            if hidden[tuple(cell)]:
                a[e, index[tuple(cell)]] += coef
            else:
                rhs[e] -= coef * value(cell)
    return a, rhs, np.array([value(cell) for cell in index])


def _table_with_totals(rng: np.random.Generator, rows: int, cols: int, hidden: float):
    """A table with totals (`_totalled`), some cells hidden, as a programme."""
    cells, equations = _totalled(rng, rows, cols)
    return _programme(equations, rng.random(cells.shape) < hidden, lambda cell: cells[cell[0], cell[1]])


def _narrow_by_brute_force(a: np.ndarray, rhs: np.ndarray, candidates: np.ndarray) -> set[int]:
    narrow = set()
    for j in candidates:
        cost = np.zeros(a.shape[1])
        cost[j] = 1.0
        low = linprog(cost, A_eq=a, b_eq=rhs, bounds=(0, None))
        high = linprog(-cost, A_eq=a, b_eq=rhs, bounds=(0, None))
        if high.status == 0 and -high.fun - low.fun <= THRESHOLD + 1e-9:
            narrow.add(int(j))
    return narrow


@pytest.mark.parametrize("seed", range(12))
def test_the_audit_pins_exactly_the_cells_two_lps_per_cell_pin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, rhs, truth = _table_with_totals(rng, rows=int(rng.integers(2, 7)), cols=int(rng.integers(2, 6)), hidden=0.35)
    candidates = np.flatnonzero(rng.random(len(truth)) < 0.7)
    expected = _narrow_by_brute_force(a, rhs, candidates)
    assert set(pinned(csc_matrix(a), rhs, truth, candidates, THRESHOLD).tolist()) == expected


def test_the_seeds_cover_both_pinned_and_safe_cells() -> None:
    """Guard on the test above: its tables must hold cells of both kinds to mean anything."""
    pinned_total = safe_total = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        a, rhs, _ = _table_with_totals(rng, rows=int(rng.integers(2, 7)), cols=int(rng.integers(2, 6)), hidden=0.35)
        candidates = np.flatnonzero(rng.random(a.shape[1]) < 0.7)
        narrow = _narrow_by_brute_force(a, rhs, candidates)
        pinned_total += len(narrow)
        safe_total += len(candidates) - len(narrow)
    assert pinned_total > 5 and safe_total > 5


def test_a_cell_whose_range_the_solver_cannot_settle_counts_as_pinned() -> None:
    """Safe means shown to range wider than the threshold; a model HiGHS cannot solve (here
    one no count can satisfy: a cell equal to -3) shows nothing, so its candidates are pinned."""
    a = csc_matrix(np.array([[1.0, 0.0], [0.0, 1.0]]))
    rhs, truth = np.array([-3.0, 4.0]), np.array([-3.0, 4.0])
    assert set(pinned(a, rhs, truth, np.array([0, 1]), THRESHOLD).tolist()) == {0, 1}


def _one_table_in_two_metrics(rng: np.random.Generator):
    """A table with totals (`_totalled`) published by two metrics, each hiding its own cells,
    with the relations of both tables and x = y between each cell and its copy, as the audit
    reads them (relations with a hidden member)."""
    cells, table = _totalled(rng, int(rng.integers(2, 6)), int(rng.integers(2, 5)))
    equations = [[(copy, i, j, c) for i, j, c in eq] for copy in (0, 1) for eq in table]
    equations += [[(0, i, j, 1.0), (1, i, j, -1.0)] for i, j in np.ndindex(cells.shape)]
    a, rhs, truth = _programme(equations, rng.random((2, *cells.shape)) < 0.5, lambda cell: cells[cell[1], cell[2]])
    keep = np.abs(a).sum(axis=1) > 0
    return a[keep], rhs[keep], truth


def _ranges_by_brute_force(a: np.ndarray, rhs: np.ndarray, lower: np.ndarray, upper: np.ndarray):
    bounds = list(zip(lower, [None if np.isinf(u) else u for u in upper], strict=True))
    low, high = [], []
    for j in range(a.shape[1]):
        cost = np.zeros(a.shape[1])
        cost[j] = 1.0
        low.append(linprog(cost, A_eq=a, b_eq=rhs, bounds=bounds).fun)
        top = linprog(-cost, A_eq=a, b_eq=rhs, bounds=bounds)
        high.append(np.inf if top.status == 3 else -top.fun)
    return np.array(low), np.array(high)


def _assert_ranges_are(low: np.ndarray, high: np.ndarray, expected_low: np.ndarray, expected_high: np.ndarray) -> None:
    """Each range as linprog finds it: the least to 1e-6, the greatest infinite where linprog's
    is, and to 1e-6 where it is not."""
    assert np.allclose(low, expected_low, atol=1e-6)
    assert np.array_equal(np.isinf(high), np.isinf(expected_high))
    assert np.allclose(high[np.isfinite(expected_high)], expected_high[np.isfinite(expected_high)], atol=1e-6)


@pytest.mark.parametrize("part", [sdc_audit.PART, 3])
@pytest.mark.parametrize("seed", range(10))
def test_the_smaller_programme_gives_every_hidden_cell_the_range_it_had(
    seed: int, part: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Merged equal cells, dropped repeats, the LPs `ranges` spares (a cell seen at a bound)
    and its parts ranged side by side change no range: each hidden cell's least and greatest
    value, some cells bounded from outside (as county headlines bound a month), as linprog
    finds them over the whole programme."""
    monkeypatch.setattr(sdc_audit, "PART", part)  # parts of 3 columns: every programme here is split
    rng = np.random.default_rng(seed)
    a, rhs, truth = _one_table_in_two_metrics(rng)
    lower, upper = np.zeros(len(truth)), np.full(len(truth), np.inf)
    bounded = rng.random(len(truth)) < 0.2
    lower[bounded] = np.maximum(truth[bounded] - rng.integers(0, 3, bounded.sum()), 0)
    upper[bounded] = truth[bounded] + rng.integers(0, 3, bounded.sum())
    expected_low, expected_high = _ranges_by_brute_force(a, rhs, lower, upper)
    p = smaller(csc_matrix(a), rhs, truth)
    low, high = ranges(p.a, p.rhs, np.arange(len(p.truth)), p.truth, p.bounds(lower, upper))
    _assert_ranges_are(low[p.column], high[p.column], expected_low, expected_high)


def test_the_seeds_make_the_programme_smaller() -> None:
    """Guard on the test above: its programmes must have equal cells and repeats to merge."""
    before = after = 0
    for seed in range(10):
        a, rhs, truth = _one_table_in_two_metrics(np.random.default_rng(seed))
        p = smaller(csc_matrix(a), rhs, truth)
        before, after = before + a.shape[0] + a.shape[1], after + p.a.shape[0] + p.a.shape[1]
    assert after < 0.8 * before


@pytest.mark.parametrize("seed", range(8))
def test_cells_with_no_greatest_value_are_the_ones_linprog_finds_unbounded(seed: int) -> None:
    """Most of a table hidden, totals included, leaves cells that could be any size: `ranges`
    finds them all with one LP (`_open_above`); each cell's range must still be what linprog
    finds over the programme, some cells capped from outside (as county headlines cap a month)."""
    rng = np.random.default_rng(seed)
    a, rhs, truth = _table_with_totals(rng, rows=int(rng.integers(3, 7)), cols=int(rng.integers(3, 6)), hidden=0.8)
    lower, upper = np.zeros(len(truth)), np.full(len(truth), np.inf)
    capped = rng.random(len(truth)) < 0.15
    upper[capped] = truth[capped] + rng.integers(0, 4, capped.sum())
    expected_low, expected_high = _ranges_by_brute_force(a, rhs, lower, upper)
    low, high = ranges(csc_matrix(a), rhs, np.arange(len(truth)), truth, (lower, upper))
    _assert_ranges_are(low, high, expected_low, expected_high)


def test_the_seeds_leave_cells_both_open_and_capped_above() -> None:
    """Guard on the test above: its tables must hold cells with no greatest value and cells with one."""
    open_total = capped_total = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        a, rhs, truth = _table_with_totals(rng, rows=int(rng.integers(3, 7)), cols=int(rng.integers(3, 6)), hidden=0.8)
        _, high = _ranges_by_brute_force(a, rhs, np.zeros(len(truth)), np.full(len(truth), np.inf))
        open_total += int(np.isinf(high).sum())
        capped_total += int(np.isfinite(high).sum())
    assert open_total > 10 and capped_total > 10


def test_a_truth_off_by_one_at_a_large_total_is_not_taken_for_a_point_a_reader_could_hold() -> None:
    """The shortcuts trust the truth as a feasible point only where it meets every relation
    exactly: x1 + x2 = 200,001 and x1 + x3 = 200,000 with x2 and x3 capped at 100,000, and a
    truth of 100,000 each (off by one against a total of 200,000, within a relative tolerance),
    leave x3 at most 99,999, as linprog finds."""
    a = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    rhs, truth = np.array([200_001.0, 200_000.0]), np.full(3, 100_000.0)
    lower, upper = np.zeros(3), np.array([np.inf, 100_000.0, 100_000.0])
    expected_low, expected_high = _ranges_by_brute_force(a, rhs, lower, upper)
    low, high = ranges(csc_matrix(a), rhs, np.arange(3), truth, (lower, upper))
    assert expected_high[2] == pytest.approx(99_999.0)
    assert np.allclose(low, expected_low) and np.allclose(high, expected_high)


def test_kept_ranges_answer_a_programme_asked_before_and_solve_any_other_afresh(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A protection's ranges kept in the store answer the same programme on the next night
    without a solve; a programme differing in one bound is solved afresh; each answer is
    linprog's for the programme asked; the table then holds only what the last block asked,
    and a block that fails keeps nothing of its own."""
    solved = []
    solve = sdc_audit._solved
    monkeypatch.setattr(sdc_audit, "_solved", lambda *args: solved.append(1) or solve(*args))
    asks = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        a, rhs, truth = _table_with_totals(rng, rows=4, cols=4, hidden=0.5)
        asks.append((csc_matrix(a), rhs, truth, np.zeros(len(truth)), np.full(len(truth), np.inf)))
    # the third again with one column capped at its true value, below the greatest it could be
    a, rhs, truth, lower, upper = asks[2]
    _, high = _ranges_by_brute_force(a.toarray(), rhs, lower, upper)
    j = int(np.flatnonzero(high > truth + 0.5)[0])
    capped = upper.copy()
    capped[j] = truth[j]
    changed = (a, rhs, truth, lower, capped)

    def ask(programme) -> None:
        a, rhs, truth, lower, upper = programme
        low, high = ranges(a, rhs, np.arange(len(truth)), truth, (lower, upper))
        expected_low, expected_high = _ranges_by_brute_force(a.toarray(), rhs, lower, upper)
        _assert_ranges_are(low, high, expected_low, expected_high)

    with duckdb.connect(str(tmp_path / "shared.duckdb")) as con:
        table = "main.sdc_ranges_kept"
        with sdc_audit.kept_ranges(con, table, load=False, save=True):
            for programme in asks:
                ask(programme)
            ask(asks[0])  # asked again within the block
        assert len(solved) == 4
        with sdc_audit.kept_ranges(con, table, load=True, save=True):
            ask(asks[0])
            ask(asks[1])
            ask(changed)
        assert len(solved) == 5  # the changed one alone
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 3
        with pytest.raises(RuntimeError), sdc_audit.kept_ranges(con, table, load=True, save=True):
            ask(asks[3])
            raise RuntimeError("a protection that fails part-way")
        assert len(solved) == 6 and con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 3
        with sdc_audit.kept_ranges(con, table, load=False, save=False):
            ask(asks[0])  # not loaded: a basis that changed keeps nothing from before
        ask(asks[0])  # outside any block, nothing is kept
        assert len(solved) == 8


def test_kept_ranges_that_are_not_whole_or_miss_the_truth_are_solved_again(tmp_path) -> None:
    """A kept row with a missing value, ranges of unequal or wrong length, or a range that
    leaves out the true value (no range can) is not taken: the programme is solved again, as
    linprog finds it; and one block at a time in a process."""
    rng = np.random.default_rng(3)
    a, rhs, truth = _table_with_totals(rng, rows=4, cols=4, hidden=0.5)
    n = len(truth)
    bounds = (np.zeros(n), np.full(n, np.inf))
    expected_low, expected_high = _ranges_by_brute_force(a, rhs, *bounds)
    digest = sdc_audit._programme(csc_matrix(a), rhs, np.arange(n, dtype=np.int32), truth, bounds)
    wrong = [
        ([None] * n, [1.0] * n),
        ([0.0] * n, [1.0] * (n - 1)),
        ([0.0] * (n + 1), [1.0] * (n + 1)),
        ((truth + 1).tolist(), (truth + 2).tolist()),
    ]
    with duckdb.connect(str(tmp_path / "shared.duckdb")) as con:
        for low, high in wrong:
            con.execute("CREATE OR REPLACE TABLE kept (digest BLOB, low DOUBLE[], high DOUBLE[])")
            con.execute("INSERT INTO kept VALUES (?, ?, ?)", [digest, low, high])
            with sdc_audit.kept_ranges(con, "main.kept", load=True, save=False):
                found_low, found_high = ranges(csc_matrix(a), rhs, np.arange(n), truth)
                with pytest.raises(RuntimeError), sdc_audit.kept_ranges(con, "main.kept", load=True, save=False):
                    pass
            _assert_ranges_are(found_low, found_high, expected_low, expected_high)
