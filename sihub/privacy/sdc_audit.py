"""The audit of a suppression pattern, by linear programming: what a reader could work out.

Complementary suppression chosen relation by relation can still leave a hidden cell pinned
by several relations together (in a table of districts by age band, a chain of hidden cells
with no cycle is solvable). So every month's pattern is audited as a whole: for each hidden
cell, the least and greatest value consistent with everything shown in the same metric,
count and month (the only cells it shares a relation with, but for a stock and its flows,
whose months meet through a hidden month of the stock, and a count another metric publishes
months later), with counts known to be
non-negative. A small count (1 to the threshold) whose range is no wider than the threshold
fails. A cell hidden only to protect others (a complement, 0 or above the threshold) may be
worked out: what must never be is a small count, and the programme already holds all that the
complements' values could tell about one.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb
import highspy
import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix, csc_matrix, hstack, identity, vstack
from scipy.sparse.csgraph import connected_components

from sihub.privacy.sdc_programme import Bounds, Programme, smaller

UNKNOWN = "(c.suppressed OR c.hidden)"


# the month groups whose hidden cells share a relation reaching across groups (a stock's, or a
# count published months apart: relations with signs, `NOT sums`) with the given groups' hidden cells
REACH_SQL = """
SELECT DISTINCT y.grp
FROM sdc_members a JOIN sdc_cells x ON x.cell_id = a.cell_id
JOIN sdc_members b ON b.eq_id = a.eq_id JOIN sdc_cells y ON y.cell_id = b.cell_id
WHERE NOT a.sums AND x.grp IN (SELECT unnest(?::BIGINT[])) AND y.grp NOT IN (SELECT unnest(?::BIGINT[]))
  AND (x.suppressed OR x.hidden) AND (y.suppressed OR y.hidden)
"""


def _reach(con: duckdb.DuckDBPyConnection, groups: list[int]) -> list[int]:
    """The groups and every group reached from them through hidden cells, and so on: a stock's
    month shares its relation with the month before, and a count published months apart with
    its other month, so a hidden cell in either joins the two."""
    reached, new = set(groups), list(groups)
    while new:
        new = [g for (g,) in con.execute(REACH_SQL, [new, sorted(reached)]).fetchall()]
        reached.update(new)
    return sorted(reached)


def _relations(con: duckdb.DuckDBPyConnection, groups: list[int]) -> dict[str, np.ndarray]:
    """Every member of every relation with a hidden member in the given month groups, or in a
    group their hidden cells reach (`_reach`)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sdc_audit_groups AS SELECT unnest(?::BIGINT[]) AS grp", [_reach(con, groups)]
    )
    return con.execute(
        f"""
        WITH touched AS (
            SELECT DISTINCT m.eq_id FROM sdc_members m JOIN sdc_cells c USING (cell_id)
            WHERE {UNKNOWN} AND c.grp IN (SELECT grp FROM sdc_audit_groups)
        )
        SELECT m.eq_id, m.cell_id, c.grp, m.coef, CAST(c.value AS DOUBLE) AS value, {UNKNOWN} AS unknown
        FROM sdc_members m JOIN touched USING (eq_id) JOIN sdc_cells c USING (cell_id)
        """
    ).fetchnumpy()


@functools.cache
def _quiet() -> None:
    """HiGHS prints a banner to standard output when the first solver is made; swallow it,
    so the command line's progress display stays clean."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _solver(a: csc_matrix, rhs: np.ndarray, bounds: Bounds | None = None) -> highspy.Highs:
    """A HiGHS model of a @ x = rhs with x within bounds (x >= 0 unless given) and no
    objective yet; kept across the solves of one month, so each starts from the last one's basis."""
    lower, upper = _with_defaults(a.shape[1], bounds)
    solver = _highs_serial()
    # each solve changes only the objective, so the last basis stays feasible: primal simplex
    # from it, with no presolve to set it aside (tiny models; measured faster on the county's)
    solver.setOptionValue("presolve", "off")
    solver.setOptionValue("simplex_strategy", 4)
    solver.passModel(_model(a, (rhs, rhs), (lower, upper), np.zeros(a.shape[1])))
    return solver


