"""The suppression audit's shortcut (ranges seen from feasible points, LPs only where still
narrow) finds exactly the cells that two LPs per cell would."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.sparse import csc_matrix

from sihub.privacy.sdc_audit import pinned

THRESHOLD = 5


def _table_with_totals(rng: np.random.Generator, rows: int, cols: int, hidden: float):
    """A rows x cols table of counts with row, column and grand totals, some cells hidden:
    the matrix over the hidden cells, the right-hand side from the shown ones, the truth."""
    body = rng.integers(0, 12, size=(rows, cols))
    cells = np.zeros((rows + 1, cols + 1))
    cells[:rows, :cols] = body
    cells[rows, :cols], cells[:rows, cols], cells[rows, cols] = body.sum(0), body.sum(1), body.sum()
    equations = [[(i, j, 1.0) for j in range(cols)] + [(i, cols, -1.0)] for i in range(rows + 1)]
    equations += [[(i, j, 1.0) for i in range(rows)] + [(rows, j, -1.0)] for j in range(cols + 1)]
    unknown = rng.random(cells.shape) < hidden
    index = {cell: k for k, cell in enumerate(zip(*np.nonzero(unknown), strict=True))}
    a = np.zeros((len(equations), len(index)))
    rhs = np.zeros(len(equations))
    for e, members in enumerate(equations):
        for i, j, coef in members:
            if unknown[i, j]:
                a[e, index[(i, j)]] += coef
            else:
                rhs[e] -= coef * cells[i, j]
    truth = np.array([cells[cell] for cell in index])
    return a, rhs, truth


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
