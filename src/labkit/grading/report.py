"""What the grader writes for people: the gradebook, feedback per student, the log."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

from .status import Status

__all__ = ["feedback_name", "write_gradebook", "write_feedback", "write_log"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Spreadsheets run cells that start with these as formulas (CSV injection).
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def feedback_name(student: str) -> str:
    """File name of a student's feedback: the id made safe, plus a hash where it changed.

    Examples
    --------
    >>> feedback_name("alice")
    'alice.md'
    >>> feedback_name("Bob Smith") != feedback_name("Bob_Smith")
    True
    >>> feedback_name("A" * 125 + "1") != feedback_name("A" * 125 + "2")
    True
    """
    safe = _UNSAFE.sub("_", student).strip("._") or "submission"
    if safe != student or len(safe) > 100:
        # Cut before adding the hash, so two long ids never share a file.
        digest = hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        safe = f"{safe[:100]}-{digest}"
    return safe + ".md"


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA) else text


def write_gradebook(path: Path, tasks: dict[str, dict[str, Any]],
                    records: list[dict[str, Any]]) -> None:
    """Write ``grades.csv``: one row per submission, RFC 4180 quoting, CRLF line ends.

    Columns: ``id``, one per task (points earned), ``total``, ``max``, ``status``,
    ``reason``. Ids that a spreadsheet would run as a formula get a leading ``'``.

    Examples
    --------
    >>> import tempfile, os
    >>> tmp = tempfile.TemporaryDirectory()
    >>> d = tmp.name
    >>> rec = {"id": 'O"Neil, Ann', "tasks": [{"task": "t", "points": 1}], "total": 1,
    ...        "max": 2, "status": "partial", "reason": "line one\\nline two"}
    >>> write_gradebook(Path(d) / "g.csv", {"t": {"points": 2}}, [rec])
    >>> print(open(os.path.join(d, "g.csv"), newline="").read())  # doctest: +NORMALIZE_WHITESPACE
    id,t,total,max,status,reason
    "O""Neil, Ann",1,1,2,partial,"line one
    line two"
    >>> tmp.cleanup()
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["id", *tasks, "total", "max", "status", "reason"])
    for rec in sorted(records, key=lambda r: r["id"]):
        earned = {t["task"]: t["points"] for t in rec.get("tasks", [])}
        writer.writerow([_cell(rec["id"]), *(earned.get(t, 0) for t in tasks), rec["total"],
                         rec["max"], rec["status"], _cell(rec["reason"])])
    _atomic(path, buffer.getvalue())


def write_feedback(folder: Path, lab_title: str, record: dict[str, Any]) -> Path:
    """Write one student's feedback (Markdown): per task passed, failed and why, or why
    it was not graded. It holds no expected values: only verdicts and messages.

    Examples
    --------
    >>> import tempfile
    >>> rec = {"id": "ann", "total": 2, "max": 3, "status": "partial", "reason": "",
    ...        "notes": {}, "tasks": [{"task": "t", "points": 2, "max_points": 2,
    ...        "state": "passed", "message": "passed"}, {"task": "u", "points": 0,
    ...        "max_points": 1, "state": "not-implemented", "message": "not implemented"}]}
    >>> tmp = tempfile.TemporaryDirectory()
    >>> p = write_feedback(Path(tmp.name), "Lab 90", rec)
    >>> "| u | 0 / 1 | not implemented |" in p.read_text()
    True
    >>> tmp.cleanup()
    """
    lines = [f"# Feedback: {lab_title}", "", f"Submission: `{record['id']}`", "",
             f"**Score: {record['total']} / {record['max']}** (status: {record['status']})", ""]
    if record["status"] not in (Status.GRADED, Status.PARTIAL, Status.NOT_IMPLEMENTED) \
            and record["reason"]:
        lines += [f"Note: {record['reason']}", ""]
    if record.get("tasks"):
        lines += ["| task | points | result |", "| --- | --- | --- |"]
        for task in record["tasks"]:
            message = task["message"].replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {task['task']} | {task['points']} / {task['max_points']} | "
                         f"{message} |")
        lines.append("")
    for task, note in sorted(record.get("notes", {}).items()):
        lines.append(f"- {task}: {note}")
    lines += ["", "Each answer was run on fresh data, with a seed you did not see, and its "
              "results compared with the reference solution's on the same data."]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / feedback_name(record["id"])
    _atomic(path, "\n".join(lines) + "\n")
    return path


def write_log(path: Path, log: dict[str, Any]) -> None:
    """Write the machine-readable log (JSON)."""
    _atomic(path, json.dumps(log, indent=2, sort_keys=True) + "\n")


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    tmp.replace(path)
