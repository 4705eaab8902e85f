"""Grading the course's real labs: the solution scores full marks, the untouched student
lab scores zero with 'not implemented' reasons, and a plausibly wrong answer loses
exactly its task's points.

Lab 01 runs in the default test run; the other labs are marked ``notebooks`` (each
costs a reference run and three submissions, 30-60 s on 2 cores). Add a plausible slip
to ``WRONG`` for each new lab; without one, that test is skipped for it.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import pytest

from labkit.course import list_labs
from labkit.grading import Limits, grade

ROOT = Path(__file__).resolve().parents[1]
LABS = list_labs(ROOT) if (ROOT / "solutions").is_dir() else []
LIMITS = Limits(cell_timeout=120, submission_timeout=300)

# A plausible slip per lab: (task, old text, new text) applied to the answer cell.
WRONG = {
    "01": ("expected_cost", "cost_fn * missed.sum() + cost_fp * false_alarms.sum()",
           "cost_fp * missed.sum() + cost_fn * false_alarms.sum()"),
    "02": ("expected_acceptance", "(hits * np.asarray(examine_prob)).sum(axis=1).mean()",
           "(hits * np.asarray(examine_prob)).mean()"),
}


def _params():
    for lab in LABS:
        marks = [] if lab.number == "01" else [pytest.mark.notebooks]
        yield pytest.param(lab, id=lab.slug, marks=marks)


@pytest.fixture(scope="module", params=list(_params()))
def graded(request, tmp_path_factory):
    lab = request.param
    base = tmp_path_factory.mktemp(f"lab{lab.number}")
    subs = base / "subs"
    subs.mkdir()
    shutil.copy(lab.solution, subs / "solution.ipynb")
    shutil.copy(lab.student, subs / "untouched.ipynb")
    if lab.number in WRONG:
        task, old, new = WRONG[lab.number]
        nb = nbformat.read(lab.solution, as_version=4)
        cell = next(c for c in nb.cells if c.get("id") == f"task-{task}")
        assert old in cell.source, "the solution changed: update WRONG in this test"
        cell.source = cell.source.replace(old, new)
        nbformat.write(nb, subs / "wrong.ipynb")
    summary = grade(lab.number, subs, base / "out", workers=2, seed=20261126,
                    course_root=ROOT, limits=LIMITS, progress=False)
    with open(base / "out" / "grades.csv", newline="") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    tasks = [name for name in next(iter(rows.values())) if name not in
             ("id", "total", "max", "status", "reason")]
    return lab, rows, tasks, summary


pytestmark = pytest.mark.skipif(not LABS, reason="no labs in solutions/ yet")


def test_solution_scores_full_marks(graded):
    _, rows, _, _ = graded
    row = rows["solution"]
    assert row["status"] == "graded", row["reason"]
    assert row["total"] == row["max"] and int(row["max"]) > 0


def test_untouched_lab_scores_zero_with_not_implemented_reasons(graded):
    _, rows, tasks, summary = graded
    row = rows["untouched"]
    assert row["status"] == "not-implemented", row["reason"]
    assert row["total"] == "0"
    record = next(r for r in summary.records if r["id"] == "untouched")
    assert [t["state"] for t in record["tasks"]] == ["not-implemented"] * len(tasks)


def test_wrong_answer_loses_exactly_its_points(graded):
    lab, rows, tasks, _ = graded
    if lab.number not in WRONG:
        pytest.skip(f"no plausible slip written for lab {lab.number}")
    wrong_task = WRONG[lab.number][0]
    solution, wrong = rows["solution"], rows["wrong"]
    for task in tasks:
        expected = "0" if task == wrong_task else solution[task]
        assert wrong[task] == expected, (task, wrong["reason"])
    assert int(wrong["total"]) == int(solution["total"]) - int(solution[wrong_task])
