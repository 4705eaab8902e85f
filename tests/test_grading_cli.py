"""The ``labkit grade`` command, interruption and resuming, a failing reference, and
grading without a sandbox (limits only)."""

from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest

from labkit.cli import main
from labkit.grading import Limits, batch, grade

FIXTURE = Path(__file__).parent / "fixtures" / "grading"
SOLUTION = FIXTURE / "solutions" / "90-fixture.ipynb"
TEMPLATE = FIXTURE / "labs" / "90-fixture.ipynb"


@pytest.fixture
def subs(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    shutil.copy(SOLUTION, folder / "ann.ipynb")
    (folder / "bob").mkdir()
    shutil.copy(TEMPLATE, folder / "bob" / "lab90.ipynb")
    return folder


def _rows(out):
    with open(out / "grades.csv", newline="") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


@pytest.mark.grading
def test_command_grades_a_folder_and_prints_a_summary(subs, tmp_path, capsys):
    out = tmp_path / "graded"
    code = main(["grade", str(SOLUTION), str(subs), "--out", str(out), "--seed", "7",
                 "--cell-timeout", "20", "--timeout", "120", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "2 submission(s): 1 graded, 1 not-implemented" in printed
    assert "submissions/min" in printed and "grading seed 7" in printed
    assert "4 grading seeds" in printed
    rows = _rows(out)
    assert rows["ann"]["total"] == "6" and rows["bob"]["status"] == "not-implemented"
    assert (out / "feedback" / "bob.md").is_file()


def test_command_refuses_an_output_folder_inside_the_submissions(subs, capsys):
    code = main(["grade", str(SOLUTION), str(subs), "--out", str(subs / "graded"),
                 "--no-progress"])
    assert code != 0
    assert "never written to" in capsys.readouterr().err
    assert not (subs / "graded").exists()


@pytest.mark.parametrize("option, value", [("--seed-pool", "0"), ("--seed-pool", "65"),
                                           ("--seed", "-1"), ("--workers", "0")])
def test_command_refuses_bad_numbers_before_writing_anything(subs, tmp_path, capsys,
                                                             option, value):
    code = main(["grade", str(SOLUTION), str(subs), "--out", str(tmp_path / "o"), option,
                 value, "--no-progress"])
    assert code == 2 and "error" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_command_explains_a_missing_lab(tmp_path, capsys):
    root = str(Path(__file__).resolve().parents[1])
    code = main(["grade", "99", str(tmp_path), "--out", str(tmp_path / "o"), "--root", root])
    assert code != 0
    assert "99" in capsys.readouterr().err
    # the old name still works, and says it is deprecated
    code = main(["grade", "99", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--course-root", root])
    err = capsys.readouterr().err
    assert code != 0 and "99" in err and "use --root" in err


@pytest.mark.grading
def test_limits_only_mode_warns_grades_and_leaves_no_process(subs, tmp_path):
    nb = nbformat.read(SOLUTION, as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == "task-scale")
    cell.source = ("import signal, subprocess\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                   "child = subprocess.Popen(['sleep', '613'])\nwhile True:\n    pass")
    nbformat.write(nb, subs / "looper.ipynb")
    temp = Path(tempfile.mkdtemp(prefix="lg-cli-", dir="/tmp"))  # short: socket paths
    old, tempfile.tempdir = tempfile.tempdir, str(temp)
    try:
        with pytest.warns(RuntimeWarning, match="no sandbox"):
            summary = grade(SOLUTION, subs, tmp_path / "out", sandbox=False, seed=3,
                            limits=Limits(cell_timeout=4, submission_timeout=40),
                            progress=False)
    finally:
        tempfile.tempdir = old
    rows = _rows(tmp_path / "out")
    assert rows["ann"]["total"] == "6"
    assert rows["looper"]["status"] == "timeout" and rows["looper"]["mean"] == "2"
    assert summary.sandbox.startswith("disabled")
    assert list(temp.iterdir()) == []
    temp.rmdir()
    leftovers = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(temp).encode() in cmdline or cmdline == b"sleep\x00613\x00":
                leftovers.append(cmdline)
    assert leftovers == []


@pytest.mark.grading
def test_a_reference_that_fails_under_the_seed_stops_with_a_clear_error(subs, tmp_path,
                                                                         capsys):
    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    (course / "labs").mkdir()
    shutil.copy(TEMPLATE, course / "labs" / SOLUTION.name)
    nb = nbformat.read(SOLUTION, as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == "task-cutoff")
    cell.source = "assert SEED == 0, 'works only with the public seed'\n" + cell.source
    nbformat.write(nb, course / "solutions" / SOLUTION.name)
    code = main(["grade", str(course / "solutions" / SOLUTION.name), str(subs), "--out",
                 str(tmp_path / "out"), "--seed", "5", "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "did not grade cleanly under grading seed" in err and "cutoff" in err
    assert "--seed" in err and "-p SEED" in err  # how to reproduce it
    assert not (tmp_path / "out" / "grades.csv").exists()


@pytest.mark.grading
def test_interrupted_run_kills_everything_and_resumes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(6):
        shutil.copy(SOLUTION, folder / f"s{i}.ipynb")
    out = tmp_path / "out"
    code_hash = batch._package_hash()
    temp = Path(tempfile.mkdtemp(prefix="lg-int-", dir="/tmp"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "labkit.cli", "grade", str(SOLUTION), str(folder), "--out",
         str(out), "--seed", "11", "--no-progress"],
        env={**os.environ, "TMPDIR": str(temp)}, stderr=subprocess.PIPE, text=True)
    records = out / ".labkit-grade" / "records"
    deadline = time.monotonic() + 120
    while not (records.is_dir() and any(records.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "resume" in err
    done = len(list(records.iterdir()))
    assert 1 <= done < 6
    assert list(temp.iterdir()) == []
    temp.rmdir()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            assert str(temp).encode() not in cmdline, cmdline
    summary = grade(SOLUTION, folder, out, progress=False)
    assert summary.seed == 11 and summary.counts == {"graded": 6}
    if batch._package_hash() == code_hash:
        # Records are reused only for the same labkit code; other work in the same
        # checkout may change it while this test runs.
        assert summary.graded_now == 6 - done


def test_local_grading_never_imports_dask():
    import subprocess
    import sys

    code = ("import sys, labkit.cli, labkit.grading, labkit.grading.batch, "
            "labkit.grading.cluster\nlabkit.cli.build_parser()\n"
            "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert run.stdout.strip() == "[]"
