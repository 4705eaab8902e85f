"""A learner opens lab 01 in Google Colab: the setup cell installs labkit, the lab runs.

Colab cannot be reached from CI, so this test emulates it:

* a fresh virtual environment holds what a Colab runtime already has (numpy, pandas,
  scikit-learn, scipy, matplotlib, tqdm, IPython, ipykernel at Colab-like versions; no
  torch, labs 01-02 do not need it) and nothing of the course;
* a fake ``google.colab`` module is imported at interpreter start, as Colab's kernel does,
  so the setup cell takes its Colab branch;
* the setup cell, which must be exactly what ``labkit author build`` writes from
  ``_config.yml``, names the course release (a tag, ``release:`` in ``_config.yml``) and
  installs from ``git+file://<a local git copy of this working tree>@<tag>`` instead of
  ``git+https://github.com/...@<tag>`` (same pip code path, no network). The tag is made in
  that temporary copy, never in the course repository, and the copy's ``main`` moves on
  past it (its labkit version changes), so the test tells whether pip took the tag;
* the lab's solution runs top to bottom in that environment's kernel, in an empty folder
  (a Colab runtime has no course repository around the notebook).

The test then checks that labkit was installed by the setup cell (and not before), from the
release tag, that pip left every preinstalled package alone, and reports how long the setup
cell took.

Environment variables: ``COLAB_PREINSTALLED`` (space-separated requirement specs) and
``COLAB_PIP`` override the emulated runtime's packages; ``COLAB_LABS`` lists the labs to
run (default ``01``, e.g. ``"01 02"``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

import labkit
from labkit.course import colab_setup_source, find_lab, release, repository

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.notebooks

# What a Colab runtime ships, at the versions Colab had in late 2025 (Colab pins old
# IPython/ipykernel for its frontend). Older than this repository's dev environment on
# purpose: labkit's version ranges and the labs must work with them.
COLAB_PREINSTALLED = [
    "numpy==2.0.2",
    "pandas==2.2.2",
    "scikit-learn==1.6.1",
    "scipy==1.16.3",
    "matplotlib==3.10.0",
    "tqdm==4.67.1",
    "PyYAML==6.0.2",
    "ipython==7.34.0",
    "ipykernel==6.17.1",
    # Parts II and IV: Colab ships these too.
    "pyarrow==18.1.0",
    "httpx==0.28.1",
    "fastapi==0.115.12",
    "uvicorn==0.34.2",
]
# labkit's runtime dependencies that Colab does not ship: the setup cell installs them and
# what they need, and nothing else.
NOT_ON_COLAB = ["optuna", "fairlearn"]
_CLOSURE = """
import json, re, sys
from importlib.metadata import distribution, PackageNotFoundError
todo, seen = list(sys.argv[1:]), set()
while todo:
    name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
    if name in seen:
        continue
    seen.add(name)
    try:
        requires = distribution(name).requires or []
    except PackageNotFoundError:
        continue
    todo += [re.split(r"[ ;<>=!~\\[(]", r, maxsplit=1)[0] for r in requires if "extra ==" not in r]
