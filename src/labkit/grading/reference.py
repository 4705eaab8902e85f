"""The reference solution's results, one run per grading seed, cached in the state folder.

Submissions are graded under a pool of seeds (:mod:`labkit.grading.seeds`); each
needs the reference's results under its own seed. :class:`References` runs the
reference solution the first time a seed is needed (lazily: a pool seed that no
submission lands on costs nothing), once however many workers ask at the same moment,
and keeps the results in the state folder, so a re-run of the same batch never runs it
again.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .rebuild import rebuild
from .seeds import SeedPool
from .status import CellState, Outcome

#: Runs a notebook under a seed and returns ``(status, recorded)``: the runner's report
#: and, per task, ``(result, why)`` as :func:`labkit.grading.verdicts.load_result` gives
#: them. ``reference=True`` asks for it ahead of queued submissions (on a cluster).
Execute = Callable[..., tuple[dict[str, Any], dict[str, tuple[Any, str]]]]

__all__ = ["ReferenceFailed", "References"]


class ReferenceFailed(RuntimeError):
    """The reference solution does not run cleanly under a grading seed: grading stops."""


class References:
    """Reference results per pool seed, computed on first use and cached on disk.

    Parameters
    ----------
    execute : callable
        Runs the reference like any submission (same sandbox, limits and frozen
        labkit): ``execute(notebook, seed, reference=True) -> (status, recorded)``, on
        this machine or on a Dask cluster.
    template, solution : nbformat.NotebookNode
        The student lab and the reference solution.
    tasks : dict
        The lab's tasks (:func:`labkit.grading.rebuild.tasks_of`).
    pool : SeedPool
        The grading seeds.
    folder : Path
        The private state folder; results go to ``reference-<key>-<index>.json``.
    key : str
        Hash of everything the results depend on (lab, limits, labkit, secret).
    """

    def __init__(self, execute: Execute, template: Any, solution: Any,
                 tasks: dict[str, dict[str, Any]], pool: SeedPool, folder: Path,
                 key: str) -> None:
        self.execute, self.tasks, self.pool = execute, tasks, pool
        self.notebook = rebuild(template, solution).notebook
        self.folder, self.key = folder, key
        self._locks = [threading.Lock() for _ in pool.seeds]
        self._cache: dict[int, dict[str, Any]] = {}
        self._failed: dict[int, ReferenceFailed] = {}
        #: Reference runs made by this object, and their seconds.
        self.runs, self.seconds = 0, 0.0

    def path(self, index: int) -> Path:
        """Where the results under pool seed ``index`` are cached."""
        return self.folder / f"reference-{self.key}-{index}.json"

    def get(self, index: int) -> dict[str, Any]:
        """The reference's results under pool seed ``index``: ``{"tasks", "seconds"}``.

        Raises
        ------
        ReferenceFailed
            When the reference does not run cleanly under that seed (every later call
            for the same seed raises it again, without another run).
        """
        with self._locks[index]:
            if index in self._cache:
                return self._cache[index]
            if index in self._failed:
                raise self._failed[index]
            path = self.path(index)
            if path.is_file():
                self._cache[index] = json.loads(path.read_text(encoding="utf-8"))
                return self._cache[index]
            try:
                found = self._run(index)
            except ReferenceFailed as exc:
                self._failed[index] = exc
                raise
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(found), encoding="utf-8")
            os.replace(tmp, path)
            self._cache[index] = found
            return found

    def _run(self, index: int) -> dict[str, Any]:
        seed = self.pool.seeds[index]
        began = time.monotonic()
        status, recorded = self.execute(self.notebook, seed, reference=True)
        found = {task: result for task, (result, _) in recorded.items()
                 if task in self.tasks and result is not None}
        self.runs += 1
        self.seconds += time.monotonic() - began
        missing = [t for t in self.tasks if t not in found]
        if missing or status["outcome"] != Outcome.COMPLETED:
            failing = [f"{c['id']}: {c['ename'] or c['state']}: {c['evalue'][:200]}"
                       for c in status["cells"] if c["state"] != CellState.OK]
            raise ReferenceFailed(
                f"The reference solution did not grade cleanly under grading seed {seed} "
                f"(seed {index + 1} of the pool of {self.pool.size} drawn from the grading "
                f"secret): run {status['outcome']} {status.get('message', '')}; tasks "
                f"without a recorded result: {', '.join(missing) or 'none'}; cells that "
                f"failed: {'; '.join(failing) or 'none'}. Fix the solution (it must run "
                "under any SEED and record every task), or grade with another --seed. "
                f"To reproduce: papermill <solution> out.ipynb -p SEED {seed}")
        return {"tasks": found, "seconds": status["seconds"], "seed": seed}
