"""Landing: the folders partners drop files into. Observed, not produced, by the hub."""

from dagster import AssetSpec

from hub.contracts import Contract


def landing_spec(contract: Contract) -> AssetSpec:
    return AssetSpec(
        key=["landing", contract.partner, contract.dataset],
        group_name="landing",
        description=f"{contract.title}: files {contract.owner or contract.partner} drops in "
        f"landing/{contract.partner}/{contract.dataset}/ ({contract.source.format.upper()}).",
        metadata={"partner": contract.partner, "format": contract.source.format},
    )
