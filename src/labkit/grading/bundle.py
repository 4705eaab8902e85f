"""A frozen assignment: one file holding everything grading needs (``labkit assign``).

Grading from a lab folder reads ``solutions/``, ``labs/`` and the installed labkit as
they are when it runs, so a fix pushed in week 6 changes how week-2 submissions are
graded. A *bundle* freezes them when the lab is handed out:

* ``template.ipynb``: the student lab (the grading template);
* ``solution.ipynb``: the reference solution;
* ``labkit/...``: the whole labkit package source as it was, the *grading probes*: the
  kernel imports the lab's ``labkit.checks`` module, the checks core that records results
  and anything they import from labkit, so all of it is frozen. The grader puts this
  copy first on the kernel's ``PYTHONPATH`` (mounted read-only in the sandbox), so the
  kernel imports the frozen labkit, never the one installed on the grading machine;
* ``manifest.json``: the lab, its tasks, the labkit version, the limits and the
  SHA-256 and size of every other member.

The bundle is a zip file. :func:`load_bundle` refuses one whose members do not match
the manifest (a member changed, added or removed), with a message that says so; it
never extracts a member by the name stored in the archive. The manifest is not signed:
it detects damage and edits, not a forger who rewrites the manifest too. For that, keep
the SHA-256 that ``labkit assign`` prints (``log.json`` records the bundle's hash on
every grading run) and compare.

Examples
--------
>>> files = package_files()
>>> "labkit/checks/_core.py" in files and "labkit/__init__.py" in files
True
>>> len(code_hash(files))
64
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import time
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .sandbox import Limits

__all__ = ["BUNDLE_FORMAT", "Bundle", "BundleError", "code_hash", "load_bundle",
           "package_files", "write_bundle", "write_package"]

#: Version of the bundle layout; a grader refuses a bundle of a newer format.
BUNDLE_FORMAT = 1
MANIFEST = "manifest.json"
TEMPLATE = "template.ipynb"
SOLUTION = "solution.ipynb"
#: Most bytes a bundle may hold once unpacked (a zip bomb is refused before reading).
MAX_UNPACKED = 64 * 2**20
MAX_MEMBERS = 2000
_PACKAGE_MEMBER = re.compile(r"^labkit/(?:[A-Za-z_][A-Za-z0-9_]*/)*"
                             r"(?:[A-Za-z_][A-Za-z0-9_]*\.py|py\.typed)$")
# Fixed member times, so that the same inputs make the same bytes.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


class BundleError(ValueError):
    """A file is not a bundle this grader can use, or was changed after ``assign``."""


def package_files(package: Path | None = None) -> dict[str, bytes]:
    """The source of the labkit package: ``{"labkit/<path>": bytes}``, sorted.

    Every ``.py`` file and ``py.typed``; no compiled caches. ``package`` defaults to the
    labkit this grader runs from.
    """
    root = Path(package) if package is not None else Path(__file__).resolve().parents[1]
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if "__pycache__" in rel.split("/") or not path.is_file():
            continue
        if path.suffix == ".py" or path.name == "py.typed":
            found[f"labkit/{rel}"] = path.read_bytes()
    return found


def code_hash(files: Mapping[str, bytes]) -> str:
    """SHA-256 over the package files (names and contents), in name order."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name])
    return digest.hexdigest()


