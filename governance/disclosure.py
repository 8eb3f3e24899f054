"""Statistical disclosure control of published counts.

Primary suppression as in the DfE's children's social care releases: a count from 1 to the
threshold is never shown (0 stays 0), nor is any rate built on it.
"""

from __future__ import annotations

THRESHOLD = 5


def primary_suppression(count_sql: str, threshold: int = THRESHOLD) -> str:
    """SQL that is true where `count_sql` must be suppressed."""
    return f"coalesce({count_sql} BETWEEN 1 AND {int(threshold)}, false)"
