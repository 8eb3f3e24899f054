"""The hub's stages, in data-flow order: one name each for the asset group, the first part of
every asset key, the stage's fingerprint and the command line's progress rows."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    LANDING = "landing"
    RAW = "raw"
    VALIDATED = "validated"
    GOVERNED = "governed"
    LINKED = "linked"
    METRICS = "metrics"
    PUBLISHED = "published"
    RETENTION = "retention"
    AUDIT = "audit"

    @property
    def order(self) -> int:
        return list(Stage).index(self)


# the stages built once per partner dataset (the rest combine every dataset)
DATASET_STAGES = (Stage.LANDING, Stage.RAW, Stage.VALIDATED, Stage.GOVERNED)
