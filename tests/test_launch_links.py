"""Launch links in the README and on the landing page agree with the repository address,
the course release (the tag they open) and the labs that exist."""

from __future__ import annotations

import re

import pytest

from labkit.course import list_labs, repository


@pytest.mark.parametrize("page", ["README.md", "index.md"])
def test_every_lab_has_colab_and_binder_links(root, page):
    readme = (root / page).read_text(encoding="utf-8")
    url, ref = repository(root)  # ref: the release tag
    org_repo = url.removeprefix("https://github.com/")
    for lab in list_labs(root):
        colab = (f"https://colab.research.google.com/github/{org_repo}/blob/{ref}/"
                 f"labs/{lab.student.name}")
        binder = (f"https://mybinder.org/v2/gh/{org_repo}/{ref}"
                  f"?urlpath=lab/tree/labs/{lab.student.name}")
        assert colab in readme, f"{page} lacks the Colab link of {lab.slug}"
        assert binder in readme, f"{page} lacks the Binder link of {lab.slug}"
    linked = set(re.findall(r"labs/(\d\d-[a-z0-9-]+)\.ipynb", readme))
    assert linked == {lab.slug for lab in list_labs(root)}, f"{page} links a missing lab"


def test_readme_test_command_is_what_ci_runs(root):
    readme = (root / "README.md").read_text(encoding="utf-8")
    ci = (root / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in readme and "exec make test" in ci
