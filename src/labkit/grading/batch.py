"""Grade a folder of submissions of one lab: the engine behind ``labkit grade``.

The parts live in their own modules: the frozen assignment (:mod:`.bundle`), finding
and reading submissions (:mod:`.discover`), rebuilding them into the template
(:mod:`.rebuild`), the grading seeds (:mod:`.seeds`), running notebooks (:mod:`.runner`,
:mod:`.execute`, or on a Dask cluster, :mod:`.cluster`), the reference's results
(:mod:`.reference`), verdicts (:mod:`.verdicts`) and what is written for people
(:mod:`.report`, :mod:`.classreport`, :mod:`.lms`). This module puts them together.

Whichever way notebooks run, here or on a cluster, this process reads the submissions,
rebuilds them, holds the grading secret, picks each seed, decides every verdict and
writes every file; a run returns only the runner's report and the recorded values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..contract import REVIEW_NOTE, public_seed
from .bundle import Bundle, code_hash, load_bundle, package_files
from .classreport import write_class_report
from .cluster import RunLost
from .discover import Seen, Submission, find_submissions, inspect, read_submission
from .discover import submissions_folder as _submissions_folder
from .lms import PLATFORMS, read_roster, write_export
from .rebuild import InvalidSubmission, read_notebook, rebuild, task_spans, tasks_of
from .reference import ReferenceFailed, References
from .report import feedback_name, write_feedback, write_gradebook, write_log
from .runner import Runner
from .sandbox import MAX_WORKERS, Limits, Sandbox, probe
from .seeds import POOL_SIZE, SeedPool, answers_digest, new_secret, secret_from_seed
from .status import Outcome, Status, TaskState
from .verdicts import Verdict, decide, load_result

__all__ = ["GradingSummary", "Submission", "find_submissions", "grade", "resolve_lab"]

#: Private folder inside the output folder: the grading secret, reference results and
#: one record per submission, so that a re-run resumes. Never mounted into a sandbox.
STATE_DIR = ".labkit-grade"
_FORMAT = 3  # bump when records written by an older grader must not be reused
#: Seeds shorter than this are not masked in feedback: masking "7" would mangle text.
_MIN_MASKED = 4


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
        Submissions looked at in this call, and records reused from an earlier run.
    seconds : float
        Wall time of the submissions run in this call (reference runs included).
    per_minute : float
        Throughput of this call (submissions run per minute of wall time).
    seed : int or None
        The instructor's ``--seed``; None when the grading secret was drawn at random.
    sandbox : str
        ``bubblewrap`` or why limits-only mode was used.
    pool_size : int
        Number of grading seeds the secret gives.
    reference_runs : int
        Runs of the reference solution in this call (at most one per pool seed).
    records : list of dict
        One record per submission (id, status, reason, total, max, tasks).
    bundle : str or None
        The bundle graded from, with its SHA-256 (None: the lab folder).
    scheduler : str or None
        The Dask scheduler the notebooks ran on (None: this machine).
    exports : list of dict
        LMS gradebooks written: ``platform``, ``path``, ``rows`` and ``warnings``.
    warnings : list of str
        Things the instructor must look at (submissions missing from the roster, limits
        that differ from the bundle's).
    """

    out: Path
    counts: dict[str, int]
    graded_now: int
    reused: int
    seconds: float
    per_minute: float
    seed: int | None
    sandbox: str
    pool_size: int = POOL_SIZE
    reference_runs: int = 0
    records: list[dict[str, Any]] = field(repr=False, default_factory=list)
    bundle: str | None = None
    scheduler: str | None = None
    exports: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def text(self) -> str:
        """A few lines for the terminal."""
        by_status = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        secret = (f"grading seed {self.seed}" if self.seed is not None else
                  f"grading secret drawn at random (kept in {self.out / STATE_DIR})")
        lines = [f"{sum(self.counts.values())} submission(s): {by_status or 'none'}",
                 f"ran {self.graded_now} ({self.reused} reused from an earlier run) in "
                 f"{self.seconds:.1f} s: {self.per_minute:.1f} submissions/min",
                 f"{secret}; {self.pool_size} grading seeds, {self.reference_runs} "
                 f"reference run(s) now; isolation: {self.sandbox}"]
        if self.bundle:
            lines.append(f"graded from the bundle {self.bundle}")
        if self.scheduler:
            lines.append(f"notebooks ran on the Dask cluster at {self.scheduler}")
        lines += [f"gradebook: {self.out / 'grades.csv'}; class report: "
                  f"{self.out / 'report.html'}"]
        lines += [f"{e['platform']} gradebook: {e['path']} ({e['rows']} row(s))"
                  for e in self.exports]
        lines += [f"warning: {w}" for w in self.warnings]
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
    >>> import labkit
    >>> fixture = Path(labkit.__file__).parents[2] / "tests" / "fixtures" / "grading"
    >>> solution, template = resolve_lab(fixture / "solutions" / "90-fixture.ipynb")
    >>> template.relative_to(fixture).as_posix()
    'labs/90-fixture.ipynb'
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


