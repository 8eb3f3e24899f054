"""One function builds a dataset's assets from its contract: twelve datasets, twelve calls."""

from dagster import AssetsDefinition, AssetSpec

from assets.governed import build_governed
from assets.landing import landing_spec
from assets.raw import build_raw
from assets.validated import build_validated
from sihub.core.contracts import Contract


def build_dataset_assets(contract: Contract) -> list[AssetsDefinition | AssetSpec]:
    return [landing_spec(contract), build_raw(contract), build_validated(contract), build_governed(contract)]