def write_package(files: Mapping[str, bytes], folder: Path) -> Path:
    """Write package files under ``folder`` (created), readable by everybody; returns it.

    Folders 0755, files 0644: an unprivileged sandboxed kernel must read them.
    """
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    for name, data in files.items():
        if not _PACKAGE_MEMBER.match(name):
            raise BundleError(f"unexpected package file name {name!r}")
        path = folder / name
        for parent in reversed(path.relative_to(folder).parents[:-1]):
            sub = folder / parent
            if not sub.is_dir():
                sub.mkdir()
                os.chmod(sub, 0o755)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(path, 0o644)
    return folder


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _git_source(folder: Path) -> dict[str, Any] | None:
    """The commit of the course repository, and whether the lab's files were edited."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--",
                                "solutions", "labs", "src/labkit"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


@dataclass(frozen=True)
class Bundle:
    """A bundle read and verified by :func:`load_bundle`.

    Attributes
    ----------
    path : Path
        The bundle file.
    sha256 : str
        SHA-256 of the whole file.
    manifest : dict
        The manifest (lab, tasks, labkit version, limits, member hashes).
    template, solution : bytes
        The two notebooks.
    package : dict
        The frozen labkit source, ``{"labkit/<path>": bytes}``.
    """

    path: Path
    sha256: str
    manifest: dict[str, Any]
    template: bytes
    solution: bytes
    package: dict[str, bytes] = field(repr=False)

    @property
    def slug(self) -> str:
        """The lab's slug (``01-metrics``)."""
        return str(self.manifest["lab"]["slug"])

    @property
    def limits(self) -> Limits:
        """The limits frozen at ``assign``."""
        return Limits(**self.manifest["limits"])

    @property
    def max_notebook_mb(self) -> float:
        """The largest submission read, frozen at ``assign``."""
        return float(self.manifest["max_notebook_mb"])

    @property
    def labkit_sha256(self) -> str:
        """Hash of the frozen labkit source (:func:`code_hash`)."""
        return str(self.manifest["labkit"]["sha256"])

    def describe(self) -> dict[str, Any]:
        """What ``log.json`` records of the bundle."""
        return {"path": str(self.path), "sha256": self.sha256, "lab": self.manifest["lab"],
                "created": self.manifest.get("created"),
                "source": self.manifest.get("source"),
                "labkit_version": self.manifest["labkit"]["version"],
                "labkit_sha256": self.labkit_sha256}


def write_bundle(lab: str | Path, out: str | Path, *,
                 course_root: str | Path | None = None, limits: Limits | None = None,
                 max_notebook_mb: float = 50.0) -> Bundle:
    """Freeze a lab for grading: write the bundle ``out`` and return it, verified.

    Parameters
    ----------
    lab : str or Path
        Lab number (``"01"``), slug, or path of a solution notebook.
    out : str or Path
        The bundle file to write (conventionally ``<slug>.bundle``); replaced if it
        exists.
    course_root : str or Path, optional
        Course repository (default: found from the current folder).
    limits : Limits, optional
        Limits every grading run of this bundle uses unless told otherwise.
    max_notebook_mb : float
        Larger submissions are rejected unread.

    Raises
    ------
    FileNotFoundError, LookupError
        When the lab or its template is missing.
    ValueError
        When the template and solution break the lab contract or disagree on tasks.
    """
    import nbformat

    from .. import __version__
    from .batch import resolve_lab
    from .rebuild import tasks_of

    if not isinstance(max_notebook_mb, (int, float)) or max_notebook_mb <= 0:
        raise ValueError(f"max_notebook_mb must be positive, got {max_notebook_mb!r}")
    limits = limits or Limits()
    solution_path, template_path = resolve_lab(lab, course_root)
    solution, template = solution_path.read_bytes(), template_path.read_bytes()
    tasks = tasks_of(nbformat.reads(template.decode("utf-8"), as_version=4))
    if set(tasks_of(nbformat.reads(solution.decode("utf-8"), as_version=4))) != set(tasks):
        raise ValueError(f"{template_path.name} and {solution_path.name} have different "
                         "tasks; run `labkit author build`.")
    package = package_files()
    members = {TEMPLATE: template, SOLUTION: solution, **package}
    manifest = {
        "labkit_bundle_format": BUNDLE_FORMAT,
        "lab": {"slug": solution_path.stem, "solution": solution_path.name,
                "template": f"labs/{template_path.name}"},
        "tasks": tasks,
        "max_points": sum(t["points"] for t in tasks.values()),
        "limits": asdict(limits), "max_notebook_mb": float(max_notebook_mb),
        "labkit": {"version": __version__, "sha256": code_hash(package),
                   "files": len(package)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": _git_source(solution_path.parent),
        "files": {name: {"sha256": _sha256(data), "bytes": len(data)}
                  for name, data in members.items()},
    }
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; name the bundle file, e.g. "
                         f"{out / (solution_path.stem + '.bundle')}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in [(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True)
                            .encode()), *sorted(members.items())]:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, out)
    return load_bundle(out)


