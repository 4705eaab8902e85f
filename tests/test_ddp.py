"""Tests of labkit.ddp_train and of the worker launcher labkit.scaling.ddp_workers.

The launcher must start the workers of one torch.distributed run and stop every one of
them, whatever happens: a worker that fails, code in the ``with`` block that raises, a
run that takes too long, or the process that started them dying. These tests look for
leftover processes in /proc (psutil is not a dependency).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from labkit.ddp_train import DEFAULTS, global_batches, main, make_data, read_weights, train_single
from labkit.scaling import ddp_workers, free_port, read_ddp_run

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")
# Small, quick runs: the data and model are tiny, the cost is starting torch.
RUN = ["--n-rows", "512", "--steps", "12", "--batch", "16", "--lr", "0.2", "--seed", "3"]


def _children(pid: int) -> set[int]:
    """Process ids whose parent is ``pid`` (zombies included), read from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc to find leftover processes")


# ---------------------------------------------------------------- the script's pieces


def test_make_data_is_deterministic_and_shaped():
    X, y = make_data(50, 5, 3, seed=1)
    X2, y2 = make_data(50, 5, 3, seed=1)
    assert X.shape == (50, 5) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    assert set(np.unique(y)) <= {0, 1, 2}
    assert not np.array_equal(make_data(50, 5, 3, seed=2)[0], X)


def test_global_batches_are_full_and_do_not_repeat_within_an_epoch():
    batches = global_batches(n_rows=10, batch=4, steps=5, seed=0)
    assert [len(b) for b in batches] == [4] * 5
    # two batches per epoch of 10 rows (the last 2 rows of each permutation are skipped)
    for first, second in ((0, 1), (2, 3)):
        assert not set(batches[first]) & set(batches[second])
    assert all(np.array_equal(a, b) for a, b in
               zip(batches, global_batches(10, 4, 5, seed=0), strict=True))


@pytest.mark.parametrize("kwargs, error", [
    ({"n_rows": 0, "batch": 1, "steps": 1}, ValueError),
    ({"n_rows": 4, "batch": 5, "steps": 1}, ValueError),
    ({"n_rows": 4, "batch": 2.0, "steps": 1}, TypeError),
    ({"n_rows": 4, "batch": 2, "steps": -1}, ValueError),
])
def test_global_batches_rejects_bad_sizes(kwargs, error):
    with pytest.raises(error):
        global_batches(**kwargs)


