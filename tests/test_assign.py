"""Frozen assignments: ``labkit assign`` writes one bundle holding the template, the
reference solution, labkit's source (the checks the kernel records results with), the
labkit version and the limits, with hashes; ``labkit grade BUNDLE`` grades from it alone.

The unit tests check what a bundle holds and that a changed one is refused. The grading
test grades a class from a temporary copy of the fixture course, with a copy of labkit
standing for the installed one: from the lab folder and from the bundle (the same
gradebook), then again after the solution and a checks module changed on "main": the
folder's grades change, the bundle's do not, byte for byte.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

import labkit
from labkit.cli import build_parser, main
from labkit.grading.bundle import BundleError, code_hash, load_bundle, package_files, write_bundle
from labkit.grading.cli import _limits
from labkit.grading.sandbox import Limits

FIXTURE = Path(__file__).parent / "fixtures" / "grading"
SOLUTION = FIXTURE / "solutions" / "90-fixture.ipynb"
TEMPLATE = FIXTURE / "labs" / "90-fixture.ipynb"
PACKAGE = Path(labkit.__file__).resolve().parent


@pytest.fixture
def bundle(tmp_path):
    return write_bundle(SOLUTION, tmp_path / "lab90.bundle",
                        limits=Limits(cell_timeout=30, submission_timeout=90),
                        max_notebook_mb=5)


def test_a_bundle_holds_the_lab_labkits_source_and_their_hashes(bundle):
    with zipfile.ZipFile(bundle.path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    manifest = json.loads(members.pop("manifest.json"))
    assert members["template.ipynb"] == TEMPLATE.read_bytes()
    assert members["solution.ipynb"] == SOLUTION.read_bytes()
    # the grading probes: labkit's checks core and every lab's checks module, as they are
    for name in ("labkit/__init__.py", "labkit/checks/__init__.py", "labkit/checks/_core.py",
                 "labkit/checks/lab01.py", "labkit/contract.py", "labkit/py.typed"):
        assert members[name] == (PACKAGE / name.removeprefix("labkit/")).read_bytes(), name
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in members)
    assert set(manifest["files"]) == set(members)
    for name, data in members.items():
        assert manifest["files"][name] == {"sha256": hashlib.sha256(data).hexdigest(),
                                           "bytes": len(data)}
    assert manifest["labkit"]["version"] == labkit.__version__
    assert manifest["labkit"]["sha256"] == code_hash(
        {k: v for k, v in members.items() if k.startswith("labkit/")})
    assert manifest["lab"]["slug"] == "90-fixture"
    assert manifest["tasks"] == {"mean": {"points": 2, "cell_id": "task-mean",
                                          "kind": "function"},
                                 "scale": {"points": 3, "cell_id": "task-scale",
                                           "kind": "function"},
                                 "cutoff": {"points": 1, "cell_id": "task-cutoff",
                                            "kind": "function"}}
    assert manifest["max_points"] == 6
    assert bundle.limits == Limits(cell_timeout=30, submission_timeout=90)
    assert bundle.max_notebook_mb == 5
    assert bundle.sha256 == hashlib.sha256(bundle.path.read_bytes()).hexdigest()
    assert load_bundle(bundle.path).package == package_files()


def _rewrite(path, *, replace=None, drop=(), add=None, manifest=None):
    """A copy of a bundle with members replaced, dropped or added, or its manifest edited."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    for name in drop:
        del members[name]
    members.update(replace or {})
    members.update(add or {})
    if manifest is not None:
        data = json.loads(members["manifest.json"])
        manifest(data)
        members["manifest.json"] = json.dumps(data).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    out = path.with_name("changed.bundle")
    out.write_bytes(buffer.getvalue())
    return out


def _loosen(data: bytes) -> bytes:
    return data.replace(b"if not bool(condition):", b"if False:")


