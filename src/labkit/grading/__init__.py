"""The instructor's grader: ``labkit grade`` and its Python API.

A submission is never trusted: its answer cells are rebuilt into the instructor's
template, run with papermill under a grading seed the students never saw (one of a
small pool derived from a secret, picked by a keyed hash of the answers), in a
sandboxed kernel with time, memory, process and output limits, and every task is
decided in the grader's own process by comparing plain recorded values with the
reference solution's under the same seed. See ``book/instructors/grading.md``.

Examples
--------
>>> from labkit.grading import Limits, find_submissions
>>> Limits(cell_timeout=60).cell_timeout
60.0
>>> find_submissions("/nonexistent-folder")
Traceback (most recent call last):
...
FileNotFoundError: No submissions folder /nonexistent-folder.
"""

from __future__ import annotations

from .batch import GradingSummary, grade, resolve_lab
from .discover import Submission, find_submissions
from .sandbox import Limits
from .status import Status

__all__ = ["GradingSummary", "Limits", "Status", "Submission", "find_submissions", "grade",
           "resolve_lab"]
