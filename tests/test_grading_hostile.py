"""Broken and hostile submissions, graded in one batch on the fixture lab.

One session-scoped batch grades every case with two workers (a few seconds per
notebook); each test then reads its row. Cases that rely on the sandbox (reading or
writing the instructor's files, the network, a fork bomb) are skipped, not run, where
bubblewrap does not work: a fork bomb without a process limit would take the machine.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import socket
import tempfile
import threading
import warnings
from pathlib import Path

import nbformat
import numpy as np
import pytest

from labkit.grading import Limits, grade
from labkit.grading.sandbox import probe

FIXTURE = Path(__file__).parent / "fixtures" / "grading"
SOLUTION = FIXTURE / "solutions" / "90-fixture.ipynb"
TEMPLATE = FIXTURE / "labs" / "90-fixture.ipynb"
SEED = 12345  # grading seed of the batch
FULL = 6  # points of the fixture lab: mean 2, scale 3, cutoff 1
LIMITS = Limits(cell_timeout=6, submission_timeout=30, memory_mb=3072, processes=64,
                output_mb=0.5)
SANDBOXED = probe([]).enabled
needs_sandbox = pytest.mark.skipif(not SANDBOXED, reason="bubblewrap does not work here")


def _solution():
    return nbformat.read(SOLUTION, as_version=4)


def _cell(nb, cell_id):
    return next(c for c in nb.cells if c.get("id") == cell_id)


def _with(cell_id, source, nb=None):
    nb = nb or _solution()
    _cell(nb, cell_id).source = source
    return nb


def _prepend(cell_id, code, nb=None):
    nb = nb or _solution()
    cell = _cell(nb, cell_id)
    cell.source = code + "\n" + cell.source
    return nb


def _public_answers():
    """The fixture's answers under the public SEED = 0, to hard-code them."""
    x = np.random.default_rng(0).normal(size=50)
    return float(np.mean(x)), float(np.quantile(x, 0.9))


def _surrogate_answer() -> bytes:
    """A notebook whose answer holds a lone surrogate: valid JSON, unwritable as UTF-8."""
    nb = _solution()
    _cell(nb, "task-mean").source = "x = '\ud800'\n" + _cell(nb, "task-mean").source
    return json.dumps(nb, ensure_ascii=True).encode("ascii")


