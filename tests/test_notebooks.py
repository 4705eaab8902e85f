"""Every lab executes: solutions under another seed, student labs up to their first stub.

nbval (run separately over solutions/, see the Makefile) checks that stored outputs
reproduce under the default seed; these tests add a second seed and the student view.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from labkit.course import list_labs

ROOT = Path(__file__).resolve().parents[1]
LABS = list_labs(ROOT)
# `make seeds` sets more seeds; CI checks one besides the default that nbval runs.
SEEDS = [int(s) for s in os.environ.get("LABKIT_SEEDS", "1").split()]
pytestmark = pytest.mark.notebooks


def _ids(labs):
    return [lab.slug for lab in labs]


def test_every_lab_of_the_course_file_with_a_solution_is_tested():
    from labkit.course import load_course

    available = {lab.slug for lab in load_course(ROOT).labs if lab.available(ROOT)}
    assert {lab.slug for lab in LABS} == available


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("lab", LABS, ids=_ids(LABS))
def test_solution_runs_under_another_seed(lab, seed, tmp_path):
    """Assertions of the demonstrated result still hold when SEED changes."""
    import papermill as pm

    out = tmp_path / lab.solution.name
    pm.execute_notebook(str(lab.solution), str(out), parameters={"SEED": seed},
                        cwd=str(lab.solution.parent), kernel_name="python3",
                        progress_bar=False, execution_timeout=300)
    executed = nbformat.read(out, as_version=4)
    injected = [c for c in executed.cells
                if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and f"SEED = {seed}" in injected[0].source


@pytest.mark.parametrize("lab", LABS, ids=_ids(LABS))
def test_student_lab_runs_until_its_first_stub(lab):
    """A learner who opens the lab can run every cell before the first answer.

    The first failure must be the first task's stub: raised by its answer cell (a value
    to decide) or by its check cell (a function to write), saying it is not implemented;
    for a task of kind ``fix``, its check failing on the buggy starting code.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(lab.student, as_version=4)
    first = next(c for c in nb.cells if "labkit" in c.metadata)
    task = first.metadata["labkit"]["task"]
    fixing = first.metadata["labkit"].get("kind") == "fix"
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(lab.student.parent)}})
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    failed = [c for c in nb.cells
              if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert [c.id for c in failed] in ([first.id], [f"check-{task}"]), \
        f"the first error should come from task {task!r}, got cells {[c.id for c in failed]}"
    message = str(info.value)
    if fixing:  # the learner starts from buggy code, which its check must catch
        assert [c.id for c in failed] == [f"check-{task}"] and "AssertionError" in message
    else:
        assert "NotImplementedError" in message or "not implemented yet" in message
