"""Sampling events for children: Poisson counts over each child's time at risk, thinned by
age and season, so rates per 10,000 follow the profile by district, age and month."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from sihub.synthetic.calendar import DAY0, DAYN, add_years, age_at, days_of, uniform_days


def at_risk(children: pd.DataFrame, age_from: int, age_to: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last+1 day in the window on which each child is aged age_from..age_to."""
    dob = children["dob"].to_numpy()
    start = np.maximum(add_years(dob, age_from), DAY0)
    end = np.minimum(np.minimum(add_years(dob, age_to + 1), children["exit_day"].to_numpy()), DAYN)
    return start, np.maximum(end, start)


def sample(
    rng: np.random.Generator,
    children: pd.DataFrame,
    rate: np.ndarray,
    age_from: int = 0,
    age_to: int = 17,
    age_weight: Callable[[np.ndarray], np.ndarray] | None = None,
    month_weight: dict[int, float] | None = None,
) -> pd.DataFrame:
    """Events as rows of (`_child`, `_date`): `rate` is per child-year at the peak weight.

    Weights in (0, 1] thin the events by age at the event and by calendar month.
    """
    start, end = at_risk(children, age_from, age_to)
    years = (end - start) / 365.25
    counts = rng.poisson(rate * years)
    idx = np.repeat(np.arange(len(children)), counts)
    day = uniform_days(rng, start[idx], end[idx])
    keep = np.ones(len(idx), dtype=bool)
    if age_weight is not None:
        keep &= rng.random(len(idx)) < age_weight(age_at(children["dob"].to_numpy()[idx], day))
    if month_weight is not None:
        months = days_of(day).month.to_numpy()
        keep &= rng.random(len(idx)) < np.vectorize(month_weight.get)(months)
    idx, day = idx[keep], day[keep]
    return pd.DataFrame({"_child": children["child_id"].to_numpy()[idx], "_date": day})


def pick(rng: np.random.Generator, options: dict[str, float], n: int) -> np.ndarray:
    """n draws from a categorical distribution given as {value: probability}."""
    values = np.array(list(options), dtype=object)
    p = np.array(list(options.values()), dtype=float)
    return values[rng.choice(len(values), size=n, p=p / p.sum())]


def ids(prefix: str, start: int, n: int) -> np.ndarray:
    """Sequential record references as partners' systems issue them (`CT00012345`)."""
    return np.char.add(prefix, np.char.zfill((start + np.arange(n)).astype(str), 8)).astype(object)
