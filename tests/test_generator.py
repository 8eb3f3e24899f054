"""The synthetic partnership: deterministic, complete, honest about its defects, and
realistic enough in its rates to stand in for real partner data."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from sihub.core import reference
from sihub.synthetic import profile
from sihub.synthetic.catalogue import CATALOGUE
from sihub.synthetic.generate import GenerationResult, generate
from tests.extracts import ALLOWED, attendance_term_months, detect, parse, read_rows


def digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_in_another_process(small: GenerationResult, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "12345", "SIHUB_HOME": str(tmp_path)}
    subprocess.run(
        [str(Path(sys.executable).parent / "sihub"), "generate", "--scale", "small", "--seed", "1"],
        check=True,
        env=env,
        capture_output=True,
    )
    assert digest(tmp_path / "landing") == digest(small.out)
    assert digest(tmp_path / "truth") == digest(small.truth)


def test_another_seed_gives_other_data(small: GenerationResult, tmp_path: Path) -> None:
    other = generate("small", seed=2, out=tmp_path / "landing")
    ours, theirs = digest(small.out), digest(other.out)
    assert ours.keys() == theirs.keys()
    assert all(ours[name] != theirs[name] for name in ours)
    a = pd.read_parquet(small.truth / "children.parquet")
    b = pd.read_parquet(other.truth / "children.parquet")
    assert len(set(a["nhs_number"]) & set(b["nhs_number"])) < len(a) / 10


def test_every_dataset_is_present_and_readable(small: GenerationResult) -> None:
    truth = pd.read_parquet(small.truth / "records.parquet")
    rows_per_file = truth.groupby("file").size()
    for spec in CATALOGUE:
        files = sorted((small.out / spec.partner / spec.dataset).iterdir())
        assert files, f"{spec.partner}/{spec.dataset} has no files"
        for path in files:
            assert path.suffix == f".{spec.fmt}"
            header, rows = read_rows(spec, path)
            assert header == [h for _, h in spec.columns]
            assert len(rows) == rows_per_file.get(path.relative_to(small.out).as_posix(), 0)
            assert all(len(r) == len(header) for r in rows)


def test_health_workbooks_have_a_title_row_and_monthly_files(small: GenerationResult) -> None:
    names = sorted(p.name for p in (small.out / "health" / "ed_attendances").iterdir())
    assert names[0] == "ed_attendances_2021-04.xlsx" and names[-1] == "ed_attendances_2026-03.xlsx"
    assert len(names) == 60


def assert_manifest_is_exact(result: GenerationResult) -> pd.DataFrame:
    """Every defect visible in the files is in the manifest at its file, row and column, and
    nothing else is."""
    manifest = pd.read_csv(result.truth / "defects.csv", dtype=str, keep_default_na=False)
    expected: dict[str, set] = defaultdict(set)
    for m in manifest.itertuples():
        expected[m.file].add((int(m.row), m.column, m.kind))
    for spec in CATALOGUE:
        for path in sorted((result.out / spec.partner / spec.dataset).iterdir()):
            name = path.relative_to(result.out).as_posix()
            header, rows = read_rows(spec, path)
            assert detect(spec, header, rows) == expected.get(name, set()), name
    return manifest


def test_planted_defects_are_exactly_the_manifest(small: GenerationResult) -> None:
    manifest = assert_manifest_is_exact(small)
    assert len(manifest) > 100
    assert set(manifest["kind"]) == {
        "bad_date",
        "impossible_date",
        "invalid_nhs_check_digit",
        "invalid_upn_check_letter",
        "blank_mandatory",
        "out_of_range_code",
        "end_before_start",
        "duplicate_row",
    }
    lines = manifest.assign(row=manifest["row"].astype(int), line=manifest["line"].astype(int))
    csv_rows = lines["file"].str.endswith(".csv")
    assert (lines.loc[csv_rows, "line"] == lines.loc[csv_rows, "row"] + 1).all()


def test_generation_in_chunks_keeps_identifiers_unique_and_rows_numbered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The national scale's path: the population in several chunks, workbooks assembled
    from every chunk. Here `small` in chunks of half its size."""
    monkeypatch.setattr(profile, "CHUNK_SCALE", profile.SCALES["small"] / 2)
    result = generate("small", seed=3, out=tmp_path / "landing")
    children = pd.read_parquet(result.truth / "children.parquet")
    assert children["child_id"].is_unique and children["nhs_number"].is_unique and children["upn"].is_unique
    assert children["child_id"].max() >= 10_000_000  # the second chunk's ids
    truth = pd.read_parquet(result.truth / "records.parquet")
    assert not truth.duplicated(["file", "row"]).any()
    per_file = truth.groupby("file")["row"].agg(["min", "max", "count"])
    assert (per_file["min"] == 1).all() and (per_file["max"] == per_file["count"]).all()
    assert_manifest_is_exact(result)