def _hostile_cases(paths):
    """id -> notebook (NotebookNode) or raw bytes."""
    mean0, cutoff0 = _public_answers()
    secrets = [str(paths["secret"]), str(SOLUTION), str(paths["subs"] / "solution.ipynb"),
               str(paths["home_file"])]
    leak_check = (
        "import os, glob\n"
        "LEAK = []\n"
        f"for p in {secrets!r}:\n"
        "    try:\n"
        "        open(p).read(); LEAK.append(p)\n"
        "    except OSError:\n"
        "        pass\n"
        f"base = {str(paths['out'].parent)!r}\n"
        "for pattern in ('/**/*.ipynb', '/**/reference-*.json', '/**/records/*',\n"
        "                '/**/grades.csv'):\n"
        "    LEAK += glob.glob(base + pattern, recursive=True)\n")
    cases = {
        "solution": _solution(),
        "corrupt-json": b'{"cells": [',
        "not-utf8": b'{"cells": "\xff\xfe\xfa"}',
        "nbformat-v3": nbformat.writes(nbformat.convert(_solution(), 3)).encode(),
        "kernelspec-unknown": _solution(),
        "wrong-mean": _with("task-mean", "def mean(v):\n    return float(np.median(v))"),
        "tags-added-wrong-mean": _with(
            "task-mean", "def mean(v):\n    return float(np.median(v))"),
        "parameters-tag-moved": _solution(),
        "answers-deleted-scale": _solution(),
        "answers-reordered": _solution(),
        "answers-metadata-stripped": _solution(),
        "duplicated-wrong-last": _solution(),
        "infinite-loop": _with("task-scale", "while True:\n    pass"),
        "loop-ignoring-interrupts": _with(
            "task-scale", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                          "while True:\n    pass"),
        "memory-blowup": _with("task-scale", "hog = bytearray(2**36)"),
        "output-flood": _prepend("task-mean", "for i in range(300000):\n    print(i)"),
        "sys-exit-0": _prepend("task-mean", "import sys\nsys.exit(0)"),
        "sys-exit-1": _prepend("task-mean", "import sys\nsys.exit(1)"),
        "os-exit": _prepend("task-scale", "import os\nos._exit(0)"),
        "custom-exc-swallows": _with(
            "task-mean", "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)\n"
                         "def mean(v):\n    return 0.0"),
        "showtraceback-patched": _with(
            "task-mean", "get_ipython().showtraceback = lambda *a, **k: None\n"
                         "def mean(v):\n    return 0.0"),
        "monkeypatched-labkit": _with(
            "task-mean",
            "import labkit.checks, labkit.checks._core as core\n"
            "import labkit.grading.verdicts as verdicts\n"
            "_record = core.record\n"
            "def forged(task, **kw):\n"
            "    if task == 'mean':\n"
            "        kw = {k: 0.0 for k in kw}\n"
            "    _record(task, rtol=1e9, atol=1e9, **kw)\n"
            "labkit.checks.record = core.record = forged\n"
            "labkit.checks.expect = lambda *a, **k: None\n"
            "verdicts.compare = lambda *a, **k: []\n"
            "np.allclose = lambda *a, **k: True\n"
            "def mean(v):\n    return 0.0"),
        "fake-passed-text": _with(
            "task-mean", "print('[ok] mean: all checks passed\\nPASSED 6/6 score: 100%')\n"
                         "def mean(v):\n    return 0.0"),
        "reseeds-public": _with(
            "task-mean", "SEED = 0\nimport random; random.seed(0); np.random.seed(0)\n"
                         "x = np.random.default_rng(0).normal(size=N)\n"
                         "def mean(v):\n    return float(np.mean(v))"),
        "hard-coded-public": _with(
            "task-mean", f"def mean(v):\n    return 2.0 if len(v) == 3 else {mean0!r}",
            _with("task-cutoff", f"CUTOFF = {cutoff0!r}")),
        "writes-output-folder": _prepend(
            "task-mean",
            "import os\n"
            f"for p in [{str(paths['out'] / 'grades.csv')!r}, "
            f"{str(paths['out'] / '.labkit-grade' / 'hacked.json')!r}, "
            f"{str(paths['subs'] / 'solution.ipynb')!r}]:\n"
            "    try:\n"
            "        open(p, 'w').write('hacked')\n"
            "    except OSError:\n"
            "        pass"),
        "reads-instructor-files": _with(
            "task-mean", leak_check + "def mean(v):\n"
                                      "    return float(np.mean(v)) + (1.0 if LEAK else 0.0)"),
        "network": _with(
            "task-mean",
            "import socket\nNET = False\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {paths['port']}), timeout=2)\n"
            "    NET = True\n"
            "except OSError:\n    pass\n"
            "def mean(v):\n    return float(np.mean(v)) + (1.0 if NET else 0.0)"),
        "fork-bomb": _with("task-scale", "import os\nwhile True:\n    os.fork()"),
        "deep-folders": _prepend(
            "task-scale",
            "import os\nhere = os.getcwd()\nos.chdir(os.environ['LABKIT_RESULTS_DIR'])\n"
            "for _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')\nos.chdir(here)"),
        "prints-seed": _with("task-mean", "raise ValueError(f'the seed is {SEED}')"),
        "lone-surrogate": _surrogate_answer(),
        "result-symlink": _prepend(
            "task-scale",
            "import os\nRES = os.environ['LABKIT_RESULTS_DIR']\n"
            "os.remove(os.path.join(RES, 'mean.json'))\n"
            f"os.symlink({str(paths['forged'])!r}, os.path.join(RES, 'mean.json'))",
            # passes the public check, so its (wrong) result is recorded, then replaced
            _with("task-mean", "def mean(v):\n    return 2.0 if len(v) == 3 else 0.0")),
        "result-fifo": _prepend(
            "task-scale",
            "import os\nRES = os.environ['LABKIT_RESULTS_DIR']\n"
            "os.remove(os.path.join(RES, 'mean.json'))\n"
            "os.mkfifo(os.path.join(RES, 'mean.json'))"),
        "tampers-other-results": _with(
            "task-mean",
            "import glob, os, time\nFOUND = []\nown = os.environ['LABKIT_RESULTS_DIR']\n"
            "end = time.time() + 4\n"
            "while time.time() < end:\n"
            f"    for d in glob.glob({str(paths['temp'])!r} + '/*/*/results') + "
            "glob.glob('/tmp/*/*/results'):\n"
            "        if d != own:\n"
            "            FOUND.append(d)\n"
            "            try:\n"
            "                open(os.path.join(d, 'mean.json'), 'w').write('{}')\n"
            "            except OSError:\n"
            "                pass\n"
            "    time.sleep(0.2)\n"
            "def mean(v):\n    return float(np.mean(v)) + (1.0 if FOUND else 0.0)"),
    }
    cases["kernelspec-unknown"].metadata["kernelspec"] = {
        "name": "no-such-kernel", "display_name": "x", "language": "ruby"}
    nb = cases["tags-added-wrong-mean"]
    for cell in nb.cells:
        cell.metadata["tags"] = ["skip-execution", "raises-exception", "injected-parameters"]
    _cell(nb, "check-mean").source = "pass  # check disabled"
    nb = cases["parameters-tag-moved"]
    _cell(nb, "parameters").metadata["tags"] = []
    _cell(nb, "task-mean").metadata["tags"] = ["parameters"]
    _cell(nb, "task-mean").source = "SEED = 0\n" + _cell(nb, "task-mean").source
    nb = cases["answers-deleted-scale"]
    nb.cells.remove(_cell(nb, "task-scale"))
    cases["answers-reordered"].cells.reverse()
    for cell in cases["answers-metadata-stripped"].cells:
        cell.metadata = {}
    nb = cases["duplicated-wrong-last"]
    copy_cell = copy.deepcopy(_cell(nb, "task-mean"))
    copy_cell.source = "def mean(v):\n    return 0.0"
    copy_cell.id = "task-mean-copy"
    nb.cells.append(copy_cell)
    if not SANDBOXED:
        for name in ("fork-bomb", "reads-instructor-files", "network",
                     "writes-output-folder", "tampers-other-results"):
            del cases[name]
    return cases


