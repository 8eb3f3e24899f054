"""Dagster resources: where the hub lives and its two DuckDB stores."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from hub.db import connect, restrict
from hub.paths import HubPaths


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

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(Path(self.path)) as con:
            if self.restricted:
                restrict(Path(self.path))
            yield con
