"""Every synthetic partner dataset: how each partner names its columns, writes its dates and
splits its deliveries, and which defects can be planted where.

This is the generator's picture of the partners' systems. The hub itself never reads it:
it reads the files through its own data contracts, as it would real deliveries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sihub.synthetic import builders
from sihub.synthetic.identity import RecordingHabits


@dataclass(frozen=True)
class PartnerStyle:
    """How one partner's system writes files."""

    partner: str
    encoding: str = "utf-8"
    line_end: str = "\n"
    date_format: str = "%d/%m/%Y"
    datetime_format: str = "%d/%m/%Y %H:%M"
    sex_codes: tuple[str, str] = ("M", "F")
    nhs_spaced: bool = False
    organisation: str = ""


@dataclass(frozen=True)
class Defects:
    """Where each kind of defect can be planted (partner column headers)."""

    dates: tuple[str, ...] = ()
    nhs: str | None = None
    upn: str | None = None
    mandatory: tuple[str, ...] = ()
    codes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    end_before_start: tuple[str, str] | None = None
    duplicates: bool = True


@dataclass(frozen=True)
class DatasetSpec:
    """One partner dataset as the partner delivers it."""

    style: PartnerStyle
    dataset: str
    fmt: str  # csv | xlsx
    build: Callable
    columns: tuple[tuple[str, str], ...]  # (canonical, header) in file order
    split: str  # financial_year | month | academic_year | census_year | single
    habits: RecordingHabits
    defects: Defects
    dates: tuple[str, ...] = ()  # canonical day-number columns
    datetimes: tuple[str, ...] = ()  # canonical timestamp columns
    title: str | None = None  # a title row above the header (XLSX), as NHS extracts have
    depends_on: str | None = None  # builder takes this dataset's records too

    @property
    def partner(self) -> str:
        return self.style.partner

    def header(self, canonical: str) -> str:
        return dict(self.columns)[canonical]


CS = PartnerStyle("childrens_services", encoding="cp1252", line_end="\r\n")
POLICE = PartnerStyle(
    "police", date_format="%Y-%m-%d", datetime_format="%Y-%m-%d %H:%M:%S", sex_codes=("Male", "Female")
)
HEALTH = PartnerStyle(
    "health",
    sex_codes=("Male", "Female"),
    nhs_spaced=True,
    organisation="Norfolk and Waveney Integrated Care Board",
)
EDUCATION = PartnerStyle("education", encoding="utf-8-sig", line_end="\r\n")
BUSINESS_UNIT = PartnerStyle("business_unit")

CS_PERSON = (
    ("la_ref", "Child ID"),
    ("forename", "Forename"),
    ("surname", "Surname"),
    ("dob", "DOB"),
    ("sex", "Gender"),
    ("postcode", "Postcode"),
    ("nhs_number", "NHS Number"),
    ("upn", "UPN"),
)
CS_HABITS = RecordingHabits(
    nickname=0.02, typo=0.02, dob_swap=0.005, nhs_missing=0.25, upn_missing=0.35, postcode_lower=0.05
)
POLICE_PERSON = (
    ("police_ref", "person_ref"),
    ("forename", "forename"),
    ("surname", "surname"),
    ("dob", "date_of_birth"),
    ("sex", "sex"),
    ("postcode", "home_postcode"),
)
POLICE_HABITS = RecordingHabits(nickname=0.1, typo=0.04, dob_swap=0.01, postcode_no_space=0.1)
HEALTH_PERSON = (
    ("nhs_number", "NHS No"),
    ("forename", "Patient Forename"),
    ("surname", "Patient Surname"),
    ("dob", "Date of Birth"),
    ("sex", "Sex"),
    ("postcode", "Postcode"),
)
HEALTH_HABITS = RecordingHabits(typo=0.01, dob_swap=0.002, nhs_missing=0.01, postcode_lag=0.5)
EDU_PERSON = (
    ("upn", "UPN"),
    ("surname", "LegalSurname"),
    ("forename", "Forename"),
    ("dob", "DOB"),
    ("sex", "Gender"),
    ("postcode", "Postcode"),
)
EDU_HABITS = RecordingHabits(typo=0.005, postcode_lag=0.3)

