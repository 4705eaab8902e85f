"""A release per teaching term: one version, one release tag, and everything a learner is
handed names that tag.

* The version is declared once (``labkit.__version__``); pyproject.toml reads it.
* ``_config.yml`` names the release ``v<version>``; the book's launch buttons
  (``repository.branch``) use the same tag; CHANGELOG.md has an entry for the version.
* Every Colab setup cell (solutions and labs) and every Colab/Binder link of README.md and
  index.md names the release, never a branch.
* ``make release VERSION=x.y.z``, run in a temporary copy of the repository: it refuses a
  malformed version, a dirty working tree, a version without a CHANGELOG entry and an
  existing tag; otherwise it sets the version and the release, regenerates the labs,
  commits and tags ``vX.Y.Z``, leaving a clean tree. (Its unit-test step is replaced by
  ``true`` here, as this test is part of that tier.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

import labkit
from labkit.course import colab_setup_source, list_labs, release, repository

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LINK = re.compile(r"https://(?:colab\.research\.google\.com|mybinder\.org)/[^\s)\"'>]+")

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def test_version_is_declared_once():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"], (
        "pyproject.toml declares a version of its own; it must read labkit.__version__")
    assert "version" in project["project"].get("dynamic", []), project["project"].get("dynamic")
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "labkit.__version__"}
    from setuptools.config.pyprojecttoml import read_configuration

    expanded = read_configuration(ROOT / "pyproject.toml", expand=True)
    assert expanded["project"]["version"] == labkit.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", labkit.__version__), labkit.__version__


def test_release_is_the_version_and_has_a_changelog_entry():
    tag = release(ROOT)
    assert tag == f"v{labkit.__version__}", (
        f"_config.yml's release is {tag!r} but labkit is {labkit.__version__}: "
        "`make release VERSION=x.y.z` sets both")
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["repository"]["branch"] == tag, (
        "repository.branch (the book's launch buttons) must be the release tag (*release)")
    assert re.search(r"^release: &release v", (ROOT / "_config.yml").read_text(
        encoding="utf-8"), re.M), "_config.yml: `release: &release vX.Y.Z` is what make " \
                                  "release rewrites"
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(labkit.__version__)}\]", changelog, re.M), (
        f"CHANGELOG.md has no '## [{labkit.__version__}]' entry")


@pytest.mark.parametrize("kind", ["solution", "student"])
def test_every_setup_cell_names_the_release(kind):
    url, ref = repository(ROOT)
    tag = release(ROOT)
    assert ref == tag, (ref, tag)
    for lab in list_labs(ROOT):
        path = lab.solution if kind == "solution" else lab.student
        if not path.is_file():
            continue
        setup = [c for c in nbformat.read(path, as_version=4).cells
                 if c.get("id") == "colab-setup"]
        assert setup, f"{path}: no Colab setup cell"
        assert f"git+{url}@{tag}\"" in setup[0].source, (
            f"{path}: the setup cell does not install labkit at the release {tag}:\n"
            f"{setup[0].source}")
        assert setup[0].source == colab_setup_source(url, tag), (
            f"{path}: stale setup cell; run `labkit author build`")


@pytest.mark.parametrize("page", ["README.md", "index.md"])
def test_every_launch_link_names_the_release(page):
    url, tag = repository(ROOT)
    org_repo = url.removeprefix("https://github.com/")
    links = LINK.findall((ROOT / page).read_text(encoding="utf-8"))
    assert links, f"{page} has no Colab or Binder link"
    for link in links:
        assert (f"/github/{org_repo}/blob/{tag}/" in link
                or f"/v2/gh/{org_repo}/{tag}?" in link), (
            f"{page}: {link} does not open the release {tag}")


# --- make release, in a temporary copy --------------------------------------------------

_GIT_ENV = {"GIT_AUTHOR_NAME": "release-test", "GIT_AUTHOR_EMAIL": "ci@localhost",
            "GIT_COMMITTER_NAME": "release-test", "GIT_COMMITTER_EMAIL": "ci@localhost",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), "-c", "commit.gpgsign=false",
                             "-c", "tag.gpgsign=false", *args], capture_output=True, text=True,
                            env={**os.environ, **_GIT_ENV}, timeout=60)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.fixture()
def course_copy(tmp_path) -> Path:
    """The course in a fresh git repository (files as in this working tree, one commit):
    what `make release` runs on, never the course repository itself."""
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], capture_output=True, text=True,
                           check=True).stdout.split("\0")
    repo = tmp_path / "course"
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file() and not name.startswith(".github/"):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "course")
    return repo


def _make_release(repo: Path, version: str) -> subprocess.CompletedProcess:
    # -o venv: use this test's environment instead of building one in the copy.
    cmd = ["make", "--no-print-directory", "-o", "venv", "release", f"VERSION={version}",
           f"BIN={BIN}", "RELEASE_TESTS=true"]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **_GIT_ENV})


def _add_changelog_entry(repo: Path, version: str) -> None:
    path = repo / "CHANGELOG.md"
    text = path.read_text(encoding="utf-8")
    head, sep, rest = text.partition("\n## [")
    path.write_text(f"{head}\n## [{version}]\n\n- A test release.\n{sep}{rest}", encoding="utf-8")
    _git(repo, "commit", "-q", "-am", f"changelog {version}")


def test_make_release_refuses_a_bad_version_a_dirty_tree_and_no_changelog(course_copy):
    result = _make_release(course_copy, "1.2")
    assert result.returncode != 0 and "usage: make release VERSION=x.y.z" in result.stdout

    result = _make_release(course_copy, "9.9.9")
    assert result.returncode != 0 and "CHANGELOG.md has no '## [9.9.9]'" in result.stdout, (
        result.stdout + result.stderr)

    _add_changelog_entry(course_copy, "9.9.9")
    (course_copy / "README.md").write_text("edited\n", encoding="utf-8")
    result = _make_release(course_copy, "9.9.9")
    assert result.returncode != 0 and "working tree has changes" in result.stdout, (
        result.stdout + result.stderr)
    assert not _git(course_copy, "tag", "--list"), "a refused release made a tag"


def test_make_release_refuses_an_existing_tag(course_copy):
    _add_changelog_entry(course_copy, "9.9.9")
    _git(course_copy, "tag", "v9.9.9")
    result = _make_release(course_copy, "9.9.9")
    assert result.returncode != 0 and "tag v9.9.9 exists" in result.stdout, (
        result.stdout + result.stderr)


def test_make_release_sets_version_release_and_setup_cells_then_tags(course_copy):
    _add_changelog_entry(course_copy, "9.9.9")
    before = _git(course_copy, "rev-parse", "HEAD").strip()
    result = _make_release(course_copy, "9.9.9")
    assert result.returncode == 0, f"make release failed:\n{result.stdout}\n{result.stderr}"
    assert "Tagged v9.9.9" in result.stdout, result.stdout

    assert _git(course_copy, "status", "--porcelain") == "", "make release left changes"
    head = _git(course_copy, "rev-parse", "HEAD").strip()
    assert head != before, "make release made no release commit"
    assert _git(course_copy, "rev-parse", "v9.9.9^{commit}").strip() == head
    assert _git(course_copy, "cat-file", "-t", "v9.9.9").strip() == "tag", "not an annotated tag"

    init = (course_copy / "src" / "labkit" / "__init__.py").read_text(encoding="utf-8")
    assert '__version__ = "9.9.9"' in init
    assert release(course_copy) == "v9.9.9"
    url, ref = repository(course_copy)
    assert ref == "v9.9.9", "repository.branch (the launch buttons) did not follow the release"
    for lab in list_labs(course_copy):
        for path in (lab.solution, lab.student):
            setup = nbformat.read(path, as_version=4).cells[0]
            assert setup.source == colab_setup_source(url, "v9.9.9"), f"{path}: {setup.source}"
    for page in ("README.md", "index.md"):
        links = LINK.findall((course_copy / page).read_text(encoding="utf-8"))
        assert links and all("v9.9.9" in link for link in links), (page, links[:2])