@pytest.mark.parametrize("change, message", [
    ({"replace": {"solution.ipynb": b'{"cells": []}'}},
     r"changed after `labkit assign`: solution\.ipynb has SHA-256"),
    ({"replace": {"template.ipynb": TEMPLATE.read_bytes() + b" "}},
     r"template\.ipynb has SHA-256"),
    ({"replace": {"labkit/checks/_core.py": _loosen(
        (PACKAGE / "checks" / "_core.py").read_bytes())}},
     r"labkit/checks/_core\.py has SHA-256"),
    ({"drop": ["labkit/checks/_core.py"]}, r"labkit/checks/_core\.py is listed in its "
                                           r"manifest but missing"),
    ({"add": {"labkit/sitecustomize.py": b"print('hi')"}},
     r"it holds labkit/sitecustomize\.py, which its manifest does not list"),
    ({"replace": {"labkit/checks/_core.py": b"x = 1"},
      "manifest": lambda m: m["files"].update({"labkit/checks/_core.py": {
          "sha256": hashlib.sha256(b"x = 1").hexdigest(), "bytes": 5}})},
     r"its labkit source does not match the manifest's hash"),
    ({"manifest": lambda m: m.update({"labkit_bundle_format": 99})},
     r"bundle format 99; this grader reads format 1"),
    ({"drop": ["manifest.json"]}, r"it has no manifest\.json"),
])
def test_a_changed_bundle_is_refused_with_a_clear_message(bundle, change, message):
    changed = _rewrite(bundle.path, **change)
    with pytest.raises(BundleError, match=message):
        load_bundle(changed)


