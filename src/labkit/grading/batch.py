"""Grade a folder of submissions of one lab: the engine behind ``labkit grade``."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .rebuild import InvalidSubmission, read_notebook, rebuild, tasks_of
from .report import feedback_name, write_feedback, write_gradebook, write_log
from .sandbox import MAX_WORKERS, Limits, Sandbox, count_tasks, probe
from .verdicts import Verdict, decide

__all__ = ["GradingSummary", "Submission", "find_submissions", "grade", "resolve_lab"]

#: Private folder inside the output folder: reference results and one record per
#: submission, so that a re-run resumes. Never mounted into a sandbox.
STATE_DIR = ".labkit-grade"
#: Longest temp folder path that leaves room for ``/job-NNNNN/ipc/kernel-PORT``.
_MAX_TEMP_PATH = 80
_FORMAT = 1  # bump when records written by an older grader must not be reused


@dataclass(frozen=True)
class Submission:
    """One submission: the student's id and the notebook file (None: no usable file)."""

    id: str
    path: Path | None
    problem: str = ""


@dataclass
class GradingSummary:
    """What a grading run did (returned by :func:`grade`, printed by the command).

    Attributes
    ----------
    out : Path
        The output folder.
    counts : dict
        Submissions by status.
    graded_now, reused : int
        Submissions run in this call, and records reused from an earlier run.
    seconds : float
        Wall time of the submissions run in this call.
    per_minute : float
        Throughput of this call (submissions run per minute of wall time).
    seed : int
        The grading seed.
    sandbox : str
        ``bubblewrap`` or why limits-only mode was used.
    records : list of dict
        One record per submission (id, status, reason, total, max, tasks).
    """

    out: Path
    counts: dict[str, int]
    graded_now: int
    reused: int
    seconds: float
    per_minute: float
    seed: int
    sandbox: str
    records: list[dict[str, Any]] = field(repr=False, default_factory=list)

    def text(self) -> str:
        """A few lines for the terminal."""
        by_status = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        lines = [f"{sum(self.counts.values())} submission(s): {by_status or 'none'}",
                 f"ran {self.graded_now} ({self.reused} reused from an earlier run) in "
                 f"{self.seconds:.1f} s: {self.per_minute:.1f} submissions/min",
                 f"grading seed {self.seed}; isolation: {self.sandbox}",
                 f"gradebook: {self.out / 'grades.csv'}"]
        return "\n".join(lines)


def resolve_lab(lab: str | Path, course_root: str | Path | None = None) -> tuple[Path, Path]:
    """Find ``(solution, template)`` notebooks of a lab.

    ``lab`` is a number (``"01"``), a slug (``"01-metrics"``) or the path of a solution
    notebook; the template is the student lab of the same name in the ``labs/`` folder
    next to its ``solutions/`` folder.

    Raises
    ------
    FileNotFoundError
        When the lab or its template does not exist.

    Examples
    --------
    >>> resolve_lab("tests/fixtures/grading/solutions/90-fixture.ipynb")  # doctest: +SKIP
    (PosixPath('.../solutions/90-fixture.ipynb'), PosixPath('.../labs/90-fixture.ipynb'))
    """
    from ..course import find_lab, find_root

    path = Path(lab)
    if path.suffix == ".ipynb" and path.is_file():
        solution = path.resolve()
        template = solution.parent.parent / "labs" / solution.name
    else:
        found = find_lab(find_root(course_root), str(lab))
        solution, template = found.solution.resolve(), found.student.resolve()
    if not template.is_file():
        raise FileNotFoundError(f"No student lab {template} for {solution.name}: run "
                                "`labkit author build` to generate labs/ from solutions/.")
    return solution, template


