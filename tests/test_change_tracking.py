"""What a query reads, as the incremental stages see it: every spelling DuckDB accepts for a
table finds that table, and a name that cannot be found is never taken as unchanged."""

from __future__ import annotations

import duckdb
import pytest

from sihub.core.change_tracking import BuiltFrom, tables_named
from sihub.core.db import schema_first


@pytest.fixture
def con():
    with duckdb.connect() as con:
        con.execute(
            "CREATE TABLE Flags (a INT); CREATE SCHEMA tier_x; CREATE TABLE tier_x.cells (b INT); "
            "CREATE TEMP TABLE stand_in (c INT); CREATE VIEW recent AS SELECT * FROM flags"
        )
        yield con


@pytest.mark.parametrize(
    ("sql", "reads"),
    [
        ("SELECT * FROM flags", ["memory.main.Flags"]),
        ('SELECT * FROM MAIN."FLAGS"', ["memory.main.Flags"]),
        ("SELECT * FROM memory.main.fLaGs", ["memory.main.Flags"]),
        ("SELECT * FROM Tier_X.Cells JOIN stand_in ON true", ["memory.tier_x.cells", "temp.main.stand_in"]),
        ("WITH f AS (SELECT * FROM recent) SELECT * FROM f", ["memory.main.recent"]),
        ("SELECT * FROM range(3)", []),
        ("SELECT * FROM cells", None),  # not on the search path
        ("SELECT * FROM no_such_table", None),
        ("SELECT * FROM", None),
    ],
)
def test_a_query_reads_the_tables_duckdb_would_read(con, sql: str, reads: list[str] | None) -> None:
    assert tables_named(con, sql) == reads


def test_a_tier_schema_first_on_the_search_path_is_where_an_unqualified_name_is_found(con) -> None:
    con.execute("CREATE TABLE cells (b INT)")
    assert tables_named(con, "SELECT * FROM cells") == ["memory.main.cells"]
    with schema_first(con, "tier_x"):
        assert tables_named(con, "SELECT * FROM cells") == ["memory.tier_x.cells"]


def test_an_item_built_from_a_table_spelt_otherwise_sees_that_table_change(con) -> None:
    con.execute("INSERT INTO flags VALUES (1)")
    tables = tables_named(con, "SELECT * FROM MAIN.FLAGS")
    built = BuiltFrom(con, "inputs", ["metric"])
    assert not built.same("metric", ["sql"], tables)
    built.record("metric")
    assert BuiltFrom(con, "inputs", ["metric"]).same("metric", ["sql"], tables)
    con.execute("INSERT INTO flags VALUES (2)")
    assert not BuiltFrom(con, "inputs", ["metric"]).same("metric", ["sql"], tables)