def _status_of(verdicts: list[Verdict], outcome: str, message: str,
               cells: list[dict[str, Any]]) -> tuple[Status, str]:
    passed = sum(v.state == TaskState.PASSED for v in verdicts)
    summary = f"{passed}/{len(verdicts)} tasks passed"
    problems = [f"{v.task}: {v.message}" for v in verdicts if v.state != TaskState.PASSED]
    limit_hit = any(str(c.get("ename", "")).endswith("MemoryError") for c in cells) or any(
        c.get("ename") in ("BlockingIOError", "OSError") and
        "Resource temporarily unavailable" in c.get("evalue", "") for c in cells)
    if outcome in (Outcome.TIMEOUT, Outcome.KILLED):
        status = Status(outcome)
        problems.insert(0, message)
    elif outcome in (Outcome.KERNEL_DIED, Outcome.STOPPED, Outcome.START_FAILED):
        status = Status.KILLED if limit_hit else Status.ERROR
        problems.insert(0, f"run stopped early: {message}")
    elif limit_hit:
        status = Status.KILLED
        problems.insert(0, "a memory or process limit was reached")
    elif all(v.state == TaskState.NOT_IMPLEMENTED for v in verdicts):
        status = Status.NOT_IMPLEMENTED
    elif all(v.state in (TaskState.PASSED, TaskState.FAILED) for v in verdicts):
        status = Status.GRADED
    else:
        status = Status.PARTIAL  # a task timed out, raised, or recorded nothing
    reason = "; ".join([summary, *problems])
    return status, reason if len(reason) <= 500 else reason[:497] + "..."


def _read_json(path: Path) -> dict[str, Any]:
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _secret(state: Path, seed: int | None) -> tuple[str, int | None]:
    """The grading secret of this output folder, and the ``--seed`` it came from.

    A given seed makes the secret; otherwise the saved one is kept, or a random one
    drawn and saved (0600, in the private state folder).
    """
    saved = _read_json(state / "state.json")
    if seed is not None:
        secret = secret_from_seed(seed)
    elif isinstance(saved.get("secret"), str):
        secret, seed = saved["secret"], saved.get("seed")
    elif isinstance(saved.get("seed"), int):  # an output folder of an older grader
        seed = saved["seed"]
        secret = secret_from_seed(seed)
    else:
        secret = new_secret()
    tmp = state / "state.json.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"secret": secret, "seed": seed}, handle)
    os.replace(tmp, state / "state.json")
    return secret, seed