def find_submissions(folder: str | Path) -> list[Submission]:
    """List the submissions in ``folder``: each ``*.ipynb`` file (id: its name without
    ``.ipynb``) and each subfolder holding exactly one notebook (id: the folder's name).

    A subfolder with no notebook or several becomes a submission with a ``problem``, so
    that it still gets a row in the gradebook. A single notebook path is one submission.

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> d = Path(tmp.name)
    >>> _ = (d / "ann.ipynb").write_text("{}")
    >>> (d / "bob").mkdir()
    >>> [(s.id, s.problem) for s in find_submissions(d)]
    [('ann', ''), ('bob', 'the folder holds no notebook')]
    >>> tmp.cleanup()
    """
    folder = Path(folder)
    if folder.is_file():
        return [Submission(folder.stem, folder)]
    if not folder.is_dir():
        raise FileNotFoundError(f"No submissions folder {folder}.")
    found: dict[str, Submission] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix == ".ipynb":
            sub = Submission(entry.stem, entry)
        elif entry.is_dir() and not entry.is_symlink():
            notebooks = sorted(p for p in entry.rglob("*.ipynb")
                               if ".ipynb_checkpoints" not in p.parts and p.is_file())
            if len(notebooks) == 1:
                sub = Submission(entry.name, notebooks[0])
            else:
                problem = ("the folder holds no notebook" if not notebooks else
                           f"the folder holds {len(notebooks)} notebooks; keep exactly one")
                sub = Submission(entry.name, None, problem)
        else:
            continue
        if sub.id in found:
            sub = Submission(f"{sub.id} ({entry.name})", None,
                             "another submission has the same id")
        found[sub.id] = sub
    return list(found.values())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("dmls-labkit", "papermill", "nbclient", "nbformat", "jupyter_client",
                 "ipykernel", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    bwrap = shutil.which("bwrap")
    if bwrap:
        run = subprocess.run([bwrap, "--version"], capture_output=True, text=True)
        out["bubblewrap"] = run.stdout.strip()
    return out


class _Runner:
    """Runs rebuilt notebooks, one runner process per notebook, in a private temp folder."""

    def __init__(self, sandbox: Sandbox, limits: Limits, seed: int, workers: int):
        self.sandbox, self.limits, self.seed = sandbox, limits, seed
        self.temp = Path(tempfile.mkdtemp(prefix="labkit-grade-"))
        if len(str(self.temp)) > _MAX_TEMP_PATH:
            # Kernel sockets live in here, and a Unix socket path holds at most 107 bytes.
            os.rmdir(self.temp)
            self.temp = Path(tempfile.mkdtemp(prefix="labkit-grade-", dir="/tmp"))
        os.chmod(self.temp, 0o711)  # sandboxed kernels walk through it to their folders
        self.slots: queue.Queue[int] = queue.Queue()
        for slot in range(workers):
            self.slots.put(slot)
        self.counter = 0
        self.lock = threading.Lock()
        self.active: dict[int, subprocess.Popen[bytes]] = {}
        self.aborted = False

    def abort(self) -> None:
        """Kill every running submission (the grader was interrupted)."""
        with self.lock:
            self.aborted = True
            for pid in list(self.active):
                _kill_group(pid)

    def close(self) -> None:
        _remove_tree(self.temp)

    def run(self, notebook: Any, collect: Any) -> Any:
        """Execute ``notebook`` and return ``collect(status, results_folder)``.

        The job's folder, results included, is deleted before this returns, so that no
        later kernel (without a sandbox, kernels can see the temp folder) finds it.
        """
        import nbformat

        slot = self.slots.get()
        with self.lock:
            self.counter += 1
            job_dir = self.temp / f"job-{self.counter:05d}"
        try:
            status, results = self._run(notebook, job_dir, slot, nbformat)
            if self.aborted:  # killed by abort(): this is no result, and must not be kept
                raise KeyboardInterrupt("grading was interrupted")
            return collect(status, results)
        finally:
            _remove_tree(job_dir)
            self.slots.put(slot)

    def _run(self, notebook: Any, job_dir: Path, slot: int,
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
               "LABKIT_RESULTS_DIR": str(results), "MPLBACKEND": "Agg",
               "MPLCONFIGDIR": workdir, "IPYTHONDIR": os.path.join(workdir, ".ipython"),
               "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8",
               # one thread per kernel: parallel workers stay fair and results repeatable
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        prefix = self.sandbox.prefix(self.limits, env, [ipc, results], workdir, slot)
        input_nb = job_dir / "input.ipynb"
        nbformat.write(notebook, str(input_nb))
        job = {"input": str(input_nb), "output": str(job_dir / "output.ipynb"),
               "status": str(job_dir / "status.json"), "parameters": {"SEED": self.seed},
               "cell_timeout": self.limits.cell_timeout,
               "start_timeout": min(60.0, self.limits.submission_timeout),
               "max_output_bytes": int(self.limits.output_mb * 2**20),
               "launch_prefix": prefix, "ipc_dir": str(ipc), "owner_uid": owner}
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
            status = {"outcome": "killed" if crowded else "timeout", "cells": [],
                      "message": ("the process limit was reached (a fork bomb?) and the "
                                  "submission ran past its time limit" if crowded else
                                  "the submission ran past its time limit "
                                  f"({self.limits.submission_timeout:g} s)")}
        elif status_path.is_file():
            status = json.loads(status_path.read_text(encoding="utf-8"))
        else:
            status = {"outcome": "kernel-died", "cells": [],
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


def _status_of(verdicts: list[Verdict], outcome: str, message: str,
               cells: list[dict[str, Any]]) -> tuple[str, str]:
    passed = sum(v.state == "passed" for v in verdicts)
    summary = f"{passed}/{len(verdicts)} tasks passed"
    problems = [f"{v.task}: {v.message}" for v in verdicts if v.state != "passed"]
    limit_hit = any(str(c.get("ename", "")).endswith("MemoryError") for c in cells) or any(
        c.get("ename") in ("BlockingIOError", "OSError") and
        "Resource temporarily unavailable" in c.get("evalue", "") for c in cells)
    if outcome in ("timeout", "killed"):
        status = outcome
        problems.insert(0, message)
    elif outcome in ("kernel-died", "stopped", "start-failed"):
        status = "killed" if limit_hit else "error"
        problems.insert(0, f"run stopped early: {message}")
    elif limit_hit:
        status = "killed"
        problems.insert(0, "a memory or process limit was reached")
    elif all(v.state == "not-implemented" for v in verdicts):
        status = "not-implemented"
    elif all(v.state in ("passed", "failed") for v in verdicts):
        status = "graded"
    else:
        status = "partial"
    reason = "; ".join([summary, *problems])
    return status, reason if len(reason) <= 500 else reason[:497] + "..."


def _reference(runner: _Runner, template: Any, solution: Any,
               tasks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def collect(status: dict[str, Any], results: Path) -> tuple[dict[str, Any], dict]:
        found = {}
        for task in tasks:
            path = results / f"{task}.json"
            if path.is_file():
                found[task] = json.loads(path.read_text(encoding="utf-8"))
        return status, found

    status, found = runner.run(rebuild(template, solution).notebook, collect)
    missing = [t for t in tasks if t not in found]
    if missing or status["outcome"] != "completed":
        failing = [f"{c['id']}: {c['ename']}: {c['evalue'][:200]}" for c in status["cells"]
                   if c["state"] != "ok"]
        raise RuntimeError(
            f"The reference solution did not grade cleanly under seed {runner.seed}: run "
            f"{status['outcome']} {status.get('message', '')}; tasks without a recorded "
            f"result: {', '.join(missing) or 'none'}; cells that failed: "
            f"{'; '.join(failing) or 'none'}. Fix the solution (it must run under any SEED "
            "and record every task) or pick another --seed.")
    return {"tasks": found, "seconds": status["seconds"]}


def grade(lab: str | Path, submissions: str | Path, out: str | Path, *, workers: int = 1,
          seed: int | None = None, course_root: str | Path | None = None,
          limits: Limits | None = None, sandbox: bool = True, progress: bool = True,
          max_notebook_mb: float = 50.0) -> GradingSummary:
    """Grade every submission of one lab and write the gradebook, feedback and a log.

    Each submission's answer cells are put into the instructor's template, run with
    papermill under a grading seed in a sandboxed kernel with limits, and every task's
    recorded values are compared, in this process, with those of the reference solution
    run the same way. Re-running with the same output folder resumes: submissions whose
    file, lab and settings are unchanged are not run again.

    Parameters
    ----------
    lab : str or Path
        Lab number (``"01"``), slug, or path of a solution notebook.
    submissions : str or Path
        Folder of submissions (``*.ipynb`` files or one folder per student), or one
        notebook. It is only read.
    out : str or Path
        Output folder: ``grades.csv``, ``feedback/``, ``log.json`` and a private
        ``.labkit-grade/`` state folder. It must not lie inside the submissions.
    workers : int
        Submissions graded in parallel.
    seed : int, optional
        Grading seed. By default a random one is drawn on the first run and kept in
        the output folder, so a re-run resumes with the same seed.
    course_root : str or Path, optional
        Course repository (default: found from the current folder).
    limits : Limits, optional
        Time, memory, process and output limits (default: :class:`Limits()`).
    sandbox : bool
        Use bubblewrap where it works (default). False runs with limits only.
    progress : bool
        Show a progress bar.
    max_notebook_mb : float
        Larger submitted files are rejected as ``invalid`` without being parsed.

    Returns
    -------
    GradingSummary

    Raises
    ------
    FileNotFoundError, LookupError
        When the lab, its template or the submissions folder is missing.
    ValueError
        When the output folder would be written inside the submissions, or an argument
        is out of range.
    RuntimeError
        When the reference solution does not run cleanly under the grading seed.

    Examples
    --------
    >>> summary = grade("01", "submissions/", "graded/", workers=2)  # doctest: +SKIP
    >>> print(summary.text())  # doctest: +SKIP
    20 submission(s): 18 graded, 1 partial, 1 timeout
    ...
    """
    import nbformat
    from tqdm.auto import tqdm

    if not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be an integer from 1 to {MAX_WORKERS}, got "
                         f"{workers!r}")
    if seed is not None and (not isinstance(seed, int) or not 0 <= seed < 2**32):
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    limits = limits or Limits()
    solution_path, template_path = resolve_lab(lab, course_root)
    subs_root, out = Path(submissions).resolve(), Path(out).resolve()
    subs_folder = subs_root if subs_root.is_dir() else subs_root.parent
    if subs_root.is_dir() and (out == subs_root or subs_root in out.parents):
        raise ValueError(f"The output folder {out} lies inside the submissions folder "
                         f"{subs_root}, which is never written to; pick another --out.")
    if out == subs_root:
        raise ValueError(f"--out {out} is the submitted notebook itself; pick a folder.")
    subs = find_submissions(subs_root)
    solution_bytes, template_bytes = solution_path.read_bytes(), template_path.read_bytes()
    solution = nbformat.reads(solution_bytes.decode("utf-8"), as_version=4)
    template = nbformat.reads(template_bytes.decode("utf-8"), as_version=4)
    tasks = tasks_of(template)
    if set(tasks_of(solution)) != set(tasks):
        raise ValueError(f"{template_path.name} and {solution_path.name} have different "
                         "tasks; run `labkit author build`.")

    state = out / STATE_DIR
    (state / "records").mkdir(parents=True, exist_ok=True)
    saved_path = state / "state.json"
    saved = json.loads(saved_path.read_text()) if saved_path.is_file() else {}
    if seed is None:
        seed = saved.get("seed")
    if seed is None:
        public = _public_seed(template)
        seed = public
        while seed == public:
            seed = secrets.randbelow(2**31)
    saved_path.write_text(json.dumps({"seed": seed}), encoding="utf-8")

    protected = [solution_path.parent, template_path.parent, subs_folder, out]
    box = probe(protected, use_bwrap=sandbox)
    if not box.enabled:
        import warnings

        warnings.warn(f"labkit grade: no sandbox ({box.reason}). Submissions run with "
                      "time, memory and output limits only: they can read your files, use "
                      "the network and see each other.", RuntimeWarning, stacklevel=2)
    settings = {"format": _FORMAT, "seed": seed, "limits": asdict(limits),
                "solution": _sha256(solution_bytes), "template": _sha256(template_bytes),
                "sandbox": box.enabled, "max_notebook_mb": max_notebook_mb,
                "labkit": _package_hash()}
    key = _sha256(json.dumps(settings, sort_keys=True).encode())[:16]
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    runner = _Runner(box, limits, seed, workers)
    try:
        ref_path = state / f"reference-{key}.json"
        if ref_path.is_file():
            reference = json.loads(ref_path.read_text(encoding="utf-8"))
        else:
            reference = _reference(runner, template, solution, tasks)
            ref_path.write_text(json.dumps(reference), encoding="utf-8")

        inputs: dict[str, Any] = {}
        records: dict[str, dict[str, Any]] = {}
        todo: list[tuple[Submission, bytes | None]] = []
        for sub in subs:
            data = sub.path.read_bytes() if sub.path is not None else None
            digest = _sha256(data) if data is not None else None
            inputs[sub.id] = {"path": str(sub.path) if sub.path else None, "sha256": digest}
            record_path = state / "records" / (feedback_name(sub.id)[:-3] + ".json")
            if record_path.is_file():
                old = json.loads(record_path.read_text(encoding="utf-8"))
                if old.get("key") == key and old.get("sha256") == digest \
                        and old.get("id") == sub.id:
                    records[sub.id] = old
                    continue
            todo.append((sub, data))

        def one(item: tuple[Submission, bytes | None]) -> dict[str, Any]:
            sub, data = item
            try:
                record = _grade_one(runner, template, tasks, reference, sub, data,
                                    int(max_notebook_mb * 2**20))
            except Exception as exc:  # noqa: BLE001  a grader bug costs one row, not the batch
                why = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace").decode()
                # Not saved as a record: the next run grades this submission again.
                return {"id": sub.id, "max": sum(t["points"] for t in tasks.values()),
                        "total": 0, "tasks": [], "notes": {}, "seconds": 0.0,
                        "status": "error", "reason": f"grader failure ({why[:300]}); "
                        "please report it to the course maintainers"}
            _hide_seed(record, seed)
            record.update(key=key, sha256=inputs[sub.id]["sha256"])
            path = state / "records" / (feedback_name(sub.id)[:-3] + ".json")
            path.write_text(json.dumps(record, indent=1), encoding="utf-8")
            return record

        begun = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            futures = [pool.submit(one, item) for item in todo]
            for future in tqdm(as_completed(futures), total=len(futures), desc="grading",
                               unit="nb", disable=not progress or not futures):
                record = future.result()
                records[record["id"]] = record
        except BaseException:
            # Ctrl-C or a grader bug: stop every kernel now; finished records stay, so
            # the next run resumes from them.
            runner.abort()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        seconds = time.monotonic() - begun
    finally:
        runner.close()

    ordered = [records[s.id] for s in subs]
    write_gradebook(out / "grades.csv", tasks, ordered)
    title = solution_path.stem
    for record in ordered:
        write_feedback(out / "feedback", title, record)
    counts: dict[str, int] = {}
    for record in ordered:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    per_minute = 60.0 * len(todo) / seconds if todo and seconds > 0 else 0.0
    run_seconds = sorted(r["seconds"] for r in ordered if r["id"] in
                         {s.id for s, _ in todo})
    write_log(out / "log.json", {
        "labkit_grade_format": _FORMAT, "started": started_at,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "lab": {"solution": str(solution_path), "solution_sha256": settings["solution"],
                "template": str(template_path), "template_sha256": settings["template"],
                "tasks": tasks, "labkit_code_sha256": settings["labkit"]},
        "seed": seed, "limits": asdict(limits), "workers": workers,
        "sandbox": {"enabled": box.enabled, "reason": box.reason},
        "versions": _versions(), "platform": platform.platform(),
        "submissions": inputs, "counts": counts,
        "throughput": {"ran": len(todo), "reused": len(ordered) - len(todo),
                       "seconds": round(seconds, 3), "per_minute": round(per_minute, 2),
                       "reference_seconds": reference["seconds"],
                       "p50_seconds": _quantile(run_seconds, 0.5),
                       "p95_seconds": _quantile(run_seconds, 0.95)}})
    return GradingSummary(out, counts, len(todo), len(ordered) - len(todo), seconds,
                          per_minute, seed, box.reason, ordered)


def _remove_tree(path: Path) -> None:
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


def _hide_seed(record: dict[str, Any], seed: int) -> None:
    """Mask the grading seed in what a submission's own code could have printed.

    Feedback quotes error messages, and ``raise ValueError(SEED)`` would otherwise hand
    the seed of this grading round to the student before resubmissions are graded.
    Short seeds are left alone: masking "7" would mangle every message.
    """
    text = str(seed)
    if len(text) < 4:
        return
    record["reason"] = record["reason"].replace(text, "<grading seed>")
    for task in record["tasks"]:
        task["message"] = task["message"].replace(text, "<grading seed>")
    record["notes"] = {k: v.replace(text, "<grading seed>") for k, v in record["notes"].items()}


def _package_hash() -> str:
    """Hash of labkit's own code: the checks record what is compared, so a change to it
    must invalidate cached reference results and records."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def _public_seed(template: Any) -> int | None:
    """The SEED the students saw, so that the grading seed can avoid it."""
    for cell in template.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            for line in cell.source.splitlines():
                name, _, value = line.partition("=")
                if name.strip() == "SEED" and value.strip().isdigit():
                    return int(value.strip())
    return None


def _grade_one(runner: _Runner, template: Any, tasks: dict[str, dict[str, Any]],
               reference: dict[str, Any], sub: Submission, data: bytes | None,
               max_bytes: int) -> dict[str, Any]:
    """Grade one submission; never raises for anything the submission did."""
    maximum = sum(t["points"] for t in tasks.values())
    base = {"id": sub.id, "max": maximum, "total": 0, "tasks": [], "notes": {},
            "seconds": 0.0}
    try:
        if data is None:
            raise InvalidSubmission(sub.problem)
        rebuilt = rebuild(template, read_notebook(data, max_bytes=max_bytes))
    except InvalidSubmission as exc:
        return {**base, "status": "invalid", "reason": str(exc)}

    def collect(status: dict[str, Any], results: Path) -> tuple[dict[str, Any], list]:
        cells = {c["id"]: c for c in status.get("cells", [])}
        return status, [decide(task, info["points"], reference["tasks"][task],
                               results / f"{task}.json", cells, status["outcome"])
                        for task, info in tasks.items()]

    status, verdicts = runner.run(rebuilt.notebook, collect)
    state, reason = _status_of(verdicts, status["outcome"], status.get("message", ""),
                               status.get("cells", []))
    if status.get("output_truncated"):
        reason += "; output was truncated at the output limit"
        rebuilt.notes["(notebook)"] = "output over the limit was dropped"
    return {**base, "status": state, "reason": reason,
            "total": sum(v.points for v in verdicts),
            "tasks": [v.to_dict() for v in verdicts], "notes": rebuilt.notes,
            "seconds": status["seconds"]}
