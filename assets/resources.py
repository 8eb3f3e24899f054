"""Dagster resources: where the hub lives and its two DuckDB stores (configured from the
environment in `pipelines.definitions`)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource, InitResourceContext

from sihub.core.db import connect, restrict
from sihub.core.paths import HubPaths
from sihub.core.run_lock import run_lock


class HubResource(ConfigurableResource):
    """The hub's home folder (`SIHUB_HOME`): landing, raw archive, warehouse, published."""

    home: str

    @property
    def paths(self) -> HubPaths:
        return HubPaths(Path(self.home).resolve())


class DuckDBStore(ConfigurableResource):
    """One DuckDB file: the personal zone (restricted: readable by its owner only) or the
    shared intelligence store. A run that uses a store holds its home's run lock throughout,
    so a run the daemon launches is refused, naming the other, while another process writes."""

    path: str
    home: str
    restricted: bool = False

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Iterator["DuckDBStore"]:
        run_id = context.run.run_id if context.run else None
        with run_lock(HubPaths(Path(self.home)), f"Dagster run {run_id}", run_id):
            yield self

    @property
    def file(self) -> Path:
        return Path(self.path)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.file) as con:
            if self.restricted:
                restrict(self.file)
            yield con