def grade(lab: str | Path, submissions: str | Path, out: str | Path, *, workers: int = 1,
          seed: int | None = None, course_root: str | Path | None = None,
          limits: Limits | None = None, sandbox: bool = True, progress: bool = True,
          max_notebook_mb: float | None = None, seed_pool: int = POOL_SIZE,
          scheduler: str | None = None, roster: str | Path | None = None,
          export: Sequence[str] = (), assignment: str | None = None,
          assignment_id: str | None = None, moodle_id: str = "email") -> GradingSummary:
    """Grade every submission of one lab and write the gradebook, feedback, a class
    report and a log (and LMS gradebooks when asked).

    Each submission's answer cells are put into the instructor's template, run with
    papermill in a sandboxed kernel with limits under one of ``seed_pool`` grading seeds
    (picked by a keyed hash of its answers, :mod:`labkit.grading.seeds`), and every
    task's recorded values are compared, in this process, with those of the reference
    solution run the same way under the same seed. Re-running with the same output
    folder resumes: submissions whose file, lab and settings are unchanged are not run
    again, and the results are identical.

    Parameters
    ----------
    lab : str or Path
        Lab number (``"01"``), slug, path of a solution notebook, or a bundle written by
        ``labkit assign`` (:mod:`labkit.grading.bundle`): then the template, the
        reference solution, the labkit the kernels import and the default limits all
        come from the bundle, and nothing is read from the course.
    submissions : str or Path
        Folder of submissions (``*.ipynb`` files or one folder per student), or one
        notebook. It is only read, and links in it are never followed.
    out : str or Path
        Output folder: ``grades.csv``, ``feedback/``, ``report.html``, ``log.json`` and a
        private ``.labkit-grade/`` state folder. It must not lie inside the submissions.
    workers : int
        Submissions graded in parallel on this machine (ignored with ``scheduler``: the
        cluster's threads decide).
    seed : int, optional
        Makes the grading secret reproducible (any whole number from 0 to 2**256; a
        short one can be found by trying them all against a seed that leaked). By
        default a random 256-bit secret is drawn on the first run and kept in the
        output folder, so a re-run resumes with the same seeds.
    course_root : str or Path, optional
        Course repository (default: found from the current folder; unused for a bundle).
    limits : Limits, optional
        Time, memory, process and output limits (default: the bundle's, else
        :class:`Limits()`). Limits other than a bundle's are a warning.
    sandbox : bool
        Use bubblewrap where it works (default). False runs with limits only.
    progress : bool
        Show a progress bar.
    max_notebook_mb : float, optional
        Larger submitted files are rejected as ``invalid`` without being read (default:
        the bundle's, else 50).
    seed_pool : int
        Number of grading seeds (1 to 64): each costs at most one run of the reference.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``): each submission
        (and each reference run) becomes one task there, run by a worker with the same
        sandbox and limits (:mod:`labkit.grading.cluster`). Needs ``dask[distributed]``
        here and on the workers. Default: run here.
    roster : str or Path, optional
        CSV mapping submission ids to LMS ids (:func:`labkit.grading.lms.read_roster`).
    export : sequence of str
        LMS gradebooks to write: ``"canvas"`` and/or ``"moodle"`` (needs ``roster``).
    assignment, assignment_id : str, optional
        The LMS assignment's name (default: the lab's slug) and, for Canvas, its id.
    moodle_id : str
        The roster column Moodle identifies students by: ``email``, ``idnumber`` or
        ``username``.

    Returns
    -------
    GradingSummary

    Raises
    ------
    FileNotFoundError, LookupError
        When the lab, its template, the bundle or the submissions folder is missing.
    ValueError
        When the output folder would be written inside the submissions, an argument
        is out of range, the roster is unusable or the bundle was changed
        (:class:`labkit.grading.bundle.BundleError`).
    RuntimeError
        When the reference solution does not run cleanly under a grading seed
        (:class:`labkit.grading.reference.ReferenceFailed`), or the Dask cluster cannot
        grade (no workers, a worker without the sandbox).

    Examples
    --------
    The command ``labkit grade`` calls this; see ``book/instructors/grading.md``. In
    Python::

        summary = grade("01", "submissions/", "graded/", workers=2)
        print(summary.text())
    """
    if not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be an integer from 1 to {MAX_WORKERS}, got "
                         f"{workers!r}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)
                             or not 0 <= seed < 2**256):
        raise ValueError(f"seed must be a whole number in [0, 2**256), got {seed!r}")
    if max_notebook_mb is not None and (not isinstance(max_notebook_mb, (int, float))
                                        or max_notebook_mb <= 0):
        raise ValueError(f"max_notebook_mb must be positive, got {max_notebook_mb!r}")
    SeedPool("", seed_pool)  # raises ValueError for a bad size, before anything is written
    export = list(dict.fromkeys(export))
    unknown = [p for p in export if p not in PLATFORMS]
    if unknown:
        raise ValueError(f"unknown LMS export {unknown[0]!r}; use one of "
                         f"{', '.join(PLATFORMS)}")
    if export and roster is None:
        raise ValueError("an LMS export needs --roster: a CSV that maps each submission "
                         "id to the student's LMS id (see the instructors' page)")
    the_roster = read_roster(roster) if roster is not None else None
    the_lab = _Lab.load(lab, course_root)
    warned: list[str] = []
    if the_lab.bundle is not None:
        frozen = the_lab.bundle.limits
        if limits is not None and limits != frozen:
            warned.append(f"limits differ from the bundle's ({_limit_changes(frozen, limits)})"
                          ": grades may differ from another run of the same bundle")
        limits = limits or frozen
        if max_notebook_mb is None:
            max_notebook_mb = the_lab.bundle.max_notebook_mb
    limits = limits or Limits()
    max_notebook_mb = 50.0 if max_notebook_mb is None else max_notebook_mb
    subs_folder, out = _folders(submissions, out)
    subs = find_submissions(submissions)
    state = out / STATE_DIR
    (state / "records").mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    secret, seed = _secret(state, seed)
    pool = SeedPool(secret, seed_pool, avoid={public_seed(the_lab.template)})
    protected = [*the_lab.protected, subs_folder, out]
    if scheduler is None:
        execution: Any = _LocalExecution(probe(protected, use_bwrap=sandbox), limits,
                                         workers, the_lab.package, list(the_lab.tasks))
    else:
        from .cluster import DaskExecution

        execution = DaskExecution(scheduler, limits, sandbox, protected, the_lab.package,
                                  list(the_lab.tasks))
    box_enabled, box_reason = execution.enabled, execution.reason
    warned += getattr(execution, "warnings", [])
    if not box_enabled:
        import warnings

        warnings.warn(f"labkit grade: no sandbox ({box_reason}). Submissions run with "
                      "time, memory and output limits only: they can read your files, use "
                      "the network and see each other.", RuntimeWarning, stacklevel=2)
    settings = {"format": _FORMAT, "secret": _sha256(secret.encode()), "pool": pool.size,
                "limits": asdict(limits), "solution": the_lab.solution_sha256,
                "template": the_lab.template_sha256, "sandbox": box_enabled,
                "max_notebook_mb": max_notebook_mb, "labkit": the_lab.labkit_sha256()}
    if the_lab.bundle is not None:
        # The kernels run the bundle's labkit; the verdicts, this grader's own code.
        settings["grader"] = _grader_hash()
    key = _sha256(json.dumps(settings, sort_keys=True).encode())[:16]
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    max_bytes = int(max_notebook_mb * 2**20)
    # What each file is, without keeping it: its hash (streamed), or why it is invalid.
    seen = {sub.id: inspect(sub, max_bytes) for sub in subs}
    records = {sub.id: old for sub in subs
               if (old := _read_json(_record_path(state, sub.id))).get("key") == key
               and old.get("identity") == seen[sub.id].identity and old.get("id") == sub.id}
    todo = [sub for sub in subs if sub.id not in records]
    with execution:
        job = _Batch(execution, References(execution.run, the_lab.template,
                                           the_lab.solution, the_lab.tasks, pool, state,
                                           key),
                     pool, the_lab, seen, max_bytes, limits.cell_timeout, key, state,
                     masked=[str(s) for s in (*pool.seeds, seed)
                             if s is not None and len(str(s)) >= _MIN_MASKED])
        begun = time.monotonic()
        records.update(job.grade_all(todo, execution.concurrency, progress))
        seconds = time.monotonic() - begun

    ordered = [records[s.id] for s in subs]
    counts: dict[str, int] = {}
    for record in ordered:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    per_minute = 60.0 * len(todo) / seconds if todo and seconds > 0 else 0.0
    ran = {s.id for s in todo}
    run_seconds = sorted(r["seconds"] for r in ordered if r["id"] in ran)
    exports = [write_export(platform, out, the_roster, ordered, the_lab.max_points,
                            assignment=assignment or the_lab.title,
                            assignment_id=assignment_id, moodle_id=moodle_id)
               for platform in export] if the_roster is not None else []
    warned += [w for e in exports for w in e["warnings"]]
    bundle = the_lab.bundle.describe() if the_lab.bundle is not None else None
    _write_outputs(out, the_lab, ordered, {
        "labkit_grade_format": _FORMAT, "started": started_at,
        "lab": {"solution": the_lab.solution_source, "template": the_lab.template_source,
                "solution_sha256": the_lab.solution_sha256,
                "template_sha256": the_lab.template_sha256, "tasks": the_lab.tasks,
                "labkit_code_sha256": settings["labkit"]},
        "bundle": bundle,
        "seed": seed, "seed_pool": pool.size, "limits": asdict(limits), "workers": workers,
        "scheduler": execution.describe(),
        "max_notebook_mb": max_notebook_mb,
        "sandbox": {"enabled": box_enabled, "reason": box_reason},
        "submissions": {sub.id: {"path": str(sub.path) if sub.path else None,
                                 "sha256": seen[sub.id].sha256, "bytes": seen[sub.id].size}
                        for sub in subs},
        "counts": counts,
        "exports": [{k: v for k, v in e.items()} for e in exports],
        "warnings": warned,
        "throughput": {"ran": len(todo), "reused": len(ordered) - len(todo),
                       "seconds": round(seconds, 3), "per_minute": round(per_minute, 2),
                       "reference_runs": job.refs.runs,
                       "reference_seconds": round(job.refs.seconds, 3),
                       "p50_seconds": _quantile(run_seconds, 0.5),
                       "p95_seconds": _quantile(run_seconds, 0.95)}},
        report={"pool_size": pool.size, "sandbox": box_reason, "bundle": bundle,
                "exports": exports, "warnings": warned})
    return GradingSummary(out, counts, len(todo), len(ordered) - len(todo), seconds,
                          per_minute, seed, box_reason, pool.size, job.refs.runs, ordered,
                          bundle=(f"{bundle['path']} (SHA-256 {bundle['sha256'][:16]}...)"
                                  if bundle else None),
                          scheduler=scheduler, exports=exports, warnings=warned)