def _refuse(path: Path, why: str) -> BundleError:
    return BundleError(f"{path} is not a usable labkit bundle: {why}. Make a new one with "
                       "`labkit assign LAB --out BUNDLE` (from the course at the commit the "
                       "lab was handed out), or grade from the lab folder.")


def load_bundle(path: str | Path) -> Bundle:
    """Read a bundle and check every member against its manifest.

    Raises
    ------
    FileNotFoundError
        When there is no such file.
    BundleError
        When the file is not a bundle, has a newer format, or any member's SHA-256 or
        size differs from the manifest, a member is missing or one is extra (a bundle
        changed after ``labkit assign``).

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> bad = Path(tmp.name) / "lab.bundle"
    >>> _ = bad.write_bytes(b"not a zip")
    >>> load_bundle(bad)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    labkit.grading.bundle.BundleError: ... is not a usable labkit bundle: not a zip file...
    >>> tmp.cleanup()
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No bundle {path}.")
    raw = path.read_bytes()
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise _refuse(path, "not a zip file") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS or sum(i.file_size for i in infos) > MAX_UNPACKED:
            raise _refuse(path, "it is too large once unpacked")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise _refuse(path, "it holds two members with the same name")
        if MANIFEST not in names:
            raise _refuse(path, f"it has no {MANIFEST}")
        try:
            data = {i.filename: archive.read(i) for i in infos}
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise _refuse(path, f"a member cannot be read ({exc})") from None
    try:
        manifest = json.loads(data.pop(MANIFEST).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _refuse(path, f"its {MANIFEST} is not JSON") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise _refuse(path, f"its {MANIFEST} lists no files")
    version = manifest.get("labkit_bundle_format")
    if version != BUNDLE_FORMAT:
        raise _refuse(path, f"bundle format {version!r}; this grader reads format "
                            f"{BUNDLE_FORMAT} (upgrade labkit to grade a newer bundle)")
    listed = manifest["files"]
    for name in sorted(set(data) | set(listed)):
        if name not in listed:
            raise BundleError(f"{path} was changed after `labkit assign`: it holds {name}, "
                              "which its manifest does not list. Refusing to grade with it.")
        if name not in data:
            raise BundleError(f"{path} was changed after `labkit assign`: {name} is listed "
                              "in its manifest but missing. Refusing to grade with it.")
        entry = listed[name]
        got = _sha256(data[name])
        if not isinstance(entry, dict) or entry.get("sha256") != got \
                or entry.get("bytes") != len(data[name]):
            want = entry.get("sha256") if isinstance(entry, dict) else None
            raise BundleError(f"{path} was changed after `labkit assign`: {name} has SHA-256 "
                              f"{got[:16]}..., but the manifest says {str(want)[:16]}... "
                              "Refusing to grade with it; make a new bundle with `labkit "
                              "assign`, or restore the original file.")
        if name not in (TEMPLATE, SOLUTION) and not _PACKAGE_MEMBER.match(name):
            raise _refuse(path, f"unexpected member {name!r}")
    package = {name: blob for name, blob in sorted(data.items())
               if name not in (TEMPLATE, SOLUTION)}
    for key in ("lab", "tasks", "limits", "max_notebook_mb", "labkit"):
        if key not in manifest:
            raise _refuse(path, f"its manifest has no {key!r}")
    if TEMPLATE not in data or SOLUTION not in data or "labkit/__init__.py" not in package:
        raise _refuse(path, "it lacks the template, the solution or the labkit package")
    if code_hash(package) != manifest["labkit"].get("sha256"):
        raise BundleError(f"{path} was changed after `labkit assign`: its labkit source does "
                          "not match the manifest's hash. Refusing to grade with it.")
    try:
        Limits(**manifest["limits"])
    except (TypeError, ValueError) as exc:
        raise _refuse(path, f"its limits are not valid ({exc})") from None
    return Bundle(path.resolve(), _sha256(raw), manifest, data[TEMPLATE], data[SOLUTION],
                  package)
