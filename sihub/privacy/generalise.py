"""Generalising quasi-identifiers: a date of birth becomes an age and an age band at the
event, so the shared store can count children by age without holding when they were born;
a postcode becomes its postcode district (the outward code)."""

from __future__ import annotations


def age_sql(dob: str, on: str) -> str:
    """SQL for whole years of age at a date (birthdays counted by month and day)."""
    e = f"CAST({on} AS DATE)"
    return (
        f"(year({e}) - year({dob}) - CASE WHEN month({e}) < month({dob}) OR "
        f"(month({e}) = month({dob}) AND day({e}) < day({dob})) THEN 1 ELSE 0 END)"
    )


AGE_BANDS = ((1, "Under 1"), (5, "1-4"), (10, "5-9"), (16, "10-15"), (18, "16-17"))


def age_band_sql(age: str) -> str:
    """SQL for the age band of an age in years (the bands of the DfE's children in need
    statistics, to 17); NULL for no age."""
    cases = " ".join(f"WHEN {age} < {upper} THEN '{label}'" for upper, label in AGE_BANDS)
    return f"CASE WHEN {age} IS NULL THEN NULL {cases} END"


def outward_code_sql(postcode: str) -> str:
    """SQL for a postcode's outward code (`NR2` of `NR2 4AB`): the part before the space when
    there is one (a sector, `NR1 3`, as some returns give it, keeps its district), else all
    but the last three characters; NULL for a blank."""
    text = f"regexp_replace(upper(trim({postcode})), '\\s+', ' ', 'g')"
    return (
        f"NULLIF(CASE WHEN contains({text}, ' ') THEN split_part({text}, ' ', 1) "
        f"ELSE regexp_replace({text}, '.{{3}}$', '') END, '')"
    )


def sex_sql(value: str) -> str:
    """SQL for the shared `sex` of a partner's sex code as loaded (`F`, `Female`, `M`, `Male`):
    `Female` or `Male`; anything else (unknown, not stated) NULL, counted in no part of a
    breakdown. Two values over every record: as coarse as an age band."""
    return f"CASE upper(left(trim({value}), 1)) WHEN 'F' THEN 'Female' WHEN 'M' THEN 'Male' END"