def _model(a: csc_matrix, rows: Bounds, columns: Bounds, cost: np.ndarray) -> highspy.HighsLp:
    """The HiGHS model of rows[0] <= a @ x <= rows[1], x within `columns` (infinite bounds
    allowed), minimising cost @ x unless its sense is changed."""
    model = highspy.HighsLp()
    model.num_col_, model.num_row_ = a.shape[1], a.shape[0]
    model.col_cost_, model.col_lower_, model.col_upper_ = cost, _highs(columns[0]), _highs(columns[1])
    model.row_lower_, model.row_upper_ = _highs(rows[0]), _highs(rows[1])
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_, model.a_matrix_.index_, model.a_matrix_.value_ = a.indptr, a.indices, a.data
    return model


def _feasible(a: csc_matrix, rhs: np.ndarray, truth: np.ndarray, bounds: Bounds) -> bool:
    """Whether the truth meets the programme exactly (counts are whole numbers, exact in floating
    point: a tolerance relative to the totals would let a truth off by one pass at county scale)."""
    lower, upper = bounds
    within = bool(np.all(truth >= lower - 1e-9) and np.all(truth <= upper + 1e-9))
    return within and bool(np.all(np.abs(a @ truth - rhs) <= 1e-9))


def _highs_serial() -> highspy.Highs:
    """A quiet HiGHS with no threads of its own: the models are small and solved one after
    another (the parallelism is `ranges`' parts), and each thread's HiGHS would otherwise start a
    pool of workers per core."""
    _quiet()
    solver = highspy.Highs()
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("threads", 1)
    return solver


def _with_defaults(n: int, bounds: Bounds | None) -> Bounds:
    lower, upper = bounds if bounds is not None else (np.zeros(n), np.full(n, np.inf))
    return np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)


def _highs(bound: np.ndarray) -> np.ndarray:
    """Bounds as HiGHS takes them (its own infinity)."""
    return np.clip(bound, -highspy.kHighsInf, highspy.kHighsInf)


# the truth is feasible, so "unbounded or infeasible" is unbounded
UNBOUNDED = (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible)


# mixed sweeps, each one LP, run while each still opens a range (the signs only choose which
# feasible points are seen, never the result; fixed, so a run can be repeated exactly)
SWEEP_SEED = 0


class _Search:
    """A HiGHS model of a @ x = rhs within bounds (x >= 0 unless given), and the least and
    greatest value of each column over every feasible point its solves have found (the truth
    first, where it is one). Every range holds what is seen, so a column seen at a bound has
    that bound as its optimum there and needs no LP of its own for it."""

    def __init__(self, a: csc_matrix, rhs: np.ndarray, truth: np.ndarray, bounds: Bounds | None) -> None:
        self.a, self.rhs, n = a, rhs, a.shape[1]
        self.lower, self.upper = _with_defaults(n, bounds)
        self.solver = _solver(a, rhs, (self.lower, self.upper))
        feasible = _feasible(a, rhs, truth, (self.lower, self.upper))
        self.low = truth.astype(float) if feasible else np.full(n, np.inf)
        self.high = truth.astype(float) if feasible else np.full(n, -np.inf)

    def optimum(
        self, columns: np.ndarray, sense: highspy.ObjSense, weights: np.ndarray | None = None
    ) -> tuple[highspy.HighsModelStatus, np.ndarray]:
        """Optimise the (weighted) sum of the columns; returns the model status and the columns'
        values, both read before the costs are put back (which resets them)."""
        chosen = np.asarray(columns, dtype=np.int32)
        solver = self.solver
        solver.changeColsCost(len(chosen), chosen, np.ones(len(chosen)) if weights is None else weights)
        solver.changeObjectiveSense(sense)
        solver.run()
        status, x = solver.getModelStatus(), np.asarray(solver.getSolution().col_value)
        if status == highspy.HighsModelStatus.kOptimal:
            np.minimum(self.low, x, out=self.low)
            np.maximum(self.high, x, out=self.high)
        solver.changeColsCost(len(chosen), chosen, np.zeros(len(chosen)))
        return status, x[chosen]

    def restart(self) -> None:
        """A fresh model, without the last basis (for a solve HiGHS could not settle from it)."""
        self.solver = _solver(self.a, self.rhs, (self.lower, self.upper))

    def at_least(self, j: int) -> bool:
        return bool(self.low[j] <= self.lower[j] + 1e-9)  # LP optima exact to ~1e-9

    def at_most(self, j: int) -> bool:
        return bool(np.isfinite(self.upper[j]) and self.high[j] >= self.upper[j] - 1e-9)


