"""What happens to the synthetic children, one function per partner dataset.

Each builder returns records with `_child` (child id), `_date` (the day that files the
record into a delivery) and the dataset's own columns under canonical names; identity
columns and each partner's formats are added later, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sihub.synthetic import profile
from sihub.synthetic.calendar import (
    DAY0,
    DAYN,
    EPOCH,
    add_working_days,
    age_at,
    days_of,
    days_since_epoch,
    weekday_on_or_after,
)
from sihub.synthetic.events import ids, pick, sample
from sihub.synthetic.population import Population

BLANK_DAY = -(10**9)  # a date not (yet) recorded: formatted as an empty field


@dataclass
class Chunk:
    """One slice of the population and the random stream that belongs to it."""

    rng: np.random.Generator
    pop: Population
    number: int

    @property
    def id_base(self) -> int:
        return self.number * 10_000_000


def _need(children: pd.DataFrame) -> np.ndarray:
    return np.array([profile.DISTRICT_NEED.get(d, 1.0) for d in children["district_code"]])


def _kids(chunk: Chunk, records: pd.DataFrame, column: str) -> np.ndarray:
    return chunk.pop.children.set_index("child_id").loc[records["_child"].to_numpy(), column].to_numpy()


def _blank_after_window(days: np.ndarray) -> np.ndarray:
    """Dates after the extract was taken are not known yet."""
    return np.where(days < DAYN, days, BLANK_DAY)


def _timestamps(days: np.ndarray, minutes: np.ndarray) -> pd.Series:
    values = days.astype("datetime64[D]").astype("datetime64[m]") + minutes.astype("timedelta64[m]")
    return pd.Series(values.astype("datetime64[s]"))


# --- children's services -------------------------------------------------------------


def contacts(chunk: Chunk) -> pd.DataFrame:
    rng, kids = chunk.rng, chunk.pop.children
    rate = profile.CONTACT_RATE * 1.5 * kids["risk"].to_numpy()

    def by_age(age: np.ndarray) -> np.ndarray:
        return np.select([age < 1, age < 5, age < 12], [1.0, 0.67, 0.6], 0.73)

    ev = sample(rng, kids, rate, age_weight=by_age)
    n = len(ev)
    risk = _kids(chunk, ev, "risk")
    tier = np.clip(np.floor(rng.random(n) * 2.2 + np.log1p(risk)).astype(int) + 1, 1, 4)
    referral = (tier >= 3) & (rng.random(n) < 0.9)
    outcome = np.where(
        referral,
        "Referral to children's social care",
        np.where(tier == 1, "Information and advice", "Early Help"),
    )
    return ev.assign(
        contact_id=ids("CT", chunk.id_base, n),
        contact_source=pick(
            rng,
            {
                "Police": 0.3,
                "Education": 0.2,
                "Health": 0.15,
                "Individual": 0.1,
                "LA services": 0.1,
                "Other": 0.15,
            },
            n,
        ),
        threshold_tier=tier.astype(str),
        contact_outcome=outcome,
        referral_date=np.where(referral, ev["_date"].to_numpy() + rng.integers(0, 3, n), BLANK_DAY),
        contact_date=ev["_date"].to_numpy(),
    )


def assessments(chunk: Chunk, contact_records: pd.DataFrame) -> pd.DataFrame:
    """Most referrals lead to an assessment, authorised weeks later."""
    rng = chunk.rng
    refs = contact_records[contact_records["referral_date"] != BLANK_DAY]
    refs = refs[rng.random(len(refs)) < 0.9]
    n = len(refs)
    start = refs["referral_date"].to_numpy() + rng.integers(0, 4, n)
    authorised = start + np.round(rng.gamma(4.0, 8.0, n)).astype(np.int64) + 1
    keep = start < DAYN
    return pd.DataFrame(
        {
            "_child": refs["_child"].to_numpy()[keep],
            "_date": start[keep],
            "assessment_id": ids("AS", chunk.id_base, int(keep.sum())),
            "assessment_start": start[keep],
            "assessment_authorised": _blank_after_window(authorised[keep]),
        }
    )


def cp_plans(chunk: Chunk) -> pd.DataFrame:
    rng, kids = chunk.rng, chunk.pop.children
    rate = profile.CP_PLAN_RATE * kids["risk"].to_numpy() ** 1.5 * 1.4

    def by_age(age: np.ndarray) -> np.ndarray:
        return np.where(age < 5, 1.0, np.where(age < 12, 0.75, 0.55))

    ev = sample(rng, kids, rate, age_weight=by_age)
    n = len(ev)
    start = ev["_date"].to_numpy()
    end = start + np.round(rng.lognormal(np.log(270), 0.7, n)).astype(np.int64)
    end = np.minimum(end, _kids(chunk, ev, "exit_day"))
    return ev.assign(
        cp_plan_id=ids("CP", chunk.id_base, n),
        plan_start=start,
        plan_end=_blank_after_window(end),
        category=pick(
            rng,
            {
                "Neglect": 0.5,
                "Emotional abuse": 0.35,
                "Physical abuse": 0.08,
                "Sexual abuse": 0.04,
                "Multiple": 0.03,
            },
            n,
        ),
    )


def cla_episodes(chunk: Chunk) -> pd.DataFrame:
    rng, kids = chunk.rng, chunk.pop.children
    ev = sample(rng, kids, profile.CLA_RATE * kids["risk"].to_numpy() ** 2)
    n = len(ev)
    start = ev["_date"].to_numpy()
    end = np.minimum(
        start + np.round(rng.lognormal(np.log(500), 0.9, n)).astype(np.int64), _kids(chunk, ev, "exit_day")
    )
    return ev.assign(
        episode_id=ids("LA", chunk.id_base, n),
        episode_start=start,
        episode_end=_blank_after_window(end),
        legal_status=pick(rng, {"C2": 0.55, "V2": 0.25, "E1": 0.08, "J2": 0.04, "L2": 0.08}, n),
        placement_type=pick(
            rng,
            {"Foster care": 0.7, "Kinship care": 0.12, "Residential": 0.1, "Placed with parents": 0.08},
            n,
        ),
    )


STEPPED_UP = "Stepped up to children's social care"


def early_help_episodes(chunk: Chunk, contact_records: pd.DataFrame) -> pd.DataFrame:
    """Most contacts judged to need early help start an episode within a fortnight; and some
    referrals to social care come from a family already in early help, whose episode closes on
    the day of the referral (stepped up). The child's ethnicity is recorded, as early help
    systems do."""
    rng = chunk.rng
    offered = contact_records[contact_records["contact_outcome"] == "Early Help"]
    offered = offered[rng.random(len(offered)) < profile.EARLY_HELP_TAKE_UP]
    start = offered["_date"].to_numpy() + rng.integers(1, 15, len(offered))
    weeks = rng.lognormal(np.log(profile.EARLY_HELP_WEEKS), 0.5, len(offered))
    closed = pick(
        rng,
        {
            "Needs met": 0.6,
            "Transferred to universal services": 0.2,
            "Family withdrew consent": 0.15,
            "Moved out of area": 0.05,
        },
        len(offered),
    )
    referrals = contact_records[contact_records["referral_date"] != BLANK_DAY]
    referrals = referrals[rng.random(len(referrals)) < profile.EARLY_HELP_BEFORE_REFERRAL]
    referred = referrals["referral_date"].to_numpy()
    ev = pd.DataFrame(
        {
            "_child": np.concatenate([offered["_child"].to_numpy(), referrals["_child"].to_numpy()]),
            "_date": np.concatenate([start, referred - rng.integers(30, 330, len(referrals))]),
            "end": np.concatenate([start + np.round(weeks * 7).astype(np.int64), referred]),
            "end_reason": np.concatenate([closed, np.full(len(referrals), STEPPED_UP, dtype=object)]),
        }
    )
    # an episode starts in the window, once the child is born and before they leave the data
    born, leaves = _kids(chunk, ev, "dob"), _kids(chunk, ev, "exit_day")
    ev = ev[(ev["_date"] >= np.maximum(born, DAY0)) & (ev["_date"] < np.minimum(leaves, DAYN))].reset_index(drop=True)
    end = _blank_after_window(np.minimum(ev["end"].to_numpy(), _kids(chunk, ev, "exit_day")))
    n = len(ev)
    return ev.assign(
        episode_id=ids("EH", chunk.id_base, n),
        ethnicity=_kids(chunk, ev, "ethnicity"),
        episode_start=ev["_date"].to_numpy(),
        episode_end=end,
        lead_agency=pick(
            rng,
            {
                "Early help team": 0.4,
                "School": 0.3,
                "Health visiting": 0.15,
                "Children's centre": 0.1,
                "Voluntary sector": 0.05,
            },
            n,
        ),
        end_reason=np.where(end == BLANK_DAY, "", ev["end_reason"].to_numpy()),
    ).drop(columns="end")


# --- police ------------------------------------------------------------------------------


def domestic_abuse_incidents(chunk: Chunk) -> pd.DataFrame:
    """Incidents happen to households; every child living there at the time is recorded."""
    rng, kids, hh = chunk.rng, chunk.pop.children, chunk.pop.households
    years = (DAYN - DAY0) / 365.25
    counts = rng.poisson(profile.DA_HOUSEHOLD_RATE * hh["risk"].to_numpy() * years)
    household = np.repeat(hh["household"].to_numpy(), counts)
    day = DAY0 + (rng.random(len(household)) * (DAYN - DAY0)).astype(np.int64)
    incidents = pd.DataFrame(
        {
            "household": household,
            "_date": day,
            "incident_ref": ids("DA", chunk.id_base, len(day)),
            "minute": rng.integers(0, 24 * 60, len(day)),
            "risk_level": pick(rng, {"Standard": 0.7, "Medium": 0.22, "High": 0.08}, len(day)),
        }
    )
    present = incidents.merge(kids[["child_id", "household", "dob", "exit_day"]], on="household")
    present = present[(present["dob"] <= present["_date"]) & (present["_date"] < present["exit_day"])]
    return pd.DataFrame(
        {
            "_child": present["child_id"].to_numpy(),
            "_date": present["_date"].to_numpy(),
            "incident_ref": present["incident_ref"].to_numpy(),
            "incident_at": _timestamps(present["_date"].to_numpy(), present["minute"].to_numpy()),
            "risk_level": present["risk_level"].to_numpy(),
            "children_present": "Y",
        }
    )


def missing_episodes(chunk: Chunk) -> pd.DataFrame:
    rng, kids = chunk.rng, chunk.pop.children
    ev = sample(rng, kids, profile.MISSING_RATE * kids["risk"].to_numpy() ** 2, age_from=10)
    n = len(ev)
    reported = _timestamps(ev["_date"].to_numpy(), rng.integers(0, 24 * 60, n))
    hours = np.round(rng.lognormal(np.log(12), 1.0, n) * 60).astype("timedelta64[m]")
    found = reported + pd.to_timedelta(hours)
    found_day = (found.to_numpy().astype("datetime64[D]") - EPOCH).astype(np.int64)
    offered = rng.random(n) < 0.8
    interview = found_day + np.round(rng.gamma(1.5, 2.0, n)).astype(np.int64)
    return ev.assign(
        episode_ref=ids("MP", chunk.id_base, n),
        reported_at=reported.to_numpy(),
        found_at=found.to_numpy(),
        return_interview=np.where(offered, _blank_after_window(interview), BLANK_DAY),
    )


def exploitation_flags(chunk: Chunk) -> pd.DataFrame:
    rng, kids = chunk.rng, chunk.pop.children
    ev = sample(rng, kids, profile.EXPLOITATION_RATE * kids["risk"].to_numpy() ** 2, age_from=10)
    n = len(ev)
    return ev.assign(
        flag_ref=ids("EX", chunk.id_base, n),
        flag_type=pick(rng, {"CCE": 0.45, "CSE": 0.3, "County Lines": 0.2, "Trafficking": 0.05}, n),
        flag_date=ev["_date"].to_numpy(),
        flag_status=pick(rng, {"Active": 0.6, "Closed": 0.4}, n),
    )


# --- health ------------------------------------------------------------------------------

SITES = {
    "E07000145": "James Paget University Hospital",
    "E07000146": "Queen Elizabeth Hospital King's Lynn",
}
DEFAULT_SITE = "Norfolk and Norwich University Hospital"


def ed_attendances(chunk: Chunk) -> pd.DataFrame:
    """All emergency attendances of children, with self-harm concentrated in ages 12-17."""
    rng, kids = chunk.rng, chunk.pop.children
    general = sample(
        rng,
        kids,
        profile.ED_RATE * 1.6 * (0.7 + 0.3 * _need(kids)),
        age_weight=lambda a: np.select([a < 1, a < 5], [1.0, 0.8], 0.62),
        month_weight={m: 1.0 if m in (12, 1, 2) else 0.85 for m in range(1, 13)},
    )
    general["reason"] = pick(rng, {"Injury": 0.47, "Illness": 0.45, "Mental health": 0.03, "Other": 0.05}, len(general))
    by_age = np.array([profile.SELF_HARM_RATE_BY_AGE.get(a, profile.SELF_HARM_RATE_OLDER) for a in range(10, 18)])
    sex_factor = np.where(kids["sex"].to_numpy() == "F", profile.SELF_HARM_FEMALE, profile.SELF_HARM_MALE)
    harm = sample(
        rng,
        kids,
        by_age.max() * sex_factor * kids["risk"].to_numpy(),
        age_from=10,
        age_weight=lambda a: by_age[np.clip(a - 10, 0, 7)] / by_age.max(),
    )
    harm["reason"] = "Self-harm"
    ev = pd.concat([general, harm], ignore_index=True)
    n = len(ev)
    site = np.array([SITES.get(d, DEFAULT_SITE) for d in _kids(chunk, ev, "district_code")], dtype=object)
    return ev.assign(
        attendance_id=ids("ED", chunk.id_base, n),
        arrival_at=_timestamps(ev["_date"].to_numpy(), rng.integers(0, 24 * 60, n)).to_numpy(),
        site=site,
    )


def safeguarding_referrals(chunk: Chunk) -> pd.DataFrame:
    rng, kids = chunk.rng, chunk.pop.children
    ev = sample(rng, kids, profile.HEALTH_REFERRAL_RATE * kids["risk"].to_numpy())
    n = len(ev)
    return ev.assign(
        referral_id=ids("HR", chunk.id_base, n),
        referral_date=ev["_date"].to_numpy(),
        concern=pick(
            rng,
            {
                "Neglect": 0.35,
                "Domestic abuse": 0.25,
                "Physical injury": 0.15,
                "Emotional wellbeing": 0.15,
                "Sexual abuse": 0.05,
                "Other": 0.05,
            },
            n,
        ),
        referrer_role=pick(
            rng,
            {
                "Health visitor": 0.3,
                "School nurse": 0.2,
                "ED clinician": 0.2,
                "Midwife": 0.1,
                "GP": 0.15,
                "Paediatrician": 0.05,
            },
            n,
        ),
    )


def child_death_reviews(chunk: Chunk) -> pd.DataFrame:
    """Every child death is reviewed: strategy meeting, initial review, then the panel."""
    rng, kids = chunk.rng, chunk.pop.children
    dead = kids[kids["death_day"] >= 0]
    n = len(dead)
    death = dead["death_day"].to_numpy()
    strategy = death + np.where(rng.random(n) < 0.75, rng.integers(0, 3, n), rng.integers(3, 8, n))
    initial = add_working_days(death, np.where(rng.random(n) < 0.8, rng.integers(1, 6, n), rng.integers(6, 15, n)))
    panel = weekday_on_or_after(death + rng.integers(90, 480, n))  # a third take more than a year
    return pd.DataFrame(
        {
            "_child": dead["child_id"].to_numpy(),
            "_date": death,
            "case_ref": ids("CDOP", chunk.id_base, n),
            "date_of_death": death,
            "strategy_meeting": _blank_after_window(strategy),
            "initial_review": _blank_after_window(initial),
            "panel_review": _blank_after_window(panel),
            "category": pick(
                rng,
                {
                    "Perinatal/neonatal event": 0.35,
                    "Chromosomal, genetic and congenital": 0.25,
                    "Trauma and other external factors": 0.15,
                    "Sudden unexpected": 0.1,
                    "Malignancy": 0.08,
                    "Deliberately inflicted injury": 0.02,
                    "Other": 0.05,
                },
                n,
            ),
        }
    )


# --- education ---------------------------------------------------------------------------


def _census_days() -> np.ndarray:
    """Spring census days (third Thursday of January) inside the window."""
    years = np.arange(days_of([DAY0]).year[0] + 1, days_of([DAYN]).year[0] + 1)
    first = days_since_epoch(years, 1, 1)
    weekday = (first + 3) % 7  # 0 = Monday
    return first + (3 - weekday) % 7 + 14


def _pupils(chunk: Chunk, census_day: int) -> pd.DataFrame:
    """Children on a school roll on a census day, with their NC year and school."""
    kids = chunk.pop.children
    year = int(days_of([census_day]).year[0])
    age_31_aug = age_at(kids["dob"].to_numpy(), days_since_epoch(np.full(len(kids), year - 1), 8, 31))
    nc = age_31_aug - 4
    on_roll = (nc >= 0) & (nc <= 11) & (kids["exit_day"].to_numpy() > census_day)
    pupils = kids[on_roll]
    nc = nc[on_roll]
    return pd.DataFrame(
        {
            "_child": pupils["child_id"].to_numpy(),
            "_date": census_day,
            "laestab": np.where(nc <= 6, pupils["primary_school"], pupils["secondary_school"]).astype(str),
            "nc_year": np.where(nc == 0, "R", nc.astype(str)),
            "secondary": nc >= 7,
            "fsm": np.where(pupils["fsm"].to_numpy(), "1", "0"),
            "sen": pupils["sen"].to_numpy(),
            "census_date": census_day,
            "academic_year": f"{year - 1}-{year % 100:02d}",
        }
    )


def school_census(chunk: Chunk) -> pd.DataFrame:
    return pd.concat([_pupils(chunk, int(d)) for d in _census_days()], ignore_index=True).drop(
        columns=["secondary", "academic_year"]
    )


def attendance(chunk: Chunk) -> pd.DataFrame:
    """Termly sessions possible and missed for every pupil; more absence in the spring term."""
    rng = chunk.rng
    frames = []
    propensity = chunk.pop.children.set_index("child_id")["risk"] ** 0.5 * rng.lognormal(
        0, 0.6, len(chunk.pop.children)
    )
    for census in _census_days():
        pupils = _pupils(chunk, int(census))
        year = int(days_of([census]).year[0])
        for k, (term, (possible, base)) in enumerate(profile.TERMS.items()):
            term_end = days_since_epoch([year if k else year - 1], (12, 3, 7)[k], (20, 31, 20)[k])[0]
            if term_end >= DAYN:  # a term not over when the extract is taken has no figures yet
                continue
            n = len(pupils)
            sessions = possible - rng.integers(0, 7, n)
            p = np.clip(base * propensity.loc[pupils["_child"]].to_numpy(), 0.002, 0.9)
            missed = rng.binomial(sessions, p)
            authorised = rng.binomial(missed, 0.65)
            frames.append(
                pupils[["_child", "laestab", "academic_year"]].assign(
                    _date=term_end,
                    term=term,
                    sessions_possible=sessions.astype(str),
                    authorised_absence=authorised.astype(str),
                    unauthorised_absence=(missed - authorised).astype(str),
                )
            )
    return pd.concat(frames, ignore_index=True)


def suspensions(chunk: Chunk) -> pd.DataFrame:
    rng = chunk.rng
    frames = []
    for census in _census_days():
        pupils = _pupils(chunk, int(census))
        pupils = pupils[pupils["nc_year"] != "R"]
        year = int(days_of([census]).year[0])
        risk = _kids(chunk, pupils, "risk")
        counts = rng.poisson(profile.SUSPENSION_RATE * risk * np.where(pupils["secondary"], 3.0, 0.6))
        rows = pupils.loc[pupils.index.repeat(counts)]
        start = days_since_epoch([year - 1], 9, 5)[0]
        day = weekday_on_or_after(start + rng.integers(0, 320, len(rows)))
        frames.append(rows[["_child", "laestab"]].assign(_date=day))
    ev = pd.concat(frames, ignore_index=True)
    ev = ev[ev["_date"] < DAYN]
    n = len(ev)
    category = np.where(rng.random(n) < 0.015, "PERM", "SUSP")
    return ev.assign(
        suspension_id=ids("SX", chunk.id_base, n),
        category=category,
        start_date=ev["_date"].to_numpy(),
        sessions=np.where(category == "SUSP", (2 * rng.integers(1, 6, n)).astype(str), ""),
        reason=pick(
            rng,
            {"PP": 0.2, "PA": 0.1, "VP": 0.1, "VA": 0.15, "DB": 0.3, "DA": 0.05, "DM": 0.04, "OT": 0.06},
            n,
        ),
    )


# --- partnership business unit -----------------------------------------------------------


def rapid_reviews(chunk: Chunk) -> pd.DataFrame:
    rng, kids = chunk.rng, chunk.pop.children
    ev = sample(rng, kids, profile.RAPID_REVIEW_RATE * kids["risk"].to_numpy() ** 2)
    if len(ev) < profile.MIN_RARE_EVENTS:
        extra = sample(rng, kids, np.full(len(kids), 1.0))
        ev = pd.concat([ev, extra.iloc[rng.choice(len(extra), profile.MIN_RARE_EVENTS - len(ev), replace=False)]])
    ev = ev.reset_index(drop=True)
    n = len(ev)
    notified = weekday_on_or_after(ev["_date"].to_numpy())
    completed = add_working_days(
        notified, np.where(rng.random(n) < 0.8, rng.integers(8, 16, n), rng.integers(16, 30, n))
    )
    return ev.assign(
        _date=notified,
        case_ref=ids("RR", chunk.id_base, n),
        notification_date=notified,
        rapid_review_date=_blank_after_window(completed),
        decision=pick(rng, {"CSPR recommended": 0.3, "No CSPR": 0.7}, n),
    )
