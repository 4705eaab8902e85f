"""Measure what the course costs to run: each lab, and the book build.

For each solution notebook: wall seconds and peak resident memory of a papermill run
(the kernel included) in a fresh process. For the book: a clean build that executes
every solution, then a rebuild with nothing changed. Results go to bench/results.md and
bench/results.json. Budgets (DESIGN.md): each lab <= 60 s (aim 30 s) and < 1.5 GB;
a no-change rebuild < 30 s.

    python bench/bench_labs.py [--labs 01 02] [--no-book]
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
from labkit.course import list_labs, write_book_config  # noqa: E402

# Run in a child so that RUSAGE_CHILDREN there covers exactly one notebook's kernel.
_RUN_ONE = """
import resource, sys, time
import papermill as pm
start = time.perf_counter()
pm.execute_notebook(sys.argv[1], sys.argv[2], cwd=sys.argv[3], kernel_name="python3",
                    progress_bar=False)
wall = time.perf_counter() - start
peak_kib = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
print(f"{wall:.3f} {peak_kib}")
"""


def bench_lab(solution: Path, scratch: Path) -> dict:
    out = scratch / solution.name
    result = subprocess.run([sys.executable, "-c", _RUN_ONE, str(solution), str(out),
                             str(solution.parent)], capture_output=True, text=True, check=True)
    wall, peak_kib = result.stdout.split()[-2:]
    return {"lab": solution.stem, "wall_s": round(float(wall), 1),
            "peak_rss_mb": round(int(peak_kib) / 1024)}


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
    args = parser.parse_args()
    labs = [lab for lab in list_labs(ROOT) if not args.labs or lab.number in args.labs]
    scratch = Path(tempfile.mkdtemp(prefix="labkit-bench-"))
    try:
        rows = []
        for lab in labs:
            rows.append(bench_lab(lab.solution, scratch))
            print(f"{rows[-1]['lab']:<36} {rows[-1]['wall_s']:>6.1f} s "
                  f"{rows[-1]['peak_rss_mb']:>6d} MB", flush=True)
        book = {} if args.no_book else bench_book(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    report = {"machine": machine, "labs": rows, "book": book}
    (ROOT / "bench" / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Benchmark ({machine})", "", "| lab | wall (s) | peak RSS (MB) |",
             "| --- | ---: | ---: |"]
    lines += [f"| {r['lab']} | {r['wall_s']} | {r['peak_rss_mb']} |" for r in rows]
    if book:
        lines += ["", f"Book: clean build (executes every solution) {book['clean_build_s']} s; "
                  f"rebuild with nothing changed {book['rebuild_s']} s."]
    (ROOT / "bench" / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
