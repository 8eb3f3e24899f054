"""Landing as an attacker would use it: links to the key or to files elsewhere, hard links,
folders that lead out of landing, and a workbook built to exhaust memory. Only regular files
inside landing are read, never through a link; everything else is rejected with the reason."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import duckdb

from pipelines.refresh import run_refresh
from sihub.privacy.keys import create_key_file


def raw_contents(home: Path) -> set[bytes]:
    return {p.read_bytes() for p in (home / "raw").rglob("*") if p.is_file()}


def statuses(home: Path, dataset: str) -> dict[str, tuple[str, str | None]]:
    """Each file of the run summary by its landing name (the summary names it by a safe label;
    the personal zone knows which label is which file)."""
    with duckdb.connect(str(home / "warehouse" / "personal.duckdb"), read_only=True) as con:
        names = dict(con.execute("SELECT label, file_name FROM deliveries WHERE dataset = ?", [dataset]).fetchall())
    summary = json.loads((home / "operations" / "run_summary.json").read_text())
    entry = next((d for d in summary["datasets"] if d["dataset"] == dataset), {"files": []})
    return {names[f["name"]]: (f["status"], f["error"]) for f in entry["files"]}


def test_links_and_paths_out_of_landing_are_refused_unread(first_run, home: Path, tmp_path: Path) -> None:
    copy = tmp_path / "home"
    shutil.copytree(home, copy, symlinks=True)
    key = create_key_file(copy)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    episodes = copy / "landing" / "police" / "missing_episodes"
    source = sorted(episodes.glob("*.csv"))[0]
    stray = outside / "episodes_from_elsewhere.csv"
    shutil.copyfile(source, stray)
    stray.write_text(stray.read_text().replace("MP0", "MPX"))  # new content, would load if read
    (episodes / "key.csv").symlink_to(key)
    (episodes / "linked.csv").symlink_to(stray)
    hard_target = outside / "hard.csv"
    shutil.copyfile(stray, hard_target)
    hard_target.write_text(hard_target.read_text().replace("MPX", "MPH"))
    os.link(hard_target, episodes / "hard.csv")
    flags = copy / "landing" / "police" / "exploitation_flags"
    shutil.move(flags, outside / "flags")
    (copy / "landing" / "police" / "exploitation_flags").symlink_to(outside / "flags")  # the folder leads out
    first_flags = sorted((outside / "flags").glob("*.csv"))[0]
    (outside / "flags" / "extra.csv").write_text(first_flags.read_text().replace("EX", "EY"))
    with duckdb.connect(str(copy / "warehouse" / "shared.duckdb"), read_only=True) as con:
        before = con.execute("SELECT count(*) FROM police__missing_episodes").fetchone()[0]

    outcome = run_refresh(copy)

    assert outcome.success, outcome.reason
    assert key.read_bytes() not in raw_contents(copy)  # the key never reaches the archive
    files = statuses(copy, "missing_episodes")
    for name in ("key.csv", "linked.csv", "hard.csv"):
        status, error = files[name]
        assert status == "rejected" and error, (name, files[name])
    assert "link" in files["key.csv"][1] and "link" in files["hard.csv"][1]
    assert statuses(copy, "exploitation_flags")["extra.csv"][0] == "rejected"
    with duckdb.connect(str(copy / "warehouse" / "shared.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM police__missing_episodes").fetchone()[0] == before
    digest = hashlib.sha256(key.read_bytes()).hexdigest()
    for path in (copy / "published").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".html", ".md"):
            assert digest not in path.read_text(errors="ignore"), path


NS = "http://schemas.openxmlformats.org"
PARTS = {
    "[Content_Types].xml": (
        f'<Types xmlns="{NS}/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        f'<Relationships xmlns="{NS}/package/2006/relationships"><Relationship Id="rId1" '
        f'Type="{NS}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'<workbook xmlns="{NS}/spreadsheetml/2006/main" xmlns:r="{NS}/officeDocument/2006/relationships">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{NS}/package/2006/relationships"><Relationship Id="rId1" '
        f'Type="{NS}/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}


def zip_bomb(path: Path, rows: int) -> None:
    """A workbook of one sheet of `rows` identical rows: megabytes inflating to far more."""
    row = '<row><c t="inlineStr"><is><t>same</t></is></c><c t="inlineStr"><is><t>again</t></is></c></row>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, xml in PARTS.items():
            z.writestr(name, '<?xml version="1.0"?>' + xml)
        with z.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(f'<?xml version="1.0"?><worksheet xmlns="{NS}/spreadsheetml/2006/main"><sheetData>'.encode())
            chunk = (row * 10_000).encode()
            for _ in range(rows // 10_000):
                sheet.write(chunk)
            sheet.write(b"</sheetData></worksheet>")


def test_a_workbook_that_inflates_past_the_limits_is_rejected_before_reading(first_run, home: Path, tmp_path) -> None:
    copy = tmp_path / "home"
    shutil.copytree(home, copy, symlinks=True)
    bomb = copy / "landing" / "health" / "ed_attendances" / "ed_attendances_2026-04.xlsx"
    zip_bomb(bomb, 2_000_000)  # some 200 MB of sheet in a file of well under 1 MB
    assert bomb.stat().st_size < 2_000_000

    outcome = run_refresh(copy)

    assert outcome.success, outcome.reason
    status, error = statuses(copy, "ed_attendances")["ed_attendances_2026-04.xlsx"]
    assert status == "rejected" and "compression ratio" in error


def lie_about_sizes(path: Path) -> None:
    """Rewrite the zip's declared sizes of every entry to a few kilobytes (local headers and
    central directory), as a crafted bomb does: the data inflates to what it always did."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        while at != -1:
            data[at + offset : at + offset + 4] = (4096).to_bytes(4, "little")
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


