"""Dagster resources: where the hub lives and its two DuckDB stores (configured from the
environment in `pipelines.definitions`)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from sihub.core.db import connect, restrict
from sihub.core.paths import HubPaths


class HubResource(ConfigurableResource):
    """The hub's home folder (`SIHUB_HOME`): landing, raw archive, warehouse, published."""

    home: str

    @property
    def paths(self) -> HubPaths:
        return HubPaths(Path(self.home).resolve())


class DuckDBStore(ConfigurableResource):
    """One DuckDB file: the personal zone (restricted: readable by its owner only) or the
    shared intelligence store."""

    path: str
    restricted: bool = False

    @property
    def file(self) -> Path:
        return Path(self.path)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.file) as con:
            if self.restricted:
                restrict(self.file)
            yield con
