"""A PII scrubber for free text a contract opts in to share: emails, NHS numbers, UPNs, UK
postcodes, phone numbers and the record's own names are replaced by placeholders, in SQL.

Free text never reaches the shared store otherwise. The scrubber lowers the risk; it cannot
promise that no one is named in prose, which is why sharing free text is an explicit choice.
"""

from __future__ import annotations

import re

PATTERNS = (
    (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "[EMAIL]"),
    (r"\b[A-Za-z][0-9]{11}[0-9A-Za-z]\b", "[UPN]"),
    (r"\b[0-9]{3} ?[0-9]{3} ?[0-9]{4}\b", "[NHS NUMBER]"),
    (r"(\+44 ?|\b0)[0-9][0-9 ]{8,11}[0-9]\b", "[PHONE]"),
    (r"\b[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}\b", "[POSTCODE]"),
)


def scrub_sql(text: str, names: list[str]) -> str:
    """SQL for `text` with identifiers replaced; `names` are SQL expressions of the record's
    own name columns (forename, surname), removed wherever they appear as whole words."""
    expr = text
    for pattern, placeholder in PATTERNS:
        expr = f"regexp_replace({expr}, '{pattern}', '{placeholder}', 'g')"
    for name in names:
        expr = (
            f"CASE WHEN length(trim({name})) > 1 THEN regexp_replace({expr}, "
            f"'(^|[^\\pL])' || regexp_escape(trim({name})) || '([^\\pL]|$)', '\\1[NAME]\\2', 'gi') ELSE {expr} END"
        )
    return expr


def without_values(err: BaseException | str) -> str:
    """The first line of an error with anything quoted taken out: libraries quote the cells
    they choke on, and a cell may hold an identifier. For messages that reach logs, Dagster
    metadata, alerts and the published run summary."""
    text = str(err).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    return re.sub(r"'[^']*'|\"[^\"]*\"", "[…]", line)
