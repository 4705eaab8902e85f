"""Run one rebuilt notebook with papermill: ``python -m labkit.grading.execute JOB.json``.

The grader starts this runner as its own process for every submission (and for the
reference solution). The runner is trusted code: it drives the kernel through papermill
and nbclient, but the kernel itself is started through the sandbox's launch prefix, so
student code never runs in this process. It never looks at results; verdicts are the
grader's business.

While the notebook runs, the runner appends one line per event to the job's *events*
file (a cell started, its execute reply came, it ran past the per-cell time limit), in a
folder the kernel cannot see. At the end it writes ``status.json``: which cells ran,
failed, timed out or never ran, and how the run ended. When the grader has to kill the
runner (the submission's time limit), the events file still says what happened up to
then: :func:`cell_states` reads the same events either way.

Execution continues after a failing cell (``allow_errors``), and a cell that runs past
its timeout is interrupted (``interrupt_on_timeout``), so a broken task costs only the
tasks that depend on it. A timeout is recorded by nbclient's own timeout handler, the
moment the limit passes, whatever the kernel then does with the interrupt: honour it,
catch ``KeyboardInterrupt`` and go on, or ignore ``SIGINT`` until the grader kills it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .rebuild import END_CELL_ID
from .status import CellState, Outcome

_TRUNCATED = "\n[labkit grade: output limit reached; further output of this notebook dropped]\n"
#: Longest error message kept per cell.
_MAX_EVALUE = 2000
#: Largest events file the grader reads back (the runner writes a few KiB).
MAX_EVENTS_BYTES = 8 * 2**20


class Events:
    """The runner's append-only log of cell events: one JSON object per line.

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> log = Events(os.path.join(tmp.name, "events.jsonl"))
    >>> log.write("a", "start"); log.write("a", "timeout"); log.close()
    >>> [e["event"] for e in read_events(Path(tmp.name) / "events.jsonl")]
    ['start', 'timeout']
    >>> tmp.cleanup()
    """

    def __init__(self, path: str | None) -> None:
        self.fd = None if path is None else os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)

    def write(self, cell_id: Any, event: str, **fields: str) -> None:
        """Append one event (one ``write``, so a killed runner leaves whole lines)."""
        if self.fd is not None:
            line = json.dumps({"cell": str(cell_id), "event": event, **fields})
            os.write(self.fd, line.encode("utf-8", "replace") + b"\n")

    def close(self) -> None:
        """Close the file."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def read_events(path: Path) -> list[dict[str, Any]]:
    """The events in a runner's events file (none when it is missing); a torn last
    line is dropped."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return []
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_EVENTS_BYTES)
    events = []
    for line in data.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("cell"), str):
            events.append(event)
    return events


def cell_states(cell_ids: Iterable[str], events: Iterable[dict[str, Any]], *,
                killed: bool = False) -> list[dict[str, Any]]:
    """What happened to each code cell, from the runner's events.

    Parameters
    ----------
    cell_ids : iterable of str
        The notebook's code cells, in order.
    events : iterable of dict
        ``{"cell", "event"}`` records: ``start``, ``reply`` (with ``status``, ``ename``,
        ``evalue``), ``done``, ``timeout``.
    killed : bool
        The grader stopped the run at the submission time limit: a cell that started
        and never finished ran out of time (otherwise its kernel died).

    Returns
    -------
    list of dict
        Per cell: ``id``, ``state`` (a :class:`CellState`), ``ename``, ``evalue`` and, for
        a ``timeout``, the ``limit`` it ran past (``cell`` or ``submission``). A cell
        that ran past the per-cell limit is ``timeout`` whatever happened next: its
        kernel may have swallowed the interrupt and finished "ok".

    Examples
    --------
    >>> events = [{"cell": "a", "event": "start"},
    ...           {"cell": "a", "event": "reply", "status": "ok"},
    ...           {"cell": "b", "event": "start"}, {"cell": "b", "event": "timeout"},
    ...           {"cell": "b", "event": "reply", "status": "ok"},
    ...           {"cell": "c", "event": "start"}]
    >>> [(c["id"], str(c["state"])) for c in cell_states("abcd", events)]
    [('a', 'ok'), ('b', 'timeout'), ('c', 'died'), ('d', 'not-run')]
    >>> [(c["state"], c["limit"]) for c in cell_states("bc", events, killed=True)]
    [(<CellState.TIMEOUT: 'timeout'>, 'cell'), (<CellState.TIMEOUT: 'timeout'>, 'submission')]
    """
    started, done, timed_out = set(), set(), set()
    replies: dict[str, dict[str, Any]] = {}
    for event in events:
        cell, kind = event.get("cell"), event.get("event")
        if kind == "start":
            started.add(cell)
        elif kind == "done":
            done.add(cell)
        elif kind == "timeout":
            timed_out.add(cell)
        elif kind == "reply":
            replies[cell] = event
    states = []
    for cell_id in cell_ids:
        reply = replies.get(cell_id)
        ename = evalue = limit = ""
        if reply is not None:
            state = CellState.ERROR if reply.get("status") == "error" else CellState.OK
            if state == CellState.ERROR:
                ename, evalue = str(reply.get("ename", "")), str(reply.get("evalue", ""))
        elif cell_id in done:
            state = CellState.OK  # nothing to run (an empty cell)
        elif cell_id in started:
            state = CellState.TIMEOUT if killed else CellState.DIED
            limit = "submission" if killed else ""
        else:
            state = CellState.NOT_RUN
        if cell_id in timed_out:
            state, limit = CellState.TIMEOUT, "cell"
        states.append({"id": cell_id, "state": state, "ename": ename,
                       "evalue": evalue[:_MAX_EVALUE], "limit": limit})
    return states


def _engine_classes(max_output_bytes: int, events: Events) -> tuple[Any, Any]:
    """A papermill engine whose client caps output while it streams in and logs each
    cell's start, reply and timeout to ``events``."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    class CappedClient(PapermillNotebookClient):
        output_bytes = 0
        truncated = False

        @staticmethod
        def record_reply(cell, cell_index, execute_reply):  # noqa: D102 (nbclient hook)
            # The execute reply says 'error' even when student code hides its traceback
            # output; ids, because papermill inserts error-marker cells when it saves.
            content = (execute_reply or {}).get("content", {})
            events.write(cell.get("id"), "reply", status=str(content.get("status", "")),
                         ename=str(content.get("ename", "")),
                         evalue=str(content.get("evalue", ""))[:_MAX_EVALUE])

        def execute_cell(self, cell, cell_index, *args, **kwargs):  # noqa: D102
            events.write(cell.get("id"), "start")
            result = super().execute_cell(cell, cell_index, *args, **kwargs)
            events.write(cell.get("id"), "done")
            return result

        async def _async_handle_timeout(self, timeout, cell=None):  # noqa: D102 (nbclient)
            # Called when a cell's execute reply has not come within the cell time limit;
            # nbclient then interrupts the kernel. Recorded first, so that it counts
            # however the kernel reacts, or if it never answers again.
            if cell is not None:
                events.write(cell.get("id"), "timeout")
            return await super()._async_handle_timeout(timeout, cell)

        def _over_cap(self, content) -> bool:
            """Count a message against the output budget; True when it must be dropped."""
            size = len(content.get("text", "")) + sum(
                len(v) if isinstance(v, str) else len(json.dumps(v))
                for v in content.get("data", {}).values())
            size += len(content.get("evalue", ""))
            size += sum(len(line) for line in content.get("traceback", []))
            if self.output_bytes + size > max_output_bytes:
                type(self).truncated = True
                return True
            self.output_bytes += size
            return False

        def output(self, outs, msg, display_id, cell_index):  # noqa: D102 (nbclient hook)
            content = msg.get("content", {})
            if msg.get("msg_type") == "error":
                # Verdicts read errors from the execute reply, so the output may be cut.
                content["evalue"] = str(content.get("evalue", ""))[:_MAX_EVALUE]
                content["traceback"] = [str(line)[:_MAX_EVALUE]
                                        for line in content.get("traceback", [])[-30:]]
            if self._over_cap(content):
                if not any(o.get("text") == _TRUNCATED for o in outs):
                    from nbformat.v4 import new_output

                    outs.append(new_output("stream", name="stderr", text=_TRUNCATED))
                return None
            return super().output(outs, msg, display_id, cell_index)

        def _update_display_id(self, display_id, msg):  # noqa: D102 (nbclient hook)
            # Updates replace earlier outputs in place, outside output(): cap them too.
            if self._over_cap(msg.get("content", {})):
                return None
            return super()._update_display_id(display_id, msg)

    class CappedEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False,
                                     stdout_file=None, stderr_file=None, start_timeout=60,
                                     execution_timeout=None, **kwargs):
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(kwargs, timeout=execution_timeout,
                                 startup_timeout=start_timeout, kernel_name=kernel_name,
                                 log=logger, log_output=log_output,
                                 on_cell_executed=CappedClient.record_reply)
            return CappedClient(nb_man, **final).execute()

    return CappedEngine, CappedClient


