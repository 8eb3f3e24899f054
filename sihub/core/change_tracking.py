"""Change tracking: a stage re-does its work only when what it reads has changed.

Each stage that rebuilds tables (a dataset's governed split, linkage with the multi-agency
view, metrics, publication) computes a fingerprint of everything its output depends on, and
`skip_if_unchanged` compares it with the one recorded when that output was last built:

- the *context*: the code of the stage (the files of every project module its asset module
  imports, followed through their imports, so moving a file changes nothing and editing one
  changes exactly the stages that run it), the project's contracts, SQL, reference data and
  registers, the home's own reference files, the pseudonymisation key's id, and the month
  (open plans and episodes run to the current month);
- for a dataset, a content hash of its typed rows, quarantine and delivery log in the
  personal zone (DuckDB `hash` summed over rows: order-free, 0.8 s for all of `county`);
- for later stages, the fingerprints of the stages before them.

The record of a stage is deleted before its work starts and written after the work has
committed, so a crash in between always leaves the stage to be done again. Fingerprints are
hashes of hashes; they say nothing about any person. They live in the shared store. (The
leak guard and disclosure control keep finer records of their own, per table and per
metric-month: `sihub.privacy.leak_guard.scan_changed`, `sihub.privacy.disclosure.protect`.)
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import importlib.util
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from functools import cache
from pathlib import Path

import duckdb

from sihub.core.db import connect, quote, scalar, table_exists
from sihub.core.paths import HubPaths, ProjectFiles, project

DDL = """
CREATE TABLE IF NOT EXISTS stage_fingerprints (
    stage VARCHAR PRIMARY KEY, fingerprint VARCHAR, run_id VARCHAR, recorded_at TIMESTAMP
)
"""
# the packages whose modules are the hub's own code (anything else is a library)
PROJECT_PACKAGES = ("sihub", "governance", "assets", "pipelines")


def digest(parts: Iterable[object]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode())
        h.update(b"\x00")
    return h.hexdigest()


def _files_digest(places: Iterable[Path]) -> str:
    """Every file of the given files and folders (by name within its folder, and content)."""
    files = sorted(
        (p.relative_to(place.parent).as_posix(), p)
        for place in places
        for p in ([place] if place.is_file() else place.rglob("*") if place.is_dir() else [])
        if p.is_file() and "__pycache__" not in p.parts
    )
    return digest((name, hashlib.sha256(p.read_bytes()).hexdigest()) for name, p in files)


def _source(module: str) -> Path | None:
    """The file of a project module, or None for a library, a name inside a module, or nothing."""
    if module.partition(".")[0] not in PROJECT_PACKAGES:
        return None
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


def _imported(module: str, path: Path) -> set[str]:
    """The project modules a module's source imports (anywhere in it, lazily imported ones too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {name for name in found if _source(name)}


@cache
def code_files(module: str) -> tuple[Path, ...]:
    """The files of `module` and of every project module it imports, transitively, with the
    data files (YAML) kept beside them."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or (path := _source(name)) is None:
            continue
        seen[name] = path
        todo.extend(_imported(name, path))
    folders = {p.parent for p in seen.values()}
    data = {f for folder in folders for f in folder.glob("*.yaml")}
    return tuple(sorted(set(seen.values()) | data))


@cache
def code_digest(module: str) -> str:
    """The code a stage runs, hashed once per process."""
    return _files_digest(code_files(module))


def context(home: Path, module: str, key_id: str, today: dt.date | None = None) -> str:
    """What a stage depends on besides the data: the code `module` runs, the project's
    contracts, SQL, reference data and registers, the home's reference files, the
    pseudonymisation key's id and the month."""
    month = (today or dt.date.today()).strftime("%Y-%m")
    files = project()
    data = digest([_project_digest(files.root), _files_digest([files.agreements])])
    return digest((code_digest(module), data, _files_digest([HubPaths(home).reference]), key_id, month))


@cache
def _project_digest(root: Path) -> str:
    """The project's contracts, SQL, reference tables and disclosure policy, hashed once per
    process and project (every stage of a run asks; the agreements register, which a
    deployment may point elsewhere, is read each time)."""
    files = ProjectFiles(root)
    return _files_digest([files.contracts, files.sql, files.reference, files.disclosure_policy])