def pinned(
    a: csc_matrix,
    rhs: np.ndarray,
    truth: np.ndarray,
    candidates: np.ndarray,
    threshold: int,
    bounds: Bounds | None = None,
) -> np.ndarray:
    """The candidates (column indices) whose range under a @ x = rhs, x >= 0 (or within
    `bounds`) is no wider than the threshold.

    Each candidate's range could take two LPs (least and greatest value), but every feasible
    point seen bounds every range from inside at once: the true values are one, each LP's
    optimum another. A candidate already seen to vary by more than the threshold is safe
    without its own LPs. Two opening sweeps (all candidates pushed down, then up) settle many;
    but where candidates share a shown total, pushing all one way moves none, so sweeps with
    mixed signs follow (some pushed up, others down), each capping the candidates just beyond
    anything seen so that none runs away unbounded. A cap only narrows what is feasible, so
    every point a sweep finds is one a reader could hold. Only the candidates still narrow
    after the sweeps get LPs of their own."""
    if not len(candidates):
        return np.array([], dtype=int)
    search = _Search(a, rhs, truth, bounds)
    lower, upper = search.lower, search.upper

    def narrow(columns: np.ndarray) -> np.ndarray:
        return columns[search.high[columns] - search.low[columns] <= threshold + 1e-9]  # LP optima exact to ~1e-9

    def mixed_sweep(columns: np.ndarray, weights: np.ndarray) -> None:
        capped = np.minimum(upper[columns], search.high[columns] + threshold + 1)  # every point seen stays feasible
        search.solver.changeColsBounds(len(columns), columns, lower[columns], capped)
        search.optimum(columns, highspy.ObjSense.kMaximize, weights)
        search.solver.changeColsBounds(len(columns), columns, lower[columns], _highs(upper[columns]))

    candidates = candidates.astype(np.int32)
    search.optimum(candidates, highspy.ObjSense.kMinimize)
    search.optimum(candidates, highspy.ObjSense.kMaximize)
    signs = np.random.default_rng(SWEEP_SEED)
    left = narrow(candidates)
    while len(left) > 1:
        mixed_sweep(left, signs.choice([-1.0, 1.0], size=len(left)))
        still = narrow(left)
        if len(still) == len(left):
            break
        left = still
    found = []
    for j in left:
        column = np.array([j], dtype=np.int32)
        if not search.at_least(j):  # else it is seen at its least already
            search.optimum(column, highspy.ObjSense.kMinimize)
            if narrow(column).size == 0:
                continue
        # unbounded above is open; a solve that settles nothing proves nothing, so the cell counts as pinned
        if search.optimum(column, highspy.ObjSense.kMaximize)[0] not in UNBOUNDED and narrow(column).size:
            found.append(j)
    return np.array(found, dtype=int)


@dataclass(frozen=True)
class MonthModel:
    """One month's relations over its unknown cells (`variables`, cell ids), as the smaller
    programme (`sdc_programme`) in which each cell is a column."""

    programme: Programme
    variables: np.ndarray

    def bounds(self, limits: dict[int, tuple[float, float]]) -> Bounds:
        """x >= 0, narrowed where `limits` knows more about a cell (from outside the month)."""
        lower, upper = np.zeros(len(self.variables)), np.full(len(self.variables), np.inf)
        for i, cell in enumerate(self.variables.tolist()):
            if cell in limits:
                lower[i], upper[i] = limits[cell]
        return self.programme.bounds(lower, upper)

    def columns(self, cells: np.ndarray) -> np.ndarray:
        """The programme's columns holding the given cells (a mask over `variables`)."""
        return np.unique(self.programme.column[cells])


