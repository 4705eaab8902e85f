"""Grading the course's real labs, driven by the course file.

For every available lab, one ``labkit grade`` run (two workers, a fixed grading seed)
grades the solution, the untouched student lab, and one submission per plausible slip
named in ``course.yml``. Then:

- the solution scores full marks;
- the untouched lab scores zero, every task "not implemented";
- each slip loses exactly its task's points, and the feedback shows that the lab's own
  self-check caught it: the grader is never more lenient than the notebook.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import pytest

from labkit.contract import tasks_of
from labkit.course import load_course
from labkit.grading import Limits, grade

ROOT = Path(__file__).resolve().parents[1]
COURSE = load_course(ROOT)
LABS = [lab for lab in COURSE.labs if lab.available(ROOT)]
LIMITS = Limits(cell_timeout=180, submission_timeout=400)
SEED = 20261126

pytestmark = pytest.mark.grading


def _slip_id(index: int) -> str:
    return f"slip-{index:02d}"


class _Gradebooks:
    """Grades each lab once, on first use, and keeps its rows and records."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory, self.done = factory, {}

    def __call__(self, lab):
        if lab.number not in self.done:
            base = self.factory.mktemp(f"lab{lab.number}")
            subs = base / "subs"
            subs.mkdir()
            shutil.copy(lab.solution(ROOT), subs / "solution.ipynb")
            shutil.copy(lab.student(ROOT), subs / "untouched.ipynb")
            solution = nbformat.read(lab.solution(ROOT), as_version=4)
            for index, slip in enumerate(lab.slips):
                nbformat.write(slip.apply(solution), subs / f"{_slip_id(index)}.ipynb")
            summary = grade(lab.number, subs, base / "out", workers=2, seed=SEED,
                            course_root=ROOT, limits=LIMITS, progress=False)
            with open(base / "out" / "grades.csv", newline="") as handle:
                rows = {row["id"]: row for row in csv.DictReader(handle)}
            records = {r["id"]: r for r in summary.records}
            self.done[lab.number] = rows, records
        return self.done[lab.number]


@pytest.fixture(scope="session")
def gradebooks(tmp_path_factory) -> _Gradebooks:
    return _Gradebooks(tmp_path_factory)


@pytest.mark.parametrize("lab", LABS, ids=[lab.slug for lab in LABS])
def test_solution_scores_full_marks(gradebooks, lab):
    rows, _ = gradebooks(lab)
    row = rows["solution"]
    assert row["status"] == "graded", row["reason"]
    assert row["total"] == row["max"] and int(row["max"]) > 0


@pytest.mark.parametrize("lab", LABS, ids=[lab.slug for lab in LABS])
def test_untouched_lab_scores_zero_with_not_implemented_reasons(gradebooks, lab):
    """Stubs are "not implemented"; the buggy starting code of a fix task fails its check."""
    rows, records = gradebooks(lab)
    row = rows["untouched"]
    assert row["total"] == "0", row["reason"]
    kinds = {name: task.kind for name, task in
             tasks_of(nbformat.read(lab.student(ROOT), as_version=4)).items()}
    states = {t["task"]: t["state"] for t in records["untouched"]["tasks"]}
    assert states == {name: "failed" if kind == "fix" else "not-implemented"
                      for name, kind in kinds.items()}, states
    if "fix" not in kinds.values():
        assert row["status"] == "not-implemented", row["reason"]


SLIPS = [(lab, index, slip) for lab in LABS for index, slip in enumerate(lab.slips)]


@pytest.mark.parametrize("lab, index, slip", SLIPS,
                         ids=[f"{lab.slug}-{slip.task}-{i}" for lab, i, slip in SLIPS])
def test_each_slip_loses_exactly_its_tasks_points(gradebooks, lab, index, slip):
    rows, records = gradebooks(lab)
    solution, wrong = rows["solution"], rows[_slip_id(index)]
    tasks = [t["task"] for t in records["solution"]["tasks"]]
    assert slip.task in tasks
    for task in tasks:
        expected = "0" if task == slip.task else solution[task]
        assert wrong[task] == expected, (slip.name, task, wrong["reason"])
    assert int(wrong["total"]) == int(solution["total"]) - int(solution[slip.task])
    assert wrong["status"] == "graded", wrong["reason"]
    verdict = next(t for t in records[_slip_id(index)]["tasks"] if t["task"] == slip.task)
    assert "self-check" in verdict["message"], (
        f"the notebook's self-check did not catch slip {slip.name!r}: {verdict['message']}")