def dataset_inputs(con: duckdb.DuckDBPyConnection, personal: str, partner: str, dataset: str) -> list[str]:
    """A dataset's typed rows, quarantine, warnings, delivery log and holds in the attached personal zone."""
    where, params = "WHERE partner = ? AND dataset = ?", [partner, dataset]
    return [
        content(con, f"{personal}.{partner}__{dataset}"),
        *(content(con, f"{personal}.{log}", where, params) for log in ("quarantine", "validation_warnings")),
        content(con, f"{personal}.deliveries", where, params),
        content(con, f"{personal}.held_deliveries", where, params),
        content(con, f"{personal}.purge_log", where, params),
    ]


# every table and view the connection can read, as (database, schema, name)
RELATIONS_SQL = """
SELECT database_name, schema_name, table_name FROM duckdb_tables()
UNION ALL
SELECT database_name, schema_name, view_name FROM duckdb_views() WHERE NOT internal
"""


def content(con: duckdb.DuckDBPyConnection, table: str, where: str = "", params: list | None = None) -> str:
    """An order-free hash of a table's rows (with their count), or 'absent'. `table` is a
    name, `database.name` or, as `tables_named` gives it, `database.schema.name`."""
    *place, name = table.split(".")
    if len(place) == 2:
        found = f"SELECT count(*) FROM ({RELATIONS_SQL}) WHERE database_name = ? AND schema_name = ? AND table_name = ?"
        if not scalar(con, found, [*place, name]):
            return "absent"
    elif not table_exists(con, name, place[0] if place else None):
        return "absent"
    qualified = ".".join(quote(part) for part in (*place, name))
    count, total = con.execute(
        f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM {qualified} t {where}", params or []
    ).fetchone()
    return f"{count}:{total}"