def test_the_same_child_is_found_across_partners(small: GenerationResult) -> None:
    children = pd.read_parquet(small.truth / "children.parquet").set_index("child_id")
    truth = pd.read_parquet(small.truth / "records.parquet")
    partners = truth.groupby("child_id")["partner"].nunique()
    assert (partners >= 3).sum() > 100, "many children should be known to three or more partners"

    # follow one child known to every statutory partner into each partner's own files
    everywhere = truth.groupby("child_id")["partner"].agg(set)
    wanted = {"childrens_services", "police", "health", "education"}
    child_id = next(c for c, p in everywhere.items() if wanted <= p)
    child = children.loc[child_id]
    manifest = pd.read_csv(small.truth / "defects.csv", dtype=str, keep_default_na=False)
    defective = set(zip(manifest["file"], manifest["row"].astype(int), strict=True))
    by_spec = {(s.partner, s.dataset): s for s in CATALOGUE}
    for rec in truth[truth["child_id"] == child_id].itertuples():
        if (rec.file, rec.row) in defective:
            continue
        spec = by_spec[(rec.partner, rec.dataset)]
        header, rows = read_rows(spec, small.out / rec.file)
        cells = dict(zip(header, rows[rec.row - 1], strict=True))
        values = {c: cells[h] for c, h in spec.columns}
        if "nhs_number" in values and "nhs_missing" not in rec.variation:
            assert str(values["nhs_number"]).replace(" ", "") == child["nhs_number"]
        if values.get("upn"):
            assert values["upn"] == child["upn"]
        if "surname" in values and "typo_surname" not in rec.variation:
            assert values["surname"] == child["surname"]


def _events(small: GenerationResult, partner: str, dataset: str, date_header: str) -> pd.DataFrame:
    """A dataset's clean rows with event date, district (from the postcode) and age."""
    spec = next(s for s in CATALOGUE if (s.partner, s.dataset) == (partner, dataset))
    outward = reference.postcode_districts().set_index("postcode_district")["district_code"]
    frames = []
    for path in sorted((small.out / partner / dataset).iterdir()):
        header, rows = read_rows(spec, path)
        frames.append(pd.DataFrame(rows, columns=header))
    df = pd.concat(frames, ignore_index=True)
    date = df[date_header].map(lambda c: parse(spec, date_header, c))
    dob_header = next(h for c, h in spec.columns if c == "dob")
    dob = df[dob_header].map(lambda c: parse(spec, dob_header, c))
    postcode_header = next(h for c, h in spec.columns if c == "postcode")
    code = df[postcode_header].str.upper().str.replace(" ", "")
    out = pd.DataFrame({"date": date, "dob": dob, "district": code.str[:-3].map(outward)})
    out = out.dropna()
    out["age"] = [
        (d.year - b.year - ((d.month, d.day) < (b.month, b.day))) for d, b in zip(out["date"], out["dob"], strict=True)
    ]
    for extra in ("Attendance Reason",):
        if extra in df:
            out[extra] = df.loc[out.index, extra]
    return out


@pytest.fixture(scope="module")
def child_years() -> pd.Series:
    """Children in each district at small scale, times the five years of the window."""
    pop = reference.population()
    return pop.groupby("district_code")["population"].sum() * 0.02 * 5


def test_contact_rates_are_plausible_and_highest_where_need_is(small: GenerationResult, child_years) -> None:
    contacts = _events(small, "childrens_services", "contacts", "Contact Date")
    rate = contacts.groupby("district").size() / child_years * 10_000
    assert 400 < contacts.shape[0] / child_years.sum() * 10_000 < 3_000
    great_yarmouth, norwich, broadland, south_norfolk = "E07000145", "E07000148", "E07000144", "E07000149"
    assert min(rate[great_yarmouth], rate[norwich]) > 1.3 * max(rate[broadland], rate[south_norfolk])


def test_self_harm_attendances_are_concentrated_in_teenagers(small: GenerationResult, child_years) -> None:
    ed = _events(small, "health", "ed_attendances", "Arrival Date")
    harm = ed[ed["Attendance Reason"] == "Self-harm"]
    assert (harm["age"] >= 10).all()
    teen_share = (harm["age"] >= 12).mean()
    assert teen_share > 0.85
    # ages 12-17 are a third of children; per 10,000 of them per year
    teen_rate = (harm["age"] >= 12).sum() / (child_years.sum() / 3) * 10_000
    assert 20 < teen_rate < 250
    all_rate = len(ed) / child_years.sum() * 10_000
    assert 1_500 < all_rate < 6_000


def test_school_absence_is_highest_in_the_spring_term(small: GenerationResult) -> None:
    spec = next(s for s in CATALOGUE if s.dataset == "attendance")
    frames = []
    for path in sorted((small.out / "education" / "attendance").iterdir()):
        header, rows = read_rows(spec, path)
        frames.append(pd.DataFrame(rows, columns=header))
    df = pd.concat(frames)
    df = df[df["Term"].isin(ALLOWED["Term"])]
    for col in ("SessionsPossible", "SessionsAuthorisedAbsence", "SessionsUnauthorisedAbsence"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df = df.dropna()
    by_term = df.groupby("Term").sum(numeric_only=True)
    missed = (by_term["SessionsAuthorisedAbsence"] + by_term["SessionsUnauthorisedAbsence"]) / by_term[
        "SessionsPossible"
    ]
    assert missed["Spring"] > missed["Autumn"] > missed["Summer"]
    assert 0.03 < missed.mean() < 0.12


def test_no_term_is_reported_before_it_ends(small: GenerationResult) -> None:
    """The extracts are taken when the window closes: a term still running then (the summer
    term after a March close) has no attendance figures yet. Each term ends in December, March
    or July of its academic year."""
    spec = next(s for s in CATALOGUE if s.dataset == "attendance")
    months = attendance_term_months(small.out, spec)
    assert len(months) > 10
    assert f"{profile.WINDOW_START:%Y-%m}" <= min(months) and max(months) < f"{profile.WINDOW_END:%Y-%m}"


def test_truth_stays_outside_the_landing_area(small: GenerationResult) -> None:
    assert small.out not in small.truth.parents
    assert not any(p.name in ("defects.csv", "records.parquet") for p in small.out.rglob("*"))
