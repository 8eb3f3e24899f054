"""County headline periods: the county's quarters and rolling years of a flow metric, shown
unless they are themselves small counts, or as many of them as can be shown safely.

A quarter or rolling year elsewhere is shown only when every month in it is, so it tells a
reader nothing the months do not. Held to that rule, the county headline would be hidden
whenever one county month is small, which for a sparse series is nearly always. So a county
period of a flow (breakdown `all`, and any series that shows or hides the same cells) is
decided here instead, series by series (a count across its months), by what a reader could
work out from all of it together.

Every shown period says its hidden months add up to a known number, and overlapping rolling
years say more: two consecutive ones differ by one month less the same month a year before. A
series is audited as a linear programme over its hidden months (each bounded by what its own
month's table allows, `cell_ranges`) and its hidden periods, together with every series whose
hidden county months share a relation with its own (a counted denominator's numerator and rest,
a count published twice) and with the county's months of a stock its flows run into: the plans
open at a quarter's end are those at the end of the quarter before plus the quarter's plans
started less its plans ended, so shown quarters of both flows tell a hidden stock that no month
of it tells. Where a small count is pinned within the threshold, the series gives up (for a
stock's month pinned, each of its flows), in this order:

1. its county quarters, which then follow their months as elsewhere (once per series);
2. county months, before any rolling year (the board reads the rolling years; `_chains`):
   every shown month in the same month of the year as a pinned one, then the months of
   another month of the year, the one with the most room below its values;
3. the rolling years that meet the pinned month, but those ending a whole year before the
   series' latest month (the headline and the year before it);
4. for a month pinned by such a year alone, another month of that year, hidden beside it (the
   nearest whose own table leaves room: a county month is unbounded above, every county total
   having a part no one sees, but bounded below by its shown parts);
5. that year itself.

A later stage (the data-quality figures) can narrow a hidden month's own table; it is held to
leave every series as safe as it was judged, and is audited against what the series tell
about their hidden months (`judge_series`).

What the series tell about each hidden month (a stock's too) is handed back as bounds, so each
month's own table is audited against it: a stock's county total told by its flows pins a hidden
part of its breakdown beside shown ones, and the part is protected there.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix, csc_matrix
from scipy.sparse.csgraph import connected_components

from sihub.core.db import scalar
from sihub.privacy.sdc_audit import asked_again, asking, cell_ranges, ranges
from sihub.privacy.sdc_programme import Bounds

# The headline series: the county's `all` of each flow metric, and every county flow series shown
# or hidden with one of them cell for cell (`sdc_pairs`: a rate's other count, or the same count
# published by another metric). Those carry a headline's hidden months and periods across, so
# they are decided with it: held to the months' rule, they would hide the headline's periods
# wherever they hide their own. Only counts about children have headline series (protection's
# first stage): a data-quality figure's periods follow its months, so its county months, hidden
# to protect a dataset's small count, cannot be worked out from its rolling years.
SERIES_TABLE_SQL = """
CREATE OR REPLACE TEMP TABLE sdc_headline_series AS
WITH RECURSIVE county AS (
    SELECT c.* FROM sdc_cells c JOIN metric_catalogue k USING (metric_id)
    JOIN ref_geography g ON g.geography_code = c.geography_code
    WHERE k.aggregation = 'flow' AND g.geography_type = 'county' AND c.period_type = 'month'
      AND c.stage = 1
), links AS (
    SELECT DISTINCT a.metric_id AS metric_a, a.measure AS measure_a, a.breakdown AS breakdown_a,
           b.metric_id, b.measure, b.breakdown
    FROM sdc_pairs p JOIN county a ON a.cell_id = p.cell_id JOIN county b ON b.cell_id = p.other
), series(metric_id, measure, breakdown) AS (
    SELECT DISTINCT metric_id, measure, breakdown FROM county WHERE breakdown = 'all'
    UNION
    SELECT l.metric_id, l.measure, l.breakdown
    FROM series s JOIN links l ON l.metric_a = s.metric_id AND l.measure_a = s.measure AND l.breakdown_a = s.breakdown
)
FROM series
"""

# the headline series' cells
SERIES_SQL = """
SELECT c.cell_id, c.metric_id, c.measure, c.breakdown, c.period_type, c.start_month, c.end_month,
       CAST(c.value AS DOUBLE) AS value, c.suppressed, c.no_data, true AS headline,
       -- a rolling year ending a whole number of years before the series' latest month
       date_diff('month', c.end_month, max(c.end_month) FILTER (WHERE c.period_type = 'month' AND NOT c.no_data)
           OVER (PARTITION BY c.metric_id, c.measure, c.breakdown)) % 12 = 0
           AND c.period_type = 'rolling_12' AS anniversary
