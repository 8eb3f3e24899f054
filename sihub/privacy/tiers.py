"""Disclosure tiers: who a publication is for, the rule it is protected by, its marking and
its folder (`governance/disclosure.yaml`).

The partnership's own members read figures under the sharing agreements; the public reads
what is released beyond. One rule for both either hides the board's headline figures or
releases too much, so each tier is protected, published and attacked on its own. The tier
whose folder is "." is published/ itself (the stable paths Power BI and the pack read); its
working tables stay in the shared store's main schema, the others' in a schema of their own.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import yaml
from pydantic import BaseModel, ConfigDict, field_validator

from sihub.core.paths import project
from sihub.privacy.disclosure import Policy

HOME_FOLDER = "."


class TierEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    audience: str
    policy: str
    marking: str
    folder: str

    @field_validator("folder")
    @classmethod
    def _inside_published(cls, folder: str) -> str:
        parts = PurePosixPath(folder).parts
        if folder != HOME_FOLDER and (PurePosixPath(folder).is_absolute() or ".." in parts or "." in parts):
            raise ValueError(f"folder {folder!r} must be '.' or a folder inside published/")
        return folder


class DisclosureFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tiers: dict[str, TierEntry]
    policies: dict[str, Policy]


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    audience: str
    marking: str
    folder: str
    policy: Policy

    @property
    def home(self) -> bool:
        return self.folder == HOME_FOLDER

    @property
    def schema(self) -> str:
        """Where the tier's protected tables live in the shared store."""
        return "main" if self.home else f"tier_{self.name}"

    def published(self, root: Path) -> Path:
        """The tier's folder under `root` (published/)."""
        return root if self.home else root / self.folder

    @property
    def label(self) -> str:
        """The marking line every sheet and table carries."""
        return f"{self.marking}: {self.name} tier. {self.audience}"


def load_tiers(path: Path | None = None) -> list[Tier]:
    """Every tier, the home tier (published/ itself) first."""
    path = path or project().disclosure_policy
    config = DisclosureFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    tiers = []
    for name, entry in config.tiers.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ValueError(f"{path}: tier name {name!r} must be lower case letters, digits and _")
        if entry.policy not in config.policies:
            raise ValueError(
                f"{path}: tier {name!r} names policy {entry.policy!r}, not one of {', '.join(config.policies)}"
            )
        policy = config.policies[entry.policy].model_copy(update={"name": entry.policy})
        tiers.append(Tier(name=name, policy=policy, **entry.model_dump(exclude={"policy"})))
    homes = [t.name for t in tiers if t.home]
    if len(homes) != 1:
        raise ValueError(f"{path}: exactly one tier must publish to '.' (published/ itself); found {homes or 'none'}")
    folders = [t.folder for t in tiers]
    if len(set(folders)) != len(folders):
        raise ValueError(f"{path}: two tiers share a folder")
    return sorted(tiers, key=lambda t: not t.home)


def load_policy(path: Path | None = None) -> Policy:
    """The home tier's policy: the one published/ itself is protected by."""
    return load_tiers(path)[0].policy
