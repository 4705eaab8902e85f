"""Apply resource limits, then run a command: ``python -I .../grading/limits.py``.

Usage (the grader writes these command lines; they are not meant for people)::

    python -I limits.py '{"RLIMIT_AS": 4294967296, ...}' \
        [--chdir DIR --env '{"HOME": ...}'] -- COMMAND ARGS...

The limits are inherited by the command and everything it starts. ``--chdir`` and
``--env`` are used when no sandbox runs the command (the sandbox sets both otherwise);
then ``--pidfile`` records the command's process group, which the grader kills at the
end, and the command is killed when its parent (the grader's runner) dies.
"""

from __future__ import annotations

import json
import os
import resource
import sys


def _die_with_parent() -> None:
    """Ask Linux to kill this process (and what it execs) when its parent dies."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def main(argv: list[str]) -> None:
    """Set the limits named in ``argv[0]`` and replace this process by the command."""
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1:]
    for name, value in json.loads(options[0]).items():
        resource.setrlimit(getattr(resource, name), (value, value))
    env = None
    if "--pidfile" in options:
        _die_with_parent()
        with open(options[options.index("--pidfile") + 1], "w") as handle:
            handle.write(str(os.getpgid(0)))
    if "--chdir" in options:
        os.chdir(options[options.index("--chdir") + 1])
    if "--env" in options:
        env = json.loads(options[options.index("--env") + 1])
    if env is None:
        os.execvp(command[0], command)
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    main(sys.argv[1:])
