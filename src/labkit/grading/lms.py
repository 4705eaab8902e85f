"""The gradebook in a learning platform's import format: Canvas and Moodle.

A submission's id is the name of its file or folder (``ada.ipynb`` -> ``ada``), which is
not the student's id in the learning platform (LMS). A *roster* maps one to the other:
a CSV file with a header row and one row per student, with these columns (names are
matched without regard to case, spaces or underscores; Canvas's and Moodle's own export
headers are accepted as they are, so a column of submission ids can be added to a
gradebook exported from the LMS):

============== ====================================== =========================
column         what                                   also accepted as
============== ====================================== =========================
submission     the submission id (required)
name           the student's name                     Student
lms_id         Canvas's numeric user id               ID, Canvas ID
sis_user_id    SIS user id                            SIS User ID
sis_login_id   SIS login id                           SIS Login ID
section        section                                Section
email          e-mail address                         Email address
idnumber       institutional id number                ID number
username       login name                             Username
============== ====================================== =========================

Formats written (``DIR/<platform>-grades.csv``, UTF-8, RFC 4180 quoting):

**Canvas** (:data:`CANVAS_COLUMNS`): the columns of Canvas's own gradebook export and
import, ``Student, ID, SIS User ID, SIS Login ID, Section``, then one assignment column
named ``Assignment Name (ID)`` (just ``Assignment Name`` when no assignment id is given:
Canvas then creates the assignment); the first row under the header is Canvas's
``Points Possible`` row (written, as Canvas writes it, with four leading spaces), holding
the lab's maximum under the assignment column. Canvas matches students by ID, SIS User
ID or SIS Login ID, so a row needs one of them.

**Moodle**: the CSV that Moodle's grade import (Grades > Import > CSV file) reads: a
header, one identifier column and one grade column. On import, map the identifier
column to the matching user field ("Email address" to ``useremail``, "ID number" to
``useridnumber``, "Username" to ``username``) and the grade column to the grade item.

A submission with no roster entry, or whose entry lacks the identifier the platform
needs, is not written to the export: it is listed as a warning (on the terminal, in
``log.json`` and in the class report), never dropped silently. Students on the roster
who handed in nothing are listed too. Nothing a submission controls is written to an
export: only the instructor's roster and the scores.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .report import _atomic

__all__ = ["CANVAS_COLUMNS", "MOODLE_IDENTIFIERS", "PLATFORMS", "Roster", "canvas_rows",
           "moodle_rows", "read_roster", "write_export"]

PLATFORMS = ("canvas", "moodle")
#: The first columns of Canvas's gradebook CSV, in order; the assignment column follows.
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
#: Canvas writes its points row with this label, indented by four spaces.
CANVAS_POINTS = "    Points Possible"
#: Moodle identifier: roster field -> the header written (Moodle's export header).
MOODLE_IDENTIFIERS = {"email": "Email address", "idnumber": "ID number",
                      "username": "Username"}
_ALIASES = {"student": "name", "id": "lms_id", "canvasid": "lms_id", "lmsid": "lms_id",
            "sisuserid": "sis_user_id", "sisloginid": "sis_login_id",
            "emailaddress": "email", "idnumber": "idnumber", "submissionid": "submission",
            "submission": "submission", "name": "name", "section": "section",
            "email": "email", "username": "username"}
_MAX_LISTED = 20


def _canonical(header: str) -> str | None:
    key = re.sub(r"[\s_\-]+", "", header.strip().lower())
    return _ALIASES.get(key)


@dataclass(frozen=True)
class Roster:
    """Submission id -> the student's LMS fields (see the module's table).

    Attributes
    ----------
    path : Path
    students : dict
        ``{submission id: {field: value}}`` in roster order; empty cells are left out.
    """

    path: Path
    students: dict[str, dict[str, str]]


def read_roster(path: str | Path) -> Roster:
    """Read a roster CSV (UTF-8, a byte-order mark is fine).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When it has no header, no ``submission`` column, an empty submission id, or
        two rows for one submission.

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> p = Path(tmp.name) / "roster.csv"
    >>> _ = p.write_text("Student,ID,Submission\\n\\"Lovelace, Ada\\",101,ada\\n")
    >>> read_roster(p).students
    {'ada': {'name': 'Lovelace, Ada', 'lms_id': '101', 'submission': 'ada'}}
    >>> tmp.cleanup()
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No roster {path}.")
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        raise ValueError(f"The roster {path} is empty; it needs a header row with a "
                         "'submission' column.")
    header = [_canonical(h) for h in rows[0]]
    if "submission" not in header:
        raise ValueError(f"The roster {path} has no 'submission' column (the id of each "
                         f"student's submission, as in grades.csv); its columns are "
                         f"{', '.join(rows[0])}.")
    students: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        entry = {}
        for name, cell in zip(header, row, strict=False):
            if name is not None and cell.strip() and name not in entry:
                entry[name] = cell.strip()
        sub = entry.get("submission")
        if not sub:
            raise ValueError(f"{path}, line {number}: the 'submission' cell is empty.")
        if sub in students:
            raise ValueError(f"{path}, line {number}: a second row for submission {sub!r}.")
        students[sub] = entry
    return Roster(path, students)


