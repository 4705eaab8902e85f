"""Grading on a Dask distributed cluster: ``labkit grade ... --scheduler ADDRESS``.

Past one machine, the notebooks run on an existing Dask cluster (Dask's own
deployment tools start one on Kubernetes, an HPC batch system or over SSH). Only the
running is sent out; everything else stays in the instructor's process:

* The grader reads each submission (never following links), rebuilds it into the
  template, picks its grading seed with the secret, and sends the cluster one task: the
  rebuilt notebook and that seed. The secret, the other seeds, the submissions folder
  and the output folder never leave this machine. A reference run is a task too (one
  per grading seed needed, ahead of queued submissions).
* A worker runs the task exactly as a local run does (:class:`~.runner.Runner`): the
  same bubblewrap sandbox and the same limits (sent with every task), and the same
  frozen labkit package (the grader's own, or the bundle's), sent once per worker as
  the result of a small task, and put first on the kernel's ``PYTHONPATH``. It returns
  only the runner's report and the plain values each task recorded.
* Verdicts are decided back here, records saved as they come, and the gradebook,
  feedback and class report written here: they are the same, byte for byte, as after a
  local run with the same seed, and a batch started locally resumes on a cluster (and
  the other way round).

Before the first task, every worker is asked how it would isolate a kernel: if any
cannot sandbox while the instructor asked for the sandbox, grading refuses to start
(when none can, it warns, as a local run does).

A worker that dies mid-run (killed, out of memory, its machine gone) loses nothing:
the scheduler runs its task again on another worker, and the runner it had started
dies with it (a parent-death signal; the sandbox dies with the runner). A task that
keeps killing workers (Dask's ``distributed.scheduler.allowed-failures``, 3 by default)
comes back as :class:`RunLost`: the submission gets an ``error`` row saying it was not
graded, is not saved, and is graded again by the next run.

Dask is imported only here, only when a scheduler is given; local grading needs none of
it. Workers need labkit and the course's Python packages (``pip install
"dmls-labkit[tools,cluster]"`` and whatever the labs import) and bubblewrap.
"""

from __future__ import annotations

import io
import json
import os
import queue
import socket
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .bundle import code_hash
from .sandbox import MAX_WORKERS, Limits, Sandbox, probe

__all__ = ["DaskExecution", "RunLost", "pack", "run_on_worker", "unpack", "worker_info"]

#: How long to wait for the scheduler to answer when connecting.
CONNECT_TIMEOUT = "30s"


class RunLost(RuntimeError):
    """A run's result never came back (the workers running it kept dying): the
    submission gets a row saying so, is not saved, and is graded again next time."""


def pack(files: Mapping[str, bytes]) -> bytes:
    """The labkit package files as one zip blob (what a worker receives).

    Examples
    --------
    >>> unpack(pack({"labkit/__init__.py": b"x = 1"}))
    {'labkit/__init__.py': b'x = 1'}
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)),
                             files[name])
    return buffer.getvalue()


def unpack(blob: bytes) -> dict[str, bytes]:
    """The files of a :func:`pack` blob."""
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _blob(data: bytes) -> bytes:
    """A task whose result is the package blob: lost with a worker, Dask recomputes it."""
    return data


# ------------------------------------------------------------------ the worker's side
_BOXES: dict[tuple[bool, tuple[str, ...]], Sandbox] = {}
_BOX_LOCK = threading.Lock()
# Runner slots of this worker process: under root each runs as its own user id.
_SLOTS: queue.Queue[int] = queue.Queue()
for _slot in range(MAX_WORKERS):
    _SLOTS.put(_slot)


def _box(sandbox: bool, protected: tuple[str, ...]) -> Sandbox:
    """This worker's sandbox, probed once per process and setting."""
    with _BOX_LOCK:
        key = (sandbox, protected)
        if key not in _BOXES:
            _BOXES[key] = probe([Path(p) for p in protected], use_bwrap=sandbox)
        return _BOXES[key]


def worker_info(sandbox: bool, protected: list[str]) -> dict[str, Any]:
    """How this worker would isolate a kernel (run on every worker before grading)."""
    from .. import __version__
    from .batch import _grader_hash

    box = _box(sandbox, tuple(protected))
    return {"enabled": box.enabled, "reason": box.reason, "host": socket.gethostname(),
            "pid": os.getpid(), "labkit": __version__, "grader": _grader_hash()}


def run_on_worker(notebook: str, seed: int, tasks: list[str], limits: dict[str, Any],
                  sandbox: bool, protected: list[str], package: bytes) -> dict[str, Any]:
    """One Dask task: run a rebuilt notebook under ``seed`` as a local run would.

    Returns plain data: ``status`` (the runner's report) and ``recorded`` (per task,
    ``[values or None, why]`` as :func:`labkit.grading.verdicts.load_result` reads
    them), and ``worker`` (host and isolation).

    Raises
    ------
    RuntimeError
        When the sandbox was asked for and this worker cannot make one.
    """
    import nbformat

    from .runner import Runner
    from .verdicts import load_result

    box = _box(sandbox, tuple(protected))
    if sandbox and not box.enabled:
        raise RuntimeError(f"worker {socket.gethostname()} cannot sandbox a kernel "
                           f"({box.reason})")
    slot = _SLOTS.get()
    try:
        with Runner(box, Limits(**limits), 1, kernel_lib=unpack(package),
                    slots=[slot]) as runner:
            def collect(status: dict[str, Any], results: Path) -> dict[str, Any]:
                return {"status": status,
                        "recorded": {t: list(load_result(results / f"{t}.json", t))
                                     for t in tasks}}

            found = runner.run(nbformat.reads(notebook, as_version=4), seed, collect)
    finally:
        _SLOTS.put(slot)
    found["worker"] = {"host": socket.gethostname(), "sandbox": box.reason}
    return json.loads(json.dumps(found))  # plain data, as a local run's JSON files


