"""Find the submissions in a folder and read them without trusting the folder.

What students hand in arrives through learning platforms and zip exports, which keep
symbolic links. A link could point at the reference solution, at any file of the
instructor's, or at a FIFO that blocks whoever opens it, so the grader never follows one:
it lists folders with ``lstat`` (never ``stat`` or ``resolve``), opens every path one
component at a time with ``O_NOFOLLOW``, and a submission that is a link, sits in a
folder that is a link, or has a link anywhere in its folder gets a row with status
``invalid`` and a reason, with the link's target never opened.

Sizes are checked with ``lstat``/``fstat`` before anything is read, and reads are
bounded, so one huge (or sparse) file costs its own row and nothing else. Nothing here
keeps a submission's bytes: :func:`inspect` streams a file through a hash, and
:func:`read_submission` returns one file's bytes when that submission is graded.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .rebuild import InvalidSubmission

__all__ = ["LINK_REASON", "Seen", "Submission", "find_submissions", "inspect",
           "read_submission", "submissions_folder"]

#: The reason given for every submission that is, or holds, a symbolic link.
LINK_REASON = ("links are not accepted: hand in the notebook file itself, not a link to "
               "it (links are never followed)")
#: Most entries the grader looks at in one student's folder, and how deep it goes.
MAX_FOLDER_ENTRIES = 10_000
MAX_FOLDER_DEPTH = 32
_CHUNK = 2**20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


@dataclass(frozen=True)
class Submission:
    """One submission: the student's id and where its notebook is.

    Attributes
    ----------
    id : str
        The student's id: the notebook's name without ``.ipynb``, or the folder's name.
    path : Path or None
        The notebook, for people to read (None: nothing to read, see ``problem``). The
        grader opens it as ``root`` then ``parts``, one component at a time, never
        following a link.
    problem : str
        Why it is invalid before anything is read (a link, a folder without a notebook).
    size : int or None
        The file's size in bytes, from ``lstat``.
    root : Path or None
        The submissions folder (the instructor's) the ``parts`` are relative to.
    parts : tuple of str
        Path components from ``root`` to the notebook.
    """

    id: str
    path: Path | None
    problem: str = ""
    size: int | None = None
    root: Path | None = None
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Seen:
    """What :func:`inspect` found without keeping the file: its hash or its problem."""

    sha256: str | None
    size: int | None
    problem: str

    @property
    def identity(self) -> str:
        """What a saved record must match to be reused: the hash, or the problem."""
        return self.sha256 if self.sha256 is not None else f"invalid: {self.problem}"


def _notebook_id(name: str) -> str:
    return name[: -len(".ipynb")] if name.endswith(".ipynb") else name


def submissions_folder(submissions: str | Path) -> Path:
    """The folder the submissions live in (for the sandbox to hide and ``--out`` to avoid).

    ``submissions`` is the instructor's argument: a folder, or one notebook. A link to a
    folder is the instructor's own and is followed; links *inside* it never are.

    Examples
    --------
    >>> submissions_folder("/nonexistent/ann.ipynb")
    PosixPath('/nonexistent')
    """
    path = Path(submissions)
    if os.path.isdir(path):
        return path.resolve()
    return Path(os.path.abspath(path.parent))


def find_submissions(folder: str | Path) -> list[Submission]:
    """List the submissions in ``folder``: each ``*.ipynb`` file (id: its name without
    ``.ipynb``) and each subfolder holding exactly one notebook (id: the folder's name).

    Names starting with a dot and files that are not notebooks are ignored. Everything
    else that cannot be graded still becomes a submission with a ``problem``, so that it
    gets a row in the gradebook: a link (to a file or a folder, dangling or not), a
    folder that holds a link, no notebook or several, a notebook that is not a regular
    file. Links are never followed, and nothing is opened. A single notebook path is
    one submission.

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> d = Path(tmp.name)
    >>> _ = (d / "ann.ipynb").write_text("{}")
    >>> (d / "bob").mkdir()
    >>> os.symlink(d / "ann.ipynb", d / "cy.ipynb")
    >>> [(s.id, s.problem[:22]) for s in find_submissions(d)]
    [('ann', ''), ('bob', 'the folder holds no no'), ('cy', 'links are not accepted')]
    >>> tmp.cleanup()
    """
    folder = Path(folder)
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        raise FileNotFoundError(f"No submissions folder {folder}.") from None
    if stat.S_ISLNK(info.st_mode) and os.path.isdir(folder):
        info = os.stat(folder)  # the instructor's link to a folder: follow it
    if not stat.S_ISDIR(info.st_mode):
        name = folder.name
        if stat.S_ISLNK(info.st_mode):
            return [Submission(_notebook_id(name), None, LINK_REASON)]
        if not stat.S_ISREG(info.st_mode):
            return [Submission(_notebook_id(name), None, "not a regular file")]
        root = Path(os.path.abspath(folder.parent))
        return [Submission(_notebook_id(name), root / name, size=info.st_size, root=root,
                           parts=(name,))]
    root = folder.resolve()
    found: dict[str, Submission] = {}
    with os.scandir(root) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        sub = _entry_submission(root, entry)
        if sub is None:
            continue
        if sub.id in found:
            sub = Submission(f"{sub.id} ({entry.name})", None,
                             "another submission has the same id")
        found[sub.id] = sub
    return list(found.values())


def _entry_submission(root: Path, entry: os.DirEntry) -> Submission | None:
    """The submission one top-level entry makes (None: not a submission)."""
    name = entry.name
    if entry.is_symlink():
        return Submission(_notebook_id(name), None, LINK_REASON)
    if entry.is_dir(follow_symlinks=False):
        notebooks, problem = _scan_folder(root, name)
        if problem:
            return Submission(name, None, problem)
        if len(notebooks) != 1:
            return Submission(name, None, "the folder holds no notebook" if not notebooks
                              else f"the folder holds {len(notebooks)} notebooks; keep "
                              "exactly one")
        parts, size = notebooks[0]
        return Submission(name, root.joinpath(*parts), size=size, root=root, parts=parts)
    if not name.endswith(".ipynb"):
        return None
    info = entry.stat(follow_symlinks=False)
    if not stat.S_ISREG(info.st_mode):
        return Submission(_notebook_id(name), None, "not a regular file")
    return Submission(_notebook_id(name), root / name, size=info.st_size, root=root,
                      parts=(name,))


def _scan_folder(root: Path, name: str) -> tuple[list[tuple[tuple[str, ...], int]], str]:
    """Notebooks (parts, size) in one student's folder, or why the folder is invalid.

    Walks with an explicit stack of folder descriptors, each opened with
    ``O_NOFOLLOW``, so a link is seen as a link and a deep tree costs no recursion.
    """
    notebooks: list[tuple[tuple[str, ...], int]] = []
    seen = 0
    try:
        top = _open_dir(root, (name,))
    except OSError as exc:
        return [], f"the folder could not be read ({exc.strerror})"
    stack: list[tuple[int, tuple[str, ...]]] = [(top, (name,))]
    try:
        while stack:
            fd, parts = stack.pop()
            try:
                with os.scandir(fd) as scan:
                    entries = sorted(scan, key=lambda e: e.name)
                for entry in entries:
                    seen += 1
                    if seen > MAX_FOLDER_ENTRIES:
                        return [], (f"the folder holds more than {MAX_FOLDER_ENTRIES} "
                                    "entries; hand in the notebook alone")
                    if entry.is_symlink():
                        where = "/".join((*parts[1:], entry.name))
                        return [], f"the folder holds a link ({where}); {LINK_REASON}"
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        if len(parts) >= MAX_FOLDER_DEPTH:
                            return [], "the folder's subfolders are nested too deep"
                        child = os.open(entry.name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW
                                        | _CLOEXEC, dir_fd=fd)
                        stack.append((child, (*parts, entry.name)))
                    elif entry.name.endswith(".ipynb"):
                        info = entry.stat(follow_symlinks=False)
                        if not stat.S_ISREG(info.st_mode):
                            return [], f"{entry.name} is not a regular file"
                        notebooks.append(((*parts, entry.name), info.st_size))
            finally:
                os.close(fd)
    except OSError as exc:
        return [], f"the folder could not be read ({exc.strerror})"
    finally:
        for fd, _ in stack:
            os.close(fd)
    return sorted(notebooks), ""


def _open_dir(root: Path, parts: tuple[str, ...]) -> int:
    """Open ``root/parts...`` as a folder, refusing a link at every component."""
    fd = os.open(root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        for part in parts:
            child = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC,
                            dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_file(sub: Submission) -> int:
    """Open a submission's notebook for reading, refusing a link at every component."""
    assert sub.root is not None and sub.parts
    folder = _open_dir(sub.root, sub.parts[:-1])
    try:
        # O_NONBLOCK: should the file have become a FIFO, opening it must not block.
        return os.open(sub.parts[-1], os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC,
                       dir_fd=folder)
    finally:
        os.close(folder)


def _too_large(size: int, max_bytes: int) -> str:
    return (f"the file is {size / 2**20:.1f} MiB, over the {max_bytes / 2**20:g} MiB limit; "
            "clear outputs and resubmit")


def _opened(sub: Submission, max_bytes: int) -> tuple[int | None, int | None, str]:
    """``(fd, size, "")`` for a notebook that may be read, else ``(None, size, problem)``."""
    if sub.problem or sub.root is None:
        return None, sub.size, sub.problem or "no notebook to read"
    if sub.size is not None and sub.size > max_bytes:
        return None, sub.size, _too_large(sub.size, max_bytes)  # from lstat: never opened
    try:
        fd = _open_file(sub)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            return None, sub.size, LINK_REASON  # it became a link after it was listed
        return None, sub.size, f"the file could not be read ({exc.strerror})"
    info = os.fstat(fd)
    problem = ""
    if not stat.S_ISREG(info.st_mode):
        problem = "not a regular file"
    elif info.st_size > max_bytes:
        problem = _too_large(info.st_size, max_bytes)
    if problem:
        os.close(fd)
        return None, info.st_size, problem
    return fd, info.st_size, ""


def _chunks(fd: int, max_bytes: int):
    """Read ``fd`` in chunks, at most ``max_bytes + 1`` bytes in all."""
    left = max_bytes + 1
    while left > 0:
        chunk = os.read(fd, min(_CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk


def inspect(sub: Submission, max_bytes: int) -> Seen:
    """Hash a submission's file without keeping it, or say why it cannot be graded.

    Reads at most ``max_bytes + 1`` bytes, one chunk at a time; a file that ``lstat``
    or ``fstat`` shows too large is never read.

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> _ = (Path(tmp.name) / "a.ipynb").write_bytes(b"{}")
    >>> [sub] = find_submissions(tmp.name)
    >>> inspect(sub, max_bytes=100).sha256[:12], inspect(sub, max_bytes=1).problem[:26]
    ('44136fa355b3', 'the file is 0.0 MiB, over ')
    >>> tmp.cleanup()
    """
    fd, size, problem = _opened(sub, max_bytes)
    if fd is None:
        return Seen(None, size, problem)
    digest, total = hashlib.sha256(), 0
    try:
        for chunk in _chunks(fd, max_bytes):
            digest.update(chunk)
            total += len(chunk)
    except OSError as exc:
        return Seen(None, size, f"the file could not be read ({exc.strerror})")
    finally:
        os.close(fd)
    if total > max_bytes:  # it grew after fstat
        return Seen(None, total, _too_large(total, max_bytes))
    return Seen(digest.hexdigest(), total, "")


def read_submission(sub: Submission, max_bytes: int) -> bytes:
    """The bytes of one submission's notebook, read with a bound.

    Raises
    ------
    InvalidSubmission
        When it is a link, not a regular file, over ``max_bytes`` (checked before
        reading, and again while reading), or cannot be read.
    """
    fd, _, problem = _opened(sub, max_bytes)
    if fd is None:
        raise InvalidSubmission(problem)
    try:
        data = b"".join(_chunks(fd, max_bytes))
    except OSError as exc:
        raise InvalidSubmission(f"the file could not be read ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise InvalidSubmission(_too_large(len(data), max_bytes))
    return data
