"""One population of synthetic children, households and schools, the single driver of every
partner's extract (so the same child appears across agencies, as in life)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from faker.providers.person.en_GB import Provider as NameProvider

from sihub.core import reference
from sihub.privacy.identifiers import nhs_check_digits, upn_check_letters
from sihub.synthetic import profile
from sihub.synthetic.calendar import DAY0, DAYN, add_years, days_of, days_since_epoch

# Names with diacritics and punctuation that real extracts carry and pipelines mangle.
EXTRA_FEMALE = ("Zoë", "Chloë", "Siân", "Renée", "Niamh", "Aoife")
EXTRA_MALE = ("Seán", "José", "Eóin", "Rhodri", "Oisín")
EXTRA_SURNAMES = ("O'Brien", "O'Connor", "Smith-Jones", "Taylor-Reed", "McDonald", "D'Souza")
UNIT_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))


@dataclass
class Population:
    """Children (one row each) and schools of one generation chunk."""

    children: pd.DataFrame
    schools: pd.DataFrame
    households: pd.DataFrame


def _names(rng: np.random.Generator, n: int, pool: tuple[str, ...], extra: tuple[str, ...]):
    names = np.array(pool + extra, dtype=object)
    p = np.full(len(names), 0.99 / len(pool))
    p[len(pool) :] = 0.01 / len(extra)
    return names[rng.choice(len(names), size=n, p=p / p.sum())]


def _surnames(rng: np.random.Generator, n: int) -> np.ndarray:
    last = NameProvider.last_names
    names = np.array([*last.keys(), *EXTRA_SURNAMES], dtype=object)
    w = np.array([*last.values(), *([0.02] * len(EXTRA_SURNAMES))], dtype=float)
    return names[rng.choice(len(names), size=n, p=w / w.sum())]


def _postcodes(rng: np.random.Generator, districts: np.ndarray, outward: pd.DataFrame):
    """Full postcodes (`NR2 4AB`) inside each district's postcode districts."""
    out = np.empty(len(districts), dtype=object)
    for code, group in outward.groupby("district_code"):
        idx = np.flatnonzero(districts == code)
        choices = group["postcode_district"].to_numpy()
        out[idx] = choices[rng.integers(0, len(choices), len(idx))]
    sector = rng.integers(0, 10, len(districts)).astype(str)
    unit = UNIT_LETTERS[rng.integers(0, 20, (len(districts), 2))]
    return out + " " + sector + unit[:, 0] + unit[:, 1]


