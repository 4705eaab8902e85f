"""The ``labkit grade`` and ``labkit assign`` subcommands."""

from __future__ import annotations

import argparse
import sys

_DESCRIPTION = """\
Grade a folder of submitted notebooks of one lab. Each submission's answer cells are
rebuilt into the lab's template, run in a sandbox with limits under a grading seed
(one of a pool drawn from a secret, picked by a keyed hash of the answers), and
compared with the reference solution run on the same data. Writes DIR/grades.csv,
DIR/feedback/<id>.md, DIR/report.html (the class report) and DIR/log.json; re-running
with the same DIR resumes.

LAB is a lab of the course (its number, slug or solution notebook), or a bundle written
by `labkit assign`: then everything grading needs comes from the bundle, so grades do
not change when the course's solutions, labs or labkit change later.

exit status: 0 when every submission got a row (whatever its status); non-zero when
grading could not start: a bad argument, a missing lab or template, a changed bundle, or
a reference solution that does not run cleanly under the grading seed."""

_ASSIGN = """\
Freeze a lab for grading: write one file (a zip with a manifest of SHA-256 hashes)
holding the student template, the reference solution, the labkit package source the
kernels import to record results (the lab's checks and labkit's checks core), the labkit
version and the limits. `labkit grade BUNDLE SUBMISSIONS --out DIR` then grades from it
alone, with the same grades whatever changes in the course afterwards."""


class _DeprecatedRoot(argparse.Action):
    """``--course-root``: the old name of ``--root``; works, and says so."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: D102
        print("labkit grade: --course-root is deprecated; use --root", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _limit_options(parser: argparse.ArgumentParser, *, grading: bool) -> None:
    """The limit options; for ``grade`` they default to the bundle's (or the defaults)."""
    from .sandbox import Limits

    defaults = Limits()
    later = " (default: the bundle's, else %s)" if grading else " (default: %s)"
    for flag, dest, kind, value, text in [
            ("--cell-timeout", "cell_timeout", float, defaults.cell_timeout,
             "seconds per cell"),
            ("--timeout", "timeout", float, defaults.submission_timeout,
             "seconds per submission"),
            ("--memory-mb", "memory_mb", int, defaults.memory_mb,
             "memory per kernel process in MiB"),
            ("--processes", "processes", int, defaults.processes,
             "processes and threads per kernel"),
            ("--output-mb", "output_mb", float, defaults.output_mb,
             "output kept per submission in MiB"),
            ("--max-notebook-mb", "max_notebook_mb", float, 50.0,
             "larger submitted files are invalid")]:
        parser.add_argument(flag, dest=dest, type=kind, default=None if grading else value,
                            help=text + later % f"{value:g}")