@pytest.fixture(scope="session")
def hostile(tmp_path_factory):
    """Grade every case in one batch; returns rows by id and what the test needs."""
    base = tmp_path_factory.mktemp("hostile")
    subs, out = base / "subs", base / "out"
    subs.mkdir()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    connections = []

    def accept():
        while listener.fileno() != -1:
            try:
                connections.append(listener.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    secret = base / "secret.txt"
    secret.write_text("instructor only")
    home_file = Path.home() / ".bashrc"
    # Short: kernel sockets live under it, and a Unix socket path has at most 107 bytes.
    temp = Path(tempfile.mkdtemp(prefix="lg-hostile-", dir="/tmp"))
    # A result with the right value under the grading seed, for a symlink to point at.
    right = float(np.mean(np.random.default_rng(SEED).normal(size=50)))
    forged = base / "forged.json"
    forged.write_text(json.dumps({"task": "mean", "rtol": 1e-6, "atol": 1e-9,
                                  "values": {"value": right}}))
    paths = {"subs": subs, "out": out, "secret": secret, "port": listener.getsockname()[1],
             "home_file": home_file if home_file.is_file() else secret, "temp": temp,
             "forged": forged}
    for name, nb in _hostile_cases(paths).items():
        data = nb if isinstance(nb, bytes) else nbformat.writes(nb).encode()
        (subs / f"{name}.ipynb").write_bytes(data)
    # huge: a valid notebook over the size limit
    big = _solution()
    big.cells[0].source += "\n" + "x" * (3 * 2**20)
    (subs / "huge.ipynb").write_text(nbformat.writes(big))
    before = _snapshot(subs)
    old_tempdir = tempfile.tempdir
    tempfile.tempdir = str(temp)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            summary = grade(SOLUTION, subs, out, workers=2, seed=SEED, limits=LIMITS,
                            progress=False, max_notebook_mb=2)
    finally:
        tempfile.tempdir = old_tempdir
        listener.close()
    with open(out / "grades.csv", newline="") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    leftover = list(temp.iterdir())
    temp.rmdir()
    return {"rows": rows, "leftover_temp": leftover, "summary": summary, "out": out,
            "subs": subs, "before": before, "temp": temp, "connections": connections,
            "warnings": caught,
            "records": {r["id"]: r for r in summary.records}}


def _snapshot(folder):
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                         p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _row(hostile, name):
    return hostile["rows"][name]


def _points(row):
    return {t: int(row[t]) for t in ("mean", "scale", "cutoff")}


def _task(hostile, name, task):
    return next(t for t in hostile["records"][name]["tasks"] if t["task"] == task)


def test_every_submission_gets_a_row(hostile):
    assert set(hostile["rows"]) == {p.stem for p in hostile["subs"].glob("*.ipynb")}


def test_solution_scores_full_marks(hostile):
    row = _row(hostile, "solution")
    assert (row["total"], row["max"], row["status"]) == (str(FULL), str(FULL), "graded")


@pytest.mark.parametrize("name, message", [
    ("corrupt-json", "not valid JSON"),
    ("not-utf8", "not UTF-8"),
    ("huge", "over the 2 MiB limit"),
])
def test_unreadable_submissions_are_invalid(hostile, name, message):
    row = _row(hostile, name)
    assert row["status"] == "invalid" and row["total"] == "0"
    assert message in row["reason"]


@pytest.mark.parametrize("name", [
    "nbformat-v3", "kernelspec-unknown", "parameters-tag-moved", "answers-reordered",
    "answers-metadata-stripped", "output-flood",
])
def test_harmless_changes_keep_full_marks(hostile, name):
    row = _row(hostile, name)
    assert row["total"] == str(FULL), row["reason"]


def test_lone_surrogate_is_invalid_not_a_crash(hostile):
    row = _row(hostile, "lone-surrogate")
    assert row["status"] == "invalid" and "not valid Unicode" in row["reason"], row


def test_deep_folders_in_the_results_do_not_break_the_batch(hostile):
    row = _row(hostile, "deep-folders")
    assert _points(row) == {"mean": 2, "scale": 3, "cutoff": 1}, row["reason"]


def test_the_grading_seed_never_reaches_the_feedback(hostile):
    row = _row(hostile, "prints-seed")
    feedback = (hostile["out"] / "feedback" / "prints-seed.md").read_text()
    assert str(SEED) not in row["reason"] + feedback
    assert "<grading seed>" in feedback


def test_parameters_tag_moved_still_runs_under_the_grading_seed(hostile):
    # The student's answer cell sets SEED = 0 and carries the parameters tag; the tag is
    # dropped and the data was drawn before, so nothing changes.
    assert _row(hostile, "parameters-tag-moved")["status"] == "graded"


def test_output_flood_is_capped_and_noted(hostile):
    assert "output was truncated" in _row(hostile, "output-flood")["reason"]


@pytest.mark.parametrize("name", ["wrong-mean", "tags-added-wrong-mean",
                                  "duplicated-wrong-last", "custom-exc-swallows",
                                  "showtraceback-patched", "monkeypatched-labkit",
                                  "fake-passed-text", "hard-coded-public"])
def test_cheats_lose_exactly_the_wrong_tasks(hostile, name):
    row = _row(hostile, name)
    points = _points(row)
    assert points["mean"] == 0, row["reason"]
    expected_others = {"scale": 3, "cutoff": 0 if name == "hard-coded-public" else 1}
    assert {k: points[k] for k in expected_others} == expected_others, row["reason"]
    assert "1/3" in row["reason"] or "2/3" in row["reason"]


@pytest.mark.parametrize("name", ["showtraceback-patched", "custom-exc-swallows"])
def test_hidden_tracebacks_are_still_seen(hostile, name):
    # The failing self-check raised, and the kernel hid or swallowed the traceback; its
    # execute reply still says 'error', which is what the runner reads.
    task = _task(hostile, name, "mean")
    assert task["state"] == "error" and "AssertionError" in task["message"], task


def test_wrong_answer_message_names_values_not_expected_numbers(hostile):
    task = _task(hostile, "wrong-mean", "mean")
    assert task["state"] == "failed" and "(value)" in task["message"]
    feedback = (hostile["out"] / "feedback" / "wrong-mean.md").read_text()
    assert "different values" in feedback
    reference = json.loads(next((hostile["out"] / ".labkit-grade").glob(
        "reference-*.json")).read_text())
    expected = reference["tasks"]["mean"]["values"]["value"]
    assert repr(expected)[:8] not in feedback


def test_reseeding_to_the_public_seed_fails(hostile):
    row = _row(hostile, "reseeds-public")
    assert row["total"] == "0", row["reason"]


def test_deleted_answer_is_not_implemented_and_others_count(hostile):
    row = _row(hostile, "answers-deleted-scale")
    assert _points(row) == {"mean": 2, "scale": 0, "cutoff": 1}
    assert row["status"] == "partial"
    assert _task(hostile, "answers-deleted-scale", "scale")["state"] == "not-implemented"
    assert "answer cell not found" in (
        hostile["out"] / "feedback" / "answers-deleted-scale.md").read_text()


def test_infinite_loop_costs_only_its_task(hostile):
    row = _row(hostile, "infinite-loop")
    assert _points(row) == {"mean": 2, "scale": 0, "cutoff": 1}
    assert _task(hostile, "infinite-loop", "scale")["state"] == "timeout"


def test_loop_ignoring_interrupts_hits_the_submission_timeout(hostile):
    row = _row(hostile, "loop-ignoring-interrupts")
    assert row["status"] == "timeout"
    assert "time limit" in row["reason"]
    assert int(row["mean"]) == 2  # recorded before the loop started
    assert hostile["records"]["loop-ignoring-interrupts"]["seconds"] < \
        LIMITS.submission_timeout + 10


def test_memory_blowup_is_killed_and_costs_its_task(hostile):
    row = _row(hostile, "memory-blowup")
    assert row["status"] == "killed", row["reason"]
    assert _points(row) == {"mean": 2, "scale": 0, "cutoff": 1}
    assert "MemoryError" in _task(hostile, "memory-blowup", "scale")["message"]


@pytest.mark.parametrize("name", ["sys-exit-0", "sys-exit-1"])
def test_sys_exit_fails_its_task_and_the_rest_still_runs(hostile, name):
    row = _row(hostile, name)
    assert _points(row) == {"mean": 0, "scale": 3, "cutoff": 1}
    assert "SystemExit" in _task(hostile, name, "mean")["message"]


def test_os_exit_stops_the_run_and_says_so(hostile):
    row = _row(hostile, "os-exit")
    assert row["status"] == "error"
    assert "run stopped early" in row["reason"]
    assert _points(row) == {"mean": 2, "scale": 0, "cutoff": 0}
    assert _task(hostile, "os-exit", "cutoff")["state"] == "not-run"


@needs_sandbox
def test_fork_bomb_is_contained(hostile):
    # Copies of the kernel fight over its sockets, so how the run ends varies (the
    # process limit stops the bomb; the time limit stops a run that no longer answers);
    # what must hold: the task earns nothing, earlier tasks count, the batch goes on and
    # no process is left (test_no_process_outlives_the_batch).
    row = _row(hostile, "fork-bomb")
    assert row["status"] in ("killed", "timeout", "partial", "error"), row["reason"]
    assert (int(row["mean"]), int(row["scale"])) == (2, 0)
    assert hostile["records"]["fork-bomb"]["seconds"] < LIMITS.submission_timeout + 10


@needs_sandbox
def test_instructor_files_other_submissions_and_temp_are_invisible(hostile):
    assert _row(hostile, "reads-instructor-files")["total"] == str(FULL)


@needs_sandbox
def test_no_network(hostile):
    assert _row(hostile, "network")["total"] == str(FULL)
    assert hostile["connections"] == []


@needs_sandbox
def test_writes_outside_the_sandbox_go_nowhere(hostile):
    assert _row(hostile, "writes-output-folder")["total"] == str(FULL)
    assert "hacked" not in (hostile["out"] / "grades.csv").read_text()
    assert not (hostile["out"] / ".labkit-grade" / "hacked.json").exists()


@pytest.mark.parametrize("name", ["result-symlink", "result-fifo"])
def test_results_that_are_not_plain_files_are_refused(hostile, name):
    row = _row(hostile, name)
    assert _points(row) == {"mean": 0, "scale": 3, "cutoff": 1}, row["reason"]
    assert "not a regular file" in _task(hostile, name, "mean")["message"]


@needs_sandbox
def test_submissions_cannot_reach_each_others_results(hostile):
    # It hunts for other jobs' result folders for 4 s while the other worker grades.
    assert _row(hostile, "tampers-other-results")["total"] == str(FULL)


def test_submissions_folder_is_never_modified(hostile):
    assert _snapshot(hostile["subs"]) == hostile["before"]


def test_only_the_output_folder_and_a_removed_temp_folder_are_written(hostile):
    out = hostile["out"]
    assert sorted(p.name for p in out.iterdir()) == [".labkit-grade", "feedback",
                                                     "grades.csv", "log.json"]
    assert len(list((out / "feedback").iterdir())) == len(hostile["rows"])
    assert hostile["leftover_temp"] == []


def test_no_process_outlives_the_batch(hostile):
    leftovers = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if str(hostile["temp"]).encode() in cmdline:
                leftovers.append(cmdline[:200])
    assert leftovers == []


def test_log_records_seed_versions_and_hashes(hostile):
    log = json.loads((hostile["out"] / "log.json").read_text())
    assert log["seed"] == SEED
    assert log["versions"]["papermill"] and log["versions"]["nbclient"]
    subs = log["submissions"]
    data = (hostile["subs"] / "wrong-mean.ipynb").read_bytes()
    assert subs["wrong-mean"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert log["lab"]["solution_sha256"] == hashlib.sha256(SOLUTION.read_bytes()).hexdigest()
    assert log["sandbox"]["enabled"] == SANDBOXED


def test_missing_sandbox_is_warned_about(hostile):
    texts = [str(w.message) for w in hostile["warnings"]]
    assert any("no sandbox" in t for t in texts) == (not SANDBOXED)


def test_rerun_resumes_and_gives_identical_results(hostile):
    out = hostile["out"]
    before = (out / "grades.csv").read_bytes()
    records = out / ".labkit-grade" / "records"
    (records / "wrong-mean.json").unlink()  # as if the first run stopped before it
    summary = grade(SOLUTION, hostile["subs"], out, workers=2, limits=LIMITS,
                    progress=False, max_notebook_mb=2)
    assert summary.graded_now == 1 and summary.seed == SEED
    assert (out / "grades.csv").read_bytes() == before
    assert os.listdir(records) and len(os.listdir(records)) == len(hostile["rows"])
