"""Binder: environment.yml gives a learner everything labkit and the labs import.

repo2docker builds the Binder image from ``environment.yml`` at the repository root.
These tests fail when a runtime dependency of labkit (``[project].dependencies`` and the
``torch`` extra of pyproject.toml) or a third-party module imported by a solution notebook
is missing from it, and check that the Binder button of every lab page opens that lab in
JupyterLab.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import nbformat
import pytest
import yaml
from _browser_site import expected_launch_urls, lab_pages, launch_links

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
ENV_FILE = ROOT / "environment.yml"

# conda-forge package name -> the Python distribution it provides, where they differ.
CONDA_TO_DIST = {
    "pytorch-cpu": "torch",
    "pytorch": "torch",
    "pytorch-gpu": "torch",
    "matplotlib-base": "matplotlib",
    "py-xgboost": "xgboost",
    "py-opencv": "opencv-python",
}
# import name -> distribution, for when the dev environment cannot tell (module absent).
IMPORT_TO_DIST = {
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "PIL": "pillow",
    "cv2": "opencv-python",
    "skimage": "scikit-image",
    "torch": "torch",
}
# Provided by the Jupyter stack that environment.yml installs (jupyterlab, ipykernel).
JUPYTER_STACK = {"ipython", "ipykernel", "ipywidgets", "matplotlib-inline"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _name_of(spec: str) -> str:
    return re.split(r"[\s<>=!~\[;@]", spec.strip(), maxsplit=1)[0]


def _environment() -> dict:
    assert ENV_FILE.is_file(), (
        "environment.yml is missing at the repository root: Binder (repo2docker) needs it")
    return yaml.safe_load(ENV_FILE.read_text(encoding="utf-8"))


def _provided() -> tuple[set[str], list[str]]:
    """Distributions environment.yml installs (normalised), and its pip lines."""
    env = _environment()
    conda, pip = set(), []
    for dep in env.get("dependencies", []):
        if isinstance(dep, dict):
            pip.extend(dep.get("pip", []))
        else:
            name = _norm(str(dep).split("::")[-1].split("=")[0].split("<")[0].split(">")[0])
            conda.add(_norm(CONDA_TO_DIST.get(name, name)))
    conda |= {_norm(_name_of(line)) for line in pip if not line.startswith(("-", "."))}
    return conda, pip


def _labkit_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["torch"]]


def _code_of(cell_source: str) -> str:
    """Cell source as Python: IPython magics and shell escapes become plain calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell_source)


def _imports(source: str) -> set[str]:
    tree = ast.parse(source)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _solution_imports() -> dict[str, set[str]]:
    """Third-party top-level modules imported by each solution notebook."""
    found = {}
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        modules = set()
        for cell in nb.cells:
            if cell.cell_type == "code":
                try:
                    modules |= _imports(_code_of(cell.source))
                except SyntaxError as exc:
                    raise AssertionError(f"{path.name}, cell {cell.get('id')}: {exc}") from exc
        found[path.name] = {m for m in modules
                            if m not in sys.stdlib_module_names and m != "__future__"}
    return found


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    # Scans every installed distribution's file list: once, not once per module.
    return importlib.metadata.packages_distributions()


def _distribution_of(module: str) -> str:
    if module in IMPORT_TO_DIST:
        return IMPORT_TO_DIST[module]
    dists = _packages_distributions().get(module)
    assert dists, (f"cannot tell which distribution provides module {module!r}; install it in "
                   f"the dev environment or add it to IMPORT_TO_DIST in {Path(__file__).name}")
    return dists[0]


def test_environment_is_conda_forge_python_311():
    env = _environment()
    channels = env.get("channels", [])
    assert channels and channels[0] == "conda-forge", (
        f"environment.yml should take packages from conda-forge first, has {channels}")
    assert "defaults" not in channels, "the 'defaults' channel mixes ABIs with conda-forge"
    deps = [str(d).replace(" ", "") for d in env.get("dependencies", []) if not isinstance(d, dict)]
    assert any(re.fullmatch(r"python=+3\.11(\.\*)?", d) for d in deps), (
        f"environment.yml must pin python=3.11 (the course's Python), has {deps}")


