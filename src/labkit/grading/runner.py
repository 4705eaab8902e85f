"""Run rebuilt notebooks, one runner process per notebook, each in its own job folder.

:class:`Runner` is a context manager: it makes a private temp folder on entry and
removes it on exit, and if the ``with`` block is left by an exception (Ctrl-C, a grader
bug, a reference solution that fails), it first kills every run still going, so that
nothing a submission started outlives grading.

Each run gets a job folder with the kernel's socket folder and results folder (the
only ones mounted into the sandbox) and, outside the sandbox's view, the job file (which
names the grading seed), the runner's log, its events file and its status file. The job
folder, results included, is deleted before :meth:`Runner.run` returns.

The kernel imports labkit from a frozen copy of the package (``kernel_lib``: the
grader's own labkit read when grading started, or the one in an assignment bundle),
written once per runner into its temp folder, put first on the kernel's ``PYTHONPATH``
and mounted read-only into the sandbox. So the checks that record results are the same
code for the reference and for every submission, whatever changes on disk meanwhile.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ..contract import RESULTS_ENV
from .bundle import write_package
from .execute import cell_states, code_cell_ids, read_events
from .sandbox import Limits, Sandbox, count_tasks
from .status import Outcome

__all__ = ["Runner"]

#: Longest temp folder path that leaves room for ``/job-NNNNN/ipc/kernel-PORT``.
_MAX_TEMP_PATH = 80
_T = TypeVar("_T")


class Runner:
    """Runs notebooks under the sandbox and limits, at most ``workers`` at a time.

    Examples
    --------
    >>> from labkit.grading.sandbox import probe
    >>> with Runner(probe([], use_bwrap=False), Limits(), workers=1) as runner:
    ...     temp = runner.temp
    ...     temp.is_dir()
    True
    >>> temp.exists()
    False
    """

    def __init__(self, sandbox: Sandbox, limits: Limits, workers: int, *,
                 kernel_lib: Mapping[str, bytes] | None = None,
                 slots: Iterable[int] | None = None) -> None:
        self.sandbox, self.limits = sandbox, limits
        self.slots: queue.Queue[int] = queue.Queue()
        for slot in (range(workers) if slots is None else slots):
            self.slots.put(slot)
        self.kernel_lib = kernel_lib
        #: The folder holding the frozen ``labkit`` package (None: the installed one).
        self.lib: Path | None = None
        self.counter = 0
        self.lock = threading.Lock()
        self.active: dict[int, subprocess.Popen[bytes]] = {}
        self.aborted = False
        self.temp: Path = Path()

    def __enter__(self) -> Runner:
        self.temp = Path(tempfile.mkdtemp(prefix="labkit-grade-"))
        if len(str(self.temp)) > _MAX_TEMP_PATH:
            # Kernel sockets live in here, and a Unix socket path holds at most 107 bytes.
            os.rmdir(self.temp)
            self.temp = Path(tempfile.mkdtemp(prefix="labkit-grade-", dir="/tmp"))
        os.chmod(self.temp, 0o711)  # sandboxed kernels walk through it to their folders
        if self.kernel_lib is not None:
            try:
                self.lib = write_package(self.kernel_lib, self.temp / "lib")
            except BaseException:
                remove_tree(self.temp)
                raise
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> None:
        if kind is not None:
            self.abort()
        remove_tree(self.temp)

    def abort(self) -> None:
        """Kill every running notebook (grading was interrupted); later runs refuse."""
        with self.lock:
            self.aborted = True
            for pid in list(self.active):
                _kill_group(pid)

    def run(self, notebook: Any, seed: int,
            collect: Callable[[dict[str, Any], Path], _T]) -> _T:
        """Execute ``notebook`` with ``SEED = seed``; return ``collect(status, results)``.

        ``status`` is the runner's report (see :func:`labkit.grading.execute.run`), plus
        ``seconds``; ``results`` the folder the kernel recorded its results in, which
        exists only while ``collect`` runs: no later kernel (without a sandbox, kernels
        can see the temp folder) finds it.

        Raises
        ------
        KeyboardInterrupt
            When :meth:`abort` was called: a killed run is no result and must not be kept.
        """
        import nbformat

        slot = self.slots.get()
        with self.lock:
            self.counter += 1
            job_dir = self.temp / f"job-{self.counter:05d}"
        try:
            status, results = self._run(notebook, seed, job_dir, slot, nbformat)
            if self.aborted:
                raise KeyboardInterrupt("grading was interrupted")
            return collect(status, results)
        finally:
            remove_tree(job_dir)
            self.slots.put(slot)

    def _run(self, notebook: Any, seed: int, job_dir: Path, slot: int,
             nbformat: Any) -> tuple[dict[str, Any], Path]:
        ipc, results = job_dir / "ipc", job_dir / "results"
        for folder in (ipc, results):
            folder.mkdir(parents=True)
        owner = self.sandbox.owner(slot)
        if owner is not None:
            for folder in (ipc, results):
                os.chown(folder, owner, owner)
        if self.sandbox.enabled:
            workdir = "/tmp/work"
        else:
            workdir = str(job_dir / "work")
            os.makedirs(workdir)
        env = {"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin", "HOME": workdir,
               "TMPDIR": "/tmp" if self.sandbox.enabled else workdir,
               RESULTS_ENV: str(results), "MPLBACKEND": "Agg",
               "MPLCONFIGDIR": workdir, "IPYTHONDIR": os.path.join(workdir, ".ipython"),
               "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8",
               # one thread per kernel: parallel workers stay fair and results repeatable
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        shown = []
        if self.lib is not None:
            env["PYTHONPATH"] = str(self.lib)  # first: the frozen labkit, not the installed
            shown.append(self.lib)
        prefix = self.sandbox.prefix(self.limits, env, [ipc, results], workdir, slot,
                                     readonly=shown)
        input_nb = job_dir / "input.ipynb"
        nbformat.write(notebook, str(input_nb))
        job = {"input": str(input_nb), "output": str(job_dir / "output.ipynb"),
               "status": str(job_dir / "status.json"), "events": str(job_dir / "events.jsonl"),
               "parameters": {"SEED": seed}, "cell_timeout": self.limits.cell_timeout,
               "start_timeout": min(60.0, self.limits.submission_timeout),
               "max_output_bytes": int(self.limits.output_mb * 2**20),
               "launch_prefix": prefix, "ipc_dir": str(ipc), "owner_uid": owner,
               "parent_pid": os.getpid()}
        # Readable by the grader only: it names the grading seed.
        fd = os.open(job_dir / "job.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(job, handle)
        runner_env = {k: v for k, v in os.environ.items() if not k.startswith("LABKIT_")}
        runner_env.update({"JUPYTER_RUNTIME_DIR": str(job_dir / "runtime"),
                           "JUPYTER_PLATFORM_DIRS": "1", "PYTHONDONTWRITEBYTECODE": "1"})
        started = time.monotonic()
        with open(job_dir / "runner.log", "wb") as log, self.lock:
            if self.aborted:
                raise KeyboardInterrupt("grading was interrupted")
            proc = subprocess.Popen(
                [sys.executable, "-m", "labkit.grading.execute", str(job_dir / "job.json")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=job_dir, env=runner_env, start_new_session=True)
            self.active[proc.pid] = proc
        try:
            try:
                proc.wait(timeout=self.limits.submission_timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            crowded = timed_out and owner is not None and \
                count_tasks(owner) >= 0.9 * self.limits.processes
            # The runner's group holds the sandbox (bubblewrap dies with its parent and
            # takes its whole process namespace along); this also reaps a runner that
            # exited but left something in its group.
            _kill_group(proc.pid)
            proc.wait()
        finally:
            with self.lock:
                self.active.pop(proc.pid, None)
        if not self.sandbox.enabled:
            # Only here: a sandboxed kernel could plant this file to have root kill
            # something else; an unsandboxed one runs as the instructor anyway.
            _kill_group_file(job_dir / "ipc" / "kernel.pgid")
        seconds = time.monotonic() - started
        status_path = Path(job["status"])
        if timed_out:
            # The runner never wrote its status; its events say what ran until then.
            cells = cell_states(code_cell_ids(notebook), read_events(Path(job["events"])),
                                killed=True)
            status = {"outcome": Outcome.KILLED if crowded else Outcome.TIMEOUT,
                      "cells": cells,
                      "message": ("the process limit was reached (a fork bomb?) and the "
                                  "submission ran past its time limit" if crowded else
                                  "the submission ran past its time limit "
                                  f"({self.limits.submission_timeout:g} s)")}
        elif status_path.is_file():
            status = json.loads(status_path.read_text(encoding="utf-8"))
        else:
            cells = cell_states(code_cell_ids(notebook), read_events(Path(job["events"])))
            status = {"outcome": Outcome.KERNEL_DIED, "cells": cells,
                      "message": f"the runner failed (exit code {proc.returncode})"}
        status["seconds"] = round(seconds, 3)
        return status, results


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group_file(path: Path) -> None:
    """Kill the process group a limits-only kernel recorded (it has its own session)."""
    try:
        pgid = int(path.read_text())
    except (OSError, ValueError):
        return
    if pgid > 1:
        _kill_group(pgid)


def remove_tree(path: Path) -> None:
    """Delete a job folder however deep a submission nested it.

    ``shutil.rmtree`` recurses on Python 3.11, so a submission that makes thousands of
    nested folders would raise ``RecursionError`` in the grader; ``rm -rf`` walks
    iteratively.
    """
    rm = shutil.which("rm")
    if rm is not None:
        subprocess.run([rm, "-rf", "--", str(path)], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if path.exists():
        try:
            shutil.rmtree(path, ignore_errors=True)
        except RecursionError:
            pass
