"""The ``labkit grade`` subcommand."""

from __future__ import annotations

import argparse
import sys

_DESCRIPTION = """\
Grade a folder of submitted notebooks of one lab. Each submission's answer cells are
rebuilt into the lab's template, run in a sandbox with limits under a grading seed
(one of a pool drawn from a secret, picked by a keyed hash of the answers), and
compared with the reference solution run on the same data. Writes DIR/grades.csv,
DIR/feedback/<id>.md and DIR/log.json; re-running with the same DIR resumes.

exit status: 0 when every submission got a row (whatever its status); non-zero when
grading could not start: a bad argument, a missing lab or template, or a reference
solution that does not run cleanly under the grading seed."""


class _DeprecatedRoot(argparse.Action):
    """``--course-root``: the old name of ``--root``; works, and says so."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: D102
        print("labkit grade: --course-root is deprecated; use --root", file=sys.stderr)
        setattr(namespace, self.dest, values)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``grade`` subcommand to the ``labkit`` command's subparsers; returns it.

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="labkit")
    >>> grade_parser = register(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["grade", "01", "subs", "--out", "graded"])
    >>> args.workers, args.cell_timeout, args.seed_pool, args.root
    (1, 120.0, 4, None)
    >>> parser.parse_args(["grade", "01", "subs", "--out", "o", "--root", "course"]).root
    'course'
    >>> "--root" in grade_parser.format_help(), "--course-root" in grade_parser.format_help()
    (True, False)
    """
    from .sandbox import Limits
    from .seeds import POOL_SIZE

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
                        help="makes the grading secret reproducible; use a long random "
                             "number (default: a random secret, drawn once, kept in DIR)")
    parser.add_argument("--seed-pool", type=int, default=POOL_SIZE, metavar="K",
                        help="grading seeds drawn from the secret, one picked per version "
                             "of the answers; each costs at most one reference run "
                             "(default: %(default)s)")
    parser.add_argument("--root", default=None, metavar="DIR",
                        help="course root (default: search upwards), as in labkit author")
    # The option's former name: still accepted, no longer shown.
    parser.add_argument("--course-root", dest="root", action=_DeprecatedRoot,
                        help=argparse.SUPPRESS)
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
    return parser


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
                            seed=args.seed, course_root=args.root, limits=limits,
                            sandbox=not args.no_sandbox, progress=not args.no_progress,
                            max_notebook_mb=args.max_notebook_mb,
                            seed_pool=args.seed_pool)
        except RuntimeError as exc:
            print(f"labkit grade: error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("labkit grade: interrupted; run the same command again to resume.",
                  file=sys.stderr)
            return 130
    print(summary.text())
    return 0
