"""Grading on a Dask cluster (``labkit grade --scheduler``): a ``LocalCluster`` with two
worker processes grades the same submissions with the same seed as a local run, and the
gradebook, feedback and class report come out byte for byte the same; a worker killed
mid-run loses no submission, and a submission that keeps killing its workers is
reported, not dropped."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import threading
import time
import warnings
from pathlib import Path

import nbformat
import pytest

from labkit.grading import Limits, batch, grade

pytestmark = pytest.mark.grading

distributed = pytest.importorskip("distributed")

FIXTURE = Path(__file__).parent / "fixtures" / "grading"
SOLUTION = FIXTURE / "solutions" / "90-fixture.ipynb"
TEMPLATE = FIXTURE / "labs" / "90-fixture.ipynb"
SEED = 424242
POOL = 2
LIMITS = Limits(cell_timeout=20, submission_timeout=150)


def _with(cell_id, source):
    nb = nbformat.read(SOLUTION, as_version=4)
    next(c for c in nb.cells if c.get("id") == cell_id).source = source
    return nb


@pytest.fixture(scope="module", autouse=True)
def same_code():
    """Other work in the same checkout may change labkit's code while this module runs;
    records are reused only for the same code, and the resume test needs them reused."""
    code = batch._package_hash()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch, "_package_hash", lambda: code)
        yield


@pytest.fixture(scope="module")
def subs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask") / "subs"
    folder.mkdir()
    shutil.copy(SOLUTION, folder / "ann.ipynb")
    variant = _with("task-scale", "def scale(v, k):\n    # another student's version\n"
                                  "    return np.multiply(v, k, dtype=float)")
    nbformat.write(variant, folder / "bea.ipynb")
    shutil.copy(TEMPLATE, folder / "cal.ipynb")
    nbformat.write(_with("task-cutoff", "CUTOFF = float(np.quantile(x, 0.75))"),
                   folder / "dee.ipynb")
    nbformat.write(_with("task-mean", "import time\ntime.sleep(600)\n"
                                      "def mean(v):\n    return float(np.mean(v))"),
                   folder / "eve.ipynb")
    nbformat.write(_with("task-scale", "big = np.ones(10**10)\n"
                                       "def scale(v, k):\n    return np.asarray(v) * k"),
                   folder / "fay.ipynb")
    (folder / "gus.ipynb").write_text("{not a notebook")
    return folder


@pytest.fixture(scope="module")
def local(subs, tmp_path_factory):
    """The batch graded on this machine, two workers."""
    out = tmp_path_factory.mktemp("local") / "out"
    summary = grade(SOLUTION, subs, out, workers=2, seed=SEED, seed_pool=POOL,
                    limits=LIMITS, progress=False)
    return out, summary


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=40) as local_cluster:
        yield local_cluster


def _files(out):
    """Everything written for people: gradebook, feedback, class report."""
    found = {"grades.csv": (out / "grades.csv").read_bytes(),
             "report.html": (out / "report.html").read_bytes()}
    for path in sorted((out / "feedback").iterdir()):
        found[f"feedback/{path.name}"] = path.read_bytes()
    return found


def _rows(out):
    with open(out / "grades.csv", newline="") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


def test_the_local_batch_has_every_kind_of_row(local):
    out, summary = local
    rows = _rows(out)
    assert {r: rows[r]["status"] for r in rows} == {
        "ann": "graded", "bea": "graded", "cal": "not-implemented", "dee": "graded",
        "eve": "partial", "fay": "killed", "gus": "invalid"}
    assert rows["dee"]["total"] == "5" and rows["eve"]["mean"] == "0"
    assert "per-cell time limit of 20 s" in rows["eve"]["reason"]


def test_cluster_grades_are_byte_identical_to_a_local_run(subs, local, cluster, tmp_path):
    out = tmp_path / "out"
    summary = grade(SOLUTION, subs, out, seed=SEED, seed_pool=POOL, limits=LIMITS,
                    progress=False, scheduler=cluster.scheduler_address)
    assert summary.scheduler == cluster.scheduler_address
    assert summary.graded_now == 7 and summary.reference_runs >= 1
    assert _files(out) == _files(local[0])
    log = json.loads((out / "log.json").read_text())
    assert log["scheduler"]["address"] == cluster.scheduler_address
    assert log["scheduler"]["workers"] == 2
    assert log["sandbox"] == json.loads((local[0] / "log.json").read_text())["sandbox"]
    # Resuming the cluster's folder locally reuses every record, and changes nothing.
    again = grade(SOLUTION, subs, out, seed=SEED, seed_pool=POOL, limits=LIMITS,
                  progress=False)
    assert again.graded_now == 0 and again.reference_runs == 0
    assert _files(out) == _files(local[0])


def _children(pid):
    """Processes whose parent is ``pid``, with their command lines."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append((int(entry.name), cmdline))
    return found