print(json.dumps(sorted(seen)))
"""
COLAB_PIP = "pip==24.1.2"  # Colab's pip (older pips reject git+file:// URLs without a host)
LABS_TO_RUN = os.environ.get("COLAB_LABS", "01").split()
DIST = "dmls-labkit"
INSTALL_TIMEOUT = 600
CELL_TIMEOUT = 300

FAKE_COLAB = '''"""Stand-in for google.colab written by tests/test_colab.py: not the real module."""
EMULATED = True
'''


@dataclass
class ColabRun:
    """What happened when the lab ran in the emulated Colab runtime."""

    lab: str
    python: Path
    preinstalled: list[str]
    labkit_before: subprocess.CompletedProcess
    env: dict = field(default_factory=dict)
    tag: str = ""
    tag_commit: str = ""
    installed: dict = field(default_factory=dict)
    runtime_seconds: float = 0.0
    lab_seconds: float = 0.0
    freeze_before: dict[str, str] = field(default_factory=dict)
    freeze_after: dict[str, str] = field(default_factory=dict)
    stamps_before: dict[str, int] = field(default_factory=dict)
    stamps_after: dict[str, int] = field(default_factory=dict)
    setup_seconds: float | None = None
    setup_output: str = ""
    error: str | None = None
    failed_cell: str | None = None
    cells_run: int = 0
    cells_total: int = 0

    def __repr__(self) -> str:  # keep pytest's assertion messages short
        return f"ColabRun(lab={self.lab!r}, failed_cell={self.failed_cell!r})"


def _run(cmd: list[str], env: dict[str, str] | None = None, timeout: int = INSTALL_TIMEOUT,
         check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                            timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"command failed ({result.returncode}): {' '.join(map(str, cmd))}\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _freeze(python: Path, env: dict[str, str]) -> dict[str, str]:
    """``pip freeze --all`` of an environment as {normalised name: requirement line}."""
    out = _run([python, "-m", "pip", "freeze", "--all"], env=env).stdout
    frozen = {}
    for line in out.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = line.split("==")[0].split(" @ ")[0].strip()
        frozen[_normalise(name)] = line
    return frozen


def _dist_info_stamps(site: Path) -> dict[str, int]:
    """Inode and mtime of each installed distribution's metadata folder: pip replaces the
    folder when it reinstalls a package, even at the same version."""
    stamps = {}
    for info in site.glob("*.dist-info"):
        stat = info.stat()
        stamps[info.name] = hash((stat.st_ino, stat.st_mtime_ns))
    return stamps


def _clean_env(venv: Path) -> dict[str, str]:
    """The test process's environment without anything that could make the course importable
    from elsewhere (PYTHONPATH, the dev virtual environment)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP",
                        "JUPYTER_PATH", "IPYTHONDIR")}
    dev_bin = str(Path(sys.executable).parent)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != dev_bin]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env["VIRTUAL_ENV"] = str(venv)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # quiets ipykernel's debugger warning
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    return env


# What the copy's main says after the release commit, so that a labkit installed from main
# instead of the tag gives itself away.
AFTER_RELEASE_VERSION = "0.0.0.dev0"


def _local_clone(dest: Path, tag: str) -> tuple[Path, str]:
    """A git repository holding this working tree, tagged ``tag`` (what ``make release``
    makes), with one more commit on ``main`` after the tag: what the setup cell's
    ``git+URL@tag`` clones on Colab, minus the network. pip then clones it and builds
    dmls-labkit from it exactly as it does from GitHub. Returns the repository and the
    commit the tag names."""
    files = _run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
                  "--exclude-standard"]).stdout.split("\0")
    repo = dest / "designing-ml-systems"
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():  # skips deleted files and submodules
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git_env = dict(os.environ, GIT_AUTHOR_NAME="colab-emulation", GIT_AUTHOR_EMAIL="ci@localhost",
                   GIT_COMMITTER_NAME="colab-emulation", GIT_COMMITTER_EMAIL="ci@localhost")
    git = ["git", "-C", repo, "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"]
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"],
                ["tag", "-a", tag, "-m", f"Release {tag}"]):
        _run([*git, *cmd], env=git_env)
    tag_commit = _run([*git, "rev-parse", f"{tag}^{{commit}}"], env=git_env).stdout.strip()
    init = repo / "src" / "labkit" / "__init__.py"
    text = init.read_text(encoding="utf-8")
    moved = text.replace(f'__version__ = "{labkit.__version__}"',
                         f'__version__ = "{AFTER_RELEASE_VERSION}"')
    assert moved != text, f"no __version__ line in {init}"
    init.write_text(moved, encoding="utf-8")
    _run([*git, "commit", "-q", "-am", "work after the release"], env=git_env)
    return repo, tag_commit


def _point_setup_at(source: str, url: str, ref: str, clone: Path) -> str:
    target = f"git+{url}@{ref}"
    assert source == colab_setup_source(url, ref), (
        "the lab's Colab setup cell is not what `labkit author build` writes from "
        f"_config.yml (repository {url} @ {ref}); run `make labs`.\nCell source:\n{source}")
    assert source.count(target) == 1, f"expected exactly one {target!r} in the setup cell"
    return source.replace(target, f"git+{clone.as_uri()}@{ref}")


def _outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            parts.append("\n".join(out.get("traceback", [])))
        elif "text/plain" in out.get("data", {}):
            parts.append(out["data"]["text/plain"])
    return "".join(parts)


@dataclass
class ColabRuntime:
    """The emulated Colab runtime: a virtual environment, its kernel, the course repository."""

    python: Path
    site: Path
    kernels: Path
    env: dict[str, str]
    clone: Path
    tag: str
    tag_commit: str
    base: Path
    preinstalled: list[str]
    build_seconds: float


