"""The pictures every demo makes from its run: the error curve over time and the sheet that puts
ParaView's panel PNGs side by side. One place for them so the demos' figures keep one style.

matplotlib and PIL are imported inside the functions: the demo modules are also imported in
ParaView's Python, where their import cost would be paid by every pvbatch start.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

CURVE_STYLES = ("o-", "s--", "^:", "d-.")  # ECHO first, then the references (persistence, ...)


def error_curve_png(path: Path, times: Sequence[float] | np.ndarray, curves: Mapping[str, Sequence[float]],
                    xlabel: str, ylabel: str, title: str | None = None, *,
                    figsize: tuple[float, float] = (5, 3.2), dpi: int = 120,
                    legend_fontsize: float | None = None) -> None:
    """Plot error curves over time on a log axis and save them as `path`.

    `curves` maps each legend label to its values at `times`, drawn in order with CURVE_STYLES
    (markers as well as colours: the curves stay apart in grey print). A log axis because the
    errors of a forecast and of persistence differ by orders of magnitude.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    for (label, values), style in zip(curves.items(), CURVE_STYLES):
        ax.semilogy(times, values, style, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=legend_fontsize)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def open_panels(rows: Sequence[Sequence[Path]]) -> list[list[Image.Image]]:
    """The panel PNGs of each row, read as RGB (ParaView writes RGBA; the sheet has no alpha)."""
    from PIL import Image

    return [[Image.open(p).convert("RGB") for p in row] for row in rows]


def paste_grid(rows: Sequence[Sequence[Image.Image]], cell: tuple[int, int] | None = None) -> Image.Image:
    """Rows of panels on one white sheet, each in a `cell` (default: the first panel's size) cell;
    as wide as the longest row, so a short row leaves white space at its end."""
    from PIL import Image

    w, h = cell or rows[0][0].size
    sheet = Image.new("RGB", (w * max(len(r) for r in rows), h * len(rows)), "white")
    for r, row in enumerate(rows):
        for c, im in enumerate(row):
            sheet.paste(im, (c * w, r * h))
    return sheet


def stitch_panels(path: Path, rows: Sequence[Sequence[Path]]) -> None:
    """Read rows of panel PNGs (e.g. rows = times, columns = solver | ECHO | error) and save them
    as one sheet at `path`: one picture to look at instead of a folder of panels."""
    paste_grid(open_panels(rows)).save(path)