CATALOGUE: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        CS,
        "contacts",
        "csv",
        builders.contacts,
        (
            ("contact_id", "Contact ID"),
            *CS_PERSON,
            ("contact_date", "Contact Date"),
            ("contact_source", "Contact Source"),
            ("threshold_tier", "Threshold Tier"),
            ("contact_outcome", "Contact Outcome"),
            ("referral_date", "Referral Date"),
        ),
        "financial_year",
        CS_HABITS,
        Defects(
            dates=("Contact Date",),
            nhs="NHS Number",
            upn="UPN",
            mandatory=("Contact ID", "Contact Date"),
            codes={"Threshold Tier": ("5", "0", "Tier 3")},
            end_before_start=("Contact Date", "Referral Date"),
        ),
        dates=("dob", "contact_date", "referral_date"),
    ),
    DatasetSpec(
        CS,
        "assessments",
        "csv",
        builders.assessments,
        (
            ("assessment_id", "Assessment ID"),
            *CS_PERSON,
            ("assessment_start", "Assessment Start Date"),
            ("assessment_authorised", "Assessment Authorised Date"),
        ),
        "financial_year",
        CS_HABITS,
        Defects(
            dates=("Assessment Start Date",),
            nhs="NHS Number",
            upn="UPN",
            mandatory=("Assessment ID", "Assessment Start Date"),
            end_before_start=("Assessment Start Date", "Assessment Authorised Date"),
        ),
        dates=("dob", "assessment_start", "assessment_authorised"),
        depends_on="contacts",
    ),
    DatasetSpec(
        CS,
        "cp_plans",
        "csv",
        builders.cp_plans,
        (
            ("cp_plan_id", "CP Plan ID"),
            *CS_PERSON,
            ("plan_start", "Plan Start Date"),
            ("plan_end", "Plan End Date"),
            ("category", "Category of Abuse"),
        ),
        "financial_year",
        CS_HABITS,
        Defects(
            dates=("Plan Start Date",),
            nhs="NHS Number",
            upn="UPN",
            mandatory=("CP Plan ID", "Plan Start Date"),
            codes={"Category of Abuse": ("Unknown", "NEG")},
            end_before_start=("Plan Start Date", "Plan End Date"),
        ),
        dates=("dob", "plan_start", "plan_end"),
    ),
    DatasetSpec(
        CS,
        "cla_episodes",
        "csv",
        builders.cla_episodes,
        (
            ("episode_id", "Episode ID"),
            *CS_PERSON,
            ("episode_start", "Episode Start Date"),
            ("episode_end", "Episode End Date"),
            ("legal_status", "Legal Status"),
            ("placement_type", "Placement Type"),
        ),
        "financial_year",
        CS_HABITS,
        Defects(
            dates=("Episode Start Date",),
            nhs="NHS Number",
            upn="UPN",
            mandatory=("Episode ID", "Episode Start Date"),
            codes={"Legal Status": ("Z9", "C3")},
            end_before_start=("Episode Start Date", "Episode End Date"),
        ),
        dates=("dob", "episode_start", "episode_end"),
    ),
    DatasetSpec(
        POLICE,
        "domestic_abuse_incidents",
        "csv",
        builders.domestic_abuse_incidents,
        (
            ("incident_ref", "incident_ref"),
            ("incident_at", "incident_datetime"),
            *POLICE_PERSON,
            ("risk_level", "dash_risk_level"),
            ("children_present", "child_present"),
        ),
        "financial_year",
        POLICE_HABITS,
        Defects(
            dates=("incident_datetime",),
            mandatory=("incident_ref", "incident_datetime"),
            codes={"dash_risk_level": ("Severe", "Very High")},
        ),
        dates=("dob",),
        datetimes=("incident_at",),
    ),
    DatasetSpec(
        POLICE,
        "missing_episodes",
        "csv",
        builders.missing_episodes,
        (
            ("episode_ref", "episode_ref"),
            *POLICE_PERSON,
            ("reported_at", "reported_missing_datetime"),
            ("found_at", "found_datetime"),
            ("return_interview", "return_interview_date"),
        ),
        "financial_year",
        POLICE_HABITS,
        Defects(
            dates=("reported_missing_datetime",),
            mandatory=("episode_ref", "reported_missing_datetime"),
            end_before_start=("reported_missing_datetime", "found_datetime"),
        ),
        dates=("dob", "return_interview"),
        datetimes=("reported_at", "found_at"),
    ),
    DatasetSpec(
        POLICE,
        "exploitation_flags",
        "csv",
        builders.exploitation_flags,
        (
            ("flag_ref", "flag_ref"),
            *POLICE_PERSON,
            ("flag_type", "flag_type"),
            ("flag_date", "flag_raised_date"),
            ("flag_status", "flag_status"),
        ),
        "financial_year",
        POLICE_HABITS,
        Defects(
            dates=("flag_raised_date",),
            mandatory=("flag_ref", "flag_raised_date"),
            codes={"flag_type": ("CSA", "Gang")},
        ),
        dates=("dob", "flag_date"),
    ),
    DatasetSpec(
        HEALTH,
        "ed_attendances",
        "xlsx",
        builders.ed_attendances,
        (
            ("attendance_id", "Attendance ID"),
            *HEALTH_PERSON,
            ("arrival_at", "Arrival Date"),
            ("reason", "Attendance Reason"),
            ("site", "Site"),
        ),
        "month",
        HEALTH_HABITS,
        Defects(
            dates=("Arrival Date",),
            nhs="NHS No",
            mandatory=("Attendance ID", "Arrival Date"),
            codes={"Attendance Reason": ("SH", "Unknown reason")},
        ),
        dates=("dob",),
        datetimes=("arrival_at",),
        title="Emergency Department attendances, patients aged 0-17",
    ),
    DatasetSpec(
        HEALTH,
        "safeguarding_referrals",
        "xlsx",
        builders.safeguarding_referrals,
        (
            ("referral_id", "Referral ID"),
            *HEALTH_PERSON,
            ("referral_date", "Referral Date"),
            ("concern", "Concern Category"),
            ("referrer_role", "Referrer Role"),
        ),
        "month",
        HEALTH_HABITS,
        Defects(
            dates=("Referral Date",),
            nhs="NHS No",
            mandatory=("Referral ID", "Referral Date"),
            codes={"Concern Category": ("N/A", "Abuse")},
        ),
        dates=("dob", "referral_date"),
        title="Safeguarding referrals made by health professionals, children",
    ),
    DatasetSpec(
        HEALTH,
        "child_death_reviews",
        "xlsx",
        builders.child_death_reviews,
        (
            ("case_ref", "CDOP Case"),
            *HEALTH_PERSON,
            ("date_of_death", "Date of Death"),
            ("strategy_meeting", "Strategy Meeting Date"),
            ("initial_review", "Initial Review Meeting Date"),
            ("panel_review", "Panel Review Date"),
            ("category", "Category of Death"),
        ),
        "single",
        HEALTH_HABITS,
        Defects(
            dates=("Date of Death",),
            nhs="NHS No",
            mandatory=("CDOP Case", "Date of Death"),
            end_before_start=("Date of Death", "Panel Review Date"),
            duplicates=False,
        ),
        dates=("dob", "date_of_death", "strategy_meeting", "initial_review", "panel_review"),
        title="Child Death Overview Panel case records",
    ),
    DatasetSpec(
        EDUCATION,
        "school_census",
        "csv",
        builders.school_census,
        (
            *EDU_PERSON,
            ("laestab", "LAEstab"),
            ("nc_year", "NCyearActual"),
            ("fsm", "FSMeligible"),
            ("sen", "SENprovision"),
            ("census_date", "CensusDate"),
        ),
        "census_year",
        EDU_HABITS,
        Defects(
            dates=("CensusDate",),
            upn="UPN",
            mandatory=("UPN", "LAEstab"),
            codes={"SENprovision": ("S", "X"), "NCyearActual": ("14", "N1")},
        ),
        dates=("dob", "census_date"),
    ),
    DatasetSpec(
        EDUCATION,
        "attendance",
        "csv",
        builders.attendance,
        (
            ("upn", "UPN"),
            ("laestab", "LAEstab"),
            ("academic_year", "AcademicYear"),
            ("term", "Term"),
            ("sessions_possible", "SessionsPossible"),
            ("authorised_absence", "SessionsAuthorisedAbsence"),
            ("unauthorised_absence", "SessionsUnauthorisedAbsence"),
        ),
        "academic_year",
        EDU_HABITS,
        Defects(upn="UPN", mandatory=("UPN", "SessionsPossible"), codes={"Term": ("Winter", "T4")}),
    ),
    DatasetSpec(
        EDUCATION,
        "suspensions",
        "xlsx",
        builders.suspensions,
        (
            ("suspension_id", "SuspensionID"),
            *EDU_PERSON,
            ("laestab", "LAEstab"),
            ("category", "Category"),
            ("start_date", "StartDate"),
            ("sessions", "Sessions"),
            ("reason", "Reason"),
        ),
        "academic_year",
        EDU_HABITS,
        Defects(
            dates=("StartDate",),
            upn="UPN",
            mandatory=("SuspensionID", "StartDate"),
            codes={"Category": ("EXPEL", "S")},
        ),
        dates=("dob", "start_date"),
    ),
    DatasetSpec(
        BUSINESS_UNIT,
        "rapid_reviews",
        "csv",
        builders.rapid_reviews,
        (
            ("case_ref", "Case Ref"),
            ("forename", "Child Forename"),
            ("surname", "Child Surname"),
            ("dob", "Child DOB"),
            ("nhs_number", "NHS Number"),
            ("notification_date", "Notification Date"),
            ("rapid_review_date", "Rapid Review Date"),
            ("decision", "Decision"),
        ),
        "single",
        RecordingHabits(typo=0.0),
        Defects(
            dates=("Notification Date",),
            nhs="NHS Number",
            mandatory=("Case Ref", "Notification Date"),
            end_before_start=("Notification Date", "Rapid Review Date"),
            duplicates=False,
        ),
        dates=("dob", "notification_date", "rapid_review_date"),
    ),
    # last, though a children's services dataset: each dataset's random stream is numbered by its
    # place here, so adding one at the end leaves every other dataset's records as they were
    DatasetSpec(
        CS,
        "early_help_episodes",
        "csv",
        builders.early_help_episodes,
        (
            ("episode_id", "EH Episode ID"),
            *CS_PERSON,
            ("ethnicity", "Ethnicity"),
            ("episode_start", "Episode Start Date"),
            ("episode_end", "Episode End Date"),
            ("lead_agency", "Lead Professional Agency"),
            ("end_reason", "Closure Reason"),
        ),
        "financial_year",
        CS_HABITS,
        Defects(
            dates=("Episode Start Date",),
            nhs="NHS Number",
            upn="UPN",
            mandatory=("EH Episode ID", "Episode Start Date"),
            codes={"Ethnicity": ("White British", "W1")},
            end_before_start=("Episode Start Date", "Episode End Date"),
        ),
        dates=("dob", "episode_start", "episode_end"),
        depends_on="contacts",
    ),
)
