"""Plotting helpers shared by the labs, and ``glue`` to hand figures to the book.

Nothing here changes matplotlib's global state: no style is set at import.
"""

from __future__ import annotations

from typing import Any

__all__ = ["glue"]


def glue(name: str, obj: Any, display: bool = True) -> None:
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

    Examples
    --------
    >>> glue("lab00-answer", 42)  # doctest: +SKIP
    """
    if not isinstance(name, str) or not name:
        raise ValueError("glue needs a non-empty string name, e.g. 'lab01-cost-curve'.")
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipy_display

    mimebundle, metadata = format_display_data(obj)
    prefix = "" if display else "application/papermill.record/"
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipy_display({prefix + k: v for k, v in mimebundle.items()}, raw=True, metadata=metadata)
    if hasattr(obj, "savefig") and hasattr(obj, "number"):
        import matplotlib.pyplot as plt

        plt.close(obj)
