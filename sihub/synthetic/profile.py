"""The modelling assumptions of the synthetic partnership, in one place.

Rates are per child (or household) per year and are plausible orders of magnitude for an
English county, not published statistics: the generator must produce data an analyst
recognises, and the pipeline's outputs are tested against the generator's own truth.
"""

from __future__ import annotations

import datetime as dt

# Five financial years of history, fixed so that a seed gives the same bytes on any day.
WINDOW_START = dt.date(2021, 4, 1)
WINDOW_END = dt.date(2026, 4, 1)  # exclusive

SCALES: dict[str, float] = {"small": 0.02, "county": 1.0, "national": 50.0}
CHUNK_SCALE = 1.0  # at most one county's children in memory at a time

# Relative need by district (deprivation): more contacts in the most deprived urban districts.
# Districts missing here (another partnership's reference data) count as 1.0.
DISTRICT_NEED: dict[str, float] = {
    "E07000145": 1.6,  # Great Yarmouth
    "E07000148": 1.5,  # Norwich
    "E07000146": 1.15,  # King's Lynn and West Norfolk
    "E07000143": 1.05,  # Breckland
    "E07000147": 0.85,  # North Norfolk
    "E07000144": 0.7,  # Broadland
    "E07000149": 0.7,  # South Norfolk
}

HOUSEHOLD_SIZES = (1, 2, 3, 4)
HOUSEHOLD_SIZE_P = (0.45, 0.35, 0.15, 0.05)
HOUSEHOLD_MOVE_P = 0.15  # households that move once during the window
MOVE_SAME_DISTRICT_P = 0.7
RISK_SHAPE = 0.6  # gamma shape of household vulnerability (mean 1): a heavy tail of need

DEATH_RATE = 2.5e-4
INFANT_DEATH_MULTIPLIER = 10.0
RAPID_REVIEW_RATE = 3e-5
MIN_RARE_EVENTS = 3  # at least this many child deaths and rapid reviews at any scale

CONTACT_RATE = 0.12
CP_PLAN_RATE = 0.006
CLA_RATE = 0.0025
DA_HOUSEHOLD_RATE = 0.05
MISSING_RATE = 0.015
EXPLOITATION_RATE = 0.004
ED_RATE = 0.30
SELF_HARM_RATE_BY_AGE = {10: 0.0008, 11: 0.0008, 12: 0.006, 13: 0.006, 14: 0.006}
SELF_HARM_RATE_OLDER = 0.008  # ages 15-17
SELF_HARM_FEMALE = 2.5
SELF_HARM_MALE = 0.8
HEALTH_REFERRAL_RATE = 0.01
SUSPENSION_RATE = 0.03

# Early help: most contacts judged to need early help start an episode within a fortnight, and
# some referrals to social care follow an episode (stepped up); episodes last months.
EARLY_HELP_TAKE_UP = 0.8
EARLY_HELP_BEFORE_REFERRAL = 0.15  # share of referrals that step up from an open episode
EARLY_HELP_WEEKS = 22  # median length of an episode that is not stepped up

# Ethnicity (DfE CBDS codes) of a largely White British county; NOBT is the returns' own
# "information not yet obtained".
ETHNICITIES = ("WBRI", "WOTH", "WROM", "MWBC", "MWAS", "AIND", "BAFR", "CHNE", "OOTH", "NOBT")
ETHNICITY_SHARE = (0.82, 0.06, 0.01, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01, 0.01)

# School terms: sessions possible and the base share of sessions missed (winter illness).
TERMS = {"Autumn": (140, 0.065), "Spring": (116, 0.080), "Summer": (124, 0.060)}

PRIMARY_SIZE = 150  # pupils per primary school
SECONDARY_SIZE = 900  # pupils per secondary school
LA_CODE = 926  # Norfolk's DfE local authority number, the stem of every UPN

# Defects planted per row, as a share of rows (configurable from the command line).
DEFAULT_DEFECT_RATE = 0.01