def _alive(pid):
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_worker_killed_mid_run_loses_no_submission(subs, local, cluster, tmp_path):
    from distributed import Client

    out = tmp_path / "out"
    done: dict[str, object] = {}

    def run():
        try:
            done["summary"] = grade(SOLUTION, subs, out, seed=SEED, seed_pool=POOL,
                                    limits=LIMITS, progress=False,
                                    scheduler=cluster.scheduler_address)
        except BaseException as exc:  # noqa: BLE001 - reported below
            done["error"] = exc

    with Client(cluster.scheduler_address, set_as_default=False) as client:
        pids = set(client.run(os.getpid).values())
    thread = threading.Thread(target=run)
    thread.start()
    victim = runner = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and thread.is_alive():
        for pid in pids:
            running = [p for p, cmd in _children(pid) if b"labkit.grading.execute" in cmd]
            if running:
                victim, runner = pid, running[0]
                break
        time.sleep(0.2)
    assert victim is not None, "no worker ever ran a notebook"
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=600)
    assert not thread.is_alive()
    assert "error" not in done, done.get("error")
    assert done["summary"].graded_now == 7
    # The lost task ran again on a live worker: the same gradebook, byte for byte.
    assert _files(out) == _files(local[0])
    # The runner the killed worker had started died with it (and its kernel with it).
    deadline = time.monotonic() + 20
    while _alive(runner) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(runner)


KILLER = ("import os\n"
          "with open(f'/proc/{os.getppid()}/stat') as handle:\n"
          "    worker = int(handle.read().rsplit(')', 1)[1].split()[1])\n"
          "os.kill(worker, 9)  # the runner's parent: the Dask worker\n"
          "def mean(v):\n    return 0.0")


def test_a_submission_that_keeps_killing_its_worker_is_reported(tmp_path):
    """Without the sandbox student code runs as the worker's user and can kill it; Dask
    retries the task on another worker, then gives up: the row says it was not graded,
    it is not saved, and the other submissions are graded."""
    import dask
    from distributed import LocalCluster

    folder = tmp_path / "subs"
    folder.mkdir()
    shutil.copy(SOLUTION, folder / "ann.ipynb")
    nbformat.write(_with("task-mean", KILLER), folder / "mal.ipynb")
    # One task per worker at a time, so that only the killer's task is on a dying worker.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.scheduler.worker-saturation": 1.0}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None, silence_logs=50) as killable, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "no sandbox", on purpose
        summary = grade(SOLUTION, folder, tmp_path / "out", seed=SEED, seed_pool=1,
                        limits=LIMITS, progress=False, sandbox=False,
                        scheduler=killable.scheduler_address)
    rows = _rows(tmp_path / "out")
    assert rows["ann"]["status"] == "graded" and rows["ann"]["total"] == "6"
    assert rows["mal"]["status"] == "error"
    assert rows["mal"]["reason"].startswith("not graded: the Dask workers running it died")
    assert "run the same command again" in rows["mal"]["reason"]
    records = tmp_path / "out" / ".labkit-grade" / "records"
    assert sorted(p.name for p in records.iterdir()) == ["ann.json"]  # mal: graded next run
    assert summary.counts == {"graded": 1, "error": 1}
