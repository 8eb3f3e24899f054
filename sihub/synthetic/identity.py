"""How each partner records a child: the identity columns of a record, with the
inconsistencies real extracts have (nicknames, typos, missing numbers, a swapped date of
birth, a postcode that lags a house move, odd spacing and case).

Each record's variations are kept for the truth file so linkage can be measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sihub.synthetic.calendar import add_years, days_of

NICKNAMES = {
    "William": "Will",
    "Thomas": "Tom",
    "James": "Jamie",
    "Robert": "Rob",
    "Elizabeth": "Beth",
    "Katherine": "Kate",
    "Jennifer": "Jenny",
    "Samuel": "Sam",
    "Alexander": "Alex",
    "Benjamin": "Ben",
    "Daniel": "Dan",
    "Matthew": "Matt",
    "Christopher": "Chris",
    "Michael": "Mike",
    "Jonathan": "Jon",
    "Joseph": "Joe",
    "Rebecca": "Becky",
    "Victoria": "Vicky",
    "Margaret": "Maggie",
    "Charlotte": "Charlie",
    "Abigail": "Abi",
    "Samantha": "Sam",
    "Jessica": "Jess",
    "Nicholas": "Nick",
    "Anthony": "Tony",
    "Edward": "Ed",
    "Richard": "Rich",
    "Stephen": "Steve",
    "Deborah": "Debbie",
}


@dataclass(frozen=True)
class RecordingHabits:
    """A partner's habits in recording who a child is (shares of records)."""

    nickname: float = 0.0
    typo: float = 0.01
    dob_swap: float = 0.0
    nhs_missing: float = 0.0
    upn_missing: float = 0.0
    postcode_lag: float = 0.0  # records still carrying the pre-move postcode (up to a year)
    postcode_no_space: float = 0.0
    postcode_lower: float = 0.0


def _typo(rng: np.random.Generator, name: str) -> str:
    if len(name) < 4:
        return name + name[-1]
    i = int(rng.integers(1, len(name) - 2))
    kind = int(rng.integers(0, 3))
    if kind == 0:  # adjacent transposition
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    if kind == 1:  # dropped letter
        return name[:i] + name[i + 1 :]
    return name[:i] + name[i] + name[i:]  # doubled letter


def identify(
    rng: np.random.Generator,
    records: pd.DataFrame,
    children: pd.DataFrame,
    households: pd.DataFrame,
    habits: RecordingHabits,
) -> pd.DataFrame:
    """Add canonical identity columns to records carrying `_child` and `_date` (day numbers).

    Columns added: forename, surname, dob, sex, postcode, nhs_number, upn, la_ref,
    police_ref, district_code (true district at the event, for the truth), `_variation`.
    """
    n = len(records)
    kid = children.set_index("child_id").loc[records["_child"].to_numpy()]
    day = records["_date"].to_numpy()
    var = np.full(n, "", dtype=object)

    def mark(mask: np.ndarray, label: str) -> None:
        var[mask] = var[mask] + label + ";"

    forename = kid["forename"].to_numpy().copy()
    nick = np.array([NICKNAMES.get(f, "") for f in forename], dtype=object)
    use_nick = (nick != "") & (rng.random(n) < habits.nickname)
    forename[use_nick] = nick[use_nick]
    mark(use_nick, "nickname")
    surname = kid["surname"].to_numpy().copy()
    for col, label in ((forename, "typo_forename"), (surname, "typo_surname")):
        hit = rng.random(n) < habits.typo / 2
        col[hit] = [_typo(rng, s) for s in col[hit]]
        mark(hit, label)

    dob = kid["dob"].to_numpy().copy()
    d = days_of(dob)
    small_day = d.day <= 12
    swapped = pd.to_datetime(
        {
            "year": d.year,
            "month": np.where(small_day, d.day, d.month),
            "day": np.where(small_day, d.month, d.day),
        }
    )
    swapped_days = swapped.to_numpy().astype("datetime64[D]").astype(np.int64)
    # a swap is only believable (and only invisible to validation) while the child is 0-17
    plausible = small_day & (d.day != d.month) & (swapped_days < day) & (add_years(swapped_days, 18) > day)
    swap = plausible & (rng.random(n) < habits.dob_swap)
    dob[swap] = swapped_days[swap]
    mark(swap, "dob_swapped")

    hh = households.set_index("household").loc[kid["household"].to_numpy()]
    move_day = hh["move_day"].to_numpy()
    lag = rng.random(n) < habits.postcode_lag
    moved = day >= move_day
    stale = moved & lag & (day < move_day + 365)
    postcode = np.where(moved & ~stale, hh["new_postcode"].to_numpy(), hh["postcode"].to_numpy())
    mark(stale, "old_postcode")
    no_space = rng.random(n) < habits.postcode_no_space
    postcode[no_space] = [p.replace(" ", "") for p in postcode[no_space]]
    lower = rng.random(n) < habits.postcode_lower
    postcode[lower] = [p.lower() for p in postcode[lower]]
    district = np.where(moved, hh["new_district_code"].to_numpy(), hh["district_code"].to_numpy())

    nhs = kid["nhs_number"].to_numpy().copy()
    no_nhs = rng.random(n) < habits.nhs_missing
    nhs[no_nhs] = None
    mark(no_nhs, "nhs_missing")
    upn = kid["upn"].to_numpy().copy()
    no_upn = (rng.random(n) < habits.upn_missing) | (day < kid["school_entry_day"].to_numpy())
    upn[no_upn] = None
    mark(no_upn, "upn_missing")

    return records.assign(
        forename=forename,
        surname=surname,
        dob=dob,
        sex=kid["sex"].to_numpy(),
        postcode=postcode,
        nhs_number=nhs,
        upn=upn,
        la_ref=kid["la_ref"].to_numpy(),
        police_ref=kid["police_ref"].to_numpy(),
        district_code=district,
        _variation=np.array([v.rstrip(";") for v in var], dtype=object),
    )