# ------------------------------------------------------------------ the grader's side
class DaskExecution:
    """Runs the batch's notebooks on a Dask cluster (see the module's text).

    Parameters
    ----------
    address : str
        The scheduler (``tcp://host:8786``), or a ``distributed.Client`` or cluster
        object's address.
    limits : Limits
        Sent with every task: each worker applies them.
    sandbox : bool
        Ask for bubblewrap; every worker must provide it.
    protected : list of Path
        Folders no sandbox may expose (checked on each worker, as locally).
    package : dict
        The frozen labkit package the kernels import.
    tasks : list of str
        The lab's task names (the results a run reads back).

    Raises
    ------
    RuntimeError
        When ``dask[distributed]`` is missing, the scheduler does not answer or has no
        workers, or some workers can sandbox and others cannot.
    """

    def __init__(self, address: str, limits: Limits, sandbox: bool,
                 protected: list[Path], package: Mapping[str, bytes],
                 tasks: list[str]) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise RuntimeError("--scheduler needs Dask: pip install 'dask[distributed]' "
                               "(or the course's extra: pip install "
                               "'dmls-labkit[tools,cluster]')") from None
        self.address, self.tasks, self.sandbox = str(address), tasks, sandbox
        self.limits = asdict(limits)
        self.protected = [str(Path(p).resolve()) for p in protected]
        try:
            self.client = Client(self.address, set_as_default=False,
                                 timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise RuntimeError(f"cannot reach the Dask scheduler at {self.address}: "
                               f"{exc}") from None
        self._futures: set[Any] = set()
        self._lock = threading.Lock()
        try:
            self._check_workers()
            blob = pack(package)
            # A task's result, not scattered data: if every worker holding it dies,
            # the scheduler computes it again.
            self.package = self.client.submit(_blob, blob, pure=False, priority=100,
                                              key=f"labkit-package-{code_hash(package)[:16]}"
                                                  f"-{os.getpid()}-{id(self)}")
        except BaseException:
            self.client.close()
            raise

    def _check_workers(self) -> None:
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        if not workers:
            raise RuntimeError(f"the Dask scheduler at {self.address} has no workers")
        self.threads = sum(int(w.get("nthreads", 1)) for w in workers.values())
        infos = self.client.run(worker_info, self.sandbox, self.protected)
        self.workers = infos
        enabled = {addr: info["enabled"] for addr, info in infos.items()}
        if self.sandbox and any(enabled.values()) and not all(enabled.values()):
            missing = ", ".join(f"{a} ({infos[a]['reason']})" for a, ok in enabled.items()
                                if not ok)
            raise RuntimeError("some Dask workers cannot sandbox a kernel while others can: "
                               f"{missing}. Install bubblewrap there, or grade with "
                               "--no-sandbox (not for real grading).")
        self.enabled = all(enabled.values())
        # As a local run words it (the class report must not tell the two apart).
        self.reason = "; ".join(sorted({info["reason"] for info in infos.values()}))
        from .batch import _grader_hash

        mine = _grader_hash()
        self.warnings = [f"Dask worker {a} runs other labkit grading code (labkit "
                         f"{i['labkit']}) than this machine" for a, i in infos.items()
                         if i["grader"] != mine]
        #: Submissions in flight at once: every worker thread busy, and one queued each.
        self.concurrency = max(2, 2 * self.threads)

    def __enter__(self) -> DaskExecution:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> None:
        if kind is not None:
            self.abort()
        self.client.close()

    def describe(self) -> dict[str, Any]:
        """What ``log.json`` records of the cluster."""
        return {"address": self.address, "workers": len(self.workers),
                "threads": self.threads,
                "hosts": sorted({info["host"] for info in self.workers.values()}),
                "warnings": self.warnings}

    def abort(self) -> None:
        """Cancel every queued task (runs already started end at their time limit)."""
        with self._lock:
            futures = list(self._futures)
        if futures:
            self.client.cancel(futures)

    def run(self, notebook: Any, seed: int, *, reference: bool = False
            ) -> tuple[dict[str, Any], dict[str, tuple[Any, str]]]:
        """Run one notebook on the cluster; return the runner's report and each task's
        recorded result, as a local run does.

        Raises
        ------
        RunLost
            When the workers running it died too many times (``KilledWorker``).
        """
        import nbformat
        from distributed import KilledWorker

        future = self.client.submit(run_on_worker, nbformat.writes(notebook), seed,
                                    self.tasks, self.limits, self.sandbox, self.protected,
                                    self.package, pure=False, priority=10 if reference else 0)
        with self._lock:
            self._futures.add(future)
        try:
            found = future.result()
        except KilledWorker as exc:
            raise RunLost(f"the Dask workers running it died while it ran ({exc})") from None
        finally:
            with self._lock:
                self._futures.discard(future)
        recorded = {task: (value[0], value[1]) for task, value in found["recorded"].items()}
        return found["status"], recorded