def _kernel_manager_class(job: dict[str, Any]) -> Any:
    """An async kernel manager that starts the kernel through the sandbox prefix."""
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpec

    prefix = list(job["launch_prefix"])
    owner = job.get("owner_uid")
    ipc_dir = job["ipc_dir"]

    class SandboxedKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # Unix sockets in a folder shared with the sandbox: the kernel has no network.
            self.transport = "ipc"
            self.ip = os.path.join(ipc_dir, "kernel")
            self.connection_file = os.path.join(ipc_dir, "kernel.json")

        @property
        def kernel_spec(self):  # noqa: D102 (never the notebook's or the machine's spec)
            # Interrupts go through the control channel: a signal to the sandbox's
            # launcher would not reach the kernel inside its own process namespace.
            return KernelSpec(argv=[], display_name="labkit grading", language="python",
                              interrupt_mode="message")

        def format_kernel_cmd(self, extra_arguments=None):  # noqa: D102
            return [*prefix, sys.executable, "-m", "ipykernel_launcher", "-f",
                    self.connection_file, "--HistoryManager.enabled=False",
                    "--IPKernelApp.parent_handle=0"]

        def write_connection_file(self, **kwargs):  # noqa: D102
            result = super().write_connection_file(**kwargs)
            if owner is not None:  # the kernel runs as an unprivileged user
                os.chown(self.connection_file, owner, owner)
            return result

    return SandboxedKernelManager


