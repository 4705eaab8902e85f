"""Measure what the course costs to run: each lab, and the book build.

For each solution notebook: wall seconds, CPU seconds and peak memory of a papermill run
(the largest process's peak RSS, and the peak of all the lab's processes together: the
kernel and what it starts) in a fresh process, in the pinned
numeric environment the stored outputs come from. CPU seconds tell a loaded machine from a
slow lab: on an idle machine wall and CPU time are close (one thread). For the book: a
clean build that executes every solution, then a rebuild with nothing changed. Results go
to bench/results.md and bench/results.json, and with ``--update-course`` the measured run
time and memory go into course.yml. Budgets (DESIGN.md): each lab at most 30 s (lab 10:
90 s) and under 1.0 GB on 2 cores; a no-change rebuild under 10 s.

    python bench/bench_labs.py [--labs 01 02] [--no-book] [--update-course]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from labkit.course import COURSE_FILE, list_labs, write_book_config  # noqa: E402
from labkit.reproducible import numeric_env  # noqa: E402

# Run in a child so that RUSAGE_CHILDREN there covers exactly one notebook's kernel. A lab
# may start processes of its own (lab 10's DDP workers, lab 12's server): a thread sums the
# proportional set size (PSS: shared pages split between the processes that map them) of
# every process below this one, so that the lab's memory is all its processes together.
_RUN_ONE = """
import os, resource, sys, threading, time
import papermill as pm

def descendants(root):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rindex(")") + 2:].split()[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found

def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("Pss:")), 0)
    except OSError:
        return 0

tree_kib, done = 0, threading.Event()

def sample():
    global tree_kib
    while not done.wait(0.1):
        tree_kib = max(tree_kib, sum(pss_kib(pid) for pid in descendants(os.getpid())))

if os.path.isdir("/proc"):
    threading.Thread(target=sample, daemon=True).start()
start = time.perf_counter()
pm.execute_notebook(sys.argv[1], sys.argv[2], cwd=sys.argv[3], kernel_name="python3",
                    progress_bar=False)
wall = time.perf_counter() - start
done.set()
children = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = children.ru_utime + children.ru_stime
print(f"{wall:.3f} {cpu:.3f} {children.ru_maxrss} {tree_kib}")
"""


def bench_lab(solution: Path, scratch: Path) -> dict:
    out = scratch / solution.name
    result = subprocess.run([sys.executable, "-c", _RUN_ONE, str(solution), str(out),
                             str(solution.parent)], capture_output=True, text=True, check=True,
                            env={**os.environ, **numeric_env(other_cpu=False)})
    wall, cpu, peak_kib, tree_kib = result.stdout.split()[-4:]
    # The lab's memory: all its processes together, or its largest process where that is
    # more (a spike between two samples).
    return {"lab": solution.stem, "wall_s": round(float(wall), 1), "cpu_s": round(float(cpu), 1),
            "peak_rss_mb": round(int(peak_kib) / 1024),
            "peak_all_mb": round(max(int(peak_kib), int(tree_kib)) / 1024)}


def update_course(rows: list[dict]) -> None:
    """Write each lab's measured run time and peak memory into its course.yml entry."""
    import re

    path = ROOT / COURSE_FILE
    text = path.read_text(encoding="utf-8")
    for row in rows:
        entry = re.search(rf"\n  - number: \"{row['lab'][:2]}\"\n(?:    .*\n|\n)*", text)
        if entry is None:
            continue
        block = entry.group(0)
        for key, value in (("runtime_s", round(row["wall_s"])), ("peak_mb", row["peak_all_mb"])):
            if re.search(rf"^    {key}: .*$", block, flags=re.M):
                block = re.sub(rf"^    {key}: .*$", f"    {key}: {value}", block, flags=re.M)
            else:
                block = block.replace("\n    claim:", f"\n    {key}: {value}\n    claim:", 1)
        text = text[:entry.start()] + block + text[entry.end():]
    path.write_text(text, encoding="utf-8")


def bench_book(scratch: Path) -> dict:
    config_path = write_book_config(ROOT, scratch / "_config.yml",
                                    cache=str(scratch / "jupyter_cache"))
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(ROOT), "--path-output", str(scratch / "book"),
           "--config", str(config_path)]
    times = {}
    for name in ("clean_build_s", "rebuild_s"):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times[name] = round(time.perf_counter() - start, 1)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", nargs="*", help="lab numbers (default: all)")
    parser.add_argument("--no-book", action="store_true", help="skip the book timings")
    parser.add_argument("--update-course", action="store_true",
                        help="write the measured run time and memory into course.yml")
    args = parser.parse_args()
    labs = [lab for lab in list_labs(ROOT) if not args.labs or lab.number in args.labs]
    scratch = Path(tempfile.mkdtemp(prefix="labkit-bench-"))
    try:
        rows = []
        for lab in labs:
            rows.append(bench_lab(lab.solution, scratch))
            print(f"{rows[-1]['lab']:<36} {rows[-1]['wall_s']:>6.1f} s wall "
                  f"{rows[-1]['cpu_s']:>6.1f} s CPU {rows[-1]['peak_all_mb']:>6d} MB", flush=True)
        book = {} if args.no_book else bench_book(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    report = {"machine": machine, "labs": rows, "book": book}
    (ROOT / "bench" / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Benchmark ({machine})", "",
             "| lab | wall (s) | CPU (s) | peak RSS, largest process (MB) | peak, all its "
             "processes (MB) |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['lab']} | {r['wall_s']} | {r['cpu_s']} | {r['peak_rss_mb']} | "
              f"{r['peak_all_mb']} |" for r in rows]
    if book:
        lines += ["", f"Book: clean build (executes every solution) {book['clean_build_s']} s; "
                  f"rebuild with nothing changed {book['rebuild_s']} s."]
    (ROOT / "bench" / "results.md").write_text("\n".join(lines) + "\n")
    if args.update_course:
        update_course(rows)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
