"""The ``labkit`` command: authoring tools for the course and grading for instructors.

    labkit author build            regenerate labs/ from solutions/
    labkit author check            fail when labs/ are stale, leak answers or carry outputs
    labkit author execute NB...    re-execute solution notebooks in place
    labkit assign LAB --out BUNDLE  freeze a lab for grading (template, solution, labkit)
    labkit grade LAB|BUNDLE SUBMISSIONS --out DIR [--root DIR] [--scheduler ADDRESS]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _author_build(args: argparse.Namespace) -> int:
    from .authoring import build_course

    written = build_course(args.root)
    for path in written:
        print(f"wrote {path}")
    print(f"{len(written)} file(s) updated" if written else "labs/ already up to date")
    return 0


def _author_check(args: argparse.Namespace) -> int:
    from .authoring import check_course

    problems = check_course(args.root)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s); fix the solution or run `labkit author build`.",
              file=sys.stderr)
        return 1
    print("authoring check passed: labs/ match solutions/")
    return 0


def _author_execute(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .authoring import execute_in_place

    for path in tqdm(args.notebooks, desc="executing", unit="notebook"):
        execute_in_place(path, timeout=args.timeout)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``labkit`` command."""
    parser = argparse.ArgumentParser(prog="labkit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    author = commands.add_parser("author", help="generate and check student labs")
    author_commands = author.add_subparsers(dest="action", required=True)
    for name, func, text in [("build", _author_build, "regenerate labs/ from solutions/"),
                             ("check", _author_check, "check labs/ against solutions/")]:
        sub = author_commands.add_parser(name, help=text)
        sub.add_argument("--root", default=None, help="course root (default: search upwards)")
        sub.set_defaults(func=func)
    execute = author_commands.add_parser("execute", help="re-execute solutions in place")
    execute.add_argument("notebooks", nargs="+", help="solution notebooks to execute")
    execute.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    execute.set_defaults(func=_author_execute)

    from .grading.cli import register, register_assign

    register_assign(commands)
    register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``labkit`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, LookupError, ValueError) as exc:
        print(f"labkit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