def _limit_changes(frozen: Limits, given: Limits) -> str:
    a, b = asdict(frozen), asdict(given)
    return ", ".join(f"{k} {a[k]:g} -> {b[k]:g}" for k in a if a[k] != b[k])


class _LocalExecution:
    """Runs notebooks on this machine: a :class:`Runner` with ``workers`` slots."""

    def __init__(self, box: Sandbox, limits: Limits, workers: int,
                 package: dict[str, bytes], tasks: list[str]) -> None:
        self.runner = Runner(box, limits, workers, kernel_lib=package)
        self.enabled, self.reason = box.enabled, box.reason
        self.concurrency, self.tasks = workers, tasks

    def __enter__(self) -> _LocalExecution:
        self.runner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.runner.__exit__(*exc)

    def describe(self) -> None:
        """No scheduler: the log says ``null``."""
        return None

    def abort(self) -> None:
        """Kill every run still going."""
        self.runner.abort()

    def run(self, notebook: Any, seed: int, *, reference: bool = False
            ) -> tuple[dict[str, Any], dict[str, tuple[Any, str]]]:
        """Run one notebook; return the runner's report and each task's recorded result."""
        tasks = self.tasks

        def collect(status: dict[str, Any], results: Path) -> tuple[dict[str, Any], dict]:
            # Read while the job's folder exists (each file bounded and never a link).
            return status, {task: load_result(results / f"{task}.json", task)
                            for task in tasks}

        return self.runner.run(notebook, seed, collect)


