"""Throughput of ``labkit grade`` and its overhead against plain papermill.

Grades N copies of a lab's solution at 1 and 2 workers and executes the same notebooks
with plain papermill (one ``papermill`` process per notebook, the same number running
at once, a fixed seed and one BLAS thread per kernel, as under grading), then prints
submissions per minute and the overhead. The grader runs the reference solution once per
grading seed a submission lands on (at most ``--seed-pool``, 4 by default, per batch),
inside its timed run; the figures are given without those runs (their seconds are
subtracted, exact at one worker, approximate at two) and with them.

The two are interleaved in rounds (papermill on a few notebooks, then the grader on the
same ones, and again), so that a change in the machine's load during the run (other jobs
on a shared CI runner) hits both alike. Each round of the grader resumes the previous
one's output folder, which is how new submissions join an existing gradebook.

    python bench/bench_grading.py --lab 01 --copies 20 --rounds 4 --workers 1 2

Writes nothing outside a temporary folder, unless ``--json PATH`` asks for the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SEED = 20261126


def plain_papermill(notebooks: list[Path], out: Path, workers: int) -> float:
    """Seconds to execute ``notebooks`` with the papermill command, ``workers`` at once."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    out.mkdir(parents=True, exist_ok=True)

    def one(path: Path) -> None:
        subprocess.run([sys.executable, "-m", "papermill", str(path), str(out / path.name),
                        "-p", "SEED", str(SEED), "-k", "python3", "--no-progress-bar",
                        "--log-level", "ERROR", "--cwd", str(out)],
                       check=True, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, notebooks))
    return time.monotonic() - start


def _copy(solution: Path, path: Path, index: int) -> None:
    """A copy of the solution whose answers differ by a comment, as students' answers
    differ: copies spread over the grading seeds, as real submissions do."""
    import nbformat

    nb = nbformat.read(solution, as_version=4)
    answer = next(c for c in nb.cells if c.get("metadata", {}).get("labkit"))
    answer.source += f"\n# student {index}"
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and optionally save) its figures."""
    from labkit.course import find_lab, find_root
    from labkit.grading import Limits, grade

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="01")
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternations of papermill and grader (default: 4)")
    parser.add_argument("--json", type=Path, default=None, help="save the figures here")
    args = parser.parse_args(argv)

    root = find_root()
    lab = find_lab(root, args.lab)
    figures: dict[str, object] = {"lab": lab.slug, "copies": args.copies, "seed": SEED,
                                  "rounds": args.rounds, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as temp:
        base = Path(temp)
        for workers in args.workers:
            subs, out = base / f"subs-{workers}", base / f"out-{workers}"
            subs.mkdir()
            plain = graded = reference = 0.0
            reference_runs = 0
            per_submission: list[float] = []
            for chunk in range(args.rounds):
                names = range(chunk * args.copies // args.rounds,
                              (chunk + 1) * args.copies // args.rounds)
                batch = []
                for i in names:
                    _copy(lab.solution, subs / f"student{i:03d}.ipynb", i)
                    batch.append(subs / f"student{i:03d}.ipynb")
                plain += plain_papermill(batch, base / f"plain-{workers}", workers)
                summary = grade(lab.number, subs, out, workers=workers, seed=SEED,
                                course_root=root, limits=Limits(), progress=False)
                assert summary.graded_now == len(batch), summary
                assert summary.counts == {"graded": len(batch) * (chunk + 1)}, summary.counts
                graded += summary.seconds
                log = json.loads((out / "log.json").read_text())
                reference += log["throughput"]["reference_seconds"]
                reference_runs += log["throughput"]["reference_runs"]
                per_submission += [r["seconds"] for r in summary.records
                                   if r["id"] in {p.stem for p in batch}]
            per_submission.sort()
            graded -= reference  # the submissions alone
            row = {"grade_seconds": round(graded, 2),
                   "grade_per_minute": round(60 * args.copies / graded, 2),
                   "reference_seconds": round(reference, 2),
                   "reference_runs": reference_runs,
                   "p50_seconds": per_submission[len(per_submission) // 2],
                   "p95_seconds": per_submission[int(0.95 * (len(per_submission) - 1))],
                   "papermill_seconds": round(plain, 2),
                   "papermill_per_minute": round(60 * args.copies / plain, 2),
                   "overhead_percent": round(100 * (graded / plain - 1), 1),
                   "overhead_with_reference_percent": round(
                       100 * ((graded + reference) / plain - 1), 1),
                   "sandbox": summary.sandbox}
            figures[f"workers={workers}"] = row
            print(f"{workers} worker(s): grade {row['grade_per_minute']} submissions/min "
                  f"({row['grade_seconds']} s + {reference_runs} reference run(s) "
                  f"{row['reference_seconds']} s), "
                  f"papermill {row['papermill_per_minute']}/min ({row['papermill_seconds']} s)"
                  f", overhead {row['overhead_percent']}% "
                  f"({row['overhead_with_reference_percent']}% with the reference run)",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