FROM sdc_cells c
JOIN sdc_headline_series USING (metric_id, measure, breakdown)
JOIN ref_geography g ON g.geography_code = c.geography_code
WHERE g.geography_type = 'county'
ORDER BY c.metric_id, c.measure, c.breakdown, c.end_month, c.period_type
"""

# The county's months of each stock a relation ties to its flows (`sdc_stock`: plans open are
# those open a month before, plus plans started, less plans ended). Where the flows' county
# quarters or rolling years are shown, they tell the stock's hidden months too (the plans open
# at a quarter's end are those at the end of the quarter before, plus the quarter's flows), so
# these months are judged with the series; a stock's own periods are its last months, never
# decided here.
LINKED_SQL = """
SELECT c.cell_id, c.metric_id, c.measure, c.breakdown, c.period_type, c.start_month, c.end_month,
       CAST(c.value AS DOUBLE) AS value, c.suppressed, c.no_data, false AS headline, false AS anniversary
FROM sdc_cells c
JOIN (SELECT DISTINCT stock_metric AS metric_id, stock_measure AS measure, breakdown FROM sdc_stock)
    USING (metric_id, measure, breakdown)
JOIN ref_geography g ON g.geography_code = c.geography_code
WHERE g.geography_type = 'county' AND c.period_type = 'month' AND c.stage = 1
ORDER BY c.metric_id, c.measure, c.breakdown, c.end_month
"""

# The month relations whose unknown cells are all among the given hidden county months: a
# stock's, a counted denominator's rest (numerator and complement), a count published twice, or
# any whose other cells are shown. With them the series are judged together, as a reader reads
# them: each series' periods alone leave a month its own range, while two series' quarters
# joined by such a relation can pin what neither pins alone.
RELATIONS_SQL = """
WITH judged AS (SELECT unnest(?::BIGINT[]) AS cell_id),
touched AS (SELECT DISTINCT eq_id FROM sdc_members WHERE cell_id IN (FROM judged))
SELECT m.eq_id, m.cell_id, m.coef, CAST(c.value AS DOUBLE) AS value, c.suppressed OR c.hidden AS unknown
FROM sdc_members m JOIN touched USING (eq_id) JOIN sdc_cells c USING (cell_id)
QUALIFY bool_and(NOT (c.suppressed OR c.hidden) OR m.cell_id IN (FROM judged)) OVER (PARTITION BY m.eq_id)
ORDER BY m.eq_id, m.cell_id
"""

# the county periods decided here: rolling years, and quarters of series that kept theirs
HEADLINE_SQL = """
CREATE OR REPLACE TEMP TABLE sdc_headline AS
SELECT c.cell_id
FROM sdc_cells c
JOIN sdc_headline_series USING (metric_id, measure, breakdown)
JOIN ref_geography g ON g.geography_code = c.geography_code
WHERE g.geography_type = 'county'
  AND (c.period_type = 'rolling_12' OR (c.period_type = 'quarter' AND NOT EXISTS (
      SELECT 1 FROM sdc_quarters_follow q
      WHERE q.metric_id = c.metric_id AND q.measure = c.measure AND q.breakdown = c.breakdown)))