@dataclass(frozen=True)
class _Lab:
    """The lab being graded: the reference solution, the template, their tasks, and
    the labkit package the kernels import, from the course or from a bundle."""

    title: str
    solution_source: str
    template_source: str
    protected: tuple[Path, ...]
    solution: Any
    template: Any
    tasks: dict[str, dict[str, Any]]
    solution_sha256: str
    template_sha256: str
    package: dict[str, bytes] = field(repr=False)
    bundle: Bundle | None = None

    @property
    def max_points(self) -> int:
        """Points of the whole lab."""
        return sum(t["points"] for t in self.tasks.values())

    def labkit_sha256(self) -> str:
        """Hash of the labkit code the kernels run: the bundle's, or this grader's."""
        return self.bundle.labkit_sha256 if self.bundle is not None else _package_hash()

    @classmethod
    def load(cls, lab: str | Path, course_root: str | Path | None) -> _Lab:
        import nbformat

        if _is_bundle(lab):
            bundle = load_bundle(lab)
            solution_bytes, template_bytes = bundle.solution, bundle.template
            where = f"{bundle.path}!"
            names = (where + "solution.ipynb", where + "template.ipynb")
            # The bundle holds the solution: no sandbox may see its folder.
            protected: tuple[Path, ...] = (bundle.path.parent,)
            title, package = bundle.slug, bundle.package
        else:
            bundle = None
            solution_path, template_path = resolve_lab(lab, course_root)
            solution_bytes, template_bytes = solution_path.read_bytes(), \
                template_path.read_bytes()
            names = (str(solution_path), str(template_path))
            protected = (solution_path.parent, template_path.parent)
            # The kernels import this grader's own labkit, as it is now: a change on
            # disk while the batch runs reaches no kernel.
            title, package = solution_path.stem, package_files()
        solution = nbformat.reads(solution_bytes.decode("utf-8"), as_version=4)
        template = nbformat.reads(template_bytes.decode("utf-8"), as_version=4)
        tasks = tasks_of(template)
        if set(tasks_of(solution)) != set(tasks):
            raise ValueError(f"{names[1]} and {names[0]} have different tasks; run "
                             "`labkit author build`.")
        return cls(title, names[0], names[1], protected, solution, template, tasks,
                   _sha256(solution_bytes), _sha256(template_bytes), package, bundle)