def test_binder_installs_labkit_from_the_repository():
    _, pip = _provided()
    assert {"-e .", "."} & {line.strip() for line in pip}, (
        "environment.yml's pip section must install this repository ('-e .' or '.'), so "
        f"Binder has labkit; it has {pip}. (A bare 'labkit' would be PyPI's unrelated project.)")
    assert not any(_norm(_name_of(line)) == "labkit" for line in pip), (
        "pip 'labkit' installs PyPI's unrelated project; install the repository instead")


def test_binder_has_jupyterlab_and_cpu_torch():
    provided, _ = _provided()
    assert "jupyterlab" in provided, "environment.yml must install jupyterlab (the launch "
    "buttons open lab/tree/...)"
    env = _environment()
    conda_names = {_norm(str(d).split("=")[0].split(">")[0].split("<")[0])
                   for d in env["dependencies"] if not isinstance(d, dict)}
    assert "pytorch-cpu" in conda_names, (
        "torch must come from conda-forge's 'pytorch-cpu' (a plain 'pytorch' or a pip torch "
        "may pull a multi-GB CUDA build that does not fit Binder)")


def test_every_labkit_runtime_dependency_is_in_environment_yml():
    provided, _ = _provided()
    missing = [req for req in _labkit_requirements() if _norm(_name_of(req)) not in provided]
    assert not missing, (
        f"environment.yml lacks labkit's runtime dependencies {missing} (from pyproject.toml "
        "[project].dependencies and the 'torch' extra); add them under dependencies:")


def test_every_module_a_solution_imports_is_in_environment_yml():
    provided, pip = _provided()
    imports = _solution_imports()
    assert imports, "no solution notebooks found in solutions/"
    problems = []
    for notebook, modules in sorted(imports.items()):
        for module in sorted(modules):
            if module == "labkit":
                continue  # installed by the pip section (checked above)
            dist = _norm(_distribution_of(module))
            if dist not in provided and dist not in JUPYTER_STACK:
                problems.append(f"{notebook} imports {module!r} (distribution {dist!r})")
    assert not problems, "missing from environment.yml: " + "; ".join(problems)


def test_labs_ask_for_the_python3_kernel():
    """Binder's environment (and Colab) provide the kernel 'python3'; another name makes
    JupyterLab ask the learner to pick a kernel before anything runs."""
    labs = sorted((ROOT / "labs").glob("*.ipynb"))
    assert labs, "no labs/*.ipynb"
    wrong = {p.name: nbformat.read(p, as_version=4).metadata.get("kernelspec", {}).get("name")
             for p in labs}
    wrong = {name: kernel for name, kernel in wrong.items() if kernel != "python3"}
    assert not wrong, f"labs whose kernelspec is not python3: {wrong}"


def test_no_binder_folder_overrides_environment_yml():
    """repo2docker ignores root-level files when binder/ or .binder/ exists."""
    for folder in ("binder", ".binder"):
        assert not (ROOT / folder).exists(), (
            f"{folder}/ exists, so Binder would ignore the root environment.yml")


def test_environment_pins_agree_with_pyproject():
    """An exact pin in environment.yml must satisfy labkit's range for that package."""
    from packaging.requirements import Requirement

    ranges = {_norm(r.name): r.specifier for r in map(Requirement, _labkit_requirements())}
    conflicts = []
    for dep in _environment()["dependencies"]:
        if isinstance(dep, dict):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*==?\s*([0-9][0-9A-Za-z.]*)", str(dep))
        if match:
            name = _norm(CONDA_TO_DIST.get(match.group(1), match.group(1)))
            if name in ranges and not ranges[name].contains(match.group(2)):
                conflicts.append(f"{dep} vs pyproject {name}{ranges[name]}")
    assert not conflicts, "environment.yml pins conflict with pyproject.toml: " + "; ".join(
        conflicts)