"""

# how far below its value a reader could put a county month if it were hidden, at most: the
# least, over the relations it totals, of what its unknown parts add up to
ROOM_SQL = """
WITH parts AS (
    SELECT m.eq_id, coalesce(sum(c.value) FILTER (WHERE c.suppressed OR c.hidden), 0) AS room
    FROM sdc_members m JOIN sdc_cells c USING (cell_id) WHERE m.sums AND NOT m.is_total GROUP BY m.eq_id
)
SELECT t.cell_id, min(p.room) FROM parts p JOIN sdc_members t ON t.eq_id = p.eq_id AND t.is_total
WHERE t.cell_id IN (SELECT unnest(?::BIGINT[])) GROUP BY t.cell_id
"""


def find_series(con: duckdb.DuckDBPyConnection) -> None:
    """The first stage's headline series (`sdc_headline_series`) over every cell held now:
    those whose periods the first stage decides, and which a later stage is held to and
    audited against (metrics kept whole from the last protection included, once added)."""
    con.execute(SERIES_TABLE_SQL)


def start(con: duckdb.DuckDBPyConnection) -> None:
    """Every series starts with all its county periods decided here; a later stage has none of
    its own (its periods follow its months): the series it was held to, found as it started,
    are set aside rather than found again."""
    if scalar(con, "FROM sdc_stage") > 1:
        con.execute("DELETE FROM sdc_headline_series")
    else:
        find_series(con)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sdc_quarters_follow (metric_id VARCHAR, measure VARCHAR, breakdown VARCHAR)"
    )
    con.execute(HEADLINE_SQL)


@dataclass
class Step:
    """One audit of every series: cells hidden, series whose quarters now follow their months,
    and the bounds on hidden county months that the month tables must be audited against."""

    hidden: list[int] = field(default_factory=list)
    quarters_follow: list[tuple[str, str, str]] = field(default_factory=list)
    limits: dict[int, tuple[float, float]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.hidden or self.quarters_follow)


# what a hidden month's range depends on: its month group's hidden count, or, where the family
# has a relation reaching other months (a stock's; a count published months apart:
# `sdc_family.across`), which the audit follows from month to month, the count in every month
# of the families it reaches
HIDDEN_AROUND_SQL = """
WITH scope AS (
    SELECT c.cell_id, c.suppressed, CASE WHEN f.across THEN f.reach ELSE c.grp::VARCHAR END AS scope
    FROM sdc_cells c LEFT JOIN sdc_family f USING (metric_id, measure) WHERE c.grp IS NOT NULL
), hidden AS (
    -- counted once per scope, not once per cell asked about (a family's reach holds many months)
    SELECT scope, count(*) FILTER (WHERE suppressed) AS n FROM scope GROUP BY scope
)
SELECT a.cell_id, h.n FROM scope a JOIN hidden h USING (scope) WHERE a.cell_id IN (SELECT unnest(?::BIGINT[]))
"""


@dataclass
class Memo:
    """What earlier steps worked out and still holds: each series' outcome by everything it
    depends on, and each hidden month's own range by the hidden count it depends on
    (`HIDDEN_AROUND_SQL`: hiding only grows, so an unchanged count is an unchanged pattern)."""

    series: dict[bytes, Step] = field(default_factory=dict)
    month_range: dict[int, tuple[int, tuple[float, float]]] = field(default_factory=dict)

    def ranges(self, con: duckdb.DuckDBPyConnection, cells: list[int]) -> dict[int, tuple[float, float]]:
        hidden = dict(con.execute(HIDDEN_AROUND_SQL, [cells]).fetchall())
        stale = [c for c in cells if self.month_range.get(c, (None,))[0] != hidden[c]]
        if stale:
            self.month_range.update({c: (hidden[c], r) for c, r in cell_ranges(con, stale).items()})
        return {c: self.month_range[c][1] for c in cells}


KEY = ["metric_id", "measure", "breakdown"]


@dataclass(frozen=True)
class Group:
    """Series judged together: the cells of the headline series and stocks whose hidden county
    months share a relation (`RELATIONS_SQL`), with those relations."""

    cells: pd.DataFrame
    relations: pd.DataFrame

    @functools.cached_property
    def keys(self) -> list[tuple[str, str, str]]:
        """The headline series in the group (not the stocks)."""
        headline = self.cells[self.cells["headline"]]
        return sorted(set(zip(*(headline[k] for k in KEY), strict=True)))

    def series(self, key: tuple[str, str, str]) -> pd.DataFrame:
        """The cells of one series of the group."""
        return self.cells[(self.cells[KEY] == pd.Series(key, index=KEY)).all(axis=1)]


def _groups(con: duckdb.DuckDBPyConnection) -> tuple[list[Group], pd.DataFrame]:
    """The headline series (with the stocks their flows run into) in groups judged together, and
    all their cells in one frame (whose hidden months' own ranges the judgement needs). A group
    of stocks alone, with no period to tell anything, is left out."""
    cells = pd.concat([con.execute(SERIES_SQL).df(), con.execute(LINKED_SQL).df()], ignore_index=True)
    relations = con.execute(RELATIONS_SQL, [_hidden_months(cells)]).df()
    series = cells.groupby(KEY, sort=True).ngroup().to_numpy()
    of_cell = pd.Series(series, index=cells["cell_id"])
    unknown = relations[relations["unknown"]]
    eq_codes, eqs = pd.factorize(unknown["eq_id"])
    n = int(series.max()) + 1 if len(series) else 0
    # series and relations as one graph: a relation joins the series of its unknown cells
    graph = coo_matrix(
        (np.ones(len(unknown)), (of_cell.loc[unknown["cell_id"]].to_numpy(), n + eq_codes)),
        shape=(n + len(eqs), n + len(eqs)),
    )
    _, label = connected_components(graph, directed=False)
    cells["group"] = label[series]
    relations["group"] = pd.Series(label[n : n + len(eqs)], index=eqs).reindex(relations["eq_id"]).to_numpy()
    kept = cells.groupby("group")["headline"].transform("any")
    groups = [
        Group(part.drop(columns="group"), relations[relations["group"] == g].drop(columns="group"))
        for g, part in cells[kept].groupby("group", sort=False)
    ]
    return groups, cells[kept]


def audit_series(con: duckdb.DuckDBPyConnection, threshold: int, memo: Memo) -> Step:
    """Audit every group of headline series once; repair each failing series by one step."""
    groups, cells = _groups(con)
    following = set(con.execute("SELECT metric_id, measure, breakdown FROM sdc_quarters_follow").fetchall())
    month_range = _month_ranges(con, memo, cells)
    shown_months = cells.loc[(cells["period_type"] == "month") & ~cells["suppressed"], "cell_id"].tolist()
    room = dict(con.execute(ROOM_SQL, [shown_months]).fetchall())
    step = Step()
    for group in groups:
        ids = group.cells["cell_id"].tolist()
        signature = repr(
            (group.keys, [k in following for k in group.keys], group.cells["suppressed"].tolist(),
             [month_range.get(c) for c in ids], [room.get(c) for c in ids],
             group.relations[["eq_id", "cell_id", "unknown"]].to_numpy().tolist())
        ).encode()  # fmt: skip
        if signature not in memo.series:
            memo.series[signature] = Step()
            _audit_group(group, month_range, room, threshold, memo.series[signature], following)
        found = memo.series[signature]
        step.hidden += found.hidden
        step.quarters_follow += found.quarters_follow
        step.limits.update(found.limits)
    if step.hidden:
        con.execute(
            "UPDATE sdc_cells SET suppressed = true WHERE cell_id IN (SELECT unnest(?::BIGINT[]))", [step.hidden]
        )
    if step.quarters_follow:
        con.executemany("INSERT INTO sdc_quarters_follow VALUES (?, ?, ?)", step.quarters_follow)
        con.execute(HEADLINE_SQL)
    return step


@dataclass(frozen=True)  # kept and handed out again by `_judge`
class Judgement:
    """One group judged: its months and shown-or-hidden periods, the months in each period,
    and each hidden cell's least and greatest value given all of it (`narrow`: the small counts
    pinned within the threshold)."""

    months: pd.DataFrame
    periods: pd.DataFrame
    inside: dict[int, set[int]]
    ranges: dict[int, tuple[float, float]]
    narrow: set[int]


# the columns of a group's cells and relations a judgement reads
JUDGED_CELLS = [*KEY, "cell_id", "period_type", "start_month", "end_month", "value", "suppressed", "no_data"]
JUDGED_RELATIONS = ["eq_id", "cell_id", "coef", "value", "unknown"]
# the latest judgements, by all they read, each with the LP ranges it asked (`sdc_audit.asking`)
_JUDGED: OrderedDict[bytes, tuple[Judgement, dict[bytes, Bounds]]] = OrderedDict()
JUDGEMENTS_KEPT = 64


def _judge(group: Group, month_range: dict[int, tuple[float, float]], threshold: int) -> Judgement:
    """The group judged (`_judgement`), or the same judgement again where everything it reads
    is as an earlier one read it: protection judges its groups over and over (each stage, each
    round, each check of the series), most of them unchanged, and one large group (a rare event's
    series, all but hidden) costs a second or more each time. A judgement given again asks its
    ranges again (`sdc_audit.asked_again`), so a protection keeps them as if it had solved them."""
    ids = group.cells["cell_id"].tolist()
    signature = hashlib.blake2b(
        b"".join(
            (
                pd.util.hash_pandas_object(group.cells[JUDGED_CELLS], index=False).to_numpy().tobytes(),
                pd.util.hash_pandas_object(group.relations[JUDGED_RELATIONS], index=False).to_numpy().tobytes(),
                np.array([month_range.get(c, (-1.0, -1.0)) for c in ids], dtype=float).tobytes(),
                str(threshold).encode(),
            )
        )
    ).digest()
    if signature in _JUDGED:
        _JUDGED.move_to_end(signature)
        judgement, asked = _JUDGED[signature]
        asked_again(asked)
        return judgement
    with asking() as asked:
        judgement = _judgement(group, month_range, threshold)
    _JUDGED[signature] = (judgement, asked)
    if len(_JUDGED) > JUDGEMENTS_KEPT:
        _JUDGED.popitem(last=False)
    return judgement


def _judgement(group: Group, month_range: dict[int, tuple[float, float]], threshold: int) -> Judgement:
    cells = group.cells
    months = cells[cells["period_type"] == "month"]
    periods = cells[(cells["period_type"] != "month") & ~cells["no_data"]]
    hidden = months[months["suppressed"]]
    if hidden.empty and not periods["suppressed"].any():
        return Judgement(months, periods, {}, {}, set())
    variables = hidden["cell_id"].tolist() + periods.loc[periods["suppressed"], "cell_id"].tolist()
    column = {c: i for i, c in enumerate(variables)}
    lower = np.array([month_range.get(c, (0.0, np.inf))[0] for c in variables])
    upper = np.array([month_range.get(c, (0.0, np.inf))[1] for c in variables])
    rows, cols, coefs, rhs = [], [], [], []
    inside = {}
    for _, series in cells.groupby(KEY, sort=False):
        for terms, total in _period_sums(series, column, inside):
            rhs.append(total)
            rows += [len(rhs) - 1] * len(terms)
            cols += [j for j, _ in terms]
            coefs += [coef for _, coef in terms]
    # the month relations among the group's series: sum(coef * cell) = 0, shown cells moved right
    rel = group.relations
    eq_codes, eqs = pd.factorize(rel["eq_id"])
    known = ~rel["unknown"].to_numpy()
    weights = (rel["coef"] * rel["value"]).to_numpy()
    rhs += (-np.bincount(eq_codes[known], weights=weights[known], minlength=len(eqs))).tolist()
    rows += (len(rhs) - len(eqs) + eq_codes[~known]).tolist()
    cols += [column[c] for c in rel.loc[~known, "cell_id"].tolist()]
    coefs += rel.loc[~known, "coef"].tolist()
    a = csc_matrix((coefs, (rows, cols)), shape=(len(rhs), len(variables)))
    truth = np.concatenate([hidden["value"].to_numpy(), periods.loc[periods["suppressed"], "value"].to_numpy()])
    low, high = ranges(a, np.array(rhs), np.arange(len(variables)), truth, (lower, upper))
    small = (truth >= 1) & (truth <= threshold)  # what must not be worked out: small counts
    narrow = {c for c, lo, hi, s in zip(variables, low, high, small, strict=True) if s and hi - lo <= threshold + 1e-9}
    return Judgement(months, periods, inside, dict(zip(variables, zip(low, high, strict=True), strict=True)), narrow)


def _period_sums(
    series: pd.DataFrame, column: dict[int, int], inside: dict[int, set[int]]
) -> Iterator[tuple[list[tuple[int, float]], float]]:
    """Each of a series' periods as an equation over the programme's columns (`column`): its
    hidden months, less the period where hidden, add up to what the shown cells leave; records
    each period's months in `inside`."""
    months = series[series["period_type"] == "month"]
    ends, ids = months["end_month"].to_numpy(), months["cell_id"].to_numpy()
    values, unknown = months["value"].to_numpy(), months["suppressed"].to_numpy()
    periods = series[(series["period_type"] != "month") & ~series["no_data"]]
    first = np.searchsorted(ends, periods["start_month"].to_numpy(), side="left")
    last = np.searchsorted(ends, periods["end_month"].to_numpy(), side="right")
    for cell, value, suppressed, i, j in zip(
        periods["cell_id"], periods["value"], periods["suppressed"], first, last, strict=True
    ):
        inside[cell] = set(ids[i:j].tolist())
        terms = [(column[c], 1.0) for c in ids[i:j][unknown[i:j]].tolist()]
        if suppressed:
            terms.append((column[cell], -1.0))
        if terms:
            yield terms, (0.0 if suppressed else float(value)) - float(values[i:j][~unknown[i:j]].sum())


def _pinned_by_series(
    group: Group, narrow: set[int], months: set | None = None
) -> dict[tuple[str, str, str], set[int]]:
    """Each headline series' cells to take as pinned: its own among `narrow`, and its hidden
    months among `months` (those of a pinned cell it tells through a relation; by default, of
    the stocks' cells in `narrow`, which their flows tell), or where no series has a hidden month
    there, all its hidden months (its periods then go, as for any pinned month, until the pinned
    cell is open)."""
    cells = group.cells
    if months is None:
        months = set(cells.loc[cells["cell_id"].isin(narrow) & ~cells["headline"], "end_month"])
    headline = cells[cells["headline"]]
    hidden = headline["suppressed"] & (headline["period_type"] == "month")
    told_by = hidden & headline["end_month"].isin(months)
    if months and not told_by.any():
        told_by = hidden
    pinned = {}
    for key, series in headline.groupby(KEY, sort=True):
        mine = (narrow & set(series["cell_id"])) | set(series.loc[told_by.loc[series.index], "cell_id"])
        if mine:
            pinned[key] = mine
    return pinned


def _give_up(
    group: Group,
    pinned: dict[tuple[str, str, str], set[int]],
    j: Judgement,
    room: dict[int, float],
    step: Step,
    following: set[tuple[str, str, str]],
) -> bool:
    """Each pinned series gives up one step, in the order the module's docstring gives (its
    quarters, months, rolling years, a month beside a pinned one, that year); whether any did."""
    gave = False
    for key, narrow in pinned.items():
        if key not in following:
            step.quarters_follow.append(key)
            gave = True
            continue
        series = group.series(key)
        months = series[series["period_type"] == "month"]
        periods = series[(series["period_type"] != "month") & ~series["no_data"]]
        hiding = (
            _chains(months, j.inside, narrow, room)
            or _periods_to_hide(months, periods, j.inside, narrow, anniversaries=False)
            or _company(months, periods, j.inside, narrow, room)
            or _periods_to_hide(months, periods, j.inside, narrow, anniversaries=True)
        )
        step.hidden += hiding
        gave = gave or bool(hiding)
    return gave


def _audit_group(
    group: Group,
    month_range: dict[int, tuple[float, float]],
    room: dict[int, float],
    threshold: int,
    step: Step,
    following: set[tuple[str, str, str]],
) -> None:
    """Judge a group; where a small count is pinned, the series holding it give up a step, or
    where a stock's month is pinned, its flows; and where none has anything left to give (a
    rest pinned by its numerator's and denominator's periods), the other series of the group,
    at the pinned cells' months."""
    j = _judge(group, month_range, threshold)
    if not j.narrow:
        step.limits.update(_told(j, month_range))
        return
    cells = group.cells
    if _give_up(group, _pinned_by_series(group, j.narrow), j, room, step, following):
        return
    pinned_months = set(cells.loc[cells["cell_id"].isin(j.narrow), "end_month"])
    if not _give_up(group, _pinned_by_series(group, set(), pinned_months), j, room, step, following):
        raise RuntimeError(
            f"a county period of {', '.join(k[0] for k in group.keys)} stays recoverable with every period hidden"
        )


@dataclass
class SeriesView:
    """The headline series as the month tables leave them now: each series in which a reader
    could pin a small count, with its hidden county months (`pinned`), and what the others tell
    about their hidden months beyond the months' own tables (`limits`)."""

    pinned: dict[tuple[str, str, str], list[int]]
    limits: dict[int, tuple[float, float]]


def judge_series(con: duckdb.DuckDBPyConnection, threshold: int, memo: Memo) -> SeriesView:
    """Judge every group of headline series, taking each month's range from its month's
    relations as they stand. A later stage's relations (a data-quality figure that is the topic's
    count) can narrow a month that the series' own audit took as open, and the rolling years shown
    beside it would then tell a small month (a 0 hidden a year before a 2); the other way round,
    what the rolling years tell about a month (its count, to the unit, from two shown years and
    the month a year before) bounds that month in the later stage's tables, where it may pin a
    small count beside it. `memo` keeps the ranges of months whose tables did not change since
    the last call (within one grouping of the months)."""
    groups, cells = _groups(con)
    month_range = _month_ranges(con, memo, cells)
    view = SeriesView({}, {})
    for group in groups:
        j = _judge(group, month_range, threshold)
        if j.narrow:
            for key in _pinned_by_series(group, j.narrow):
                view.pinned[key] = _hidden_months(group.series(key))
        else:
            view.limits.update(_told(j, month_range))
    return view


def _told(j: Judgement, month_range: dict[int, tuple[float, float]]) -> dict[int, tuple[float, float]]:
    """The ranges a series gives its hidden months where it tells more than their own tables."""
    told = {}
    for c in j.months.loc[j.months["suppressed"], "cell_id"]:
        (lo, hi), (own_lo, own_hi) = j.ranges[c], month_range[c]
        if lo > own_lo + 1e-9 or hi < own_hi - 1e-9:
            told[c] = (lo, hi)
    return told


def _month_ranges(con: duckdb.DuckDBPyConnection, memo: Memo, cells: pd.DataFrame) -> dict[int, tuple[float, float]]:
    """Each hidden month's range in its own month's table."""
    hidden = _hidden_months(cells)
    return memo.ranges(con, hidden) if hidden else {}


def _hidden_months(cells: pd.DataFrame) -> list[int]:
    return cells.loc[(cells["period_type"] == "month") & cells["suppressed"], "cell_id"].tolist()


def _chains(months: pd.DataFrame, inside: dict[int, set[int]], narrow: set[int], room: dict[int, float]) -> list[int]:
    """Months to hide so that the rolling years can stay: first every shown month in the same
    month of the year as a pinned one (two consecutive rolling years differ by a month less the
    same month a year before, so a hidden month beside a shown one a year away is told by the
    difference), then, once those are all hidden, the months of one more month of the year, the
    one whose shown months leave the most room below their values (hidden months of one month
    of the year are known up to one shared amount, and the first rolling year ties the amounts
    of all of them together: a pinned month's range is what the others' room allows)."""
    live = months[~months["no_data"]].assign(of_year=lambda m: pd.to_datetime(m["end_month"]).dt.month)
    hidden = set(live.loc[live["suppressed"], "cell_id"])
    pinned = set().union(*(inside[c] & hidden if c in inside else {c} for c in narrow))
    pinned_of_year = set(live.loc[live["cell_id"].isin(pinned), "of_year"])
    shown = live[~live["suppressed"]]
    own = shown[shown["of_year"].isin(pinned_of_year)]
    if not own.empty:
        return own["cell_id"].tolist()
    least_room = shown.assign(room=shown["cell_id"].map(lambda c: room.get(c, 0.0))).groupby("of_year")["room"].min()
    least_room = least_room[least_room > 0]
    if least_room.empty:
        return []
    return shown.loc[shown["of_year"] == least_room.idxmax(), "cell_id"].tolist()


def _company(
    months: pd.DataFrame, periods: pd.DataFrame, inside: dict[int, set[int]], narrow: set[int], room: dict[int, float]
) -> list[int]:
    """For each pinned month, the nearest shown month of its shown year that has room to hide it."""
    by_id = months.set_index("cell_id")
    shown_years = periods.loc[~periods["suppressed"], "cell_id"].tolist()
    going = []
    for cell in sorted(narrow - set(inside)):
        year = next((p for p in shown_years if cell in inside[p]), None)
        if year is None:
            continue
        options = by_id.loc[sorted(inside[year])]
        options = options[~options["suppressed"] & (options.index.map(lambda c: room.get(c, 0)) > 0)]
        if not options.empty:
            going.append(int((options["end_month"] - by_id.at[cell, "end_month"]).abs().idxmin()))
    return sorted(set(going))


def _periods_to_hide(
    months: pd.DataFrame, periods: pd.DataFrame, inside: dict[int, set[int]], narrow: set[int], anniversaries: bool
) -> list[int]:
    """The shown rolling years (anniversaries of the latest month or not) that meet a pinned
    cell's hidden months."""
    hidden = set(months.loc[months["suppressed"], "cell_id"])
    touched = set().union(*(inside[c] & hidden if c in inside else {c} for c in narrow))
    shown = periods[~periods["suppressed"] & (periods["anniversary"] == anniversaries)]["cell_id"]
    return [c for c in shown if inside[c] & touched]
