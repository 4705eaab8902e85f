"""Throughput of ``labkit grade``, here and on a Dask cluster, against plain papermill.

Grades N copies of a lab's solution with the grader on this machine (1 and 2 workers)
and through a local Dask cluster (``LocalCluster``, 2 worker processes of one thread,
``--scheduler``), and executes the same notebooks with plain papermill (one
``papermill`` process per notebook, 1 and 2 at once, a fixed seed and one BLAS thread
per kernel, as under grading). It prints submissions per minute and CPU seconds per
submission for each.

The modes are interleaved in rounds (each round gives every mode a few new notebooks),
so that a change in the machine's load during the run (other jobs on a shared machine)
hits them all alike. Each round of a grader resumes its previous output folder, which is
how new submissions join an existing gradebook.

The grader runs the reference solution once per grading seed a submission lands on (at
most ``--seed-pool``, 4 by default, per output folder), inside its timed run; wall
figures are given without those runs (their seconds subtracted: exact at one worker,
approximate at two) and CPU figures with them (they cannot be told apart). CPU is the
user and system time of the processes each mode ran and waited for: the grader or
papermill, its runners and their kernels (for the cluster: the workers and what they
ran, read from ``/proc``, plus this process). The cluster is started once, before the
first round; its start-up is not in its wall time.

    python bench/bench_grading.py --lab 01 --copies 20 --rounds 4

Writes nothing outside a temporary folder, unless ``--json PATH`` asks for the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SEED = 20261126
_TICK = os.sysconf("SC_CLK_TCK")


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


def _cpu_here() -> float:
    """CPU seconds of this process and of every child it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _cpu_of(pids: list[int]) -> float:
    """CPU seconds of running processes and of the children they have waited for."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICK
    return total


class _Mode:
    """One way of running the notebooks, with its running totals."""

    def __init__(self, name: str, workers: int, kind: str) -> None:
        self.name, self.workers, self.kind = name, workers, kind
        self.wall = self.cpu = self.reference = 0.0
        self.reference_runs, self.count = 0, 0
        self.per_submission: list[float] = []
        self.sandbox = ""

    def row(self) -> dict[str, object]:
        wall = self.wall - self.reference
        row: dict[str, object] = {
            "mode": self.name, "workers": self.workers, "notebooks": self.count,
            "wall_seconds": round(wall, 2), "per_minute": round(60 * self.count / wall, 2),
            "cpu_seconds": round(self.cpu, 1),
            "cpu_per_notebook": round(self.cpu / self.count, 2)}
        if self.kind != "papermill":
            self.per_submission.sort()
            row.update({"reference_runs": self.reference_runs,
                        "reference_seconds": round(self.reference, 2),
                        "per_minute_with_reference": round(60 * self.count / self.wall, 2),
                        "p50_seconds": self.per_submission[len(self.per_submission) // 2],
                        "sandbox": self.sandbox})
        return row


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and optionally save) its figures."""
    from labkit.course import find_lab, find_root
    from labkit.grading import Limits, grade

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="01")
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternations of the modes (default: 4)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask cluster")
    parser.add_argument("--json", type=Path, default=None, help="save the figures here")
    args = parser.parse_args(argv)

    root = find_root()
    lab = find_lab(root, args.lab)
    modes = [_Mode("papermill", 1, "papermill"), _Mode("grade", 1, "local"),
             _Mode("papermill", 2, "papermill"), _Mode("grade", 2, "local")]
    cluster = None
    if not args.no_dask:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        with Client(cluster.scheduler_address, set_as_default=False) as client:
            worker_pids = list(client.run(os.getpid).values())
        modes.append(_Mode("grade --scheduler (LocalCluster)", 2, "dask"))
    figures: dict[str, object] = {"lab": lab.slug, "copies": args.copies, "seed": SEED,
                                  "rounds": args.rounds, "cores": os.cpu_count(),
                                  "load_before": os.getloadavg()}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-grading-") as temp:
            base = Path(temp)
            for chunk in range(args.rounds):
                names = range(chunk * args.copies // args.rounds,
                              (chunk + 1) * args.copies // args.rounds)
                for number, mode in enumerate(modes):
                    subs, out = base / f"subs-{number}", base / f"out-{number}"
                    subs.mkdir(exist_ok=True)
                    batch = []
                    for i in names:
                        _copy(lab.solution, subs / f"student{i:03d}.ipynb", i)
                        batch.append(subs / f"student{i:03d}.ipynb")
                    pids = worker_pids if mode.kind == "dask" else []
                    cpu = _cpu_here() + _cpu_of(pids)
                    if mode.kind == "papermill":
                        mode.wall += plain_papermill(batch, base / f"plain-{number}",
                                                     mode.workers)
                    else:
                        summary = grade(
                            lab.number, subs, out, workers=mode.workers, seed=SEED,
                            course_root=root, limits=Limits(), progress=False,
                            scheduler=cluster.scheduler_address if mode.kind == "dask"
                            else None)
                        assert summary.graded_now == len(batch), summary
                        assert summary.counts == {"graded": len(batch) * (chunk + 1)}, \
                            summary.counts
                        mode.wall += summary.seconds
                        log = json.loads((out / "log.json").read_text())
                        mode.reference += log["throughput"]["reference_seconds"]
                        mode.reference_runs += log["throughput"]["reference_runs"]
                        mode.per_submission += [r["seconds"] for r in summary.records
                                                if r["id"] in {p.stem for p in batch}]
                        mode.sandbox = summary.sandbox
                    mode.cpu += _cpu_here() + _cpu_of(pids) - cpu
                    mode.count += len(batch)
                print(f"round {chunk + 1}/{args.rounds} done (load "
                      f"{os.getloadavg()[0]:.1f})", flush=True)
    finally:
        if cluster is not None:
            cluster.close()
    figures["load_after"] = os.getloadavg()
    rows = [mode.row() for mode in modes]
    figures["rows"] = rows
    print(f"\n{lab.slug}, {args.copies} notebooks per mode, {os.cpu_count()} cores, "
          f"load {figures['load_before'][0]:.1f} -> {figures['load_after'][0]:.1f}")
    print("| mode | workers | notebooks/min | CPU s per notebook | reference runs |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row['mode']} | {row['workers']} | {row['per_minute']} | "
              f"{row['cpu_per_notebook']} | {row.get('reference_runs', '')} |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
