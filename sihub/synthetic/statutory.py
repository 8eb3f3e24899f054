"""The statutory returns a council already makes, written for the synthetic population: the
SSDA903 children-looked-after tables (CSV), the CIN census (XML), the Ofsted Annex A workbook
(one sheet per list) and a school census pupil-on-roll extract, as their public
specifications lay them out (see the README's "Statutory returns").

They tell the same story as the bespoke extracts: the same referrals, assessments, plans,
care episodes, missing episodes and pupils, drawn from the builders' clean records (no
planted defects), so a metric fed from a return can be checked against the same metric fed
from the bespoke extract. Beside the files, `truth/statutory/<dataset>.parquet` holds every
record as the hub should load it (the shipped contracts' column names, typed values).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
import xlsxwriter

from sihub.synthetic.builders import BLANK_DAY
from sihub.synthetic.calendar import DAYN, age_at, days_of
from sihub.synthetic.population import Population

CS, EDUCATION = "childrens_services", "education"
REFERRAL_SOURCES = {"Police": "6", "Education": "2A", "Health": "3A", "Individual": "1A", "LA services": "5A",
                    "Other": "8"}  # fmt: skip
CATEGORY_CODES = {"Neglect": "NEG", "Emotional abuse": "EMO", "Physical abuse": "PHY", "Sexual abuse": "SAB",
                  "Multiple": "MUL"}  # fmt: skip
PLACEMENTS = {"Foster care": "U6", "Kinship care": "U3", "Residential": "K2", "Placed with parents": "P1"}
ANNEX_SEX = {"M": "a) Male", "F": "b) Female"}
MAIN_ETHNICITIES = ("WBRI", "WIRI", "WIRT", "WOTH", "WROM", "MWBC", "MWBA", "MWAS", "MOTH", "AIND", "APKN", "ABAN",
                    "AOTH", "BCRB", "BAFR", "BOTH", "CHNE", "OOTH", "REFU", "NOBT")  # fmt: skip
ANNEX_ETHNIC = dict(zip(MAIN_ETHNICITIES, "abcdefghijklmnopqrst", strict=True))  # Annex A's lettered list
ANNEX_SOURCE = {"6": "q) 6: Police", "2A": "e) 2A: Schools", "3A": "g) 3A: Health services",
                "1A": "a) 1A: Individual", "5A": "n) 5A: LA services", "8": "s) 8: Other"}  # fmt: skip
ANNEX_CATEGORY = {"NEG": "a) Neglect", "PHY": "b) Physical abuse", "SAB": "c) Sexual abuse",
                  "EMO": "d) Emotional abuse", "MUL": "e) Multiple/not recommended"}  # fmt: skip
COMMON = ["Child Unique ID", "Gender", "Ethnicity", "Date of Birth", "Age of Child (Years)"]
DISABILITY = "Does the Child have a Disability"
TEAM = ["Allocated Team", "Allocated Worker"]
# every Annex A list's headers in order, from the Ofsted template as the public tools mirror it
ANNEX_A = {
    "List 1": [*COMMON, "Date of Contact", "Contact Source"],
    "List 2": [*COMMON, "Assessment start date", "Assessment completion date", "Organisation completing assessment"],
    "List 3": [*COMMON, "Date of referral", "Referral Source", "Referral NFA?",
               "Number of Referrals in Last 12 Months", *TEAM],
    "List 4": [*COMMON, DISABILITY, "Continuous Assessment Start Date", "Child Seen During Continuous Assessment",
               "Continuous Assessment Date of Authorisation",
               "Was the child assessed as requiring LA children's social care support?", *TEAM],
    "List 5": [*COMMON, DISABILITY, "Strategy discussion initiating Section 47 Enquiry Start Date",
               "Was an Initial Child Protection Conference deemed unnecessary?",
               "Date of Initial Child Protection Conference",
               "Did the Initial Child Protection Conference Result in a Child Protection Plan",
               "Number of Section 47 Enquiries in the last 12 months", "Number of ICPCs in the last 12 months", *TEAM],
    "List 6": [*COMMON, DISABILITY, "CIN Start Date", "Primary Need Code", "Date Child Was Last Seen",
               "CIN Closure Date", "Reason for Closure", "Case Status", *TEAM],
    "List 7": [*COMMON, DISABILITY, "Child Protection Plan Start Date", "Initial Category of Abuse",
               "Latest Category of Abuse", "Date of the Last Statutory Visit", "Was the Child Seen Alone?",
               "Date of latest review conference", "Child Protection Plan End Date",
               "Subject to Emergency Protection Order or Protected Under Police Powers in Last Six Months (Y/N)",
               "Number of Previous Child Protection Plans", *TEAM],
    "List 8": [*COMMON, "Unaccompanied Asylum Seeking Child (UASC) within the Last 12 Months (Y/N)", DISABILITY,
               "Date Started to be Looked After", "Child's Category of Need",
               "Is this a second or subsequent period of being a Looked After Child within the last 12 months (Y/N)",
               "Start date of current legal status", "Child's Legal Status", "Date of Latest Statutory Review",
               "Date of Last Social Work Visit", "What is the permanence plan for this child?",
               "Date of Last IRO Visit / Contact to the Child", "Date of Last Health Assessment",
               "Date of Last Dental Check", "Number of Placements in the Last 12 months",
               "Date Ceased to be Looked After", "Reason Ceased to be Looked After",
               "Start Date of Most Recent Placement", "Placement Type", "Placement Provider", "Placement postcode",
               "URN of Placement", "Placement Location", "LA of Placement",
               "Number of Episodes the Child has been 'Missing' from their Placement in the last 12 months",
               "Number of Episodes the Child has been 'Absent' from their Placement in the last 12 months",
               "Was the child offered a Return Interview after their last missing episode (Y/N)?",
               "Did the child accept a Return Interview after their last missing episode (Y/N)?", *TEAM],
    "List 9": [*COMMON, "Unaccompanied Asylum Seeking Child (UASC), or formerly UASC if 18 or over (Y/N)",
               DISABILITY, *TEAM, "Allocated Personal Advisor", "Eligibility Category",
               "Latest Pathway Plan Review Date", "LA in Touch", "Latest Date of Contact", "Type of Accommodation",
               "Suitability of Accommodation", "Activity Status"],
    "List 10": ["Child Unique ID", "Family identifier", "Gender", "Ethnicity", "Date of Birth",
                "Age of Child (Years)", DISABILITY, "Date the Child Entered Care",
                "Date of Decision that Child Should be Placed for Adoption", "Date of Placement Order",
                "Date of Matching Child and Prospective Adopters", "Date Placed for Adoption",
                "Date of Adoption Order", "Date of Decision that Child Should No Longer be Placed for Adoption",
                "Reason Why Child No Longer Placed for Adoption",
                "Date the child was placed for fostering in FFA or concurrent planning placement"],
    "List 11": ["Individual adopter identifier", "Family identifier", "Gender", "Ethnicity", "Disability",
                "Is the (prospective) adopter fostering for adoption?", "Date enquiry received",
                "Date Stage 1 started", "Date Stage 1 ended", "Date Stage 2 started", "Date Stage 2 ended",
                "Date application submitted", "Date application approved", "Date adopter matched with child(ren)",
                "Date child/children placed with adopter(s)", "No. of children placed", "Date of Adoption Order",
                "Date of leaving adoption process", "Reason for leaving adoption process"],
}  # fmt: skip
REAL_DATES = {"Date of Contact", "Child Protection Plan Start Date", "CIN Start Date"}  # the rest are text
NEED_TEXT = {"N1": "N1 - Abuse or neglect", "N4": "N4 - Family in acute stress"}
CLOSURE_TEXT = {"RC7": "RC7 - Services ceased for any other reason", "RC8": "RC8 - Case closed after assessment"}
ANNEX_WINDOW_DAYS = 183  # Lists 1 to 9 cover the six months before the inspection


def _date(days) -> pd.Series:
    """Day numbers as dates, a blank day as missing."""
    epoch = dt.date(1970, 1, 1)
    return pd.Series(
        [None if x == BLANK_DAY else epoch + dt.timedelta(days=int(x)) for x in np.asarray(days, dtype=np.int64)],
        dtype=object,
    )


def _text(values: pd.Series, fmt: str) -> pd.Series:
    return values.map(lambda v: v.strftime(fmt) if isinstance(v, dt.date) else "")


def _census_years() -> list[int]:
    """The collection years (ending 31 March) inside the window, by the year they end in."""
    first, last = days_of([DAYN - 1]).year[0] - 4, days_of([DAYN - 1]).year[0]
    return list(range(first, last + 1))


class StatutoryReturns:
    """Collects the builders' clean records chunk by chunk, writes every return at `close`."""

    def __init__(self, out: Path, truth: Path) -> None:
        self.out, self.truth = out, truth / "statutory"
        self.parts: dict[str, list[pd.DataFrame]] = {}

    def add(self, pop: Population, built: dict[str, pd.DataFrame]) -> None:
        """Keep what the returns need of one chunk: the children involved (their ethnicity is the
        population's, as the early help extract records it) and their records."""
        kids = pop.children.set_index("child_id")
        kids = kids.assign(
            home_postcode=pop.households.set_index("household").loc[kids["household"], "postcode"].to_numpy(),
        )
        for name in ("contacts", "assessments", "cp_plans", "cla_episodes", "missing_episodes", "school_census"):
            self.parts.setdefault(name, []).append(built[name])
        self.parts.setdefault("children", []).append(kids.reset_index())

    def close(self) -> dict[str, int]:
        """Write every return; returns records written per statutory dataset."""
        frames = {k: pd.concat(v, ignore_index=True) for k, v in self.parts.items()}
        kids = frames.pop("children").set_index("child_id")
        truth: dict[str, pd.DataFrame] = {}
        truth |= _cin_census(self.out / CS / "cin_census", kids, frames)
        truth |= _ssda903(self.out / CS / "ssda903", kids, frames)
        truth |= _annex_a(self.out / CS / "annex_a", kids, frames, truth)
        truth |= _pupils_on_roll(self.out / EDUCATION / "pupils_on_roll", kids, frames["school_census"])
        self.truth.mkdir(parents=True, exist_ok=True)
        for name, frame in truth.items():
            frame.to_parquet(self.truth / f"{name}.parquet", index=False)
        return {name: len(frame) for name, frame in truth.items()}