def _search_path(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Where an unqualified name is looked up, in order: temporary tables, then the search
    path's schemas (`schema_first`), then the current database's main schema."""
    current = scalar(con, "SELECT current_database()")
    places = [("temp", "main")]
    for entry in filter(None, (e.strip() for e in scalar(con, "SELECT current_setting('search_path')").split(","))):
        database, _, schema = entry.rpartition(".")
        places.append((database or current, schema))
    return [*places, (current, "main")]


def tables_named(con: duckdb.DuckDBPyConnection, sql: str) -> list[str] | None:
    """The tables and views a query reads, as `database.schema.name`, each resolved as DuckDB
    resolves it (any case; a one-part prefix a schema of this database, else a database; an
    unqualified name through the search path), from DuckDB's parse tree. A name its own WITH
    defines is left out. None if the query does not parse or names something that cannot be
    found, so that the caller builds afresh rather than trusting a hash of nothing. Not
    `get_table_names`, which binds the query and fails on some that run."""
    tree = json.loads(con.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchall()[0][0])
    if tree.get("error"):
        return None
    named, defined, todo = set(), set(), [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE":
                named.add((node.get("catalog_name") or "", node.get("schema_name") or "", node["table_name"]))
            defined |= {entry["key"].lower() for entry in (node.get("cte_map") or {}).get("map", [])}
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    relations = {(d.lower(), s.lower(), n.lower()): (d, s, n) for d, s, n in con.execute(RELATIONS_SQL).fetchall()}
    current = scalar(con, "SELECT current_database()").lower()
    unqualified = [(d.lower(), s.lower()) for d, s in _search_path(con)]
    found = set()
    for database, schema, name in named:
        database, schema, name = database.lower(), schema.lower(), name.lower()
        if database:
            places = [(database, schema or "main")]
        elif schema:
            places = [(current, schema), (schema, "main")]
        else:
            places = unqualified
        match = next((relations[(d, s, name)] for d, s in places if (d, s, name) in relations), None)
        if match:
            found.add(".".join(match))
        elif database or schema or name not in defined:
            return None
    return sorted(found)


class BuiltFrom:
    """What each item of a stage (a dataset's link records, a view, a metric's rows) was last
    built from, kept in the table `record` of the connection's database, so that a night
    with one new file rebuilds the items that read it and keeps the rest. An item's record is
    forgotten before its output is rebuilt and written after, so a crash between leaves it to
    be done again; items no longer among `items` are forgotten at the start and listed in
    `gone`, for the caller to drop their output."""

    def __init__(self, con: duckdb.DuckDBPyConnection, record: str, items: Iterable[str]) -> None:
        self.con, self.table, self.hashes, self.now = con, quote(record), {}, {}
        con.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (item VARCHAR PRIMARY KEY, fingerprint VARCHAR)")
        self.gone: list[str] = [
            item
            for (item,) in con.execute(
                f"DELETE FROM {self.table} WHERE NOT list_contains(?, item) RETURNING item", [sorted(items)]
            ).fetchall()
        ]
        self.before = dict(con.execute(f"SELECT item, fingerprint FROM {self.table}").fetchall())

    def same(self, item: str, parts: Iterable[object], tables: Iterable[str] = ()) -> bool:
        """Whether `item` was last built from these `parts` (its code, query, inputs) and the
        same rows of `tables`. If not, its record is forgotten."""
        for table in tables:
            if table not in self.hashes:
                self.hashes[table] = content(self.con, table)
        self.now[item] = digest([*parts, *((t, self.hashes[t]) for t in sorted(tables))])
        if self.before.get(item) == self.now[item]:
            return True
        self.forget(item)
        return False

    def forget(self, item: str) -> None:
        self.con.execute(f"DELETE FROM {self.table} WHERE item = ?", [item])

    def record(self, item: str) -> None:
        """`item` is built from what `same` last judged (an item not judged is built again next time)."""
        if item in self.now:
            self.con.execute(f"INSERT OR REPLACE INTO {self.table} VALUES (?, ?)", [item, self.now[item]])


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def recorded(con: duckdb.DuckDBPyConnection, stage: str) -> tuple[str, str] | None:
    """(fingerprint, run_id) of the stage's last completed build, if any."""
    ensure(con)
    row = con.execute("SELECT fingerprint, run_id FROM stage_fingerprints WHERE stage = ?", [stage]).fetchone()
    return (row[0], row[1]) if row else None


def stages(con: duckdb.DuckDBPyConnection, prefix: str) -> list[tuple[str, str]]:
    """Recorded (stage, fingerprint) pairs whose name starts with `prefix`, sorted."""
    ensure(con)
    return con.execute(
        "SELECT stage, fingerprint FROM stage_fingerprints WHERE starts_with(stage, ?) ORDER BY stage", [prefix]
    ).fetchall()


def upstream(shared: Path, ctx: str, prefix: str) -> str:
    """A fingerprint from the context and the recorded fingerprints of earlier stages."""
    with connect(shared) as con:
        return digest([ctx, *stages(con, prefix)])


@contextmanager
def skip_if_unchanged(
    store: Path | duckdb.DuckDBPyConnection,
    stage: str,
    fingerprint: str,
    run_id: str,
    still_current: Callable[[str], bool] = lambda _: True,
) -> Iterator[str | None]:
    """Gives the run that built `stage` from these same inputs (and whose output is, by
    `still_current`, still in place): the caller skips its work. Otherwise gives None, after
    deleting the stage's record; when the block then ends without an error, the new
    fingerprint is recorded. `store` is the shared store's path (a connection is opened for
    each step) or a connection already open on it."""

    def opened():
        return nullcontext(store) if isinstance(store, duckdb.DuckDBPyConnection) else connect(store)

    with opened() as con:
        last = recorded(con, stage)
        built_by = last[1] if last and last[0] == fingerprint and still_current(last[1]) else None
        if built_by is None:
            con.execute("DELETE FROM stage_fingerprints WHERE stage = ?", [stage])
    yield built_by
    if built_by is None:
        with opened() as con:
            con.execute(
                "INSERT OR REPLACE INTO stage_fingerprints VALUES (?, ?, ?, now()::TIMESTAMP)",
                [stage, fingerprint, run_id],
            )
