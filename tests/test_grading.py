"""Unit tests of the grader's parts that need no kernel: reading, rebuilding, verdicts,
cell states, status words, the gradebook and the command's options. Discovery and
reading are in test_grading_discover.py, seeds in test_grading_seeds.py."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import nbformat
import pytest

from labkit.cli import build_parser, main
from labkit.grading.batch import _status_of
from labkit.grading.execute import cell_states
from labkit.grading.rebuild import (
    END_CELL_ID,
    InvalidSubmission,
    read_notebook,
    rebuild,
    task_spans,
    tasks_of,
)
from labkit.grading.report import feedback_name, write_feedback, write_gradebook
from labkit.grading.sandbox import Limits
from labkit.grading.status import CellState, Outcome, Status, TaskState
from labkit.grading.verdicts import Verdict, compare, decide

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
    (b"[" * 100000 + b"]" * 100000, "nested too deep"),
    (b'{"a": ' * 50000 + b"1" + b"}" * 50000, "nested too deep"),
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


def test_feedback_names_are_safe_and_distinct():
    assert feedback_name("../../etc/passwd") != "passwd.md"
    assert "/" not in feedback_name("../../etc/passwd")
    assert feedback_name("a b") != feedback_name("a_b")


def test_limits_validate():
    with pytest.raises(ValueError, match="cell_timeout"):
        Limits(cell_timeout=0)
    assert Limits().rlimits()["RLIMIT_NPROC"] == 256


def test_deep_json_is_not_called_invalid_json():
    with pytest.raises(InvalidSubmission) as caught:
        read_notebook(b"[" * 100000 + b"]" * 100000, max_bytes=2**24)
    assert "not valid JSON" not in str(caught.value)


def test_task_spans_run_from_each_answer_to_the_next(template):
    spans = task_spans(rebuild(template, template).notebook, tasks_of(template))
    assert spans["mean"] == ["task-mean", "check-mean"]
    assert spans["scale"] == ["task-scale", "check-scale"]
    assert spans["cutoff"] == ["task-cutoff", "check-cutoff", END_CELL_ID]


@pytest.mark.parametrize("cells, span, expected", [
    # the kernel swallowed the interrupt: the cell ended "ok" and the values match
    ({"task-t": {"state": "timeout"}, "check-t": {"state": "ok"}}, None,
     "its answer cell ran past the per-cell time limit of 6 s"),
    ({"task-t": {"state": "ok"}, "check-t": {"state": "timeout"}}, None,
     "its check cell ran past the per-cell time limit of 6 s"),
    ({"task-t": {"state": "ok"}, "check-t": {"state": "ok"},
      "plot-t": {"state": "timeout"}}, ["task-t", "check-t", "plot-t"],
     "cell plot-t (after its answer cell) ran past the per-cell time limit of 6 s"),
    ({"task-t": {"state": "timeout", "limit": "submission"}}, None,
     "its answer cell was still running when the submission ran past its time limit"),
])
def test_a_timed_out_cell_costs_its_task_whatever_was_recorded(tmp_path, cells, span,
                                                                expected):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"task": "t", "values": {"x": 1.0}}))  # the right values
    verdict = decide("t", 3, {"values": {"x": 1.0}}, path, cells, Outcome.COMPLETED,
                     span=span, cell_timeout=6)
    assert (verdict.state, verdict.points, verdict.message) == (TaskState.TIMEOUT, 0, expected)


def test_a_timeout_outside_the_tasks_span_does_not_count(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"task": "t", "values": {"x": 1.0}}))
    cells = {"task-t": {"state": "ok"}, "check-t": {"state": "ok"},
             "task-u": {"state": "timeout"}}
    verdict = decide("t", 3, {"values": {"x": 1.0}}, path, cells, Outcome.COMPLETED,
                     span=["task-t", "check-t"], cell_timeout=6)
    assert verdict.state == TaskState.PASSED


def test_a_missing_answer_cell_is_reported_as_such(tmp_path):
    cells = {"task-t": {"state": "error", "ename": "NotImplementedError"},
             "check-t": {"state": "error", "ename": "NotImplementedError"}}
    verdict = decide("t", 1, {"values": {}}, tmp_path / "none.json", cells, "completed",
                     answer_found=False)
    assert verdict.state == TaskState.NOT_IMPLEMENTED
    assert verdict.message.startswith("answer cell not found")
    assert "NotImplementedError" not in verdict.message


def test_a_task_that_timed_out_makes_the_row_partial():
    verdicts = [Verdict("a", 2, 2, TaskState.PASSED, "passed"),
                Verdict("b", 0, 3, TaskState.TIMEOUT, "its answer cell ran past the "
                        "per-cell time limit of 6 s")]
    status, reason = _status_of(verdicts, Outcome.COMPLETED, "", [])
    assert status == Status.PARTIAL and "6 s" in reason and reason.startswith("1/2")
    status, _ = _status_of(verdicts, Outcome.TIMEOUT, "the submission ran past", [])
    assert status == Status.TIMEOUT


def test_cell_states_come_from_the_runners_events():
    events = [{"cell": "a", "event": "start"},
              {"cell": "a", "event": "reply", "status": "ok"},
              # swallowed the interrupt and finished: still a timeout
              {"cell": "b", "event": "start"}, {"cell": "b", "event": "timeout"},
              {"cell": "b", "event": "reply", "status": "ok"},
              # honoured it: KeyboardInterrupt, and a timeout
              {"cell": "c", "event": "start"}, {"cell": "c", "event": "timeout"},
              {"cell": "c", "event": "reply", "status": "error",
               "ename": "KeyboardInterrupt", "evalue": ""},
              # raised KeyboardInterrupt itself, quickly: an error, not a timeout
              {"cell": "d", "event": "start"},
              {"cell": "d", "event": "reply", "status": "error",
               "ename": "KeyboardInterrupt", "evalue": ""},
              # ignored it: no reply ever came
              {"cell": "e", "event": "start"}, {"cell": "e", "event": "timeout"}]
    states = {c["id"]: c["state"] for c in cell_states("abcdef", events, killed=True)}
    assert states == {"a": CellState.OK, "b": CellState.TIMEOUT, "c": CellState.TIMEOUT,
                      "d": CellState.ERROR, "e": CellState.TIMEOUT, "f": CellState.NOT_RUN}
    died = cell_states(["x"], [{"cell": "x", "event": "start"}])
    assert died[0]["state"] == CellState.DIED


def test_status_words_are_plain_strings_in_every_output(tmp_path):
    record = {"id": "ann", "total": 0, "max": 1, "status": Status.PARTIAL,
              "reason": "why", "notes": {},
              "tasks": [{"task": "t", "points": 0, "max_points": 1,
                         "state": TaskState.TIMEOUT, "message": "slow"}]}
    write_gradebook(tmp_path / "g.csv", {"t": {"points": 1}}, [record])
    assert "ann,0,0,1,partial,why" in (tmp_path / "g.csv").read_text()
    assert "(status: partial)" in write_feedback(tmp_path, "Lab", record).read_text()
    assert json.loads(json.dumps(record))["tasks"][0]["state"] == "timeout"
    assert {str(s) for s in Status} == {"graded", "partial", "not-implemented", "error",
                                         "timeout", "killed", "invalid"}


def test_grade_takes_root_like_the_author_commands(capsys):
    args = build_parser().parse_args(["grade", "01", "s", "--out", "o", "--root", "r"])
    assert args.root == "r"
    old = build_parser().parse_args(["grade", "01", "s", "--out", "o", "--course-root", "r"])
    assert old.root == "r" and "deprecated; use --root" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["grade", "--help"])
    helptext = capsys.readouterr().out
    assert "--root" in helptext and "--course-root" not in helptext


def test_a_missing_course_root_error_names_root(tmp_path, capsys):
    code = main(["grade", "01", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0 and "--root" in err and "--course-root" not in err