def test_the_grade_command_refuses_a_changed_bundle_before_writing(bundle, tmp_path, capsys):
    changed = _rewrite(bundle.path, replace={"solution.ipynb": b"{}"})
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(SOLUTION, subs / "ann.ipynb")
    code = main(["grade", str(changed), str(subs), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "changed after `labkit assign`" in err and "Refusing" in err
    assert not (tmp_path / "out").exists()
    (tmp_path / "junk.bundle").write_bytes(b"PK\x03\x04 not really")
    code = main(["grade", str(tmp_path / "junk.bundle"), str(subs), "--out",
                 str(tmp_path / "out")])
    assert code == 2 and "not a usable labkit bundle" in capsys.readouterr().err


def test_the_assign_command_prints_the_bundles_hash(tmp_path, capsys):
    out = tmp_path / "lab90.bundle"
    assert main(["assign", str(SOLUTION), "--out", str(out), "--cell-timeout", "45"]) == 0
    printed = capsys.readouterr().out
    assert f"bundle SHA-256 {hashlib.sha256(out.read_bytes()).hexdigest()}" in printed
    assert "lab 90-fixture: 3 task(s), 6 points" in printed
    assert load_bundle(out).limits.cell_timeout == 45
    assert main(["assign", str(SOLUTION), "--out", str(tmp_path)]) == 2  # a folder


def test_limit_options_change_only_what_they_name_over_the_bundles():
    frozen = Limits(cell_timeout=30, submission_timeout=90, memory_mb=2048)
    args = build_parser().parse_args(["grade", "b", "s", "--out", "o", "--timeout", "200"])
    assert _limits(args, frozen=frozen) == Limits(cell_timeout=30, submission_timeout=200,
                                                  memory_mb=2048)
    none = build_parser().parse_args(["grade", "b", "s", "--out", "o"])
    assert _limits(none, frozen=frozen) is None  # the bundle's, as they are


# ----------------------------------------------------------------- grading from a bundle
SELF_CHECK_SLIP = ("def mean(v):\n"
                   "    # right on the grading data, wrong on the self-check's [1, 2, 3]\n"
                   "    return 0.0 if len(v) == 3 else float(np.mean(v))")
WHERE = ("import labkit\n"
         "raise ValueError('labkit from the frozen copy' if '/lib/labkit/' in labkit.__file__"
         " else 'labkit from ' + labkit.__file__)")


def _answer(cell_id, source):
    nb = nbformat.read(SOLUTION, as_version=4)
    next(c for c in nb.cells if c.get("id") == cell_id).source = source
    return nb


def _labkit(args, site, cwd):
    """Run the ``labkit`` command with the labkit copy in ``site`` as the installed one."""
    run = subprocess.run([sys.executable, "-m", "labkit.cli", *map(str, args)],
                         env={**os.environ, "PYTHONPATH": str(site)}, cwd=cwd,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def _people(out):
    """What people get: the gradebook and every feedback file."""
    found = {"grades.csv": (out / "grades.csv").read_bytes()}
    for path in sorted((out / "feedback").iterdir()):
        found[path.name] = path.read_bytes()
    return found


def _rows(out):
    with open(out / "grades.csv", newline="") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


@pytest.mark.grading
def test_a_bundle_grades_like_the_folder_and_keeps_its_grades_after_main_changes(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(FIXTURE / "solutions", course / "solutions")
    shutil.copytree(FIXTURE / "labs", course / "labs")
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "labkit", ignore=shutil.ignore_patterns("__pycache__"))
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(SOLUTION, subs / "ann.ipynb")
    shutil.copy(TEMPLATE, subs / "bob.ipynb")
    nbformat.write(_answer("task-mean", SELF_CHECK_SLIP), subs / "slip.ipynb")
    nbformat.write(_answer("task-cutoff", "CUTOFF = float(np.quantile(x, 0.75))"),
                   subs / "quart.ipynb")
    nbformat.write(_answer("task-mean", WHERE), subs / "where.ipynb")
    (tmp_path / "roster.csv").write_text(
        "submission,Student,ID\nann,Ann,1\nbob,Bob,2\nslip,Sly,3\nquart,Quinn,4\n")
    solution = course / "solutions" / "90-fixture.ipynb"
    bundle = tmp_path / "lab90.bundle"
    common = ["--seed", "99", "--seed-pool", "1", "--workers", "2", "--no-progress",
              "--cell-timeout", "60", "--timeout", "300"]

    printed = _labkit(["assign", solution, "--out", bundle, "--cell-timeout", "60",
                       "--timeout", "300"], site, tmp_path)
    assert "wrote" in printed
    assert load_bundle(bundle).labkit_sha256 == code_hash(package_files(site / "labkit"))
    _labkit(["grade", solution, subs, "--out", tmp_path / "folder-1", *common], site,
            tmp_path)
    printed = _labkit(["grade", bundle, subs, "--out", tmp_path / "bundle-1", *common,
                       "--roster", tmp_path / "roster.csv", "--export", "canvas",
                       "--assignment", "Lab 90"], site, tmp_path)
    # A class graded from the bundle matches the class graded from the lab folder.
    assert _people(tmp_path / "bundle-1") == _people(tmp_path / "folder-1")
    rows = _rows(tmp_path / "bundle-1")
    assert {k: (r["total"], r["status"]) for k, r in rows.items()} == {
        "ann": ("6", "graded"), "bob": ("0", "not-implemented"), "slip": ("4", "graded"),
        "quart": ("5", "graded"), "where": ("4", "partial")}
    assert "its self-check failed" in rows["slip"]["reason"]
    # the kernel imported the frozen labkit, not the one on disk
    assert "ValueError: labkit from the frozen copy" in rows["where"]["reason"]
    log = json.loads((tmp_path / "bundle-1" / "log.json").read_text())
    assert log["bundle"]["sha256"] == hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert log["limits"]["cell_timeout"] == 60
    # the LMS export, and the submission with no roster entry listed, not dropped
    assert "warning: submission 'where' has no roster entry" in printed
    with open(tmp_path / "bundle-1" / "canvas-grades.csv", newline="") as handle:
        canvas = list(csv.reader(handle))
    assert canvas[0][-1] == "Lab 90" and len(canvas) == 2 + 4
    assert "no roster entry" in (tmp_path / "bundle-1" / "report.html").read_text()

    # Week 6 on main: the reference solution changes its cutoff, and a checks helper is
    # loosened so that a failing self-check no longer fails.
    nb = nbformat.read(solution, as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == "task-cutoff")
    cell.source = cell.source.replace("0.9", "0.75")
    nbformat.write(nb, solution)
    core = site / "labkit" / "checks" / "_core.py"
    assert b"if not bool(condition):" in core.read_bytes()
    core.write_bytes(_loosen(core.read_bytes()))

    _labkit(["grade", solution, subs, "--out", tmp_path / "folder-2", *common], site,
            tmp_path)
    _labkit(["grade", bundle, subs, "--out", tmp_path / "bundle-2", *common], site,
            tmp_path)
    changed = _rows(tmp_path / "folder-2")
    assert {k: r["total"] for k, r in changed.items()} == {
        "ann": "5", "bob": "0", "slip": "5", "quart": "6", "where": "3"}
    # The bundle keeps every grade, every reason and every feedback file, byte for byte.
    assert _people(tmp_path / "bundle-2") == _people(tmp_path / "bundle-1")