@pytest.mark.book
def test_binder_buttons_open_the_lab_in_jupyterlab(built_site):
    pages = lab_pages(ROOT)
    assert pages, "no labs/NN-*.ipynb pages in _toc.yml"
    problems = []
    for page in pages:
        html = built_site / page.html
        if not html.is_file():
            problems.append(f"{page.html} was not built")
            continue
        binder = launch_links(html.read_text(encoding="utf-8"))["binder"]
        want = expected_launch_urls(ROOT, page)["binder"]
        if binder != [want] and set(binder) != {want}:
            problems.append(f"{page.html}: Binder links {binder}, want {want}")
    assert not problems, "\n".join(problems)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _jupyter_lab() -> str:
    found = os.environ.get("JUPYTER_LAB") or shutil.which(
        "jupyter-lab", path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail("this test needs JupyterLab next to the test interpreter (`pip install "
                    "jupyterlab`, part of the dev environment; Binder gets it from "
                    "environment.yml), or JUPYTER_LAB=/path/to/jupyter-lab", pytrace=False)
    return found


@pytest.mark.book
def test_binder_urlpath_opens_the_lab_in_jupyterlab(built_site, tmp_path):
    """Binder starts a Jupyter server and sends the browser to ``<server>/<urlpath>``. Do the
    same locally: the urlpath of the first lab page's Binder button must open that lab as
    a notebook in JupyterLab."""
    from _browser import chromium

    page = lab_pages(ROOT)[0]
    binder = launch_links((built_site / page.html).read_text(encoding="utf-8"))["binder"]
    assert binder, f"{page.html} has no Binder button"
    urlpath = parse_qs(urlsplit(binder[0]).query)["urlpath"][0]
    assert urlpath == f"lab/tree/{page.docname}.ipynb", urlpath

    # The server gets a copy of labs/ so that nothing it writes lands in the repository.
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "labs", root / "labs")
    state = tmp_path / "jupyter"
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(state / "config"),
               JUPYTER_DATA_DIR=str(state / "data"), JUPYTER_RUNTIME_DIR=str(state / "run"),
               JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"))
    port, token = _free_port(), secrets.token_hex(16)
    log = (tmp_path / "jupyter-lab.log").open("w")
    server = subprocess.Popen(
        [_jupyter_lab(), "--no-browser", "--allow-root", "--LabApp.extension_manager=readonly",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}api/status?token={token}", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, "jupyter-lab exited; see " + log.name
                assert time.monotonic() < deadline, "jupyter-lab did not answer within 60 s"
                time.sleep(0.5)
        with chromium() as driver:
            driver.get(f"{base}{urlpath}?token={token}")
            deadline = time.monotonic() + 60
            state_js = """
                const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
                const tab = document.querySelector('.jp-mod-current .lm-TabBar-tabLabel');
                return {tab: tab ? tab.textContent : null,
                        cells: panel ? panel.querySelectorAll('.jp-Cell').length : 0,
                        text: panel ? panel.innerText.slice(0, 400) : ''};"""
            seen = driver.execute_script(state_js)
            # An empty placeholder cell shows first; the lab has many cells.
            while seen["cells"] < 3 and time.monotonic() < deadline:
                time.sleep(0.5)
                seen = driver.execute_script(state_js)
            shots = os.environ.get("SCREENSHOT_DIR")
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(Path(shots) / "binder-jupyterlab.png"))
        want = Path(urlpath).name
        assert seen["cells"] >= 3, f"JupyterLab at /{urlpath} showed no notebook: {seen}"
        assert seen["tab"] == want, f"JupyterLab opened {seen['tab']!r}, want {want!r}"
        number = page.docname.split("/")[-1][:2]
        assert f"Lab {number}" in seen["text"], (
            f"the notebook JupyterLab shows does not look like lab {number}: {seen['text']!r}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
