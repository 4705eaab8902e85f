"""Authoring: generate student labs from solutions, and check that they agree.

``solutions/NN-slug.ipynb`` is the single source of truth of lab NN. The student version
``labs/NN-slug.ipynb`` is derived from it deterministically by :func:`build_student`:

* every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region becomes a stub that raises
  ``NotImplementedError`` with the answer cell's hint, indented like the region;
* cells tagged ``solution-only`` are dropped;
* outputs, execution counts and execution metadata are removed;
* the Colab setup cell is rewritten from the repository address in ``_config.yml``.

:func:`check_course` lists everything that is out of order (stale labs, leaked answers,
outputs in labs, missing parameters cells, malformed answer cells) so CI can fail on it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from . import contract
from .contract import BEGIN, BEGIN_STUDENT, END, END_STUDENT, SETUP_ID, SOLUTION_ONLY_TAG
from .course import (
    Lab,
    colab_setup_source,
    course_problems,
    find_root,
    list_labs,
    repository,
    write_generated,
)

__all__ = ["build_student", "build_course", "check_course", "execute_in_place"]

_STUB_DEFAULT_HINT = "Write your answer here."
# Cell metadata that records how a notebook was last run, not what it is.
_VOLATILE_CELL_KEYS = ("execution", "papermill", "collapsed", "scrolled", "ExecuteTime",
                       "colab", "executionInfo", "outputId", "id", "jupyter")
_VOLATILE_NB_KEYS = ("papermill", "widgets", "colab", "accelerator", "gpuClass")


def _read(path: Path) -> Any:
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types for bad files
        raise ValueError(f"{path} is not a readable notebook ({exc}). Restore it from git "
                         "or re-save it from Jupyter.") from exc


def _write(nb: Any, path: Path) -> None:
    import nbformat

    path.parent.mkdir(parents=True, exist_ok=True)
    text = nbformat.writes(nb) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _stub(source: str, hint: str, where: str) -> str:
    """The student version of an answer cell's source.

    Each solution region becomes a stub that raises ``NotImplementedError`` with the
    hint. In a cell that also has student regions (a task of kind ``fix``: the learner
    starts from buggy code), solution regions are dropped instead and each student region
    is uncommented: the learner gets the buggy code, headed by the hint.
    """
    lines = source.splitlines()
    fixing = any(line.strip() == BEGIN_STUDENT for line in lines)
    out: list[str] = []
    region: str | None = None  # "solution", "student" or None
    indent = ""
    for number, line in enumerate(lines, start=1):
        marker = line.strip()
        if marker in (BEGIN, BEGIN_STUDENT):
            if region is not None:
                raise ValueError(f"{where}: line {number} opens a region inside another one; "
                                 f"close the first with '{END}' or '{END_STUDENT}'.")
            region = "solution" if marker == BEGIN else "student"
            indent = line[: len(line) - len(line.lstrip())]
            if region == "solution" and not fixing:
                out.append(f"{indent}# Your code here: replace the line below.")
                out.append(f"{indent}raise NotImplementedError({json.dumps(hint)})")
            elif region == "student":
                out.append(f"{indent}# {hint}")
        elif marker in (END, END_STUDENT):
            if region != ("solution" if marker == END else "student"):
                raise ValueError(f"{where}: line {number} closes a region that was never "
                                 "opened.")
            region = None
        elif region == "student":
            body = line[len(indent):] if line.startswith(indent) else line.lstrip()
            if body and not body.startswith("#"):
                raise ValueError(f"{where}: line {number} of a student region is not "
                                 "commented out; in the solution every line of the learner's "
                                 "starting code starts with '# '.")
            body = body[2:] if body.startswith("# ") else body[1:]
            out.append(f"{indent}{body}" if body else "")
        elif region is None:
            out.append(line)
    if region is not None:
        raise ValueError(f"{where}: a region is never closed; add '{END}' or '{END_STUDENT}'.")
    return "\n".join(out)


def build_student(solution: Any, setup_source: str | None = None) -> Any:
    """Return the student version of a solution notebook (the input is not modified).

    Parameters
    ----------
    solution : nbformat.NotebookNode
        The solution notebook.
    setup_source : str, optional
        Source for the cell with id ``colab-setup``; left as is when omitted.

    Returns
    -------
    nbformat.NotebookNode

    Examples
    --------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook()
    >>> cell = nbformat.v4.new_code_cell(
    ...     "def f(x):\\n    ### BEGIN SOLUTION\\n    return 2 * x\\n    ### END SOLUTION")
    >>> cell.metadata["labkit"] = {"task": "f", "points": 1, "hint": "Double it."}
    >>> nb.cells.append(cell)
    >>> print(build_student(nb).cells[0].source)
    def f(x):
        # Your code here: replace the line below.
        raise NotImplementedError("Double it.")
    """
    nb = copy.deepcopy(solution)
    for key in _VOLATILE_NB_KEYS:
        nb.metadata.pop(key, None)
    cells = []
    for index, cell in enumerate(nb.cells):
        if SOLUTION_ONLY_TAG in cell.metadata.get("tags", []):
            continue
        for key in _VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            if setup_source is not None and cell.get("id") == SETUP_ID:
                cell.source = setup_source
            task = cell.metadata.get("labkit", {})
            if any(m in cell.source for m in (BEGIN, END, BEGIN_STUDENT, END_STUDENT)):
                where = f"cell {index} (id {cell.get('id', '?')})"
                cell.source = _stub(cell.source, task.get("hint") or _STUB_DEFAULT_HINT, where)
        cells.append(cell)
    nb.cells = cells
    return nb


def _answer_problems(lab: Lab, nb: Any) -> list[str]:
    return [f"{lab.solution}: {problem}" for problem in contract.problems(nb, solution=True)]


def build_course(root: str | Path | None = None) -> list[Path]:
    """Regenerate every ``labs/`` notebook and setup cell from ``solutions/``, and the
    files generated from the course file (``_toc.yml``, the lab tables).

    Returns the paths written (unchanged files are not rewritten, so timestamps and
    git stay quiet).
    """
    root = find_root(root)
    setup = colab_setup_source(*repository(root))
    written: list[Path] = []
    failed: list[str] = []
    for lab in list_labs(root):
        try:
            solution = _read(lab.solution)
        except ValueError as exc:
            failed.append(str(exc))
            continue
        problems = _answer_problems(lab, solution)
        if problems:
            # One broken lab must not stop the others from being built.
            failed += problems
            continue
        # The setup cell lives in the solution too (it is the source of truth).
        for cell in solution.cells:
            if cell.get("id") == SETUP_ID:
                cell.source = setup
        before = lab.solution.read_text(encoding="utf-8")
        _write(solution, lab.solution)
        if lab.solution.read_text(encoding="utf-8") != before:
            written.append(lab.solution)
        before = lab.student.read_text(encoding="utf-8") if lab.student.exists() else None
        try:
            student = build_student(solution, setup)
        except ValueError as exc:
            failed.append(str(exc))
            continue
        _write(student, lab.student)
        if lab.student.read_text(encoding="utf-8") != before:
            written.append(lab.student)
    written += write_generated(root)
    if failed:
        raise ValueError("Cannot build the student version of every lab (the others were "
                         "built):\n  " + "\n  ".join(failed))
    return written


def check_course(root: str | Path | None = None) -> list[str]:
    """Return every authoring problem of the course (an empty list means all is well)."""
    import nbformat

    root = find_root(root)
    setup = colab_setup_source(*repository(root))
    labs = list_labs(root)
    try:
        problems = course_problems(root)
    except (FileNotFoundError, ValueError) as exc:
        problems = [str(exc)]
    known = {lab.student.name for lab in labs}
    for extra in sorted((root / "labs").glob("*.ipynb")):
        if extra.name not in known:
            problems.append(f"{extra}: a lab without a solution in solutions/; remove it.")
    for lab in labs:
        try:
            solution = _read(lab.solution)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        problems += _answer_problems(lab, solution)
        setup_cells = [c for c in solution.cells if c.get("id") == SETUP_ID]
        if not setup_cells or setup_cells[0].source != setup:
            problems.append(f"{lab.solution}: the '{SETUP_ID}' cell is missing or stale; run "
                            "`labkit author build`.")
        if not lab.student.exists():
            problems.append(f"{lab.student}: missing; run `labkit author build`.")
            continue
        try:
            student = _read(lab.student)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        # The grader's own validator: a lab it would refuse fails here first.
        problems += [f"{lab.student}: {p}" for p in contract.problems(student)]
        for cell in student.cells:
            if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
                problems.append(f"{lab.student}: carries outputs; run `labkit author build`.")
                break
        if any(m in c.source for c in student.cells
               for m in (BEGIN, END, BEGIN_STUDENT, END_STUDENT)):
            problems.append(f"{lab.student}: a solution region leaked into the student lab.")
        try:
            expected = build_student(solution, setup)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if nbformat.writes(expected) != nbformat.writes(student):
            problems.append(f"{lab.student}: stale (differs from what its solution generates); "
                            "run `labkit author build`.")
    return problems


def execute_in_place(path: str | Path, timeout: int = 600) -> None:
    """Execute a solution notebook top to bottom and store its outputs in the file.

    The kernel runs in the pinned numeric environment of :mod:`labkit.reproducible`;
    it runs in the notebook's folder, as in the book and under nbval. Timing
    metadata is not recorded so that re-executing leaves the file unchanged when the
    outputs are.
    """
    from nbclient import NotebookClient

    from .reproducible import pinned

    path = Path(path)
    nb = _read(path)
    with pinned():  # the kernel computes in the environment nbval checks in
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(path.parent.resolve())}}).execute()
    for key in _VOLATILE_NB_KEYS:
        nb.metadata.pop(key, None)
    _write(nb, path)
