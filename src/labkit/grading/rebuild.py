"""Rebuild a submission into the instructor's template: take answers, trust nothing else.

Only the *sources* of answer cells travel from a submission into the grading notebook.
Every other cell, every tag, every metadata field and the kernelspec come from the
template (the student lab the instructor handed out), so tags such as
``skip-execution``, ``raises-exception``, ``parameters`` or ``injected-parameters``
added by a student, edited check cells, deleted cells and foreign kernels have no
effect.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from ..contract import answer_id

__all__ = ["InvalidSubmission", "Rebuilt", "read_notebook", "rebuild", "task_spans",
           "tasks_of"]

#: Id of the cell the grader appends: if it did not run, the notebook stopped early.
END_CELL_ID = "labkit-grade-end"
#: Source of the cell the grader appends; whether it ran tells a stopped run apart.
_END_SOURCE = "# labkit grade: end of notebook\npass"


class InvalidSubmission(ValueError):
    """The submitted file is not a notebook the grader can read (reason in the message)."""


@dataclass
class Rebuilt:
    """A rebuilt grading notebook and what happened to each answer on the way.

    Attributes
    ----------
    notebook : nbformat.NotebookNode
        The template with the submission's answer sources in place.
    notes : dict
        Task name -> plain-words note for the feedback (answer missing, duplicated,
        found by metadata rather than id).
    missing : set of str
        Tasks whose answer cell was not found (the template's stub stays).
    """

    notebook: Any
    notes: dict[str, str] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)


def tasks_of(template: Any) -> dict[str, dict[str, Any]]:
    """Graded tasks of a template, in notebook order: name -> ``{"points", "cell_id",
    "kind"}``.

    The template is validated by :func:`labkit.contract.tasks_of`, the same validator
    ``labkit author check`` runs.

    Raises
    ------
    labkit.contract.ContractError
        When the template breaks the lab contract (CONTRIBUTING.md).

    Examples
    --------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook()
    >>> nb.cells = [nbformat.v4.new_code_cell("SEED = 0", metadata={"tags": ["parameters"]}),
    ...             nbformat.v4.new_code_cell("x = 1", id="task-x",
    ...                 metadata={"labkit": {"task": "x", "points": 2}}),
    ...             nbformat.v4.new_code_cell("check(x)", id="check-x")]
    >>> tasks_of(nb)
    {'x': {'points': 2, 'cell_id': 'task-x', 'kind': 'function'}}
    """
    from ..contract import tasks_of as contract_tasks

    return {name: {"points": task.points, "cell_id": task.cell_id, "kind": task.kind}
            for name, task in contract_tasks(template).items()}


def task_spans(notebook: Any, tasks: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """The code cells that belong to each task: from its answer cell up to the next
    task's answer cell (the last task's run to the end of the notebook).

    A task whose span holds a cell that ran past the per-cell time limit loses its points.

    Examples
    --------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook()
    >>> nb.cells = [nbformat.v4.new_code_cell("", id=i) for i in
    ...             ("setup", "task-a", "check-a", "data-b", "task-b", "check-b")]
    >>> task_spans(nb, {"a": {"cell_id": "task-a"}, "b": {"cell_id": "task-b"}})
    {'a': ['task-a', 'check-a', 'data-b'], 'b': ['task-b', 'check-b']}
    """
    owner = {info["cell_id"]: task for task, info in tasks.items()}
    spans: dict[str, list[str]] = {task: [] for task in tasks}
    current = None
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        current = owner.get(cell.get("id"), current)
        if current is not None:
            spans[current].append(cell.get("id"))
    return spans


def read_notebook(data: bytes, *, max_bytes: int) -> Any:
    """Parse submitted bytes into a version-4 notebook, or raise :class:`InvalidSubmission`.

    Old formats (v3) are upgraded. Nothing is validated beyond what rebuilding needs:
    the grader keeps only answer-cell sources.

    Examples
    --------
    >>> read_notebook(b"{not json", max_bytes=100)
    Traceback (most recent call last):
    ...
    labkit.grading.rebuild.InvalidSubmission: not a notebook: the file is not valid JSON \
(line 1, column 2)
    >>> read_notebook(b"[" * 10**5 + b"]" * 10**5, max_bytes=10**6)
    Traceback (most recent call last):
    ...
    labkit.grading.rebuild.InvalidSubmission: not a notebook: the JSON is nested too deep \
