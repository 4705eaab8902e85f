"""The instructor's grader: ``labkit grade`` and its Python API.

A submission is never trusted: its answer cells are rebuilt into the instructor's
template, run with papermill under a grading seed the students never saw, in a
sandboxed kernel with time, memory, process and output limits, and every task is
decided in the grader's own process by comparing plain recorded values with the
reference solution's under the same seed. See ``book/instructors/grading.md``.

Examples
--------
>>> from labkit.grading import grade, Limits
>>> summary = grade("01", "submissions/", "graded/", workers=2,
...                 limits=Limits(cell_timeout=60))  # doctest: +SKIP
"""

from __future__ import annotations

from .batch import GradingSummary, Submission, find_submissions, grade, resolve_lab
from .sandbox import Limits

__all__ = ["GradingSummary", "Limits", "Submission", "find_submissions", "grade",
           "resolve_lab"]