@pytest.fixture(scope="module")
def colab_runtime(tmp_path_factory) -> ColabRuntime:
    """The runtime as Colab hands it over: its packages, google.colab, a Python kernel."""
    started = time.perf_counter()
    base = tmp_path_factory.mktemp("colab")
    tag = release(ROOT)
    assert tag, "_config.yml names no release (key `release`): the setup cell would install " \
                "whatever the branch holds that day"
    assert repository(ROOT)[1] == tag, repository(ROOT)
    clone, tag_commit = _local_clone(base, tag)
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    env = _clean_env(venv)
    preinstalled = os.environ.get("COLAB_PREINSTALLED", "").split() or COLAB_PREINSTALLED
    _run([python, "-m", "pip", "install", "-q", os.environ.get("COLAB_PIP", COLAB_PIP)],
         env=env)
    # --no-compile: byte-compiling ~30 packages up front would double the time of this step.
    _run([python, "-m", "pip", "install", "-q", "--no-compile", "--only-binary=:all:",
          *preinstalled], env=env)
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     env=env).stdout.strip())
    (site / "google" / "colab").mkdir(parents=True, exist_ok=True)
    (site / "google" / "colab" / "__init__.py").write_text(FAKE_COLAB, encoding="utf-8")
    # Colab's kernel has google.colab imported before the first cell runs.
    (site / "zz_colab_emulation.pth").write_text("import google.colab\n", encoding="utf-8")
    kernels = base / "kernels"
    (kernels / "colab").mkdir(parents=True)
    (kernels / "colab" / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab emulation", "language": "python"}), encoding="utf-8")
    return ColabRuntime(python, site, kernels, env, clone, tag, tag_commit, base, preinstalled,
                        time.perf_counter() - started)


@pytest.fixture(scope="module", params=LABS_TO_RUN)
def colab_run(request, colab_runtime) -> ColabRun:
    """Lab ``request.param`` opened in the runtime, its setup cell pointed at the local
    repository."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    rt = colab_runtime
    lab = find_lab(ROOT, request.param)
    url, ref = repository(ROOT)
    # A fresh runtime for each lab: labkit from a previous lab goes (its dependencies were
    # preinstalled anyway, which the freeze comparison checks).
    _run([rt.python, "-m", "pip", "uninstall", "-q", "-y", DIST], env=rt.env, check=False)

    run = ColabRun(
        lab=lab.slug, python=rt.python, preinstalled=rt.preinstalled, env=rt.env,
        runtime_seconds=rt.build_seconds, tag=rt.tag, tag_commit=rt.tag_commit,
        labkit_before=_run([rt.python, "-c", "import labkit; print(labkit.__file__)"],
                           env=rt.env, check=False))
    run.freeze_before = _freeze(rt.python, rt.env)
    run.stamps_before = _dist_info_stamps(rt.site)

    nb = nbformat.read(lab.solution, as_version=4)
    setup = [c for c in nb.cells if c.get("id") == "colab-setup"]
    assert setup and nb.cells[0] is setup[0], (
        f"{lab.solution}: the first cell must be the Colab setup cell (id 'colab-setup')")
    setup[0].source = _point_setup_at(setup[0].source, url, ref, rt.clone)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    run.cells_total = sum(c.cell_type == "code" for c in nb.cells)

    workdir = rt.base / f"content-{lab.number}"  # like /content: no repository around
    workdir.mkdir()
    km = KernelManager(kernel_name="colab",
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(rt.kernels)]))
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, allow_errors=False,
                            resources={"metadata": {"path": str(workdir)}})
    lab_started = time.perf_counter()
    with client.setup_kernel(env=rt.env, cwd=str(workdir)):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            started = time.perf_counter()
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as exc:
                run.error, run.failed_cell = str(exc), cell.get("id")
                break
            finally:
                if index == 0:
                    run.setup_seconds = time.perf_counter() - started
                    run.setup_output = _outputs_text(cell)
            run.cells_run += 1
            if index == 0:
                run.freeze_after = _freeze(rt.python, rt.env)
                run.installed = _installed_labkit(rt.python, rt.env)
                run.stamps_after = _dist_info_stamps(rt.site)
    run.lab_seconds = time.perf_counter() - lab_started
    nbformat.write(nb, rt.base / f"{lab.slug}-colab.ipynb")
    return run


_INSTALLED = """
import importlib.metadata, json
dist = importlib.metadata.distribution("dmls-labkit")
direct = json.loads(dist.read_text("direct_url.json") or "{}")
print(json.dumps({"version": dist.version, "direct_url": direct}))
"""


def _installed_labkit(python: Path, env: dict[str, str]) -> dict:
    """Version and pip's record of where dmls-labkit came from (PEP 610 direct_url.json)."""
    result = _run([python, "-c", _INSTALLED], env=env, check=False)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def test_labkit_is_not_in_the_fresh_runtime(colab_run):
    assert colab_run.labkit_before.returncode != 0, (
        "labkit was importable before the setup cell ran, so the test proves nothing: "
        f"{colab_run.labkit_before.stdout.strip()}")
    assert _normalise(DIST) not in colab_run.freeze_before


def test_setup_cell_installs_labkit(colab_run, capsys):
    assert colab_run.setup_seconds is not None, "the setup cell did not run"
    with capsys.disabled():
        print(f"\n[colab] lab {colab_run.lab}: runtime built in {colab_run.runtime_seconds:.0f} s "
              f"(once per session); setup cell (pip install of {DIST}) took "
              f"{colab_run.setup_seconds:.1f} s; whole lab {colab_run.lab_seconds:.0f} s")
    assert colab_run.failed_cell != "colab-setup", (
        f"the setup cell failed in Colab:\n{colab_run.error}")
    assert _normalise(DIST) in colab_run.freeze_after, (
        f"the setup cell ran but {DIST} is not installed afterwards; cell output:\n"
        f"{colab_run.setup_output}")
    assert "ERROR" not in colab_run.setup_output, (
        f"pip reported an error in the setup cell:\n{colab_run.setup_output}")


def test_setup_cell_installs_the_release_tag(colab_run):
    """The setup cell names the release, and pip installs the tagged commit: not main,
    which has moved on since (its labkit reports another version)."""
    installed = colab_run.installed
    assert installed, ("dmls-labkit is not installed after the setup cell:\n"
                       f"{colab_run.setup_output}")
    vcs = installed["direct_url"].get("vcs_info", {})
    assert vcs.get("requested_revision") == colab_run.tag, (
        f"pip installed dmls-labkit from {installed['direct_url']}, not from the release tag "
        f"{colab_run.tag}")
    assert vcs.get("commit_id") == colab_run.tag_commit, (
        f"pip installed commit {vcs.get('commit_id')}, the tag {colab_run.tag} is "
        f"{colab_run.tag_commit}")
    assert installed["version"] == labkit.__version__ != AFTER_RELEASE_VERSION, installed


def test_setup_cell_leaves_preinstalled_packages_alone(colab_run):
    """pip must not upgrade, downgrade or reinstall what Colab ships (that would need a
    runtime restart and can break Colab's own tools)."""
    before, after = colab_run.freeze_before, colab_run.freeze_after
    assert after, "no pip freeze after the setup cell (it did not run)"
    changed = {name: (line, after.get(name, "<removed>"))
               for name, line in before.items() if after.get(name) != line}
    assert not changed, "the setup cell changed preinstalled packages: " + "; ".join(
        f"{old} -> {new}" for old, new in changed.values())
    reinstalled = [name for name, stamp in colab_run.stamps_before.items()
                   if colab_run.stamps_after.get(name) != stamp]
    assert not reinstalled, f"the setup cell reinstalled preinstalled packages: {reinstalled}"
    new = sorted(set(after) - set(before) - {_normalise(DIST)})
    # Only what labkit needs and Colab lacks may appear: NOT_ON_COLAB and its requirements.
    closure = json.loads(_run([colab_run.python, "-c", _CLOSURE, *NOT_ON_COLAB],
                              env=colab_run.env).stdout)
    allowed = {_normalise(name) for name in closure}
    extra = [name for name in new if name not in allowed]
    assert not extra, (f"the setup cell installed packages beyond {DIST} and what "
                       f"{NOT_ON_COLAB} need: {extra}; a range in pyproject.toml is too strict "
                       "or a new dependency is missing from COLAB_PREINSTALLED/NOT_ON_COLAB")
    assert {_normalise(name) for name in NOT_ON_COLAB} <= set(after), sorted(after)


def test_lab_runs_to_the_end_in_colab(colab_run):
    assert colab_run.error is None, (
        f"lab {colab_run.lab} failed in the emulated Colab runtime at cell "
        f"{colab_run.failed_cell!r} "
        f"(after {colab_run.cells_run} of {colab_run.cells_total} code cells):\n"
        f"{colab_run.error[-4000:]}")
    assert colab_run.cells_run == colab_run.cells_total