def _identity(kids: pd.DataFrame, child: np.ndarray) -> pd.DataFrame:
    k = kids.loc[child]
    return pd.DataFrame(
        {
            "child": child,
            "la_child_id": k["la_ref"].to_numpy(),
            "upn": k["upn"].to_numpy(),
            "date_of_birth": _date(k["dob"].to_numpy()),
            "sex": k["sex"].to_numpy(),
            "ethnicity": k["ethnicity"].to_numpy(),
            "dob_day": k["dob"].to_numpy(),
            "upn_from": k["school_entry_day"].to_numpy(),
            "death_day": k["death_day"].to_numpy(),
        }
    )


# --- CIN census ------------------------------------------------------------------------------


def _cin_records(kids: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Referrals (CIN details), their assessments, section 47s and plans, with full dates."""
    contacts = frames["contacts"]
    refs = contacts[contacts["referral_date"] != BLANK_DAY]
    details = pd.DataFrame({"_child": refs["_child"].to_numpy(), "referral": refs["referral_date"].to_numpy(),
                            "source": refs["contact_source"].map(REFERRAL_SOURCES).to_numpy()})  # fmt: skip
    plans = frames["cp_plans"].rename(columns={"plan_start": "start", "plan_end": "end"})
    # a plan with no referral before it in the window came from one before the window began
    before = details.merge(plans[["_child", "start"]], on="_child")
    covered = before[(before["referral"] <= before["start"])].groupby(["_child", "start"]).size()
    orphan = plans.set_index(["_child", "start"]).index.difference(covered.index)
    extra = pd.DataFrame({"_child": orphan.get_level_values(0), "referral": orphan.get_level_values(1) - 30,
                          "source": "10"})  # fmt: skip
    details = pd.concat([details, extra], ignore_index=True).drop_duplicates(["_child", "referral"])
    details = details.sort_values(["_child", "referral"], kind="stable").reset_index(drop=True)

    def owner(events: pd.DataFrame, day: str) -> np.ndarray:
        """The referral each event belongs to: the child's latest on or before it."""
        merged = pd.merge_asof(
            events.reset_index().sort_values(day), details.sort_values("referral"),
            left_on=day, right_on="referral", by="_child", direction="backward",
        )  # fmt: skip
        return merged.sort_values("index")["referral"].to_numpy()

    assessments = frames["assessments"].rename(columns={"assessment_start": "start"})
    assessments = assessments.assign(referral=owner(assessments[["_child", "start"]], "start"))
    plans = plans.assign(referral=owner(plans[["_child", "start"]], "start"))
    s47 = plans[["_child", "referral", "start"]].assign(s47=plans["start"] - 14)
    ends = pd.concat([assessments[["_child", "referral"]].assign(end=assessments["assessment_authorised"]),
                      plans[["_child", "referral", "end"]]])  # fmt: skip
    last = ends.groupby(["_child", "referral"])["end"].max()
    open_plan = plans[plans["end"] == BLANK_DAY].set_index(["_child", "referral"]).index
    details = details.join(last.rename("last"), on=["_child", "referral"])
    closure = np.where(details["last"].isna(), details["referral"] + 20, details["last"].fillna(0) + 30)
    still_open = details.set_index(["_child", "referral"]).index.isin(open_plan) | (closure >= DAYN)
    details["closure"] = np.where(still_open | (details["last"] == BLANK_DAY), BLANK_DAY, closure).astype(np.int64)
    details["nfa"] = ~details.set_index(["_child", "referral"]).index.isin(
        assessments.set_index(["_child", "referral"]).index
    ) & ~details.set_index(["_child", "referral"]).index.isin(plans.set_index(["_child", "referral"]).index)
    return {"details": details, "assessments": assessments, "plans": plans, "s47": s47}


def _in_year(start: np.ndarray, end: np.ndarray, year: int) -> np.ndarray:
    """Whether something from `start` to `end` (blank: still open) is open in the year to 31 March."""
    lo = (np.datetime64(f"{year - 1}-04-01") - np.datetime64("1970-01-01")).astype(np.int64)
    hi = (np.datetime64(f"{year}-03-31") - np.datetime64("1970-01-01")).astype(np.int64)
    return (start <= hi) & ((end == BLANK_DAY) | (end >= lo))


def _as_at(days: np.ndarray, year: int) -> np.ndarray:
    """Dates after a return's reference date are not known to it."""
    hi = (np.datetime64(f"{year}-03-31") - np.datetime64("1970-01-01")).astype(np.int64)
    return np.where(np.asarray(days) <= hi, days, BLANK_DAY)


def _el(tag: str, value: object) -> str:
    if value is None or value == "" or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"<{tag}>{escape(str(value))}</{tag}>"


def _iso(day: int) -> str:
    return "" if day == BLANK_DAY else str(np.datetime64(int(day), "D"))


def _cin_census(folder: Path, kids: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    folder.mkdir(parents=True, exist_ok=True)
    cin = _cin_records(kids, frames)
    d, a, p, s = cin["details"], cin["assessments"], cin["plans"], cin["s47"]
    out: dict[str, list[pd.DataFrame]] = {}
    for year in _census_years():
        ref_day = (np.datetime64(f"{year}-03-31") - np.datetime64("1970-01-01")).astype(np.int64)
        dy = d[_in_year(d["referral"].to_numpy(), d["closure"].to_numpy(), year)]
        if dy.empty:
            continue
        children = _identity(kids, dy["_child"].unique())
        children["upn"] = np.where(children["upn_from"] <= ref_day, children["upn"], None)
        children["upn_unknown"] = np.where(children["upn"].isna(), "UN1", None)
        died = np.where(children["death_day"] >= 0, children["death_day"], BLANK_DAY)
        children["death_date"] = _date(_as_at(died, year))
        lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<Message>", "<Header><CollectionDetails>"
                 f"<Collection>CIN</Collection><Year>{year}</Year><ReferenceDate>{year}-03-31</ReferenceDate>"
                 "</CollectionDetails><Source><SourceLevel>L</SourceLevel><LEA>926</LEA><SoftwareCode>Synthetic"
                 f"</SoftwareCode><Release>1</Release><SerialNo>{year % 1000:03d}</SerialNo>"
                 f"<DateTime>{year}-05-01T09:00:00</DateTime></Source></Header>", "<Children>"]  # fmt: skip
        rows: dict[str, list] = {name: [] for name in CIN_COLUMNS}
        by_child = {c: g for c, g in dy.groupby("_child")}
        for child in children.itertuples(index=False):
            ident = (child.la_child_id, child.upn, child.date_of_birth)
            lines.append(
                "<Child><ChildIdentifiers>" + _el("LAchildID", child.la_child_id) + _el("UPN", child.upn)
                + _el("UPNunknown", child.upn_unknown) + _el("PersonBirthDate", _iso(child.dob_day))
                + _el("Sex", child.sex) + _el("PersonDeathDate", child.death_date) + "</ChildIdentifiers>"
                "<ChildCharacteristics>" + _el("Ethnicity", child.ethnicity)
                + "<Disabilities><Disability>NONE</Disability></Disabilities></ChildCharacteristics>"
            )  # fmt: skip
            rows["cin_children"].append((*ident, child.upn_unknown, child.sex, child.ethnicity, "NONE",
                                         child.death_date, dt.date(year, 3, 31)))  # fmt: skip
            for det in by_child[child.child].itertuples(index=False):
                key = (child.child, det.referral)
                closure = _as_at([det.closure], year)[0]
                ass = a[(a["_child"] == key[0]) & (a["referral"] == key[1])]
                pl = p[(p["_child"] == key[0]) & (p["referral"] == key[1]) & (p["start"] <= ref_day)]
                sx = s[(s["_child"] == key[0]) & (s["referral"] == key[1]) & (s["s47"] <= ref_day)]
                icpc = pl["start"].min() if len(pl) else BLANK_DAY
                need = "N1" if len(pl) else "N4"
                reason = "" if closure == BLANK_DAY else ("RC8" if det.nfa else "RC7")
                nfa = "true" if det.nfa else "false"
                body = [_el("CINreferralDate", _iso(det.referral)), _el("ReferralSource", det.source),
                        _el("PrimaryNeedCode", need), _el("CINclosureDate", _iso(closure)),
                        _el("ReasonForClosure", reason), _el("DateOfInitialCPC", _iso(icpc))]  # fmt: skip
                rows["cin_details"].append((*ident, _date([det.referral])[0], det.source, need, _date([closure])[0],
                                            reason or None, _date([icpc])[0], det.nfa))  # fmt: skip
                for x in ass[ass["start"] <= ref_day].itertuples(index=False):
                    authorised = _as_at([x.assessment_authorised], year)[0]
                    body.append("<Assessments>" + _el("AssessmentActualStartDate", _iso(x.start))
                                + _el("AssessmentAuthorisationDate", _iso(authorised))
                                + "<FactorsIdentifiedAtAssessment><AssessmentFactors>21</AssessmentFactors>"
                                "</FactorsIdentifiedAtAssessment></Assessments>")  # fmt: skip
                    rows["cin_assessments"].append((*ident, _date([det.referral])[0], _date([x.start])[0],
                                                    _date([authorised])[0], "21"))  # fmt: skip
                done = _as_at(ass["assessment_authorised"].to_numpy(), year)
                if not len(pl) and not det.nfa and len(done) and done.min() != BLANK_DAY:
                    plan = int(done.min()) + 7  # a child in need plan once the assessment is authorised
                    if plan <= ref_day:
                        plan_end = closure if closure == BLANK_DAY or closure > plan else BLANK_DAY
                        body.append("<CINPlanDates>" + _el("CINPlanStartDate", _iso(plan))
                                    + _el("CINPlanEndDate", _iso(plan_end)) + "</CINPlanDates>")  # fmt: skip
                        rows["cin_plans"].append((*ident, _date([det.referral])[0], _date([plan])[0],
                                                  _date([plan_end])[0]))  # fmt: skip
                for x in sx.itertuples(index=False):
                    body.append("<Section47>" + _el("S47ActualStartDate", _iso(x.s47))
                                + _el("InitialCPCtarget", _iso(x.s47 + 15)) + _el("DateOfInitialCPC", _iso(x.start))
                                + "<ICPCnotRequired>false</ICPCnotRequired></Section47>")  # fmt: skip
                    rows["cin_section_47"].append((*ident, _date([det.referral])[0], _date([x.s47])[0],
                                                   _date([x.s47 + 15])[0], _date([x.start])[0], False))  # fmt: skip
                body.append(_el("ReferralNFA", nfa))
                for x in pl.itertuples(index=False):
                    end = _as_at([x.end], year)[0]
                    code = CATEGORY_CODES[x.category]
                    last = min(ref_day, end if end != BLANK_DAY else ref_day)
                    reviews = [int(d) for d in range(x.start + 90, last + 1, 182)]  # at 3 months, then 6-monthly
                    body.append("<ChildProtectionPlans>" + _el("CPPstartDate", _iso(x.start))
                                + _el("CPPendDate", _iso(end)) + _el("InitialCategoryOfAbuse", code)
                                + _el("LatestCategoryOfAbuse", code) + "<NumberOfPreviousCPP>0</NumberOfPreviousCPP>"
                                + ("<Reviews>" + "".join(_el("CPPreviewDate", _iso(d)) for d in reviews) + "</Reviews>"
                                   if reviews else "") + "</ChildProtectionPlans>")  # fmt: skip
                    rows["cin_cp_reviews"] += [(*ident, _date([x.start])[0], _date([d])[0]) for d in reviews]
                    rows["cin_cp_plans"].append((*ident, _date([det.referral])[0], _date([x.start])[0],
                                                 _date([end])[0], x.category, x.category, 0))  # fmt: skip
                lines.append("<CINdetails>" + "".join(body) + "</CINdetails>")
            lines.append("</Child>")
        lines += ["</Children>", "</Message>"]
        (folder / f"cin_census_{year}.xml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for name, values in rows.items():
            out.setdefault(name, []).append(pd.DataFrame(values, columns=CIN_COLUMNS[name]))
    return {name: _newest(pd.concat(parts, ignore_index=True), CIN_KEYS[name]) for name, parts in out.items()}


IDENT = ["la_child_id", "upn", "date_of_birth"]
CIN_COLUMNS = {
    "cin_children": [*IDENT, "upn_unknown", "sex", "ethnicity", "disabilities", "death_date", "reference_date"],
    "cin_details": [*IDENT, "cin_referral_date", "referral_source", "primary_need_code", "cin_closure_date",
                    "reason_for_closure", "date_of_initial_cpc", "referral_nfa"],
    "cin_assessments": [*IDENT, "cin_referral_date", "assessment_start", "assessment_authorised", "factors"],
    "cin_section_47": [*IDENT, "cin_referral_date", "s47_start", "initial_cpc_target", "date_of_initial_cpc",
                       "icpc_not_required"],
    "cin_cp_plans": [*IDENT, "cin_referral_date", "plan_start", "plan_end", "category", "latest_category",
                     "previous_plans"],
    "cin_cp_reviews": [*IDENT, "plan_start", "review_date"],
    "cin_plans": [*IDENT, "cin_referral_date", "cin_plan_start", "cin_plan_end"],
}  # fmt: skip
CIN_KEYS = {
    "cin_children": ["la_child_id"],
    "cin_details": ["la_child_id", "cin_referral_date"],
    "cin_assessments": ["la_child_id", "assessment_start"],
    "cin_section_47": ["la_child_id", "s47_start"],
    "cin_cp_plans": ["la_child_id", "plan_start"],
    "cin_cp_reviews": ["la_child_id", "plan_start", "review_date"],
    "cin_plans": ["la_child_id", "cin_referral_date", "cin_plan_start"],
}


def _newest(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """A record sent in several yearly returns, as the latest return has it (upsert)."""
    return frame.drop_duplicates(key, keep="last").reset_index(drop=True)


# --- SSDA903 ----------------------------------------------------------------------------------


def _ssda903(folder: Path, kids: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    folder.mkdir(parents=True, exist_ok=True)
    episodes = frames["cla_episodes"]
    missing = frames["missing_episodes"]
    out: dict[str, list[pd.DataFrame]] = {}
    for year in _census_years():
        ep = episodes[_in_year(episodes["episode_start"].to_numpy(), episodes["episode_end"].to_numpy(), year)]
        if ep.empty:
            continue
        ident = _identity(kids, ep["_child"].unique())
        ref_day = (np.datetime64(f"{year}-03-31") - np.datetime64("1970-01-01")).astype(np.int64)
        upn = np.where(ident["upn_from"] <= ref_day, ident["upn"], "UN1")
        header = pd.DataFrame({"CHILD": ident["la_child_id"], "SEX": ident["sex"],
                               "DOB": _text(ident["date_of_birth"], "%d/%m/%Y"), "ETHNIC": ident["ethnicity"],
                               "UPN": upn, "MOTHER": "", "MC_DOB": ""})  # fmt: skip
        end = _as_at(ep["episode_end"].to_numpy(), year)
        place = ep["placement_type"].map(PLACEMENTS).to_numpy()
        child = kids.loc[ep["_child"].to_numpy()]
        eps = pd.DataFrame({
            "CHILD": child["la_ref"].to_numpy(), "DECOM": _text(_date(ep["episode_start"]), "%d/%m/%Y"), "RNE": "S",
            "LS": ep["legal_status"].to_numpy(), "CIN": "N1", "PLACE": place,
            "PLACE_PROVIDER": np.where(place == "P1", "PR0", "PR1"), "DEC": _text(_date(end), "%d/%m/%Y"),
            "REC": np.where(end == BLANK_DAY, "", "E8"), "REASON_PLACE_CHANGE": "",
            "HOME_POST": child["home_postcode"].to_numpy(), "PL_POST": "", "URN": "",
        })  # fmt: skip
        looked_after = ep[["_child", "episode_start", "episode_end"]]
        mis = missing.assign(day=(pd.to_datetime(missing["reported_at"]).to_numpy().astype("datetime64[D]")
                                  - np.datetime64("1970-01-01")).astype(np.int64))  # fmt: skip
        mis = mis.merge(looked_after, on="_child")
        within = (
            (mis["day"] >= mis["episode_start"])
            & ((mis["episode_end"] == BLANK_DAY) | (mis["day"] <= mis["episode_end"]))
            & _in_year(mis["day"].to_numpy(), mis["day"].to_numpy(), year)
            & (mis["day"] <= ref_day)
        )
        mis = mis[within].drop_duplicates("episode_ref")
        found = (pd.to_datetime(mis["found_at"]).to_numpy().astype("datetime64[D]")
                 - np.datetime64("1970-01-01")).astype(np.int64)  # fmt: skip
        mkid = kids.loc[mis["_child"].to_numpy()]
        miss = pd.DataFrame({"CHILD": mkid["la_ref"].to_numpy(), "DOB": _text(_date(mkid["dob"]), "%d/%m/%Y"),
                             "MISSING": "M", "MIS_START": _text(_date(mis["day"]), "%d/%m/%Y"),
                             "MIS_END": _text(_date(_as_at(found, year)), "%d/%m/%Y")})  # fmt: skip
        reviews = []
        for child_id, start, finish in zip(ep["_child"], ep["episode_start"], ep["episode_end"], strict=True):
            stop = min(ref_day, finish if finish != BLANK_DAY else ref_day)
            day, step = start + 20, 0  # the first review after 20 working days, then 3 and every 6 months
            while day <= stop:
                if _in_year(np.array([day]), np.array([day]), year)[0]:
                    age = age_at(np.array([kids.loc[child_id, "dob"]]), np.array([day]))[0]
                    reviews.append((kids.loc[child_id, "la_ref"], kids.loc[child_id, "dob"], day,
                                    "PN0" if age < 4 else "PN1"))  # fmt: skip
                day += 70 if step == 0 else 182
                step += 1
        rv = pd.DataFrame(reviews, columns=["CHILD", "_dob", "_day", "REVIEW_CODE"])
        rv = pd.DataFrame({"CHILD": rv["CHILD"], "DOB": _text(_date(rv["_dob"]), "%d/%m/%Y"),
                           "REVIEW": _text(_date(rv["_day"]), "%d/%m/%Y"),
                           "REVIEW_CODE": rv["REVIEW_CODE"]})  # fmt: skip
        yy = f"{year - 1}_{year % 100:02d}"
        for name, frame in (("header", header), ("episodes", eps), ("missing", miss), ("reviews", rv)):
            frame.to_csv(folder / f"ssda903_{yy}_{name}.csv", index=False, lineterminator="\r\n")
            out.setdefault(f"ssda903_{name}", []).append(frame)
    typed = {name: _typed_903(pd.concat(parts, ignore_index=True)) for name, parts in out.items()}
    keys = {
        "ssda903_header": ["child_ref"],
        "ssda903_episodes": ["child_ref", "episode_start"],
        "ssda903_missing": ["child_ref", "missing_start"],
        "ssda903_reviews": ["child_ref", "review_date"],
    }
    return {name: _newest(frame, keys[name]) for name, frame in typed.items()}


SSDA903_NAMES = {"CHILD": "child_ref", "DOB": "date_of_birth", "SEX": "sex", "ETHNIC": "ethnicity", "UPN": "upn",
                 "MOTHER": "mother", "MC_DOB": "mother_child_dob", "DECOM": "episode_start",
                 "RNE": "reason_new_episode", "LS": "legal_status", "CIN": "category_of_need",
                 "PLACE": "placement_type",
                 "PLACE_PROVIDER": "placement_provider", "DEC": "episode_end", "REC": "reason_episode_ceased",
                 "REASON_PLACE_CHANGE": "reason_place_change", "HOME_POST": "postcode",
                 "PL_POST": "placement_postcode", "URN": "placement_urn", "MISSING": "missing_or_away",
                 "MIS_START": "missing_start", "MIS_END": "missing_end", "REVIEW": "review_date",
                 "REVIEW_CODE": "participation"}  # fmt: skip


def _typed_903(frame: pd.DataFrame) -> pd.DataFrame:
    """A 903 table as the shipped contract loads it: lower-case names, dates typed, blanks missing."""
    out = frame.rename(columns=SSDA903_NAMES)
    for column in out.columns:
        values = out[column].replace("", None)
        if column in (
            "date_of_birth",
            "mother_child_dob",
            "episode_start",
            "episode_end",
            "missing_start",
            "missing_end",
            "review_date",
        ):
            values = pd.to_datetime(values, format="%d/%m/%Y").dt.date.astype(object).where(values.notna(), None)
        if column == "upn":
            values = values.where(~values.astype(str).str.startswith("UN"), None)
        out[column] = values
    return out


# --- Annex A --------------------------------------------------------------------------------


def _annex_a(folder: Path, kids: pd.DataFrame, frames: dict[str, pd.DataFrame], cin: dict) -> dict[str, pd.DataFrame]:
    """One workbook, a sheet per list, for an inspection on the day after the window."""
    folder.mkdir(parents=True, exist_ok=True)
    since = DAYN - ANNEX_WINDOW_DAYS
    contacts = frames["contacts"]
    contacts = contacts[contacts["contact_date"] >= since]
    refs = contacts[contacts["referral_date"] != BLANK_DAY]
    assessments = frames["assessments"]
    assessments = assessments[assessments["assessment_start"] >= since]
    plans = frames["cp_plans"]
    plans = plans[(plans["plan_end"] == BLANK_DAY) | (plans["plan_end"] >= since)]
    episodes = frames["cla_episodes"]
    episodes = episodes[(episodes["episode_end"] == BLANK_DAY) | (episodes["episode_end"] >= since)]

    def common(child: np.ndarray, on: int) -> dict[str, object]:
        k = kids.loc[child]
        return {"Child Unique ID": k["la_ref"].to_numpy(),
                "Gender": k["sex"].map(ANNEX_SEX).to_numpy(),
                "Ethnicity": [f"{ANNEX_ETHNIC[e]}) {e}" for e in k["ethnicity"]],
                "Date of Birth": _text(_date(k["dob"]), "%d/%m/%Y").to_numpy(),
                "Age of Child (Years)": age_at(k["dob"].to_numpy(), np.full(len(k), on)).astype(str)}  # fmt: skip

    def dated(days) -> np.ndarray:
        return _text(_date(days), "%d/%m/%Y").to_numpy()

    worker = "Worker " + (kids.loc[refs["_child"].to_numpy(), "household"] % 40).astype(str).to_numpy()
    by_ref = pd.Series(kids.index.to_numpy(), index=kids["la_ref"].to_numpy())
    start = dt.date(1970, 1, 1) + dt.timedelta(days=since)
    s47 = cin["cin_section_47"]
    s47 = s47[s47["s47_start"] >= start].assign(child=lambda f: by_ref.loc[f["la_child_id"]].to_numpy())
    need = cin["cin_details"]
    need = need[need["cin_closure_date"].isna() | (need["cin_closure_date"] >= start)]
    need = need.assign(child=by_ref.loc[need["la_child_id"]].to_numpy())

    def day_text(values: pd.Series) -> list[str]:
        return [v.strftime("%d/%m/%Y") if isinstance(v, dt.date) else "" for v in values]

    lists = {
        "List 1": {**common(contacts["_child"].to_numpy(), DAYN), "Date of Contact": dated(contacts["contact_date"]),
                   "Contact Source": contacts["contact_source"].map(REFERRAL_SOURCES).map(ANNEX_SOURCE).to_numpy()},
        "List 3": {**common(refs["_child"].to_numpy(), DAYN), "Date of referral": dated(refs["referral_date"]),
                   "Referral Source": refs["contact_source"].map(REFERRAL_SOURCES).map(ANNEX_SOURCE).to_numpy(),
                   "Referral NFA?": "b) No", "Number of Referrals in Last 12 Months": "1",
                   "Allocated Team": "Assessment team", "Allocated Worker": worker},
        "List 4": {**common(assessments["_child"].to_numpy(), DAYN), DISABILITY: "b) No",
                   "Continuous Assessment Start Date": dated(assessments["assessment_start"]),
                   "Child Seen During Continuous Assessment": "a) Yes",
                   "Continuous Assessment Date of Authorisation": dated(assessments["assessment_authorised"]),
                   "Allocated Team": "Assessment team"},
        "List 7": {**common(plans["_child"].to_numpy(), DAYN), DISABILITY: "b) No",
                   "Child Protection Plan Start Date": dated(plans["plan_start"]),
                   "Initial Category of Abuse": plans["category"].map(CATEGORY_CODES).map(ANNEX_CATEGORY).to_numpy(),
                   "Latest Category of Abuse": plans["category"].map(CATEGORY_CODES).map(ANNEX_CATEGORY).to_numpy(),
                   "Child Protection Plan End Date": dated(plans["plan_end"]),
                   "Number of Previous Child Protection Plans": "0", "Allocated Team": "Child protection team"},
        "List 5": {**common(s47["child"], DAYN), DISABILITY: "b) No",
                   "Strategy discussion initiating Section 47 Enquiry Start Date": day_text(s47["s47_start"]),
                   "Was an Initial Child Protection Conference deemed unnecessary?": "b) No",
                   "Date of Initial Child Protection Conference": day_text(s47["date_of_initial_cpc"]),
                   "Did the Initial Child Protection Conference Result in a Child Protection Plan": "a) Yes",
                   "Number of Section 47 Enquiries in the last 12 months": "1",
                   "Number of ICPCs in the last 12 months": "1", "Allocated Team": "Child protection team"},
        "List 6": {**common(need["child"], DAYN), DISABILITY: "b) No",
                   "CIN Start Date": day_text(need["cin_referral_date"]),
                   "Primary Need Code": need["primary_need_code"].map(NEED_TEXT).to_numpy(),
                   "CIN Closure Date": day_text(need["cin_closure_date"]),
                   "Reason for Closure": need["reason_for_closure"].map(CLOSURE_TEXT).fillna("").to_numpy(),
                   "Case Status": np.where(need["cin_closure_date"].isna(), "c) Child in need plan",
                                           "e) Closed episode"),
                   "Allocated Team": "Assessment team"},
        "List 8": {**common(episodes["_child"].to_numpy(), DAYN), DISABILITY: "b) No",
                   "Date Started to be Looked After": dated(episodes["episode_start"]),
                   "Child's Legal Status": episodes["legal_status"].to_numpy(),
                   "Date Ceased to be Looked After": dated(episodes["episode_end"]),
                   "Placement Type": episodes["placement_type"].map(PLACEMENTS).to_numpy()},
    }  # fmt: skip
    path = folder / "annex_a.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    wb.set_properties({"created": dt.datetime(2026, 4, 1, 6, 0, 0), "author": "Synthetic council"})
    truth = {}
    day_format = wb.add_format({"num_format": "dd/mm/yyyy"})
    for sheet, headers in ANNEX_A.items():
        ws = wb.add_worksheet(sheet)
        ws.write(0, 0, f"Annex A {sheet}: Synthetic council, inspection of {dt.date(2026, 4, 1):%d %B %Y}")
        ws.write_row(2, 0, headers)  # under a title and a blank row, as councils' exports often are
        data = pd.DataFrame(
            {h: lists.get(sheet, {}).get(h, None) for h in headers},
            index=range(len(next(iter(lists[sheet].values()))) if sheet in lists else 0),
        )
        data = data.fillna("")
        for r, values in enumerate(data.itertuples(index=False, name=None), start=3):
            for c, value in enumerate(values):
                if value != "" and headers[c] in REAL_DATES:  # a date cell, as Excel keeps one
                    ws.write_datetime(r, c, dt.datetime.strptime(value, "%d/%m/%Y"), day_format)
                elif value != "":
                    ws.write_string(r, c, str(value))
        truth[f"annex_a_list_{sheet.split()[1]}"] = data.replace("", None)
    wb.close()
    return truth


# --- school census ------------------------------------------------------------------------


def _pupils_on_roll(folder: Path, kids: pd.DataFrame, census: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """A pupil-on-roll extract per spring census, CBDS element names as headers, ISO dates."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for day, pupils in census.groupby("census_date"):
        k = kids.loc[pupils["_child"].to_numpy()]
        frame = pd.DataFrame({
            "UPN": k["upn"].to_numpy(), "Surname": k["surname"].to_numpy(), "Forename": k["forename"].to_numpy(),
            "DOB": [_iso(x) for x in k["dob"]], "Gender": k["sex"].to_numpy(), "Ethnicity": k["ethnicity"].to_numpy(),
            "EnrolStatus": "C", "EntryDate": [_iso(x) for x in k["school_entry_day"]],
            "NCyearActual": pupils["nc_year"].to_numpy(), "SENprovision": pupils["sen"].to_numpy(),
            "FSMeligible": np.where(pupils["fsm"].to_numpy() == "1", "true", "false"),
            "LAEstab": pupils["laestab"].to_numpy(), "Postcode": k["home_postcode"].to_numpy(),
            "ReferenceDate": _iso(int(day)),
        })  # fmt: skip
        frame.to_csv(folder / f"pupils_on_roll_{_iso(int(day))[:4]}.csv", index=False, lineterminator="\n")
        parts.append(frame)
    frame = pd.concat(parts, ignore_index=True)
    typed = pd.DataFrame({
        "upn": frame["UPN"], "surname": frame["Surname"], "forename": frame["Forename"],
        "date_of_birth": pd.to_datetime(frame["DOB"]).dt.date, "sex": frame["Gender"],
        "ethnicity": frame["Ethnicity"], "enrol_status": frame["EnrolStatus"],
        "entry_date": pd.to_datetime(frame["EntryDate"]).dt.date, "nc_year": frame["NCyearActual"],
        "sen_provision": frame["SENprovision"], "fsm_eligible": frame["FSMeligible"] == "true",
        "laestab": frame["LAEstab"], "postcode": frame["Postcode"],
        "census_date": pd.to_datetime(frame["ReferenceDate"]).dt.date,
    })  # fmt: skip
    return {"pupils_on_roll": typed}
