"""A month's audit programme made smaller without changing what it allows.

The same count published by two metrics is one relation x_i = x_j, and after such cells are one
column, many relations are repeated (a district's count in two metrics' tables). On the small
world's largest programme (a stock's chain of hidden months: 20,151 unknowns, 34,537
relations) merging the equal cells and dropping the repeats leaves 8,437 columns and 8,123
rows, and each LP takes a fifth of the time. Every feasible point maps to one of the smaller
programme and back, so every cell's least and greatest value are exactly what they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix, csc_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

Bounds = tuple[np.ndarray, np.ndarray]

# the key of a row (two fixed random weightings of its coefficients) only proposes repeats;
# each proposed repeat is checked against the row it repeats, coefficient by coefficient
ROW_KEY_SEED = 0


@dataclass(frozen=True)
class Programme:
    """a @ x = rhs over merged columns, with `truth` the true values and `column` the column of
    each original unknown."""

    a: csc_matrix
    rhs: np.ndarray
    truth: np.ndarray
    column: np.ndarray

    def bounds(self, lower: np.ndarray, upper: np.ndarray) -> Bounds:
        """Bounds of the original unknowns as bounds of the columns: a merged column is held by
        every bound on any of its cells."""
        n = len(self.truth)
        low, high = np.zeros(n), np.full(n, np.inf)
        np.maximum.at(low, self.column, lower)
        np.minimum.at(high, self.column, upper)
        return low, high


def smaller(a: csc_matrix, rhs: np.ndarray, truth: np.ndarray) -> Programme:
    """The programme with cells that a relation makes equal as one column, and without the
    relations left empty or repeated by that."""
    rows = a.tocsr()
    rows.eliminate_zeros()
    column = _equal_cells(rows, rhs)
    n = int(column.max()) + 1 if len(column) else 0
    merge = csc_matrix((np.ones(len(column)), (np.arange(len(column)), column)), shape=(len(column), n))
    merged = (a @ merge).tocsr()
    merged.eliminate_zeros()
    merged.sort_indices()
    merged_truth = np.zeros(n)
    merged_truth[column] = truth
    # an emptied row is 0 = 0 (the truth meets every relation), so only rows with members stay
    keep = (np.diff(merged.indptr) > 0) & ~_repeated_rows(merged, rhs)
    return Programme(merged[keep].tocsc(), rhs[keep], merged_truth, column)


def _equal_cells(a: csr_matrix, rhs: np.ndarray) -> np.ndarray:
    """Each unknown's class under the relations k * x_i - k * x_j = 0, numbered from 0."""
    two = np.flatnonzero((np.diff(a.indptr) == 2) & (rhs == 0))
    pairs = a[two].tocoo()
    order = np.lexsort((pairs.col, pairs.row))
    first, second = order[0::2], order[1::2]
    equal = pairs.data[first] == -pairs.data[second]
    n = a.shape[1]
    graph = coo_matrix((np.ones(int(equal.sum())), (pairs.col[first][equal], pairs.col[second][equal])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    return label


def _repeated_rows(a: csr_matrix, rhs: np.ndarray) -> np.ndarray:
    """Rows equal, coefficient by coefficient and in their right-hand side, to an earlier row
    (`a` with sorted indices, so equal rows give equal keys)."""
    if not a.shape[0]:
        return np.zeros(0, dtype=bool)
    weights = np.random.default_rng(ROW_KEY_SEED).random((a.shape[1], 2))
    keys = np.column_stack([a @ weights, rhs])
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    earlier = first[inverse.ravel()]
    proposed = np.flatnonzero(earlier != np.arange(a.shape[0]))
    difference = (a[proposed] - a[earlier[proposed]]).tocsr()
    difference.eliminate_zeros()
    repeated = np.zeros(a.shape[0], dtype=bool)
    repeated[proposed[np.diff(difference.indptr) == 0]] = True
    return repeated