def _month_models(con: duckdb.DuckDBPyConnection, groups: list[int]) -> Iterator[MonthModel]:
    """One model per month group, joined where hidden cells share a relation across groups (a
    stock's months, through a hidden month of the stock): the connected parts of the smaller
    programme (`sdc_programme`, made once for them all), each in the model of the least group
    it reaches."""
    rel = _relations(con, groups)
    eq, cell, coef, value, unknown = (rel[k] for k in ("eq_id", "cell_id", "coef", "value", "unknown"))
    eq_codes, eqs = _codes(eq)
    rhs = -np.bincount(eq_codes[~unknown], weights=(coef * value)[~unknown], minlength=len(eqs))
    var_codes, variables = _codes(cell[unknown])
    a = csc_matrix((coef[unknown], (eq_codes[unknown], var_codes)), shape=(len(eqs), len(variables)))
    truth, group = np.zeros(len(variables)), np.zeros(len(variables), dtype=np.int64)
    truth[var_codes], group[var_codes] = value[unknown], rel["grp"][unknown]
    whole = smaller(a, rhs, truth)
    n_eq, n_col = whole.a.shape
    links = whole.a.tocoo()
    graph = coo_matrix((np.ones(links.nnz), (links.row, n_eq + links.col)), shape=(n_eq + n_col, n_eq + n_col))
    _, label = connected_components(graph, directed=False)
    first = np.full(label.max() + 1 if len(label) else 0, np.iinfo(np.int64).max)
    np.minimum.at(first, label[n_eq + whole.column], group)
    col_model, eq_model = first[label[n_eq:]], first[label[:n_eq]]
    var_model = col_model[whole.column]
    position = np.zeros(n_col, dtype=np.int64)  # each column's place in its own model
    by_row = whole.a.tocsr()
    for rows, columns, cells in zip(*_split(var_model, eq_model, col_model, var_model), strict=True):
        position[columns] = np.arange(len(columns))
        part = by_row[rows][:, columns].tocsc()
        yield MonthModel(
            Programme(part, whole.rhs[rows], whole.truth[columns], position[whole.column[cells]]), variables[cells]
        )


def failing_cells(
    con: duckdb.DuckDBPyConnection,
    groups: list[int],
    threshold: int,
    limits: dict[int, tuple[float, float]] | None = None,
    cleared: set[int] | None = None,
) -> list[int]:
    """Hidden small counts (1 to the threshold) in the month groups that a reader could pin
    within the threshold, where
    `limits` bounds some cells by what a reader learns outside their month (county headlines).

    Hiding more only widens what a reader can hold (a shown count becomes one more unknown), so
    under the same limits a count once found open stays open: those in `cleared` are not
    judged again, and every count found open here is added to it."""
    cleared = set() if cleared is None else cleared
    models = list(_month_models(con, groups))
    protect = dict(
        con.execute(
            f"SELECT cell_id, c.value BETWEEN 1 AND {int(threshold)} FROM sdc_cells c "
            f"WHERE {UNKNOWN} AND c.grp IN (SELECT grp FROM sdc_audit_groups)"
        ).fetchall()
    )
    failing = []
    for m in models:
        candidates = np.array([protect.get(c, False) and c not in cleared for c in m.variables.tolist()], dtype=bool)
        if not candidates.any():
            continue
        p, bounds = m.programme, m.bounds(limits) if limits else None
        held = np.isin(p.column, pinned(p.a, p.rhs, p.truth, m.columns(candidates), threshold, bounds))
        failing += [int(c) for c in m.variables[candidates & held]]
        cleared.update(m.variables[candidates & ~held].tolist())
    return failing