def test_a_workbook_lying_about_its_sizes_is_rejected_while_inflating(tmp_path: Path) -> None:
    from sihub.intake.readers import FileRejected, WorkbookLimits, check_workbook

    bomb = tmp_path / "lying.xlsx"
    zip_bomb(bomb, 1_000_000)
    lie_about_sizes(bomb)
    with zipfile.ZipFile(bomb) as z:
        assert sum(e.file_size for e in z.infolist()) < 100_000  # what it claims
    try:
        check_workbook(bomb, WorkbookLimits())
    except FileRejected as rejected:
        assert "declared sizes are false" in str(rejected)
    else:
        raise AssertionError("a lying zip bomb passed the workbook check")
    rows = tmp_path / "rows.xlsx"
    zip_bomb(rows, 30_000)  # an honest workbook, but more rows than allowed, undeclared
    try:
        check_workbook(rows, WorkbookLimits(max_rows=20_000, max_ratio=10_000))
    except FileRejected as rejected:
        assert "rows" in str(rejected)
    else:
        raise AssertionError("an undeclared row count passed the row limit")


def test_a_folder_swapped_for_a_link_after_judging_is_not_followed(tmp_path: Path, monkeypatch) -> None:
    """The race: a folder judged sound is replaced by a link to the secrets before the file
    is opened. Opening goes folder by folder without following links, so it is refused."""
    import pytest

    from sihub.intake import archive

    landing, secrets = tmp_path / "landing", tmp_path / "secrets"
    (landing / "police" / "missing_episodes").mkdir(parents=True)
    secrets.mkdir()
    (secrets / "pseudonym.csv").write_text("the key")
    path = landing / "police" / "missing_episodes" / "pseudonym.csv"
    shutil.rmtree(landing / "police" / "missing_episodes")
    (landing / "police" / "missing_episodes").symlink_to(secrets)
    monkeypatch.setattr(archive, "refusal", lambda *_: None)  # as judged before the swap
    with pytest.raises(archive.Refused):
        archive.hash_landing_file(landing, path)
