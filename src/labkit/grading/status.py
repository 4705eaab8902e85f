"""The grader's status words, in one place.

Each is a ``str`` enum: a member *is* its word (``Status.GRADED == "graded"``), so the
gradebook, the feedback, the log and the JSON records read exactly as plain strings,
and records written by an earlier run compare equal to the members.

Examples
--------
>>> Status.PARTIAL == "partial", f"{Status.PARTIAL}", str(TaskState.NOT_RUN)
(True, 'partial', 'not-run')
>>> import json
>>> json.dumps({"status": Status.INVALID})
'{"status": "invalid"}'
"""

from __future__ import annotations

from enum import Enum

__all__ = ["CellState", "Outcome", "Status", "TaskState"]


class _Word(str, Enum):
    """A str enum whose ``str()`` and ``format()`` give the word itself."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Status(_Word):
    """How a submission's run went: the gradebook's ``status`` column."""

    #: Ran to the end and every task got a verdict (passed or failed).
    GRADED = "graded"
    #: Ran to the end, but some tasks could not be graded (error, cell time limit,
    #: nothing recorded).
    PARTIAL = "partial"
    #: No task attempted: every answer still raises ``NotImplementedError``.
    NOT_IMPLEMENTED = "not-implemented"
    #: The run stopped early (the kernel exited or crashed), or the grader failed.
    ERROR = "error"
    #: The submission ran past its time limit and was stopped.
    TIMEOUT = "timeout"
    #: A memory or process limit was hit.
    KILLED = "killed"
    #: Not a notebook the grader reads (not JSON, too large, a link, ...).
    INVALID = "invalid"


class TaskState(_Word):
    """What became of one task: a :class:`~labkit.grading.verdicts.Verdict`'s state."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_IMPLEMENTED = "not-implemented"
    ERROR = "error"
    TIMEOUT = "timeout"
    NOT_RUN = "not-run"
    MISSING = "missing"


class CellState(_Word):
    """What happened to one code cell in a run (the runner's report)."""

    OK = "ok"
    ERROR = "error"
    #: The cell ran past the per-cell time limit (whatever the kernel did next).
    TIMEOUT = "timeout"
    #: It started and the kernel never answered (it died).
    DIED = "died"
    NOT_RUN = "not-run"


class Outcome(_Word):
    """How one run ended."""

    COMPLETED = "completed"
    #: The kernel lived, but the notebook's last cell never ran (``sys.exit`` or similar).
    STOPPED = "stopped"
    KERNEL_DIED = "kernel-died"
    START_FAILED = "start-failed"
    #: The grader stopped the run at the submission time limit.
    TIMEOUT = "timeout"
    #: The grader stopped a run that hit the process limit.
    KILLED = "killed"