def _score(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"


def _matched(roster: Roster, records: list[dict[str, Any]], platform: str,
             needs: tuple[str, ...]) -> tuple[list[tuple[dict[str, str], dict[str, Any]]],
                                               list[str]]:
    """The (roster entry, record) pairs that can be exported, and warnings for the rest."""
    warnings, pairs = [], []
    graded = set()
    for record in sorted(records, key=lambda r: r["id"]):
        sub = record["id"]
        graded.add(sub)
        entry = roster.students.get(sub)
        where = f"{record['total']}/{record['max']}, {record['status']}"
        if record.get("ungraded"):
            warnings.append(f"submission {sub!r} was not graded this run ({where}); left out "
                            f"of the {platform} export: grade it again")
        elif entry is None:
            warnings.append(f"submission {sub!r} has no roster entry ({where}); left out of "
                            f"the {platform} export: add it to {roster.path.name}")
        elif not any(entry.get(f) for f in needs):
            names = " or ".join(needs)
            warnings.append(f"submission {sub!r}: its roster entry has no {names} "
                            f"({where}); left out of the {platform} export")
        else:
            pairs.append((entry, record))
    absent = [s for s in roster.students if s not in graded]
    if absent:
        listed = ", ".join(repr(s) for s in absent[:_MAX_LISTED])
        more = f" and {len(absent) - _MAX_LISTED} more" if len(absent) > _MAX_LISTED else ""
        warnings.append(f"{len(absent)} student(s) on the roster handed in nothing and are "
                        f"not in the {platform} export: {listed}{more}")
    return pairs, warnings


def canvas_rows(roster: Roster, records: list[dict[str, Any]], max_points: int,
                assignment: str, assignment_id: str | None = None
                ) -> tuple[list[list[str]], list[str]]:
    """Canvas's gradebook CSV as rows (header, points row, one row per student) and the
    warnings.

    Examples
    --------
    >>> roster = Roster(Path("r.csv"), {"ada": {"submission": "ada", "name": "Ada",
    ...                                          "lms_id": "101", "section": "A"}})
    >>> rows, _ = canvas_rows(roster, [{"id": "ada", "total": 5, "max": 6,
    ...                                 "status": "graded"}], 6, "Lab 01", "77")
    >>> rows[0]
    ['Student', 'ID', 'SIS User ID', 'SIS Login ID', 'Section', 'Lab 01 (77)']
    >>> rows[1][0].strip(), rows[1][-1], rows[2]
    ('Points Possible', '6', ['Ada', '101', '', '', 'A', '5'])
    """
    column = f"{assignment} ({assignment_id})" if assignment_id else assignment
    rows = [[*CANVAS_COLUMNS, column], [CANVAS_POINTS, "", "", "", "", _score(max_points)]]
    pairs, warnings = _matched(roster, records, "canvas",
                               ("lms_id", "sis_user_id", "sis_login_id"))
    for entry, record in pairs:
        rows.append([entry.get("name", ""), entry.get("lms_id", ""),
                     entry.get("sis_user_id", ""), entry.get("sis_login_id", ""),
                     entry.get("section", ""), _score(record["total"])])
    return rows, warnings


def moodle_rows(roster: Roster, records: list[dict[str, Any]], assignment: str,
                identifier: str = "email") -> tuple[list[list[str]], list[str]]:
    """Moodle's grade-import CSV as rows (header, one row per student) and the warnings.

    Examples
    --------
    >>> roster = Roster(Path("r.csv"), {"ada": {"submission": "ada", "email": "a@x.org"}})
    >>> moodle_rows(roster, [{"id": "ada", "total": 5, "max": 6, "status": "graded"},
    ...                      {"id": "bob", "total": 0, "max": 6, "status": "invalid"}],
    ...             "Lab 01")
    ([['Email address', 'Lab 01'], ['a@x.org', '5']], ["submission 'bob' has no roster \
entry (0/6, invalid); left out of the moodle export: add it to r.csv"])
    """
    if identifier not in MOODLE_IDENTIFIERS:
        raise ValueError(f"Moodle identifies students by one of "
                         f"{', '.join(MOODLE_IDENTIFIERS)}; got {identifier!r}")
    rows = [[MOODLE_IDENTIFIERS[identifier], assignment]]
    pairs, warnings = _matched(roster, records, "moodle", (identifier,))
    for entry, record in pairs:
        rows.append([entry[identifier], _score(record["total"])])
    return rows, warnings


def write_export(platform: str, out: Path, roster: Roster, records: list[dict[str, Any]],
                 max_points: int, *, assignment: str, assignment_id: str | None = None,
                 moodle_id: str = "email") -> dict[str, Any]:
    """Write ``out/<platform>-grades.csv``; return ``platform``, ``path``, ``rows`` (the
    students written) and ``warnings``."""
    if platform == "canvas":
        rows, warnings = canvas_rows(roster, records, max_points, assignment, assignment_id)
        students = len(rows) - 2
    elif platform == "moodle":
        rows, warnings = moodle_rows(roster, records, assignment, moodle_id)
        students = len(rows) - 1
    else:
        raise ValueError(f"unknown LMS {platform!r}; use one of {', '.join(PLATFORMS)}")
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    path = Path(out) / f"{platform}-grades.csv"
    _atomic(path, buffer.getvalue())
    return {"platform": platform, "path": str(path), "rows": students, "warnings": warnings}
