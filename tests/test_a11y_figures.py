"""Figures colour-blind readers can read: the colours of each solution figure stay apart
under simulated protanopia, deuteranopia and tritanopia, and no figure uses a rainbow or
red-green colour map.

The colours are read from each figure cell's source (``color=``/``c=``/``facecolor=``
arguments, and colour strings in the lists, tuples and dicts a cell builds its styles
from); each pair must differ by at least ``MIN_DELTA_E`` (CIE76, in CIELAB) after the
Machado, Oliveira and Fernandes (2009) simulation at full severity. Matplotlib's
perceptually uniform maps (viridis, cividis, ...) and the Okabe-Ito palette pass; red
against green, or orange against green, do not.
"""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
MIN_DELTA_E = 15.0
# Colour maps whose hues collapse for colour-blind readers, or that vary lightness
# non-monotonically (a reader cannot order the values).
BAD_CMAPS = {"jet", "rainbow", "gist_rainbow", "hsv", "nipy_spectral", "gist_ncar", "brg",
             "RdYlGn", "RdYlGn_r", "Spectral", "Spectral_r", "prism", "flag", "gist_stern",
             "turbo"}
COLOR_KWARGS = {"color", "colour", "c", "facecolor", "colors", "fc"}
# Machado et al. (2009), severity 1, on linear RGB.
CVD = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}
_SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                         [0.0193, 0.1192, 0.9505]])
_WHITE = np.array([0.95047, 1.0, 1.08883])


def _linear(rgb) -> np.ndarray:
    c = np.asarray(rgb, dtype=float)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear_rgb: np.ndarray) -> np.ndarray:
    t = (_SRGB_TO_XYZ @ np.clip(linear_rgb, 0, 1)) / _WHITE
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def delta_e(a: str, b: str, deficiency: str) -> float:
    """CIE76 distance between two matplotlib colours as a reader with ``deficiency`` sees
    them."""
    from matplotlib.colors import to_rgb

    m = CVD[deficiency]
    return float(np.linalg.norm(_lab(m @ _linear(to_rgb(a))) - _lab(m @ _linear(to_rgb(b)))))


def _looks_like_colour(text: str) -> bool:
    from matplotlib.colors import CSS4_COLORS, is_color_like

    return is_color_like(text) and (text.startswith(("#", "tab:", "xkcd:"))
                                    or re.fullmatch(r"C\d", text) is not None
                                    or text.lower() in CSS4_COLORS)


def colours_of(source: str) -> set[str]:
    """The colours a figure cell names (see the module docstring)."""
    from IPython.core.inputtransformer2 import TransformerManager
    from matplotlib.colors import is_color_like

    tree = ast.parse(TransformerManager().transform_cell(source))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in COLOR_KWARGS:
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                if is_color_like(node.value.value):
                    found.add(node.value.value)
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
            items = node.values if isinstance(node, ast.Dict) else node.elts
            for item in items:
                if (isinstance(item, ast.Constant) and isinstance(item.value, str)
                        and _looks_like_colour(item.value)):
                    found.add(item.value)
    return found


def _figure_cells(notebook: Path):
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code" and re.search(r"plt\.(subplots|figure)\(|glue\(",
                                                  cell.source):
            yield cell


def test_the_simulation_separates_known_pairs():
    # Red and green collapse for deuteranopes; the Okabe-Ito blue and vermillion do not.
    assert delta_e("tab:red", "tab:green", "deuteranopia") < MIN_DELTA_E
    assert delta_e("tab:orange", "tab:green", "protanopia") < MIN_DELTA_E
    assert all(delta_e("#0072B2", "#D55E00", d) > MIN_DELTA_E for d in CVD)
    assert colours_of('ax.plot(x, y, color="#0072B2")\nstyles = {"a": ("tab:red", "--")}\n'
                      'ax.bar(x, y, edgecolor="white")') == {"#0072B2", "tab:red"}


@pytest.mark.parametrize("notebook", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_figure_colours_stay_apart_for_colour_blind_readers(notebook):
    from matplotlib.colors import to_hex

    problems = []
    for cell in _figure_cells(notebook):
        cmaps = set(re.findall(r"""(?:cmap\s*=\s*|get_cmap\(\s*|colormaps\[\s*)["']([\w]+)["']""",
                               cell.source))
        cmaps |= set(re.findall(r"\bcm\.(\w+)", cell.source))
        for name in sorted(cmaps & BAD_CMAPS):
            problems.append(f"cell {cell.get('id')}: colour map {name!r} (use viridis, cividis "
                            "or another perceptually uniform map)")
        distinct = {to_hex(c): c for c in sorted(colours_of(cell.source))}  # "black" = "#000000"
        for a, b in itertools.combinations(sorted(distinct.values()), 2):
            for deficiency in CVD:
                d = delta_e(a, b, deficiency)
                if d < MIN_DELTA_E:
                    problems.append(f"cell {cell.get('id')}: {a} and {b} look alike with "
                                    f"{deficiency} (delta E {d:.1f} < {MIN_DELTA_E})")
    assert not problems, f"{notebook.name}:\n" + "\n".join(problems)
