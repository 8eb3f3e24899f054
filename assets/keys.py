"""Asset keys: `[stage, partner, dataset]` for a dataset's stages, `[stage, name]` for the
stages that combine every dataset. The one place keys are made and read back."""

from __future__ import annotations

from dagster import AssetKey

from sihub.core.contracts import Contract
from sihub.core.stages import Stage

REFERENCE_KEY = AssetKey([Stage.GOVERNED.value, "reference"])
KNOWN_NAMES_KEY = AssetKey([Stage.GOVERNED.value, "known_names"])
CHILD_INDEX_KEY = AssetKey([Stage.LINKED.value, "child_index"])
METRICS_KEY = AssetKey([Stage.METRICS.value, "metric_values"])
PUBLISHED_KEY = AssetKey([Stage.PUBLISHED.value, "metrics_store"])
RETENTION_KEY = AssetKey([Stage.RETENTION.value, "purge"])
AUDIT_KEY = AssetKey([Stage.AUDIT.value, "chain"])
COMBINED_KEYS = (CHILD_INDEX_KEY, METRICS_KEY, PUBLISHED_KEY, RETENTION_KEY, AUDIT_KEY)


def dataset_key(stage: Stage, contract: Contract) -> AssetKey:
    return AssetKey([stage.value, contract.partner, contract.dataset])


def stage_of(key: AssetKey) -> Stage:
    return Stage(key.path[0])


def dataset_of(key: AssetKey) -> str | None:
    """`partner/dataset` of a dataset's asset, None for a combining one."""
    return "/".join(key.path[1:]) if len(key.path) == 3 else None


def catalogue(key: AssetKey, kinds: set[str], contract: Contract | None = None) -> dict:
    """What the Dagster catalogue shows of an asset, the same way for every stage: its group
    (the stage), kinds, stage and partner tags, and the contract's owner as a team."""
    tags = {"stage": stage_of(key).value}
    if contract is not None:
        tags["partner"] = contract.partner
    owners = [f"team:{contract.owner}"] if contract is not None and contract.owner else []
    return {"key": key, "group_name": stage_of(key).value, "kinds": kinds, "tags": tags, "owners": owners}
