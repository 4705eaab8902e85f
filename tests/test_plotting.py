"""glue: figures and values tagged for the book, under any matplotlib backend."""

from __future__ import annotations

import base64

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from labkit.plotting import glue  # noqa: E402


@pytest.fixture
def shown(monkeypatch):
    calls = []
    monkeypatch.setattr("IPython.display.display",
                        lambda data, raw, metadata: calls.append((data, metadata)))
    return calls


def test_glued_figure_is_a_png_even_under_agg(shown):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    glue("lab00-fig", fig, alt="A line falling from 1 to 0.")
    data, metadata = shown[0]
    assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG")
    assert metadata["scrapbook"] == {"name": "lab00-fig", "mime_prefix": ""}
    assert metadata["labkit"] == {"alt": "A line falling from 1 to 0."}
    assert not plt.fignum_exists(fig.number), "the figure must be closed once glued"


def test_glue_without_display_prefixes_the_mimetypes(shown):
    glue("lab00-value", 0.25, display=False)
    data, metadata = shown[0]
    assert set(data) == {"application/papermill.record/text/plain"}
    assert metadata["scrapbook"]["mime_prefix"] == "application/papermill.record/"


@pytest.mark.parametrize("bad", ["", None, 3])
def test_glue_needs_a_name(bad):
    with pytest.raises(ValueError, match="non-empty string name"):
        glue(bad, 1)


@pytest.mark.parametrize("alt", [None, "", "  ", "a plot"])
def test_a_glued_figure_needs_alt_text(shown, alt):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="needs alt="):
        glue("lab00-fig", fig, alt=alt)
    assert not shown
