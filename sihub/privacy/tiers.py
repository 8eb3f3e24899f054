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
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sihub.core.change_tracking import digest
from sihub.core.paths import FORMER_PUBLISHED_REPORTS, project
from sihub.privacy.disclosure import Policy

HOME_FOLDER = "."
# what published/ itself holds: a tier's folder by one of these names would mix with it
RESERVED = {"snapshots", "parquet", "preview", "metrics.duckdb", "ssag_pack.xlsx",
            "run_summary.json", "current.json", "metric_dictionary.md", "metric_dictionary.html",
            "sihub_parquet.pbids", "powerbi", *FORMER_PUBLISHED_REPORTS}  # fmt: skip


class TierEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    audience: str = Field(min_length=1)
    policy: str
    marking: str = Field(min_length=1)
    folder: str

    @field_validator("folder")
    @classmethod
    def _inside_published(cls, folder: str) -> str:
        """'.' (published/ itself) or one folder directly inside it, by its plain name."""
        if folder.strip() == HOME_FOLDER:
            return HOME_FOLDER
        path = PurePosixPath(folder.strip())
        if path.is_absolute() or len(path.parts) != 1 or path.name in ("", ".", "..") or "\\" in folder:
            raise ValueError(f"folder {folder!r} must be '.' or the plain name of one folder inside published/")
        if path.name in RESERVED:
            raise ValueError(f"folder {folder!r} is a name published/ itself uses")
        return path.name


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

    def basis(self, home: Tier, parts: Iterable[object]) -> str:
        """What the tier's suppression patterns, kept from night to night while it is the
        same, rest on: `parts` (the code, catalogue and geography), its policy and, for a tier
        that starts from what the home tier hides, the home tier's policy too."""
        return digest([*parts, self.policy, None if self.home else (home.schema, home.policy)])

    @property
    def label(self) -> str:
        """The marking line every sheet and table carries."""
        return f"{self.marking}: {self.name} tier. {self.audience}"


def load_tiers(path: Path | None = None) -> list[Tier]:
    """Every tier, the home tier (published/ itself) first."""
    path = path or project().disclosure_policy
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(raw, dict) and "policy" in raw and "tiers" not in raw:
        raise ValueError(
            f"{path}: one `policy` for everything is the old format; name the tiers instead (`tiers:` with "
            "audience, policy, marking and folder each; see README, Disclosure tiers)"
        )
    config = DisclosureFile.model_validate(raw)
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
    tiers.sort(key=lambda t: not t.home)
    # each tier hides at least what the home tier hides (it is protected from the home tier's
    # pattern up), so a reader holding both learns nothing the home tier does not show
    weaker = [t.name for t in tiers[1:] if t.policy.threshold < tiers[0].policy.threshold]
    if weaker:
        raise ValueError(
            f"{path}: tier(s) {', '.join(weaker)} would suppress less than the home tier {tiers[0].name!r}; "
            "published/ itself must hold the audience that sees most"
        )
    return tiers


def load_policy(path: Path | None = None) -> Policy:
    """The home tier's policy: the one published/ itself is protected by."""
    return load_tiers(path)[0].policy