def _limits(args: argparse.Namespace, *, frozen=None):
    """The Limits the options ask for (None: none given, use the bundle's)."""
    from dataclasses import asdict

    from .sandbox import Limits

    given = {"cell_timeout": args.cell_timeout, "submission_timeout": args.timeout,
             "memory_mb": args.memory_mb, "processes": args.processes,
             "output_mb": args.output_mb}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return None
    base = asdict(frozen) if frozen is not None else asdict(Limits())
    return Limits(**{**base, **given})


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``grade`` subcommand to the ``labkit`` command's subparsers; returns it.

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="labkit")
    >>> grade_parser = register(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["grade", "01", "subs", "--out", "graded"])
    >>> args.workers, args.cell_timeout, args.seed_pool, args.root, args.scheduler
    (1, None, 4, None, None)
    >>> parser.parse_args(["grade", "01", "subs", "--out", "o", "--root", "course"]).root
    'course'
    >>> "--root" in grade_parser.format_help(), "--course-root" in grade_parser.format_help()
    (True, False)
    >>> parser.parse_args(["grade", "b", "s", "--out", "o", "--export", "canvas",
    ...                    "--export", "moodle"]).export
    ['canvas', 'moodle']
    """
    from .lms import MOODLE_IDENTIFIERS, PLATFORMS
    from .seeds import POOL_SIZE

    parser = subparsers.add_parser(
        "grade", help="grade submitted notebooks of a lab", description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lab", metavar="LAB",
                        help="lab number (01), slug (01-metrics), solution notebook path, "
                             "or a bundle written by `labkit assign`")
    parser.add_argument("submissions", metavar="SUBMISSIONS",
                        help="folder of *.ipynb files or of one folder per student")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--workers", type=int, default=1,
                        help="submissions graded in parallel here (default: 1)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run the notebooks on this Dask distributed scheduler "
                             "(tcp://host:8786), one task per submission, each worker with "
                             "the same sandbox and limits (needs dask[distributed])")
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
    _limit_options(parser, grading=True)
    parser.add_argument("--roster", default=None, metavar="CSV",
                        help="CSV mapping submission ids to LMS ids (a 'submission' column "
                             "plus the LMS's id columns)")
    parser.add_argument("--export", action="append", default=[], choices=PLATFORMS,
                        help="also write DIR/<platform>-grades.csv in that LMS's import "
                             "format (needs --roster; repeat for both)")
    parser.add_argument("--assignment", default=None, metavar="NAME",
                        help="the LMS assignment's name (default: the lab's slug)")
    parser.add_argument("--assignment-id", default=None, metavar="ID",
                        help="Canvas assignment id: the column is 'NAME (ID)' (without it "
                             "Canvas creates a new assignment)")
    parser.add_argument("--moodle-id", default="email", choices=list(MOODLE_IDENTIFIERS),
                        help="roster column Moodle identifies students by "
                             "(default: %(default)s)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="do not use bubblewrap (limits only; not for real grading)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=_run)
    return parser


def register_assign(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``assign`` subcommand; returns it.

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="labkit")
    >>> _ = register_assign(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["assign", "01", "--out", "lab01.bundle"])
    >>> args.out, args.cell_timeout, args.max_notebook_mb
    ('lab01.bundle', 120.0, 50.0)
    """
    parser = subparsers.add_parser(
        "assign", help="freeze a lab for grading into one bundle file", description=_ASSIGN,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lab", metavar="LAB",
                        help="lab number (01), slug (01-metrics) or solution notebook path")
    parser.add_argument("--out", required=True, metavar="BUNDLE",
                        help="the bundle file to write, e.g. lab01.bundle")
    parser.add_argument("--root", default=None, metavar="DIR",
                        help="course root (default: search upwards)")
    _limit_options(parser, grading=False)
    parser.set_defaults(func=_assign)
    return parser


def _assign(args: argparse.Namespace) -> int:
    from .bundle import write_bundle
    from .sandbox import Limits

    limits = Limits(cell_timeout=args.cell_timeout, submission_timeout=args.timeout,
                    memory_mb=args.memory_mb, processes=args.processes,
                    output_mb=args.output_mb)
    bundle = write_bundle(args.lab, args.out, course_root=args.root, limits=limits,
                          max_notebook_mb=args.max_notebook_mb)
    manifest = bundle.manifest
    source = manifest.get("source") or {}
    commit = source.get("commit")
    print(f"wrote {bundle.path}\n"
          f"  lab {bundle.slug}: {len(manifest['tasks'])} task(s), "
          f"{manifest['max_points']} points\n"
          f"  labkit {manifest['labkit']['version']} ({manifest['labkit']['files']} files, "
          f"code SHA-256 {bundle.labkit_sha256[:16]}...)\n"
          + (f"  course commit {commit}{' with local changes' if source.get('dirty') else ''}"
             "\n" if commit else "")
          + f"  bundle SHA-256 {bundle.sha256}\n"
          f"Keep this hash: every `labkit grade` of the bundle records it in log.json.")
    return 0


def _run(args: argparse.Namespace) -> int:
    import warnings

    from .batch import _is_bundle, grade
    from .bundle import load_bundle

    frozen = load_bundle(args.lab).limits if _is_bundle(args.lab) else None
    limits = _limits(args, frozen=frozen)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *a, **k: print(f"warning: {message}",
                                                              file=sys.stderr)
        try:
            summary = grade(args.lab, args.submissions, args.out, workers=args.workers,
                            seed=args.seed, course_root=args.root, limits=limits,
                            sandbox=not args.no_sandbox, progress=not args.no_progress,
                            max_notebook_mb=args.max_notebook_mb,
                            seed_pool=args.seed_pool, scheduler=args.scheduler,
                            roster=args.roster, export=args.export,
                            assignment=args.assignment, assignment_id=args.assignment_id,
                            moodle_id=args.moodle_id)
        except RuntimeError as exc:
            print(f"labkit grade: error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("labkit grade: interrupted; run the same command again to resume.",
                  file=sys.stderr)
            return 130
    print(summary.text())
    return 0