# columns one search ranges: a larger ask is split in parts of this many, each its own search,
# ranged side by side (HiGHS lets go of the GIL while it solves); fixed, so how a programme is
# split, and so every value found, is the same on any machine
PART = 256


@functools.cache
def _workers() -> ThreadPoolExecutor:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return ThreadPoolExecutor(max_workers=cpus, thread_name_prefix="sdc-ranges")


# a forked process (a step process of the multiprocess executor) inherits the pool but not its
# threads: work given to it would wait for ever, so the child makes its own
if hasattr(os, "register_at_fork"):  # not on Windows, which never forks
    os.register_at_fork(after_in_child=_workers.cache_clear)


@dataclass
class _Block:
    """A `kept_ranges` block: the ranges the last protection kept (each checked when first
    asked), and those asked in the block, found or kept, by programme digest (`_programme`)."""

    kept: dict[bytes, Bounds]
    asked: dict[bytes, Bounds] = field(default_factory=dict)

    def answer(self, key: bytes, truth: np.ndarray) -> Bounds | None:
        if key in self.asked:
            return self.asked[key]
        found = self.kept.pop(key, None)
        return found if found is not None and _holds(found, truth) else None


_block: _Block | None = None  # the open `kept_ranges` block, one at a time in a process
_recordings: list[dict[bytes, Bounds]] = []  # the open `asking` blocks, innermost last


@contextmanager
def kept_ranges(con: duckdb.DuckDBPyConnection, table: str, load: bool, save: bool) -> Iterator[None]:
    """For the block, `ranges` answers a programme it has answered before without solving it
    again: one asked earlier in the block, or, with `load`, one the last protection kept in
    `table` (a qualified name). A night re-judges mostly the programmes of the night before,
    unchanged: the months and places its delivery did not touch. With `save`, once the block
    has run to its end, `table` holds what the block asked for, and only that (it never holds
    more than one protection's). A programme is its every number, so one differing anywhere
    (a count, a shown cell, a bound, the true values) is a different programme."""
    global _block
    if _block is not None:
        raise RuntimeError("kept_ranges: a block is already open in this process")
    _block = _Block(dict(_kept(con, table)) if load else {})
    try:
        yield
        if save:
            asked = _block.asked
            columns = {
                "digest": pa.array(list(asked), pa.binary()),
                "low": pa.array([lo.tolist() for lo, _ in asked.values()], pa.list_(pa.float64())),
                "high": pa.array([hi.tolist() for _, hi in asked.values()], pa.list_(pa.float64())),
            }
            con.register("_asked_ranges", pa.table(columns))
            con.execute(f"CREATE OR REPLACE TABLE {table} AS FROM _asked_ranges")
            con.unregister("_asked_ranges")
    finally:
        _block = None


@contextmanager
def asking() -> Iterator[dict[bytes, Bounds]]:
    """The programmes `ranges` answers within the block, by digest, with their ranges: a
    caller that keeps its own results built on them (a headline judgement) hands them back
    with `asked_again` when it reuses one, so a `kept_ranges` block keeps them all the same."""
    found: dict[bytes, Bounds] = {}
    _recordings.append(found)
    try:
        yield found
    finally:
        _recordings.pop()


def asked_again(found: dict[bytes, Bounds]) -> None:
    """Programmes answered before (`asking`), asked again without `ranges`."""
    for key, bounds in found.items():
        if _block is not None:
            _block.asked[key] = bounds
        for recording in _recordings:
            recording[key] = bounds


