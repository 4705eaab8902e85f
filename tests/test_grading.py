"""Unit tests of the grader's parts that need no kernel: reading, rebuilding, verdicts,
the gradebook and submission discovery."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import nbformat
import pytest

from labkit.grading import find_submissions
from labkit.grading.rebuild import (
    END_CELL_ID,
    InvalidSubmission,
    read_notebook,
    rebuild,
    tasks_of,
)
from labkit.grading.report import feedback_name, write_gradebook
from labkit.grading.sandbox import Limits
from labkit.grading.verdicts import compare, decide

FIXTURE = Path(__file__).parent / "fixtures" / "grading"
SOLUTION = FIXTURE / "solutions" / "90-fixture.ipynb"
TEMPLATE = FIXTURE / "labs" / "90-fixture.ipynb"


@pytest.fixture
def template():
    return nbformat.read(TEMPLATE, as_version=4)


@pytest.fixture
def solution():
    return nbformat.read(SOLUTION, as_version=4)


def _cell(nb, cell_id):
    return next(c for c in nb.cells if c.get("id") == cell_id)


def test_tasks_of_reads_points_in_order(template):
    assert tasks_of(template) == {
        "mean": {"points": 2, "cell_id": "task-mean", "kind": "function"},
        "scale": {"points": 3, "cell_id": "task-scale", "kind": "function"},
        "cutoff": {"points": 1, "cell_id": "task-cutoff", "kind": "function"}}


def test_tasks_of_rejects_a_template_breaking_the_contract(template):
    _cell(template, "task-mean").id = "answer-mean"
    with pytest.raises(ValueError, match="task-mean"):
        tasks_of(template)


@pytest.mark.parametrize("data, message", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe\x00bad", "not UTF-8"),
    (b"[1, 2]", "no 'nbformat' version"),
    (b'{"nbformat": 9, "cells": []}', "unsupported notebook format version 9"),
    (b"[" * 100000 + b"]" * 100000, "not valid JSON"),
])
def test_unreadable_files_are_invalid_with_a_reason(data, message):
    with pytest.raises(InvalidSubmission, match=message):
        read_notebook(data, max_bytes=2**24)


def test_too_large_files_are_rejected_before_parsing():
    with pytest.raises(InvalidSubmission, match="over the 1 MiB limit"):
        read_notebook(b" " * (2**20 + 1), max_bytes=2**20)


def test_v3_notebooks_are_upgraded_and_answers_found_by_metadata(template, solution):
    v3 = nbformat.writes(nbformat.convert(solution, 3)).encode()
    rebuilt = rebuild(template, read_notebook(v3, max_bytes=2**24))
    assert "np.mean" in _cell(rebuilt.notebook, "task-mean").source
    assert not rebuilt.missing


def test_rebuild_takes_only_answer_sources(template, solution):
    sub = copy.deepcopy(solution)
    for cell in sub.cells:
        cell.metadata["tags"] = ["skip-execution", "raises-exception", "parameters",
                                 "injected-parameters"]
    _cell(sub, "check-mean").source = "pass  # check disabled"
    _cell(sub, "parameters").source = "SEED = 0"
    sub.metadata["kernelspec"] = {"name": "evil", "display_name": "evil", "language": "sh"}
    sub.cells.insert(0, nbformat.v4.new_code_cell("import os; os.system('rm -rf /')"))
    out = rebuild(template, sub).notebook
    assert [c.get("id") for c in out.cells] == [c.get("id") for c in template.cells] + [
        END_CELL_ID]
    for got, want in zip(out.cells[:-1], template.cells, strict=True):
        assert got.metadata == want.metadata
        if not got.get("id", "").startswith("task-"):
            assert got.source == want.source
    assert "np.mean" in _cell(out, "task-mean").source
    assert out.metadata["kernelspec"]["name"] == "python3"


def test_rebuild_handles_reordered_duplicated_deleted_and_stripped_cells(template, solution):
    sub = copy.deepcopy(solution)
    sub.cells.reverse()
    wrong = copy.deepcopy(_cell(sub, "task-mean"))
    wrong.source = "def mean(v):\n    return 0.0"
    wrong.id = "copy-of-mean"  # a pasted copy, found by its metadata
    sub.cells.append(wrong)
    sub.cells.remove(_cell(sub, "task-scale"))
    _cell(sub, "task-cutoff").metadata = {}
    out = rebuild(template, sub)
    # the pasted copy comes last in the submission, so it is the one graded
    assert _cell(out.notebook, "task-mean").source.endswith("return 0.0")
    assert "2 answer cells" in out.notes["mean"]
    assert "NotImplementedError" in _cell(out.notebook, "task-scale").source
    assert out.missing == {"scale"}
    assert "np.quantile" in _cell(out.notebook, "task-cutoff").source


def test_duplicated_ids_take_the_last_copy(template, solution):
    sub = copy.deepcopy(solution)
    first = _cell(sub, "task-mean")
    copy_cell = copy.deepcopy(first)
    copy_cell.source = "def mean(v):\n    return -1.0"
    sub.cells.insert(sub.cells.index(first) + 1, copy_cell)
    out = rebuild(template, sub)
    assert _cell(out.notebook, "task-mean").source.endswith("return -1.0")
    assert "2 answer cells" in out.notes["mean"]


def test_markdown_cells_are_never_answers(template, solution):
    sub = copy.deepcopy(solution)
    cell = _cell(sub, "task-mean")
    sub.cells[sub.cells.index(cell)] = nbformat.v4.new_markdown_cell(
        cell.source, id="task-mean", metadata=cell.metadata)
    assert rebuild(template, sub).missing == {"mean"}


def test_compare_uses_reference_tolerances_and_never_the_submissions():
    ref = {"rtol": 0.0, "atol": 1e-3, "values": {
        "a": {"array": [1.0, 2.0], "shape": [2]}, "s": "yes", "d": {"k": 1.0}}}
    same = {"rtol": 0.0, "atol": 1e-3, "values": {
        "a": {"array": [1.0005, 2.0], "shape": [2]}, "s": "yes", "d": {"k": 1.0}}}
    assert compare(ref, same) == []
    loose = {"rtol": 1e9, "atol": 1e9, "values": {
        "a": {"array": [5.0, 2.0], "shape": [2]}, "s": "no", "d": {"k": "1.0"}}}
    assert compare(ref, loose) == ["a", "s", "d"]
    assert compare(ref, {"values": {}}) == ["a", "s", "d"]
    ragged = {"values": {"a": {"array": [[1.0], [2.0, 3.0]], "shape": [2]}, "s": "yes",
                         "d": {"k": 1.0}}}
    assert compare(ref, ragged) == ["a"]


@pytest.mark.parametrize("content, state", [
    (None, "missing"),
    ("{broken", "missing"),
    (json.dumps({"task": "other", "values": {"x": 1.0}}), "missing"),
    (json.dumps({"task": "t", "values": {"x": 2.0}}), "failed"),
    (json.dumps({"task": "t", "values": {"x": 1.0}}), "passed"),
])
def test_decide_from_plain_data(tmp_path, content, state):
    path = tmp_path / "t.json"
    if content is not None:
        path.write_text(content)
    cells = {"task-t": {"state": "ok"}, "check-t": {"state": "ok"}}
    verdict = decide("t", 3, {"rtol": 1e-6, "atol": 0, "values": {"x": 1.0}}, path, cells,
                     "completed")
    assert verdict.state == state
    assert verdict.points == (3 if state == "passed" else 0)
    assert "1.0" not in verdict.message  # never the expected value


def test_decide_explains_cells_that_did_not_record(tmp_path):
    ref = {"values": {"x": 1.0}}
    missing = tmp_path / "none.json"
    cases = {
        "timeout": {"task-t": {"state": "timeout", "ename": "KeyboardInterrupt"}},
        "error": {"task-t": {"state": "error", "ename": "ValueError", "evalue": "bad"}},
        "not-run": {"task-t": {"state": "not-run"}, "check-t": {"state": "not-run"}},
    }
    for state, cells in cases.items():
        verdict = decide("t", 1, ref, missing, cells, "kernel-died")
        assert verdict.state == state, (state, verdict)
    assert "ValueError: bad" in decide("t", 1, ref, missing, cases["error"], "x").message


def test_gradebook_is_rfc4180_and_defuses_formulas(tmp_path):
    records = [{"id": '=HYPERLINK("x")', "tasks": [], "total": 0, "max": 1,
                "status": "invalid", "reason": 'bad "quote", comma\nnewline'},
               {"id": "ann", "tasks": [{"task": "t", "points": 1}], "total": 1, "max": 1,
                "status": "graded", "reason": "1/1 tasks passed"}]
    write_gradebook(tmp_path / "g.csv", {"t": {"points": 1}}, records)
    raw = (tmp_path / "g.csv").read_bytes()
    assert raw.count(b"\r\n") == 3  # header and two rows; the newline inside is quoted
    rows = list(csv.reader(raw.decode().splitlines(keepends=True)))
    assert rows[1] == ["'=HYPERLINK(\"x\")", "0", "0", "1", "invalid",
                       'bad "quote", comma\nnewline']
    assert rows[2][:2] == ["ann", "1"]


def test_find_submissions_files_and_folders(tmp_path):
    (tmp_path / "ann.ipynb").write_text("{}")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "lab.ipynb").write_text("{}")
    (tmp_path / "cy").mkdir()
    (tmp_path / "cy" / "a.ipynb").write_text("{}")
    (tmp_path / "cy" / "b.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".DS_Store").write_text("ignored")
    found = {s.id: s for s in find_submissions(tmp_path)}
    assert set(found) == {"ann", "bob", "cy"}
    assert found["bob"].path.name == "lab.ipynb"
    assert found["cy"].path is None and "2 notebooks" in found["cy"].problem


def test_feedback_names_are_safe_and_distinct():
    assert feedback_name("../../etc/passwd") != "passwd.md"
    assert "/" not in feedback_name("../../etc/passwd")
    assert feedback_name("a b") != feedback_name("a_b")


def test_limits_validate():
    with pytest.raises(ValueError, match="cell_timeout"):
        Limits(cell_timeout=0)
    assert Limits().rlimits()["RLIMIT_NPROC"] == 256
