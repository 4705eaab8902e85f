"""The lab contract: what a lab notebook must hold, written down once.

Authoring (``labkit author build/check``), grading (``labkit grade``) and the public
checks all read the contract from here, so a lab that ``labkit author check`` accepts is
a lab the grader can grade, and the other way round. CONTRIBUTING.md explains it in
prose; this module is what enforces it.

A lab notebook has, in order:

* a setup cell with id :data:`SETUP_ID` (tag ``remove-cell``), written by the tooling;
* a cell tagged :data:`PARAMETERS_TAG` that sets ``SEED`` (papermill and the grader
  inject their own values there);
* for each task, an **answer cell** with id ``task-<name>`` and cell metadata
  ``{"labkit": {"task": name, "points": n, "kind": "function" | "decision" | "fix" | "review",
  "hint": "..."}}``, the answer between :data:`BEGIN` and :data:`END` in the solution;
  then a **check cell** with id ``check-<name>`` that calls the lab's public check.

Examples
--------
>>> import nbformat
>>> nb = nbformat.v4.new_notebook()
>>> nb.cells = [
...     nbformat.v4.new_code_cell("SEED = 0", id="parameters",
...                               metadata={"tags": ["parameters"]}),
...     nbformat.v4.new_code_cell("X = 1", id="task-x", metadata={"labkit": {
...         "task": "x", "points": 1, "kind": "decision", "hint": "Set X to a count."}}),
...     nbformat.v4.new_code_cell("checks.lab90.x(X)", id="check-x")]
>>> problems(nb)
[]
>>> tasks_of(nb)["x"].points
1
>>> nb.cells[1].metadata["labkit"]["points"] = True
>>> problems(nb)
["cell task-x: task 'x' needs 'points', a whole number from 1 to 100, got True."]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["BEGIN", "BEGIN_STUDENT", "END", "END_STUDENT", "KINDS", "PARAMETERS_TAG",
           "REMOVE_TAG", "RESULTS_ENV", "REVIEW_NOTE", "SETUP_ID", "SOLUTION_ONLY_TAG",
           "ContractError", "Task", "answer_id", "check_id", "hint_problem", "problems",
           "public_seed", "tasks_of"]

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
#: Around the learner's starting code of a ``fix`` task, commented out in the solution.
BEGIN_STUDENT = "### BEGIN STUDENT"
END_STUDENT = "### END STUDENT"
SETUP_ID = "colab-setup"
PARAMETERS_TAG = "parameters"
SOLUTION_ONLY_TAG = "solution-only"
REMOVE_TAG = "remove-cell"
#: Environment variable naming the folder where checks record results under grading.
RESULTS_ENV = "LABKIT_RESULTS_DIR"
#: ``function``: the learner writes a function the check calls on many cases.
#: ``decision``: the learner sets a value or answers a question; the check tests that it
#: is consistent and the grader compares it with the reference's decision.
#: ``fix``: the learner starts from buggy code (a student region) and repairs it.
#: ``review``: a written answer; the check verifies only that it is complete, and the
#: grader awards the points for completeness and says the rest needs a person.
KINDS = ("function", "decision", "fix", "review")
#: What the grader's feedback says of a complete ``review`` task.
REVIEW_NOTE = ("complete (checked automatically); the content needs a person: grade it "
               "with the lab's rubric in the book")
MAX_POINTS = 100
#: A stub hint says what to return or set, in at most this many characters.
MAX_HINT = 160
_TASK = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# What a hint that spells out the code looks like: calls, indexing, assignments,
# numpy attributes, operators between names.
_CODE_IN_HINT = re.compile(r"\w\(|[\[\]=@]|\bnp\.|\.sum\b|\.mean\b")
_HINT_START = ("Return", "Set", "Answer", "Choose", "Fix")


class ContractError(ValueError):
    """A notebook breaks the lab contract; the message lists every problem."""


@dataclass(frozen=True)
class Task:
    """One graded task of a lab, as its answer cell declares it.

    Attributes
    ----------
    name : str
        lower_snake_case name; the answer cell's id is ``task-<name>``.
    points : int
        Points the task is worth (all or nothing).
    kind : str
        One of :data:`KINDS`: ``"function"``, ``"decision"``, ``"fix"`` or ``"review"``.
    hint : str
        The stub's one-line hint: what to return or set, never how.
    """

    name: str
    points: int
    kind: str
    hint: str

    @property
    def cell_id(self) -> str:
        """Id of the answer cell."""
        return answer_id(self.name)

    @property
    def check_id(self) -> str:
        """Id of the check cell."""
        return check_id(self.name)


def answer_id(task: str) -> str:
    """Id of a task's answer cell.

    Examples
    --------
    >>> answer_id("expected_cost")
    'task-expected_cost'
    """
    return f"task-{task}"


def check_id(task: str) -> str:
    """Id of a task's check cell.

    Examples
    --------
    >>> check_id("expected_cost")
    'check-expected_cost'
    """
    return f"check-{task}"


def hint_problem(hint: Any) -> str:
    """Why a stub hint breaks the hint policy, or ``""`` when it follows it.

    The policy: the stub says *what* to return or set, in one short sentence that
    starts with a verb such as "Return" or "Set"; *how* goes in a collapsed hint in the
    task's markdown cell, which the learner opens on purpose.

    Examples
    --------
    >>> hint_problem("Return a float: the mean cost per case.")
    ''
    >>> hint_problem("Use np.mean(v).")
    "the hint should say what to return or set, starting with one of Return, Set, Answer, \
Choose, Fix; got 'Use np.mean(v).'"
    """
    if not isinstance(hint, str) or not hint.strip():
        return "every task needs a one-line 'hint' saying what to return or set"
    if len(hint) > MAX_HINT:
        return (f"the hint has {len(hint)} characters; say what to return in at most "
                f"{MAX_HINT} and put the rest in a collapsed <details> block")
    if not hint.startswith(_HINT_START):
        return (f"the hint should say what to return or set, starting with one of "
                f"{', '.join(_HINT_START)}; got {hint!r}")
    if _CODE_IN_HINT.search(hint):
        return (f"the hint {hint!r} spells out code; say what to return, and move the "
                "how into a collapsed <details> block")
    return ""


def _task_problems(cell: Any) -> tuple[Task | None, list[str]]:
    meta = cell.get("metadata", {}).get("labkit")
    where = f"cell {cell.get('id')}"
    if not isinstance(meta, dict):
        return None, [f"{where}: the 'labkit' metadata must be a mapping."]
    name, points = meta.get("task"), meta.get("points")
    kind, hint = meta.get("kind", "function"), meta.get("hint")
    problems = []
    if not isinstance(name, str) or not _TASK.match(name):
        return None, [f"{where}: 'task' must be a lower_snake_case name, got {name!r}."]
    if cell.get("cell_type") != "code":
        problems.append(f"{where}: task {name!r} is declared on a {cell.get('cell_type')} "
                        "cell; answers live in code cells.")
    if cell.get("id") != answer_id(name):
        problems.append(f"{where}: the answer cell of task {name!r} must have id "
                        f"{answer_id(name)!r}.")
    if type(points) is not int or not 1 <= points <= MAX_POINTS:
        problems.append(f"{where}: task {name!r} needs 'points', a whole number from 1 to "
                        f"{MAX_POINTS}, got {points!r}.")
    if kind not in KINDS:
        problems.append(f"{where}: task {name!r} has kind {kind!r}; use one of "
                        f"{', '.join(KINDS)}.")
    unknown = set(meta) - {"task", "points", "kind", "hint"}
    if unknown:
        problems.append(f"{where}: unknown labkit metadata key(s) {sorted(unknown)}.")
    if problems:
        return None, problems
    return Task(name, points, kind, hint if isinstance(hint, str) else ""), []


def _scan(nb: Any) -> tuple[dict[str, Task], list[str]]:
    """Tasks in notebook order, and every contract problem of ``nb``."""
    cells = list(nb.get("cells", []))
    problems: list[str] = []
    ids = [c.get("id") for c in cells]
    if None in ids or len(set(ids)) != len(ids):
        problems.append("every cell needs a unique id (nbformat 4.5).")
    parameters = [c for c in cells if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    if len(parameters) != 1:
        problems.append(f"exactly one cell must be tagged {PARAMETERS_TAG!r} (papermill and "
                        f"the grader inject SEED there); found {len(parameters)}.")
    elif public_seed(nb) is None:
        problems.append(f"the {PARAMETERS_TAG!r} cell must set SEED to a whole number "
                        "(a line 'SEED = 0').")
    tasks: dict[str, Task] = {}
    broken: set[str] = set()  # declared, but with bad metadata (already reported)
    position = {cell_id: i for i, cell_id in enumerate(ids)}
    for cell in cells:
        if "labkit" not in cell.get("metadata", {}):
            if cell.get("cell_type") == "code" and str(cell.get("id", "")).startswith("task-"):
                problems.append(f"cell {cell.get('id')}: named like an answer cell but has no "
                                "'labkit' task metadata.")
            continue
        task, found = _task_problems(cell)
        problems += found
        name = cell["metadata"]["labkit"].get("task") if task is None and isinstance(
            cell["metadata"]["labkit"], dict) else getattr(task, "name", None)
        if not isinstance(name, str) or not _TASK.match(name):
            continue
        if name in tasks or name in broken:
            problems.append(f"task {name!r} has two answer cells.")
            continue
        if task is None:
            broken.add(name)
            continue
        tasks[task.name] = task
        check = position.get(check_id(task.name))
        if check is None:
            problems.append(f"task {task.name!r} has no check cell with id "
                            f"{check_id(task.name)!r}.")
        elif check < position[task.cell_id] or cells[check].get("cell_type") != "code":
            problems.append(f"the check cell {check_id(task.name)!r} must be a code cell "
                            "after its answer cell.")
    for cell_id in ids:
        if isinstance(cell_id, str) and cell_id.startswith("check-") \
                and cell_id[len("check-"):] not in {*tasks, *broken}:
            problems.append(f"cell {cell_id}: a check cell without a task "
                            f"{cell_id[len('check-'):]!r}.")
    if not tasks and not broken:
        problems.append("no answer cell (a code cell with 'labkit' task metadata).")
    return tasks, problems


def problems(nb: Any, *, solution: bool = False) -> list[str]:
    """Every way ``nb`` breaks the contract (an empty list: it keeps it).

    Parameters
    ----------
    nb : nbformat.NotebookNode
        A solution or a student lab.
    solution : bool
        Also apply the authoring rules: each answer sits between :data:`BEGIN` and
        :data:`END`, no region outside an answer cell, and the hint follows the policy
        of :func:`hint_problem`.
    """
    tasks, found = _scan(nb)
    if solution:
        for cell in nb.get("cells", []):
            has_region = cell.get("cell_type") == "code" and any(
                m in cell.get("source", "") for m in (BEGIN, BEGIN_STUDENT))
            meta = cell.get("metadata", {}).get("labkit")
            if has_region and meta is None:
                found.append(f"cell {cell.get('id')}: a solution region outside an answer "
                             "cell; add 'labkit' task metadata or remove the region.")
        for task in tasks.values():
            cell = next(c for c in nb.cells if c.get("id") == task.cell_id)
            if BEGIN not in cell.source:
                found.append(f"cell {task.cell_id}: an answer cell without a '{BEGIN}' "
                             "region.")
            fixing = BEGIN_STUDENT in cell.source
            if fixing != (task.kind == "fix"):
                found.append(f"cell {task.cell_id}: " + (
                    f"a task of kind 'fix' needs a '{BEGIN_STUDENT}' region holding the "
                    "learner's starting code, commented out." if task.kind == "fix" else
                    f"a '{BEGIN_STUDENT}' region belongs to a task of kind 'fix'."))
            why = hint_problem(task.hint)
            if why:
                found.append(f"cell {task.cell_id}: {why}.")
    return found


def tasks_of(nb: Any) -> dict[str, Task]:
    """The graded tasks of a lab, in notebook order.

    Raises
    ------
    ContractError
        Listing every problem, when the notebook breaks the contract.
    """
    tasks, found = _scan(nb)
    if found:
        raise ContractError("the lab breaks the lab contract (CONTRIBUTING.md):\n  "
                            + "\n  ".join(found))
    return tasks


def public_seed(nb: Any) -> int | None:
    """The ``SEED`` set in the notebook's parameters cell, or None.

    Examples
    --------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook()
    >>> nb.cells.append(nbformat.v4.new_code_cell("SEED = 3  # all randomness",
    ...                 metadata={"tags": ["parameters"]}))
    >>> public_seed(nb)
    3
    """
    for cell in nb.get("cells", []):
        if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            for line in cell.get("source", "").splitlines():
                name, _, value = line.partition("=")
                value = value.split("#")[0].strip()
                if name.strip() == "SEED" and value.isdigit():
                    return int(value)
    return None