def _is_bundle(lab: str | Path) -> bool:
    """Whether ``lab`` names a bundle file (not a lab number, slug or notebook)."""
    path = Path(lab)
    return path.suffix != ".ipynb" and path.is_file()


def _folders(submissions: str | Path, out: str | Path) -> tuple[Path, Path]:
    """The submissions' folder and the output folder, refusing one inside the other."""
    subs_folder, out = _submissions_folder(submissions), Path(out).resolve()
    if os.path.isdir(submissions):
        if out == subs_folder or subs_folder in out.parents:
            raise ValueError(f"The output folder {out} lies inside the submissions folder "
                             f"{subs_folder}, which is never written to; pick another "
                             "--out.")
    elif out == subs_folder / Path(submissions).name:
        raise ValueError(f"--out {out} is the submitted notebook itself; pick a folder.")
    return subs_folder, out


@dataclass
class _Batch:
    """What grading each submission of one batch shares."""

    execution: Any
    refs: References
    pool: SeedPool
    lab: _Lab
    seen: dict[str, Seen]
    max_bytes: int
    cell_timeout: float
    key: str
    state: Path
    masked: list[str]

    def grade_all(self, todo: list[Submission], workers: int,
                  progress: bool) -> dict[str, dict[str, Any]]:
        """Grade ``todo`` with ``workers`` threads; each record is saved as it comes.

        On Ctrl-C, a failing reference or a grader bug, every kernel is stopped at once;
        the records saved so far stay, so the next run resumes from them.
        """
        from tqdm.auto import tqdm

        records: dict[str, dict[str, Any]] = {}
        executor = ThreadPoolExecutor(max_workers=max(1, workers))
        try:
            futures = [executor.submit(self.grade_one, sub) for sub in todo]
            for future in tqdm(as_completed(futures), total=len(futures), desc="grading",
                               unit="nb", disable=not progress or not futures):
                record = future.result()
                records[record["id"]] = record
        except BaseException:
            self.execution.abort()
            raise
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        return records

    def grade_one(self, sub: Submission) -> dict[str, Any]:
        """Grade and save one submission; a grader bug costs its row, not the batch."""
        try:
            record = _grade_one(self.execution.run, self.refs, self.pool, self.lab.template,
                                self.lab.tasks, sub, self.seen[sub.id], self.max_bytes,
                                self.cell_timeout)
        except ReferenceFailed:
            raise
        except Exception as exc:  # noqa: BLE001
            why = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace").decode()
            reason = (f"not graded: {exc}; run the same command again to grade it"
                      if isinstance(exc, RunLost) else f"grader failure ({why[:300]}); "
                      "please report it to the course maintainers")
            # Not saved as a record: the next run grades this submission again.
            return {"id": sub.id, "max": self.lab.max_points, "total": 0, "tasks": [],
                    "notes": {}, "seconds": 0.0, "status": Status.ERROR, "reason": reason,
                    "ungraded": True}
        _mask(record, self.masked)
        record["key"] = self.key
        path = _record_path(self.state, sub.id)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
        os.replace(tmp, path)
        return record