def code_cell_ids(notebook: Any) -> list[str]:
    """Ids of a notebook's code cells, in order."""
    return [str(c.get("id")) for c in notebook.cells if c.get("cell_type") == "code"]


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Execute the notebook described by ``job`` and return the run's status.

    Parameters
    ----------
    job : dict
        Plain data written by the grader: ``input``, ``output`` (notebook paths),
        ``events`` (the events file to create), ``parameters``, ``cell_timeout``,
        ``start_timeout``, ``max_output_bytes``, ``launch_prefix``, ``ipc_dir``,
        ``owner_uid``.

    Returns
    -------
    dict
        ``outcome`` (an :class:`Outcome`: ``completed``, ``stopped`` when the end cell
        never ran, ``kernel-died``, ``start-failed``), ``message``, ``cells`` (see
        :func:`cell_states`), ``output_truncated`` and ``seconds``. The grader's own
        tests run it on the fixture lab (``tests/test_grading_hostile.py``).
    """
    import nbformat
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.engines import papermill_engines
    from papermill.exceptions import PapermillExecutionError

    events = Events(job.get("events"))
    engine, client = _engine_classes(int(job["max_output_bytes"]), events)
    papermill_engines.register("labkit-grade", engine)
    km_class = _kernel_manager_class(job)
    started = time.monotonic()
    outcome, message = Outcome.COMPLETED, ""
    try:
        papermill.execute_notebook(
            job["input"], job["output"], parameters=job["parameters"],
            engine_name="labkit-grade", kernel_name="python3", language="python",
            progress_bar=False, start_timeout=job["start_timeout"],
            execution_timeout=job["cell_timeout"], allow_errors=True,
            interrupt_on_timeout=True, kernel_manager_class=km_class,
            shutdown_kernel="immediate")
    except PapermillExecutionError:
        pass  # cells raised; allow_errors let the rest run, and the cells say which
    except DeadKernelError as exc:
        outcome, message = Outcome.KERNEL_DIED, f"the kernel stopped: {exc}"
    except RuntimeError as exc:
        outcome = Outcome.START_FAILED if "start" in str(exc).lower() else Outcome.KERNEL_DIED
        message = str(exc)
    except Exception as exc:  # noqa: BLE001 (any other failure is this run's outcome)
        outcome, message = Outcome.KERNEL_DIED, f"{type(exc).__name__}: {exc}"
    finally:
        events.close()
    seconds = time.monotonic() - started
    ids = code_cell_ids(nbformat.read(job["input"], as_version=4))
    cells = cell_states(ids, read_events(Path(job["events"])) if job.get("events") else [])
    if outcome == Outcome.COMPLETED and not any(
            c["id"] == END_CELL_ID and c["state"] == CellState.OK for c in cells):
        outcome, message = Outcome.STOPPED, "the notebook stopped before its last cell"
    return {"outcome": outcome, "message": message, "cells": cells,
            "output_truncated": bool(client.truncated), "seconds": round(seconds, 3)}


def _die_with_parent(parent: Any) -> None:
    """Be killed when the grader that started this runner dies (Linux).

    The runner has a session of its own, so that the grader can kill its whole group;
    without this, a grader killed with SIGKILL (a Dask worker lost mid-run) would leave
    it running the notebook with no one to enforce the submission's time limit. Its
    kernel follows: bubblewrap's ``--die-with-parent``, or the limits launcher's own
    parent-death signal.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if isinstance(parent, int) and os.getppid() != parent:
        os._exit(1)  # the grader died before the signal was armed


def main(argv: list[str]) -> int:
    """Entry point: read the job file, run it, write its ``status`` file."""
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    _die_with_parent(job.get("parent_pid"))
    import logging

    logging.getLogger("papermill").setLevel(logging.CRITICAL)
    status = run(job)
    tmp = Path(job["status"]).with_suffix(".tmp")
    tmp.write_text(json.dumps(status), encoding="utf-8")
    os.replace(tmp, job["status"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
