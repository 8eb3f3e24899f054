"""Landing: the folders partners drop files into. Observed, not produced, by the hub."""

from dagster import AssetSpec

from assets.keys import catalogue, dataset_key
from sihub.core.contracts import Contract
from sihub.core.stages import Stage


def landing_spec(contract: Contract) -> AssetSpec:
    return AssetSpec(
        **catalogue(dataset_key(Stage.LANDING, contract), {contract.source.format}, contract),
        description=f"{contract.title}: files {contract.owner or contract.partner} drops in "
        f"landing/{contract.partner}/{contract.source.folder or contract.dataset}/ "
        f"({contract.source.format.upper()}"
        + (f", sheet {contract.source.sheet!r}" if contract.source.sheet else "")
        + (f", records at {contract.source.record}" if contract.source.record else "")
        + ").",
        metadata={"partner": contract.partner, "format": contract.source.format},
    )
