"""Shared-store views built from SQL files in `sql/views/` (the multi-agency view of each
child): one file per table, with the same `-- key: value` header as a metric."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from sihub.core.change_tracking import BuiltFrom, tables_named
from sihub.core.db import quote, scalar, table_exists
from sihub.core.paths import project
from sihub.core.sql_files import SqlFileError, read_sql_file


@dataclass(frozen=True)
class View:
    name: str
    title: str
    sources: tuple[str, ...]
    sql: str
    path: Path


def load_views(folder: Path | None = None) -> list[View]:
    views = []
    for path in sorted((folder or project().views).glob("*.sql")):
        header, sql = read_sql_file(path, required=("view", "title", "sources"))
        if header["view"] != path.stem:
            raise SqlFileError(f"{path}: view {header['view']!r} must match the file name")
        sources = tuple(s.strip() for s in header["sources"].split(","))
        views.append(View(header["view"], header["title"], sources, sql, path))
    return views


def build_views(con: duckdb.DuckDBPyConnection, views: list[View]) -> dict[str, int | str]:
    """(Re)build each view's table in the shared store; a view whose sources have not been
    delivered is dropped and reported as skipped, so no stale table outlives its data. A view
    whose query and the rows of the tables it names are as when it was last built is kept
    (`BuiltFrom`, in `view_inputs`): a quiet night does not rebuild each pupil's terms."""
    outcome: dict[str, int | str] = {}
    built = BuiltFrom(con, "view_inputs", [v.name for v in views])
    for name in built.gone:  # a view no longer defined leaves no table behind
        con.execute(f"DROP TABLE IF EXISTS {quote(name)}")
    for view in views:
        missing = [s for s in view.sources if not table_exists(con, s.replace("/", "__"))]
        if missing:
            built.forget(view.name)
            con.execute(f"DROP TABLE IF EXISTS {quote(view.name)}")
            outcome[view.name] = f"skipped: no data for {', '.join(missing)}"
            continue
        rows = f"SELECT count(*) FROM {quote(view.name)}"
        tables = tables_named(con, view.sql)
        if tables is not None and built.same(view.name, [view.sql], tables) and table_exists(con, view.name):
            outcome[view.name] = f"{scalar(con, rows)} rows (unchanged since the last run)"
            continue
        built.forget(view.name)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {quote(view.name)} AS {view.sql}")
        except duckdb.Error as err:
            raise SqlFileError(f"{view.path}: {str(err).splitlines()[0]}") from err
        built.record(view.name)
        outcome[view.name] = scalar(con, rows)
    return outcome