def test_train_single_is_reproducible_and_learns():
    a = train_single(batch=32, steps=30, n_rows=512, seed=1)
    b = train_single(batch=32, steps=30, n_rows=512, seed=1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    untrained = train_single(batch=32, steps=0, n_rows=512, seed=1)
    assert any(not np.array_equal(a[k], untrained[k]) for k in a)


def test_train_single_rejects_a_bad_learning_rate():
    with pytest.raises(ValueError, match="lr"):
        train_single(lr=0.0, steps=1, n_rows=64)


def test_one_process_run_matches_train_single(tmp_path):
    assert main(["--out", str(tmp_path), *RUN]) == 0
    saved = read_weights(tmp_path / "weights.npz")
    direct = train_single(batch=16, lr=0.2, steps=12, n_rows=512, seed=3)
    assert all(np.array_equal(saved[k], direct[k]) for k in direct)
    report = read_ddp_run(tmp_path)["ranks"][0]
    assert report["world_size"] == 1 and report["backend"] == "none"
    assert len(report["losses"]) == 12 and report["peak_rss_mb"] > 0


def test_script_refuses_a_global_batch_larger_than_the_data(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(SystemExit, match="larger than the data set"):
        main(["--out", str(tmp_path), "--n-rows", "64", "--batch", "32"])


def test_read_ddp_run_needs_a_finished_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished run"):
        read_ddp_run(tmp_path)


def test_defaults_are_the_scripts_options():
    assert set(DEFAULTS) == {"n_rows", "n_features", "hidden", "n_classes", "batch", "lr",
                             "steps", "seed"}


# ---------------------------------------------------------------- the launcher


def test_free_port_can_be_bound():
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.parametrize("args, kwargs, error", [
    ("--out run", {}, TypeError),
    ([b"--out"], {}, TypeError),
    (["--out", "x"], {"n_workers": 0}, ValueError),
    (["--out", "x"], {"timeout": 0}, ValueError),
    (["--out", "x"], {"module": ""}, TypeError),
])
def test_ddp_workers_rejects_bad_arguments_before_starting_anything(args, kwargs, error):
    before = _children(os.getpid())
    with pytest.raises(error):
        with ddp_workers(args, **kwargs):
            pass
    assert _children(os.getpid()) == before


def test_a_failing_worker_stops_the_others_and_no_process_remains(tmp_path):
    before = _children(os.getpid())
    with pytest.raises(RuntimeError, match="rank 1 exited") as info:
        with ddp_workers(["--out", str(tmp_path), "--fail-rank", "1", "--sleep", "0.5"],
                         n_workers=3) as workers:
            pids = workers.pids
            workers.wait(timeout=60)
    assert "failing on purpose" in str(info.value)
    assert _children(os.getpid()) == before
    assert not any(_alive(pid) for pid in pids)


def test_an_exception_in_the_block_stops_every_worker(tmp_path):
    before = _children(os.getpid())
    start = time.monotonic()
    with pytest.raises(KeyError):
        with ddp_workers(["--out", str(tmp_path), "--sleep", "60"], n_workers=2) as workers:
            pids = workers.pids
            assert all(_alive(pid) for pid in pids)
            raise KeyError("the notebook cell failed")
    assert time.monotonic() - start < 20
    assert _children(os.getpid()) == before
    assert not any(_alive(pid) for pid in pids)


def test_a_run_past_its_timeout_is_stopped(tmp_path):
    before = _children(os.getpid())
    with pytest.raises(TimeoutError, match="longer than 1 s"):
        with ddp_workers(["--out", str(tmp_path), "--sleep", "60"], n_workers=2) as workers:
            pids = workers.pids
            workers.wait(timeout=1)
    assert _children(os.getpid()) == before
    assert not any(_alive(pid) for pid in pids)


def test_workers_die_with_the_process_that_started_them(tmp_path):
    """A kernel killed outright (no finally block runs) must not leave workers behind."""
    code = textwrap.dedent(f"""
        import sys, time
        from labkit.scaling import ddp_workers
        with ddp_workers(["--out", {str(tmp_path)!r}, "--sleep", "60"], 2) as workers:
            print(*workers.pids, flush=True)
            time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2
        time.sleep(0.5)  # let the workers reach their prctl call
        assert all(_alive(pid) for pid in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in pids)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


@pytest.mark.notebooks
def test_two_ddp_workers_end_with_the_single_process_weights(tmp_path):
    before = _children(os.getpid())
    with ddp_workers(["--out", str(tmp_path), *RUN], n_workers=2) as workers:
        assert workers.wait(timeout=300) == [0, 0]
    assert _children(os.getpid()) == before
    run = read_ddp_run(tmp_path)
    assert [r["rank"] for r in run["ranks"]] == [0, 1]
    assert {r["backend"] for r in run["ranks"]} == {"gloo"}
    single = train_single(batch=32, lr=0.2, steps=12, n_rows=512, seed=3)
    gap = max(float(np.abs(single[k] - run["weights"][k]).max()) for k in single)
    assert gap <= 1e-5
    # one worker's slice alone is a different run: the comparison can fail
    alone = train_single(batch=16, lr=0.2, steps=12, n_rows=512, seed=3)
    assert max(float(np.abs(alone[k] - run["weights"][k]).max()) for k in alone) > 1e-3


@pytest.mark.notebooks
@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed next to python")
def test_the_same_script_runs_under_torchrun(tmp_path):
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo"}
    result = subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "labkit.ddp_train",
         "--out", str(tmp_path), *RUN],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    run = read_ddp_run(tmp_path)
    assert [r["world_size"] for r in run["ranks"]] == [2, 2]
    single = train_single(batch=32, lr=0.2, steps=12, n_rows=512, seed=3)
    assert max(float(np.abs(single[k] - run["weights"][k]).max()) for k in single) <= 1e-5