to read (no notebook nests that deep)
    """
    import nbformat

    if len(data) > max_bytes:
        raise InvalidSubmission(f"the file is {len(data) / 2**20:.1f} MiB, over the "
                                f"{max_bytes / 2**20:g} MiB limit; clear outputs and resubmit")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidSubmission(f"not a notebook: the file is not UTF-8 text (byte "
                                f"{exc.start})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSubmission(f"not a notebook: the file is not valid JSON (line "
                                f"{exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise InvalidSubmission("not a notebook: the JSON is nested too deep to read "
                                "(no notebook nests that deep)") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("nbformat"), int):
        raise InvalidSubmission("not a notebook: the JSON has no 'nbformat' version")
    if raw["nbformat"] < 3 or raw["nbformat"] > 4:
        raise InvalidSubmission(f"unsupported notebook format version {raw['nbformat']}")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 (nbformat raises many types on bad input)
        raise InvalidSubmission(f"not a readable notebook: {type(exc).__name__}: "
                                f"{str(exc)[:200]}") from None
    if not isinstance(nb.get("cells"), list):
        raise InvalidSubmission("not a notebook: it has no list of cells")
    return nb


def _source(cell: Any) -> str | None:
    source = cell.get("source", "")
    if isinstance(source, list):
        if not all(isinstance(line, str) for line in source):
            return None
        source = "".join(source)
    return source if isinstance(source, str) else None


def rebuild(template: Any, submission: Any) -> Rebuilt:
    """Put the submission's answer-cell sources into a copy of the template.

    An answer is a code cell with id ``task-<name>`` or, failing that (older editors
    drop ids, v3 notebooks have none, a pasted copy gets a new id), with ``labkit.task``
    metadata naming the task. Duplicates: the last copy wins, as it is the one the
    student's own top-to-bottom run would have used. Missing: the template's stub stays,
    so the task reports "not implemented". Markdown or raw cells are never answers.

    Examples
    --------
    >>> import nbformat
    >>> tpl = nbformat.v4.new_notebook()
    >>> tpl.cells = [
    ...     nbformat.v4.new_code_cell("SEED = 0", metadata={"tags": ["parameters"]}),
    ...     nbformat.v4.new_code_cell("raise NotImplementedError", id="task-x",
    ...                               metadata={"labkit": {"task": "x", "points": 1}}),
    ...     nbformat.v4.new_code_cell("check(x)", id="check-x")]
    >>> sub = copy.deepcopy(tpl)
    >>> sub.cells[1].source = "x = 42"
    >>> sub.cells[1].metadata["tags"] = ["skip-execution"]
    >>> out = rebuild(tpl, sub).notebook
    >>> out.cells[1].source, out.cells[1].metadata.get("tags"), out.cells[-1].id
    ('x = 42', None, 'labkit-grade-end')
    """
    import nbformat

    tasks = tasks_of(template)
    task_by_answer_id = {answer_id(name): name for name in tasks}
    found: dict[str, list[str]] = {}
    by_id: set[str] = set()
    for cell in submission.cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = _source(cell)
        if source is None:
            continue
        cell_id = cell.get("id")
        meta = cell.get("metadata")
        labkit = meta.get("labkit") if isinstance(meta, dict) else None
        name = task_by_answer_id.get(cell_id) if isinstance(cell_id, str) else None
        if name is not None:
            by_id.add(name)
        elif isinstance(labkit, dict) and isinstance(labkit.get("task"), str):
            name = labkit["task"]
        if name in tasks:
            try:
                source.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate escape: nothing can write it
                raise InvalidSubmission(
                    f"the answer cell of task {name!r} holds text that is not valid "
                    "Unicode (a lone surrogate); re-save the notebook from Jupyter") from None
            found.setdefault(name, []).append(source)
    out = Rebuilt(copy.deepcopy(template))
    for cell in out.notebook.cells:
        name = cell.get("metadata", {}).get("labkit", {}).get("task")
        if cell.cell_type != "code" or name not in tasks:
            continue
        sources = found.get(name)
        if not sources:
            out.missing.add(name)
            out.notes[name] = "answer cell not found in the submission (deleted or renamed?)"
            continue
        if name not in by_id:
            out.notes[name] = "answer cell found by its task metadata (its id had changed)"
        if len(sources) > 1:
            out.notes[name] = (f"{len(sources)} answer cells for this task; the last one "
                               "was graded")
        cell.source = sources[-1]
    for cell in out.notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    out.notebook.cells.append(nbformat.v4.new_code_cell(_END_SOURCE, id=END_CELL_ID))
    out.notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                           "language": "python"}
    return out
