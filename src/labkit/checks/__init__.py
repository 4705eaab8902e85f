"""Public self-checks: one module per lab (``labkit.checks.lab01``, ...).

A check cell follows each answer cell. It tests the learner's answer on small cases
worked out by hand and on properties every correct answer has, prints a plain-words
verdict, and raises :class:`AssertionError` saying what is wrong when it fails. It never
prints a hidden expected value.

Each check also :func:`record`\\ s what the answer gives on this run's data. Outside
grading this does nothing; under ``labkit grade`` the values land as plain JSON in a
folder the grader reads after the run, and the grader compares them with the reference
solution's values under the same (secret) seed, in its own process.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._core import (
    RESULTS_ENV,
    Example,
    as_number,
    call_answer,
    check_examples,
    decision,
    expect,
    expect_choice,
    expect_number,
    passed,
    record,
)

__all__ = ["RESULTS_ENV", "Example", "as_number", "call_answer", "check_examples", "decision",
           "expect", "expect_choice", "expect_number", "passed", "record"]


def __getattr__(name: str) -> Any:
    if name.startswith("lab") and name[3:].isdigit():
        try:
            return importlib.import_module(f"labkit.checks.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"labkit.checks.{name}":
                raise AttributeError(f"labkit.checks has no checks for {name}") from None
            raise
    raise AttributeError(f"module 'labkit.checks' has no attribute {name!r}")
