"""LMS exports: the roster, and the exact columns of Canvas's gradebook CSV and Moodle's
grade-import CSV. No kernel runs here."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from labkit.cli import main
from labkit.grading import grade
from labkit.grading.lms import (
    CANVAS_COLUMNS,
    read_roster,
    write_export,
)

FIXTURE = Path(__file__).parent / "fixtures" / "grading"
SOLUTION = FIXTURE / "solutions" / "90-fixture.ipynb"


def _records():
    return [{"id": "ada", "total": 6, "max": 6, "status": "graded", "reason": "3/3"},
            {"id": "bob", "total": 2, "max": 6, "status": "partial", "reason": "1/3"},
            {"id": "cy", "total": 0, "max": 6, "status": "invalid", "reason": "not JSON"},
            {"id": "dan", "total": 0, "max": 6, "status": "error", "reason": "not graded",
             "ungraded": True}]


@pytest.fixture
def roster(tmp_path):
    # Canvas's own export headers, a 'Submission' column added, plus Moodle's fields.
    path = tmp_path / "roster.csv"
    path.write_text(
        "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Submission,Email address,"
        "ID number,Username\n"
        '"Lovelace, Ada",101,S-1,ada1,Sec A,ada,ada@uni.example,1001,alovelace\n'
        "Bob Byron,102,,,Sec B,bob,bob@uni.example,,bbyron\n"
        "Dan Dee,104,,,Sec A,dan,dan@uni.example,1004,ddee\n"
        "Eve Early,105,,,Sec B,eve,eve@uni.example,1005,eearly\n",
        encoding="utf-8")
    return read_roster(path)


def _read(path):
    raw = Path(path).read_bytes()
    assert raw.endswith(b"\r\n") and not raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(raw.decode("utf-8").splitlines()))


def test_roster_accepts_canvas_and_moodle_headers(roster):
    assert roster.students["ada"] == {
        "name": "Lovelace, Ada", "lms_id": "101", "sis_user_id": "S-1",
        "sis_login_id": "ada1", "section": "Sec A", "submission": "ada",
        "email": "ada@uni.example", "idnumber": "1001", "username": "alovelace"}
    assert "sis_user_id" not in roster.students["bob"]  # empty cells are left out
    assert list(roster.students) == ["ada", "bob", "dan", "eve"]


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("ID,Student\n101,Ada\n", "no 'submission' column"),
    ("submission,ID\nada,1\nada,2\n", "a second row for submission 'ada'"),
    ("submission,ID\n,1\n", "line 2: the 'submission' cell is empty"),
])
def test_a_bad_roster_is_refused_with_a_reason(tmp_path, text, message):
    path = tmp_path / "r.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_roster(path)


def test_canvas_export_has_canvas_gradebook_columns(roster, tmp_path):
    written = write_export("canvas", tmp_path, roster, _records(), 6,
                           assignment="Lab 90: fixture", assignment_id="4711")
    rows = _read(tmp_path / "canvas-grades.csv")
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       "Lab 90: fixture (4711)"]
    assert list(CANVAS_COLUMNS) == rows[0][:5]
    assert rows[1] == ["    Points Possible", "", "", "", "", "6"]
    assert rows[2:] == [["Lovelace, Ada", "101", "S-1", "ada1", "Sec A", "6"],
                        ["Bob Byron", "102", "", "", "Sec B", "2"]]
    assert written["rows"] == 2 and written["path"] == str(tmp_path / "canvas-grades.csv")
    warnings = written["warnings"]
    # cy has no roster entry; dan was not graded this run; eve handed in nothing
    assert any("'cy' has no roster entry (0/6, invalid)" in w for w in warnings)
    assert any("'dan' was not graded this run" in w for w in warnings)
    assert any("1 student(s) on the roster handed in nothing" in w and "'eve'" in w
               for w in warnings)
    assert len(warnings) == 3


def test_canvas_export_without_an_assignment_id_names_a_new_assignment(roster, tmp_path):
    write_export("canvas", tmp_path, roster, _records()[:2], 6, assignment="Lab 90")
    assert _read(tmp_path / "canvas-grades.csv")[0][-1] == "Lab 90"


def test_canvas_needs_a_canvas_or_sis_id(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("submission,name,email\nada,Ada,ada@uni.example\n")
    written = write_export("canvas", tmp_path, read_roster(path), _records()[:1], 6,
                           assignment="Lab")
    assert written["rows"] == 0
    assert "no lms_id or sis_user_id or sis_login_id" in written["warnings"][0]


@pytest.mark.parametrize("identifier, header, ada", [
    ("email", "Email address", "ada@uni.example"),
    ("idnumber", "ID number", "1001"),
    ("username", "Username", "alovelace"),
])
def test_moodle_export_has_an_identifier_and_a_grade_column(roster, tmp_path, identifier,
                                                           header, ada):
    written = write_export("moodle", tmp_path, roster, _records(), 6, assignment="Lab 90",
                           moodle_id=identifier)
    rows = _read(tmp_path / "moodle-grades.csv")
    assert rows[0] == [header, "Lab 90"]
    assert rows[1] == [ada, "6"]
    if identifier == "idnumber":  # bob has no ID number: a warning, not a silent gap
        assert rows[2:] == []
        assert any("'bob': its roster entry has no idnumber" in w
                   for w in written["warnings"])
    else:
        assert rows[2][1] == "2" and len(rows) == 3


def test_an_export_without_a_roster_or_of_an_unknown_lms_stops_before_grading(tmp_path,
                                                                               capsys):
    with pytest.raises(ValueError, match="needs --roster"):
        grade(SOLUTION, tmp_path, tmp_path / "o", export=["canvas"], progress=False)
    with pytest.raises(ValueError, match="unknown LMS export 'blackboard'"):
        grade(SOLUTION, tmp_path, tmp_path / "o", export=["blackboard"], progress=False)
    assert not (tmp_path / "o").exists()
    code = main(["grade", str(SOLUTION), str(tmp_path), "--out", str(tmp_path / "o"),
                 "--export", "moodle"])
    assert code == 2 and "--roster" in capsys.readouterr().err
