"""The ``labkit grade`` subcommand."""

from __future__ import annotations

import argparse
import sys

_DESCRIPTION = """\
Grade a folder of submitted notebooks of one lab. Each submission's answer cells are
rebuilt into the lab's template, run under a grading seed in a sandbox with limits,
and compared with the reference solution run on the same data. Writes DIR/grades.csv,
DIR/feedback/<id>.md and DIR/log.json; re-running with the same DIR resumes.

exit status: 0 when every submission got a row (whatever its status); non-zero when
grading could not start: a bad argument, a missing lab or template, or a reference
solution that does not run cleanly under the grading seed."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``grade`` subcommand to the ``labkit`` command's subparsers.

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="labkit")
    >>> register(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["grade", "01", "subs", "--out", "graded"])
    >>> args.workers, args.cell_timeout
    (1, 120.0)
    """
    from .sandbox import Limits

    defaults = Limits()
    parser = subparsers.add_parser(
        "grade", help="grade submitted notebooks of a lab", description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lab", metavar="LAB",
                        help="lab number (01), slug (01-metrics) or solution notebook path")
    parser.add_argument("submissions", metavar="SUBMISSIONS",
                        help="folder of *.ipynb files or of one folder per student")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--workers", type=int, default=1,
                        help="submissions graded in parallel (default: 1)")
    parser.add_argument("--seed", type=int, default=None,
                        help="grading seed (default: drawn once, kept in DIR)")
    parser.add_argument("--course-root", default=None,
                        help="course repository (default: found from the current folder)")
    parser.add_argument("--cell-timeout", type=float, default=defaults.cell_timeout,
                        help="seconds per cell (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=defaults.submission_timeout,
                        help="seconds per submission (default: %(default)s)")
    parser.add_argument("--memory-mb", type=int, default=defaults.memory_mb,
                        help="memory per kernel process in MiB (default: %(default)s)")
    parser.add_argument("--processes", type=int, default=defaults.processes,
                        help="processes and threads per kernel (default: %(default)s)")
    parser.add_argument("--output-mb", type=float, default=defaults.output_mb,
                        help="output kept per submission in MiB (default: %(default)s)")
    parser.add_argument("--max-notebook-mb", type=float, default=50.0,
                        help="larger submitted files are invalid (default: %(default)s)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="do not use bubblewrap (limits only; not for real grading)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import warnings

    from .batch import grade
    from .sandbox import Limits

    limits = Limits(cell_timeout=args.cell_timeout, submission_timeout=args.timeout,
                    memory_mb=args.memory_mb, processes=args.processes,
                    output_mb=args.output_mb)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *a, **k: print(f"warning: {message}",
                                                              file=sys.stderr)
        try:
            summary = grade(args.lab, args.submissions, args.out, workers=args.workers,
                            seed=args.seed, course_root=args.course_root, limits=limits,
                            sandbox=not args.no_sandbox, progress=not args.no_progress,
                            max_notebook_mb=args.max_notebook_mb)
        except RuntimeError as exc:
            print(f"labkit grade: error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("labkit grade: interrupted; run the same command again to resume.",
                  file=sys.stderr)
            return 130
    print(summary.text())
    return 0