def nhs_numbers(global_index: np.ndarray, salt: int) -> np.ndarray:
    """Unique, valid NHS numbers in the 9xx range, which is never issued to patients.

    Two affine bijections (over index space, then over 7-digit stems) make them look random
    while staying unique up to 90 million children; within each stem the ninth digit skips
    the one value whose Modulus 11 check would be 10.
    """
    shuffled = (1_000_003 * global_index + salt) % 90_000_000
    stem = (7_654_321 * (shuffled // 9) + salt) % 10_000_000
    rank = shuffled % 9
    digits = np.zeros((len(global_index), 9), dtype=np.int64)
    digits[:, 0] = 9
    for pos in range(7, 0, -1):
        digits[:, pos] = stem % 10
        stem = stem // 10
    # try ninth digits 0..9 in order and keep the rank-th one that is valid
    seen = np.zeros(len(global_index), dtype=np.int64)
    chosen = np.full(len(global_index), -1, dtype=np.int64)
    for d in range(10):
        digits[:, 8] = d
        ok = (nhs_check_digits(digits) != 10) & (chosen < 0)
        hit = ok & (seen == rank)
        chosen[hit] = d
        seen += ok
    digits[:, 8] = chosen
    check = nhs_check_digits(digits)
    full = np.concatenate([digits, check[:, None]], axis=1)
    return np.array(["".join(map(str, row)) for row in full], dtype=object)


def _upns(la: int, estab: np.ndarray, year: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """Permanent UPNs: check letter + LA number + establishment + 2-digit year + serial."""
    body = np.stack(
        [
            np.full(len(estab), la) // 100 % 10,
            np.full(len(estab), la) // 10 % 10,
            np.full(len(estab), la) % 10,
            estab // 1000 % 10,
            estab // 100 % 10,
            estab // 10 % 10,
            estab % 10,
            year // 10 % 10,
            year % 10,
            serial // 100 % 10,
            serial // 10 % 10,
            serial % 10,
        ],
        axis=1,
    )
    letters = upn_check_letters(body)
    digits = ["".join(map(str, row)) for row in body]
    return np.array([a + b for a, b in zip(letters, digits, strict=True)], dtype=object)


def build(rng: np.random.Generator, scale: float, chunk: int, id_offset: int, salt: int) -> Population:
    """Children alive and aged 0-17 at some point of the window, for one chunk.

    Each single-year cohort of the reference population is replayed at `scale`, plus the
    births of every year of the window, so the number aged 0-17 on any day matches the
    mid-year estimates.
    """
    pop = reference.population()
    districts = reference.districts()
    outward = reference.postcode_districts()
    years = (DAYN - DAY0) / 365.25

    cohort = pop.assign(n=np.round(pop["population"] * scale).astype(int))
    births = cohort[cohort["age"] == 0].assign(age=lambda d: -1, n=lambda d: (d["n"] * years).round().astype(int))
    cohort = pd.concat([cohort, births])
    district = np.repeat(cohort["district_code"].to_numpy(), cohort["n"].to_numpy())
    age = np.repeat(cohort["age"].to_numpy(), cohort["n"].to_numpy())
    n = len(district)
    # age a at the window start: born between a+1 and a years before; births spread over the window
    dob = np.where(
        age >= 0,
        DAY0 - ((age + rng.random(n)) * 365.25).astype(np.int64),
        DAY0 + (rng.random(n) * (DAYN - DAY0)).astype(np.int64),
    )
    sex = np.where(rng.random(n) < 0.512, "M", "F")

    # households: children of one district grouped 1-4 at a time
    order = np.lexsort((rng.random(n), district))
    sizes = rng.choice(profile.HOUSEHOLD_SIZES, size=n, p=profile.HOUSEHOLD_SIZE_P)
    starts = np.cumsum(sizes) - sizes
    hh_of_pos = np.searchsorted(starts, np.arange(n), side="right") - 1
    # a household never spans two districts: break at district boundaries
    sorted_district = district[order]
    boundary = np.r_[True, sorted_district[1:] != sorted_district[:-1]] | np.r_[True, hh_of_pos[1:] != hh_of_pos[:-1]]
    hh_sorted = np.cumsum(boundary) - 1
    household = np.empty(n, dtype=np.int64)
    household[order] = hh_sorted
    n_hh = int(hh_sorted.max()) + 1

    hh_district = np.empty(n_hh, dtype=object)
    hh_district[household] = district
    need = np.array([profile.DISTRICT_NEED.get(d, 1.0) for d in hh_district])
    hh_risk = rng.gamma(profile.RISK_SHAPE, 1 / profile.RISK_SHAPE, n_hh) * need
    hh_postcode = _postcodes(rng, hh_district, outward)
    moves = rng.random(n_hh) < profile.HOUSEHOLD_MOVE_P
    move_day = np.where(moves, DAY0 + (rng.random(n_hh) * (DAYN - DAY0)).astype(np.int64), DAYN + 10**6)
    all_districts = districts["district_code"].to_numpy()
    new_district = np.where(
        rng.random(n_hh) < profile.MOVE_SAME_DISTRICT_P,
        hh_district,
        all_districts[rng.integers(0, len(all_districts), n_hh)],
    )
    new_postcode = np.where(moves, _postcodes(rng, new_district, outward), hh_postcode)
    new_district = np.where(moves, new_district, hh_district)
    hh_surname = _surnames(rng, n_hh)
    deprived = rng.random(n_hh) < np.clip(0.12 * need * np.sqrt(hh_risk), 0, 0.8)
    households = pd.DataFrame(
        {
            "household": np.arange(n_hh),
            "district_code": hh_district,
            "risk": hh_risk,
            "postcode": hh_postcode,
            "move_day": move_day,
            "new_postcode": new_postcode,
            "new_district_code": new_district,
        }
    )

    forename = np.where(
        sex == "M",
        _names(rng, n, NameProvider.first_names_male, EXTRA_MALE),
        _names(rng, n, NameProvider.first_names_female, EXTRA_FEMALE),
    )
    surname = hh_surname[household].copy()
    step = rng.random(n) < 0.1  # step-siblings and children who kept another parent's name
    surname[step] = _surnames(rng, int(step.sum()))
    risk = hh_risk[household] * rng.lognormal(0, 0.3, n)

    # deaths end a child's time in the data; infants die far more often than older children
    exit_day = add_years(dob, 18)
    start = np.maximum(dob, DAY0)
    exposure = np.clip(np.minimum(exit_day, DAYN) - start, 0, None) / 365.25
    infant = np.clip(np.minimum(add_years(dob, 1), DAYN) - start, 0, None) / 365.25
    lam = profile.DEATH_RATE * (exposure + (profile.INFANT_DEATH_MULTIPLIER - 1) * infant)
    died = rng.random(n) < lam
    if died.sum() < profile.MIN_RARE_EVENTS:
        died[rng.choice(np.flatnonzero(exposure > 0.5), profile.MIN_RARE_EVENTS, replace=False)] = True
    death_day = np.where(died, start + (rng.random(n) * (np.minimum(exit_day, DAYN) - start)).astype(np.int64), -1)
    exit_day = np.where(died, death_day, exit_day)

    global_id = id_offset + np.arange(n)
    children = pd.DataFrame(
        {
            "child_id": global_id,
            "household": household,
            "sex": sex,
            "dob": dob,
            "exit_day": exit_day,
            "death_day": death_day,
            "forename": forename,
            "surname": surname,
            "district_code": district,
            "risk": risk,
            "fsm": deprived[household],
            "nhs_number": nhs_numbers(global_id, salt),
        }
    )
    children["sen"] = rng.choice(["N", "K", "E"], size=n, p=[0.85, 0.12, 0.03])
    children["la_ref"] = "LCS" + (1_000_000 + global_id).astype(str)
    children["police_ref"] = "NP" + (20_000_000 + (global_id * 7919 + salt) % 70_000_000).astype(str)
    schools = _schools(children, profile.LA_CODE + chunk)
    _assign_schools(rng, children, schools, profile.LA_CODE + chunk)
    # drawn last, so every stream before it is as it was before ethnicity was added
    children["ethnicity"] = rng.choice(profile.ETHNICITIES, size=n, p=profile.ETHNICITY_SHARE)
    return Population(children, schools, households)


def _schools(children: pd.DataFrame, la: int) -> pd.DataFrame:
    """Primary (LAEstab 2xxx) and secondary (4xxx) schools sized to each district's children."""
    rows = []
    per_year = children.groupby("district_code").size() * 18 / 23
    primary_no, secondary_no = 2000, 4000
    for district, n in sorted(per_year.items()):
        for _ in range(max(1, round(n * 7 / 18 / profile.PRIMARY_SIZE))):
            rows.append((la * 10_000 + primary_no, "primary", district))
            primary_no += 1
        for _ in range(max(1, round(n * 5 / 18 / profile.SECONDARY_SIZE))):
            rows.append((la * 10_000 + secondary_no, "secondary", district))
            secondary_no += 1
    return pd.DataFrame(rows, columns=["laestab", "phase", "district_code"])


def _assign_schools(rng: np.random.Generator, children: pd.DataFrame, schools: pd.DataFrame, la: int) -> None:
    """A primary and a secondary school in the child's district, and the UPN minted at entry."""
    for phase in ("primary", "secondary"):
        col = np.zeros(len(children), dtype=np.int64)
        for district, group in schools[schools["phase"] == phase].groupby("district_code"):
            idx = np.flatnonzero(children["district_code"].to_numpy() == district)
            col[idx] = group["laestab"].to_numpy()[rng.integers(0, len(group), len(idx))]
        children[f"{phase}_school"] = col
    # reception entry: the September after the fourth birthday
    dob = days_of(children["dob"])
    birth_year = dob.year + (dob.month >= 9)
    children["school_entry_day"] = days_since_epoch(birth_year + 4, 9, 1)
    entry_year = (birth_year + 4) % 100
    estab = children["primary_school"].to_numpy() % 10_000
    serial = children.groupby([estab, entry_year]).cumcount().to_numpy() + 1
    children["upn"] = _upns(la % 1000, estab, entry_year.to_numpy(), serial % 1000)