def _write_outputs(out: Path, lab: _Lab, ordered: list[dict[str, Any]],
                   log: dict[str, Any], report: dict[str, Any]) -> None:
    """Write the gradebook, one feedback file per submission, the class report and the
    log."""
    write_gradebook(out / "grades.csv", lab.tasks, ordered)
    for record in ordered:
        write_feedback(out / "feedback", lab.title, record)
    write_class_report(out / "report.html", lab.title, lab.tasks, ordered, **report)
    write_log(out / "log.json", {
        **log, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": _versions(), "platform": platform.platform()})


def _record_path(state: Path, student: str) -> Path:
    return state / "records" / (feedback_name(student)[:-3] + ".json")


def _mask(record: dict[str, Any], words: list[str]) -> None:
    """Mask the grading seeds in what a submission's own code could have printed.

    Defence in depth only: a submission can print its seed in a form no filter
    recognises, which is why each version of the answers gets a seed of its own
    (:mod:`labkit.grading.seeds`). Feedback quotes error messages, and
    ``raise ValueError(SEED)`` would otherwise show the seed as it is.
    """
    def hide(text: str) -> str:
        for word in words:
            text = text.replace(word, "<grading seed>")
        return text

    record["reason"] = hide(record["reason"])
    for task in record["tasks"]:
        task["message"] = hide(task["message"])
    record["notes"] = {k: hide(v) for k, v in record["notes"].items()}


def _package_hash() -> str:
    """Hash of labkit's own code: the checks record what is compared, so a change to it
    must invalidate cached reference results and records."""
    return code_hash(package_files())


def _grader_hash() -> str:
    """Hash of the code that decides verdicts here (the grading package and the lab
    contract): with a bundle, the kernels' labkit is frozen, this is not."""
    files = {k: v for k, v in package_files().items()
             if k.startswith("labkit/grading/") or k == "labkit/contract.py"}
    return code_hash(files)


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def _grade_one(execute: Any, refs: References, pool: SeedPool, template: Any,
               tasks: dict[str, dict[str, Any]], sub: Submission, seen: Seen,
               max_bytes: int, cell_timeout: float) -> dict[str, Any]:
    """Grade one submission; never raises for anything the submission did.

    Its file is read here, when it is graded (never before, so that a batch never holds
    more than one file per worker), with a bound. ``execute(notebook, seed)`` runs the
    rebuilt notebook, here or on a cluster, and returns the runner's report and what
    each task recorded; everything else happens in this process.
    """
    maximum = sum(t["points"] for t in tasks.values())
    base = {"id": sub.id, "max": maximum, "total": 0, "tasks": [], "notes": {},
            "seconds": 0.0, "identity": seen.identity, "pool": None}
    try:
        if seen.problem:
            raise InvalidSubmission(seen.problem)
        data = read_submission(sub, max_bytes)
        base["identity"] = _sha256(data)  # what was graded, should the file have changed
        rebuilt = rebuild(template, read_notebook(data, max_bytes=max_bytes))
    except InvalidSubmission as exc:
        return {**base, "status": Status.INVALID, "reason": str(exc)}
    del data
    index = pool.index(answers_digest(rebuilt.notebook, tasks))
    status, recorded = execute(rebuilt.notebook, pool.seeds[index])
    # The reference runs under this seed only once some submission recorded a result
    # under it (and never while this submission holds a worker slot).
    needed = any(result is not None for result, _ in recorded.values())
    reference = refs.get(index)["tasks"] if needed else {}
    spans = task_spans(rebuilt.notebook, tasks)
    cells = {c["id"]: c for c in status.get("cells", [])}
    verdicts = [decide(task, info["points"], reference.get(task, {}),
                       recorded.get(task, (None, "no result recorded")), cells,
                       status["outcome"], span=spans[task], cell_timeout=cell_timeout,
                       answer_found=task not in rebuilt.missing)
                for task, info in tasks.items()]
    # A complete written answer earns its points; its content is for a person to grade.
    verdicts = [dataclasses.replace(v, message=REVIEW_NOTE)
                if tasks[v.task].get("kind") == "review" and v.state == TaskState.PASSED else v
                for v in verdicts]
    state, reason = _status_of(verdicts, status["outcome"], status.get("message", ""),
                               status.get("cells", []))
    if status.get("output_truncated"):
        reason += "; output was truncated at the output limit"
        rebuilt.notes["(notebook)"] = "output over the limit was dropped"
    return {**base, "status": state, "reason": reason, "pool": index,
            "total": sum(v.points for v in verdicts),
            "tasks": [v.to_dict() for v in verdicts], "notes": rebuilt.notes,
            "seconds": status["seconds"]}
