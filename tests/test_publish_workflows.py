"""The GitHub workflows: what they run, with which permissions, and that the workflow lint
(`make lint-workflows`: actionlint and zizmor) passes them and would catch a bad one.

* tests.yml: `make test` through .ci/run on pushes to main and on pull requests, Ubuntu,
  Python 3.11 with pip's cache, bubblewrap from apt and a Chrome for the browser tests.
* book.yml: `make book`, then GitHub Pages with the official actions (configure-pages,
  upload-pages-artifact, deploy-pages) on main only; the build job can only read, the
  deploy job can only write Pages (and mint its OIDC token).
* weekly.yml: on a schedule, `make seeds` and the Colab emulation after upgrading to the
  newest versions the constraints allow.
* Every action is pinned by a full commit SHA with its version in a comment; no checkout
  keeps its credentials; no `${{ }}` expression is pasted into a shell script.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent
NAMES = ("tests.yml", "book.yml", "weekly.yml")
PAGES_ACTIONS = ("actions/configure-pages", "actions/upload-pages-artifact",
                 "actions/deploy-pages")


def _load(name: str) -> dict:
    path = WORKFLOWS / name
    assert path.is_file(), f"{path} is missing"
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads `on` as True
    return workflow


def _steps(workflow: dict):
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, job, step


def _runs(workflow: dict) -> str:
    return "\n".join(step.get("run", "") for _, _, step in _steps(workflow))


def _uses(workflow: dict) -> list[str]:
    return [step["uses"].split("@")[0] for _, _, step in _steps(workflow) if "uses" in step]


def test_tests_workflow_runs_make_test_on_push_and_pull_request():
    wf = _load("tests.yml")
    assert wf["on"]["push"]["branches"] == ["main"] and "pull_request" in wf["on"], wf["on"]
    (job,) = wf["jobs"].values()
    assert str(job["runs-on"]).startswith("ubuntu-"), job["runs-on"]
    setup = [s for _, _, s in _steps(wf) if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup and setup[0]["with"]["python-version"] == "3.11", setup
    assert setup[0]["with"].get("cache") == "pip", "tests.yml should cache pip downloads"
    runs = _runs(wf)
    assert "bash .ci/run" in runs or "make test" in runs, runs
    assert "exec make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"apt-get install[^\n]*\bbubblewrap\b", runs), runs
    assert "CHROMIUM_BINARY" in runs and "CHROMEDRIVER" in runs, (
        "tests.yml must point the browser tests at the runner's Chrome and ChromeDriver")


def test_book_workflow_builds_and_deploys_to_pages_from_main_only():
    wf = _load("book.yml")
    assert "make book" in _runs(wf)
    uses = _uses(wf)
    for action in PAGES_ACTIONS:
        assert action in uses, f"book.yml does not use {action}"
    assert wf.get("permissions") == {}, "book.yml: grant permissions per job, none at the top"
    jobs = wf["jobs"]
    build = next(j for j in jobs.values() if any("make book" in s.get("run", "")
                                                  for s in j["steps"]))
    deploy = next(j for j in jobs.values() if any(s.get("uses", "").startswith(
        "actions/deploy-pages@") for s in j["steps"]))
    assert build["permissions"] == {"contents": "read"}, build["permissions"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}, deploy["permissions"]
    assert deploy["environment"]["name"] == "github-pages"
    assert "refs/heads/main" in deploy["if"] and "pull_request" in deploy["if"], deploy["if"]
    upload = next(s for s in build["steps"]
                  if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert "refs/heads/main" in upload["if"], upload.get("if")


def test_weekly_workflow_runs_seeds_and_colab_against_the_newest_versions():
    wf = _load("weekly.yml")
    assert wf["on"]["schedule"] and "cron" in wf["on"]["schedule"][0], wf["on"]
    runs = _runs(wf)
    assert "make seeds" in runs
    assert "--upgrade-strategy eager" in runs, "the seeds job must upgrade to the newest versions"
    colab = [j for j in wf["jobs"].values() if "tests/test_colab.py" in
             "\n".join(s.get("run", "") for s in j["steps"])]
    assert colab, "weekly.yml does not run the Colab emulation"
    env = colab[0].get("env", {})
    assert env.get("COLAB_PREINSTALLED") and "==" not in env["COLAB_PREINSTALLED"], (
        "the weekly Colab emulation must take the newest (unpinned) preinstalled packages")


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_by_commit_with_a_version_comment(name):
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    uses = re.findall(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", text, re.M)
    assert uses, f"{name} uses no action"
    for ref, rest in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), (
            f"{name}: {ref} is not pinned to a full commit SHA")
        assert re.fullmatch(r"\s*#\s*v\d+(\.\d+)*\s*", rest), (
            f"{name}: {ref} has no '# vX.Y.Z' comment naming the version it pins")


@pytest.mark.parametrize("name", NAMES)
def test_no_persisted_credentials_and_no_expressions_in_scripts(name):
    wf = _load(name)
    for job_name, _job, step in _steps(wf):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, (
                f"{name}/{job_name}: checkout must set persist-credentials: false")
        assert "${{" not in step.get("run", ""), (
            f"{name}/{job_name}: an expression in a `run:` script is a template-injection "
            "risk; pass it through `env:`")
    assert wf.get("permissions") == {}, f"{name}: no permissions at the top; grant per job"
    for job_name, job in wf["jobs"].items():
        assert "permissions" in job, f"{name}/{job_name}: no job-level permissions"
        assert "timeout-minutes" in job, f"{name}/{job_name}: no timeout"


def test_make_lint_runs_the_workflow_lint():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^lint:[^\n]*\blint-workflows\b", makefile, re.M), "lint must depend on it"
    target = re.search(r"^lint-workflows:.*?(?=^\S)", makefile, re.M | re.S)
    assert target and "actionlint" in target.group(0) and "zizmor" in target.group(0)


# --- the linters themselves --------------------------------------------------------------

def _linter(name: str) -> Path:
    exe = BIN / name
    if not exe.exists():
        if sys.platform == "linux" and platform.machine() == "x86_64":
            pytest.fail(f"{name} is not installed in {BIN}: pip install -e '.[dev]'")
        pytest.skip(f"{name} has no PyPI wheel for this platform")
    return exe


BAD_WORKFLOW = """\
name: bad
on: pull_request_target
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}"
"""


def _lint(folder: Path) -> tuple[subprocess.CompletedProcess, list[dict]]:
    files = sorted(str(p) for p in folder.glob("*.yml"))
    actionlint = subprocess.run([str(_linter("actionlint")), "-shellcheck",
                                 str(_linter("shellcheck")), *files],
                                capture_output=True, text=True, timeout=120)
    zizmor = subprocess.run([str(_linter("zizmor")), "--offline", "--no-progress",
                             "--format", "json", str(folder)],
                            capture_output=True, text=True, timeout=120)
    return actionlint, json.loads(zizmor.stdout or "[]")


def test_the_workflows_pass_actionlint_and_zizmor():
    actionlint, findings = _lint(WORKFLOWS)
    assert actionlint.returncode == 0, actionlint.stdout + actionlint.stderr
    assert not findings, "zizmor: " + "; ".join(
        f"{f.get('ident')} ({f.get('determinations', {}).get('severity')})" for f in findings)


def test_the_lint_catches_an_unsafe_workflow(tmp_path):
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "bad.yml").write_text(BAD_WORKFLOW, encoding="utf-8")
    actionlint, findings = _lint(folder)
    assert actionlint.returncode != 0 and "untrusted" in actionlint.stdout, actionlint.stdout
    idents = {f.get("ident") for f in findings}
    high = {f.get("ident") for f in findings
            if f.get("determinations", {}).get("severity") == "High"}
    assert {"unpinned-uses", "artipacked", "template-injection"} <= idents, idents
    assert "template-injection" in high or "dangerous-triggers" in high, high
