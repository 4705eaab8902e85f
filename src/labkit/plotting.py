"""Plotting helpers shared by the labs, and ``glue`` to hand figures to the book.

Nothing here changes matplotlib's global state: no style is set at import.
"""

from __future__ import annotations

from typing import Any

__all__ = ["glue"]


def glue(name: str, obj: Any, display: bool = True, *, alt: str | None = None) -> None:
    """Display ``obj`` and tag the output so the book can paste it elsewhere by ``name``.

    This writes the same output as ``myst_nb.glue`` (a display with ``scrapbook``
    metadata) without needing myst-nb, so labs also run in Colab and Binder. A chapter
    page pastes it with ``{glue:figure} ../../solutions/01-metrics.ipynb::name``.

    For a matplotlib figure, the figure is closed after it is shown so that it is not
    displayed a second time at the end of the cell.

    Parameters
    ----------
    name : str
        Book-wide unique key, by convention ``"labNN-what"``.
    obj : object
        A matplotlib figure, a number, a string or a pandas object.
    display : bool
        Show the object in the notebook as well (default), or only store it.
    alt : str
        Required for a figure: what the figure shows, in a sentence or two, for readers
        who cannot see it. It is stored in the output's metadata
        (``metadata["labkit"]["alt"]``) and becomes the image's alt text in the book.

    Raises
    ------
    ValueError
        When the name is empty, or a figure comes without alt text.

    Examples
    --------
    >>> glue("lab00-answer", 42)  # outside a notebook, display prints the value
    42
    """
    if not isinstance(name, str) or not name:
        raise ValueError("glue needs a non-empty string name, e.g. 'lab01-cost-curve'.")
    if _is_figure(obj) and (not isinstance(alt, str) or len(alt.strip()) < 10):
        raise ValueError(f"glue({name!r}, fig) needs alt=: a sentence saying what the figure "
                         "shows, for readers who cannot see it.")
    from IPython.display import display as ipy_display

    if _is_figure(obj):
        mimebundle, metadata = _figure_bundle(obj), {}
    else:
        from IPython.core.formatters import format_display_data

        mimebundle, metadata = format_display_data(obj)
    prefix = "" if display else "application/papermill.record/"
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    if alt:
        metadata["labkit"] = {"alt": " ".join(alt.split())}
    ipy_display({prefix + k: v for k, v in mimebundle.items()}, raw=True, metadata=metadata)


def _is_figure(obj: Any) -> bool:
    return hasattr(obj, "savefig") and hasattr(obj, "canvas")


def _figure_bundle(fig: Any) -> dict[str, str]:
    """PNG and text of a matplotlib figure, rendered here whatever the backend.

    Rendering ourselves (instead of relying on the inline backend's formatter) means a
    glued figure carries an image under any backend, e.g. ``MPLBACKEND=Agg``. The
    figure is closed so that the inline backend does not show it a second time.
    """
    import base64
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight",
                metadata={"Software": None})
    plt.close(fig)
    width, height = fig.get_size_inches() * fig.dpi
    return {"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"),
            "text/plain": f"<Figure size {width:.0f}x{height:.0f} with {len(fig.axes)} Axes>"}