def _kept(con: duckdb.DuckDBPyConnection, table: str) -> Iterator[tuple[bytes, Bounds]]:
    """The ranges kept in `table`, each whole: a row with a missing value or unequal lengths
    is left out, and so solved again."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} (digest BLOB, low DOUBLE[], high DOUBLE[])")
    for digest, low, high in con.execute(f"SELECT digest, low, high FROM {table}").fetchall():
        if digest is None or low is None or high is None or len(low) != len(high):
            continue
        low, high = np.array(low, dtype=float), np.array(high, dtype=float)
        if not (np.isnan(low).any() or np.isnan(high).any()):
            yield bytes(digest), (low, high)


def _holds(found: Bounds, truth: np.ndarray) -> bool:
    """Whether kept ranges can answer for columns whose true values are `truth`: one range
    each, holding the true value (what every range must)."""
    low, high = found
    return len(low) == len(truth) and bool(np.all(low <= truth + 1e-6) and np.all(truth <= high + 1e-6))


def _programme(a: csc_matrix, rhs: np.ndarray, asked: np.ndarray, truth: np.ndarray, bounds: Bounds) -> bytes:
    """A digest of everything `ranges` reads, each array with its length, and of the solver's
    version and how asks are split (the code itself is in the protection's basis)."""
    h = hashlib.blake2b(f"{_highs_version()}|{PART}|{a.shape}".encode())
    for part, kind in ((a.indptr, np.int64), (a.indices, np.int64), (a.data, float), (rhs, float),
                       (asked, np.int64), (truth, float), (bounds[0], float), (bounds[1], float)):  # fmt: skip
        values = np.ascontiguousarray(part, dtype=kind)
        h.update(len(values).to_bytes(8, "little"))
        h.update(values.tobytes())
    return h.digest()


@functools.cache
def _highs_version() -> str:
    return importlib.metadata.version("highspy")


def ranges(
    a: csc_matrix, rhs: np.ndarray, columns: np.ndarray, truth: np.ndarray, bounds: Bounds | None = None
) -> Bounds:
    """The least and greatest value of each column under a @ x = rhs and the bounds
    (greatest infinite where nothing caps it), in parts of PART columns side by side; the
    columns with no greatest are found together first (`_open_above`). Within `kept_ranges`,
    a programme answered before is not solved again."""
    asked = np.asarray(columns, dtype=np.int32)
    limits = _with_defaults(a.shape[1], bounds)
    if _block is None and not _recordings:
        return _solved(a, rhs, asked, truth, limits)
    key = _programme(a, rhs, asked, truth, limits)
    found = _block.answer(key, truth[asked]) if _block is not None else None
    if found is None:
        found = _solved(a, rhs, asked, truth, limits)
    asked_again({key: found})
    return found[0].copy(), found[1].copy()


def _solved(a: csc_matrix, rhs: np.ndarray, asked: np.ndarray, truth: np.ndarray, bounds: Bounds) -> Bounds:
    """`ranges` solved (`bounds` with their defaults)."""
    upper = bounds[1]
    several_open = np.isinf(upper[asked]).sum() > 1 and _feasible(a, rhs, truth, bounds)
    open_above = _open_above(a, asked, upper) if several_open else np.zeros(len(asked), dtype=bool)
    if len(asked) <= PART:
        return _ranges(a, rhs, asked, truth, bounds, open_above)
    _quiet()  # before the threads: it swaps standard output about
    parts = range(PART, len(asked), PART)
    found = list(
        _workers().map(
            lambda part, part_open: _ranges(a, rhs, part, truth, bounds, part_open),
            np.split(asked, parts),
            np.split(open_above, parts),
        )
    )
    return np.concatenate([low for low, _ in found]), np.concatenate([high for _, high in found])


def _open_above(a: csc_matrix, asked: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Which asked columns have no greatest value, all found by one LP rather than one each.
    Where the programme is feasible (`ranges` asks only then), a column is unbounded above exactly where
    some direction d >= 0 with a @ d = 0 (0 on columns with an upper bound) has it above 0, and
    the sum of two such directions is one: the LP maximising sum(t), t <= d and t <= 1 over the
    asked columns reaches t = 1 on every one of them and 0 elsewhere. Should HiGHS not settle it,
    none is taken as open (each then gets its own LP, as it would have)."""
    n, m = a.shape[1], len(asked)
    pick = csc_matrix((np.full(m, -1.0), (np.arange(m), asked)), shape=(m, n))
    matrix = vstack([hstack([a, csc_matrix((a.shape[0], m))]), hstack([pick, identity(m, format="csc")])]).tocsc()
    rows = (np.concatenate([np.zeros(a.shape[0]), np.full(m, -np.inf)]), np.zeros(matrix.shape[0]))
    columns = (np.zeros(n + m), np.concatenate([np.where(np.isinf(upper), np.inf, 0.0), np.ones(m)]))
    model = _model(matrix, rows, columns, np.concatenate([np.zeros(n), np.ones(m)]))
    model.sense_ = highspy.ObjSense.kMaximize
    solver = _highs_serial()
    solver.passModel(model)
    solver.run()
    if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return np.zeros(m, dtype=bool)
    return np.asarray(solver.getSolution().col_value)[n:] > 0.5


def _ranges(
    a: csc_matrix, rhs: np.ndarray, asked: np.ndarray, truth: np.ndarray, bounds: Bounds | None, open_above: np.ndarray
) -> Bounds:
    """`ranges` in one search, the greatest of the columns `open_above` infinite without an LP.
    Where HiGHS cannot settle an optimum even from a
    fresh start, the true value stands in for it: a range reported too narrow costs a cell
    more hidden, never one recoverable. A column seen at a bound in a feasible point (the
    truth, the two LPs pushing all the asked columns down and up at once, or any other
    column's LP) has it as its optimum there: no LP of its own for that."""
    search = _Search(a, rhs, truth, bounds)
    low, high = search.lower[asked].copy(), np.full(len(asked), np.inf)
    search.optimum(asked, highspy.ObjSense.kMinimize)
    search.optimum(asked[~open_above], highspy.ObjSense.kMaximize)
    for i, j in enumerate(asked.tolist()):
        for sense, out, seen_at_bound in (
            (highspy.ObjSense.kMinimize, low, search.at_least),
            (highspy.ObjSense.kMaximize, high, search.at_most),
        ):
            if sense == highspy.ObjSense.kMaximize and open_above[i]:
                continue
            if seen_at_bound(j):
                out[i] = search.lower[j] if sense == highspy.ObjSense.kMinimize else search.upper[j]
                continue
            status, (value,) = search.optimum([j], sense)
            if status not in (highspy.HighsModelStatus.kOptimal, *UNBOUNDED):
                search.restart()
                status, (value,) = search.optimum([j], sense)
            if status == highspy.HighsModelStatus.kOptimal:
                out[i] = value
            elif status not in UNBOUNDED or sense == highspy.ObjSense.kMinimize:  # x >= 0 bounds it below
                out[i] = truth[j]
    return low, high


def cell_ranges(con: duckdb.DuckDBPyConnection, cells: list[int]) -> dict[int, tuple[float, float]]:
    """The least and greatest value of each hidden cell given its own month's relations."""
    groups = [
        g
        for (g,) in con.execute(
            "SELECT DISTINCT grp FROM sdc_cells WHERE cell_id IN (SELECT unnest(?))", [cells]
        ).fetchall()
    ]
    wanted, found = set(cells), {}
    for m in _month_models(con, groups):
        asked = np.array([int(c) in wanted for c in m.variables], dtype=bool)
        if not asked.any():
            continue
        p, columns = m.programme, m.columns(asked)
        low, high = ranges(p.a, p.rhs, columns, p.truth)
        by_column = {int(j): (lo, hi) for j, lo, hi in zip(columns, low, high, strict=True)}
        found.update({int(c): by_column[j] for c, j in zip(m.variables[asked], p.column[asked], strict=True)})
    return found


def _split(keys: np.ndarray, *labels: np.ndarray) -> tuple[list, ...]:
    """For each labelling, the indices labelled with each distinct key in turn (one sort per
    labelling, where a scan per key would cost keys x labels)."""
    distinct = np.unique(keys)
    parts = []
    for label in labels:
        order = np.argsort(label, kind="stable")
        bounds = (
            np.searchsorted(label[order], distinct, side="left"),
            np.searchsorted(label[order], distinct, side="right"),
        )
        parts.append([order[lo:hi] for lo, hi in zip(*bounds, strict=True)])
    return tuple(parts)


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniques, codes = np.unique(values, return_inverse=True)
    return codes, uniques
