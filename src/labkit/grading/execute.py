"""Run one rebuilt notebook with papermill: ``python -m labkit.grading.execute JOB.json``.

The grader starts this runner as its own process for every submission (and for the
reference solution). The runner is trusted code: it drives the kernel through papermill
and nbclient, but the kernel itself is started through the sandbox's launch prefix, so
student code never runs in this process. The runner writes ``status.json``: which cells
ran, failed, timed out or never ran, and how the run ended. It never looks at results;
verdicts are the grader's business.

Execution continues after a failing cell (``allow_errors``), and a cell that runs past
its timeout is interrupted (``interrupt_on_timeout``), so a broken task costs only the
tasks that depend on it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from .rebuild import END_CELL_ID

_TRUNCATED = "\n[labkit grade: output limit reached; further output of this notebook dropped]\n"


def _engine_classes(max_output_bytes: int) -> tuple[Any, Any]:
    """A papermill engine whose client caps output while it streams in."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    class CappedClient(PapermillNotebookClient):
        output_bytes = 0
        truncated = False
        #: Ids of cells whose execute reply arrived (a cell that killed its kernel never
        #: gets one, whatever papermill's metadata says); ids, because papermill inserts
        #: error-marker cells into the notebook it saves.
        finished: set[str] = set()
        started: set[str] = set()
        #: Cell id -> status, ename and evalue of the kernel's execute reply: an error is
        #: seen even when the student's code hides its traceback output.
        replies: dict[str, dict[str, str]] = {}

        @staticmethod
        def record_reply(cell, cell_index, execute_reply):  # noqa: D102 (nbclient hook)
            content = (execute_reply or {}).get("content", {})
            CappedClient.replies[cell.get("id")] = {
                "status": str(content.get("status", "")), "ename": str(content.get(
                    "ename", "")), "evalue": str(content.get("evalue", ""))[:2000]}

        def execute_cell(self, cell, cell_index, *args, **kwargs):  # noqa: D102
            type(self).started.add(cell.get("id"))
            result = super().execute_cell(cell, cell_index, *args, **kwargs)
            type(self).finished.add(cell.get("id"))
            return result

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
                content["evalue"] = str(content.get("evalue", ""))[:2000]
                content["traceback"] = [str(line)[:2000]
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


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Execute the notebook described by ``job`` and return the run's status.

    Parameters
    ----------
    job : dict
        Plain data written by the grader: ``input``, ``output`` (notebook paths),
        ``parameters``, ``cell_timeout``, ``start_timeout``, ``max_output_bytes``,
        ``launch_prefix``, ``ipc_dir``, ``owner_uid``.

    Returns
    -------
    dict
        ``outcome`` (``completed``, ``stopped`` when the end cell never ran,
        ``kernel-died``, ``start-failed``), ``message``, ``cells`` (per code cell:
        ``id``, ``state`` in ``ok``/``error``/``timeout``/``died``/``not-run``, ``ename``,
        ``evalue``), ``output_truncated`` and ``seconds``.

    Examples
    --------
    The grader writes the job file; by hand (needs a kernel, so not run here):

    >>> status = run(json.loads(Path("job.json").read_text()))  # doctest: +SKIP
    >>> status["outcome"]  # doctest: +SKIP
    'completed'
    """
    import nbformat
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.engines import papermill_engines
    from papermill.exceptions import PapermillExecutionError

    engine, client = _engine_classes(int(job["max_output_bytes"]))
    papermill_engines.register("labkit-grade", engine)
    km_class = _kernel_manager_class(job)
    started = time.monotonic()
    outcome, message = "completed", ""
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
        outcome, message = "kernel-died", f"the kernel stopped: {exc}"
    except RuntimeError as exc:
        outcome = "start-failed" if "start" in str(exc).lower() else "kernel-died"
        message = str(exc)
    except Exception as exc:  # noqa: BLE001 (any other failure is this run's outcome)
        outcome, message = "kernel-died", f"{type(exc).__name__}: {exc}"
    seconds = time.monotonic() - started
    cells = _cell_states(job, nbformat, client)
    if outcome == "completed" and not any(c["id"] == END_CELL_ID and c["state"] == "ok"
                                          for c in cells):
        outcome, message = "stopped", "the notebook stopped before its last cell"
    return {"outcome": outcome, "message": message, "cells": cells,
            "output_truncated": bool(client.truncated), "seconds": round(seconds, 3)}


def _cell_states(job: dict[str, Any], nbformat: Any, client: Any) -> list[dict[str, Any]]:
    """What happened to each code cell: from the kernel's replies where one came, else
    from the executed notebook papermill saved."""
    path = Path(job["output"]) if Path(job["output"]).exists() else Path(job["input"])
    nb = nbformat.read(path, as_version=4)
    states = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        key = cell.get("id")
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        reply = client.replies.get(key, {})
        state = "ok" if key in client.finished else "not-run"
        if key in client.started and key not in client.finished:
            state = "died"  # started, and the kernel never answered
        ename = evalue = ""
        if reply.get("status") == "error" or errors:
            ename = reply.get("ename") or (errors[-1].get("ename", "") if errors else "")
            evalue = reply.get("evalue") or (errors[-1].get("evalue", "") if errors else "")
            state = "error"
            duration = cell.metadata.get("papermill", {}).get("duration") or 0
            if ename == "KeyboardInterrupt" and duration >= job["cell_timeout"] * 0.95:
                state = "timeout"
        states.append({"id": key, "state": state, "ename": ename,
                       "evalue": str(evalue)[:2000]})
    return states


def main(argv: list[str]) -> int:
    """Entry point: read the job file, run it, write its ``status`` file."""
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    import logging

    logging.getLogger("papermill").setLevel(logging.CRITICAL)
    status = run(job)
    tmp = Path(job["status"]).with_suffix(".tmp")
    tmp.write_text(json.dumps(status), encoding="utf-8")
    os.replace(tmp, job["status"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
