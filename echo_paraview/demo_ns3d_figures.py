"""The pictures of `echopv demo ns3d` put together: ParaView's panels into one PNG per row
(volume.png, slices.png, qcriterion.png), the error curve (error.png), and all of them on one sheet
(demo_ns3d.png: the Q-criterion row's third place holds the error curve)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .demo_plots import error_curve_png, open_panels, paste_grid

ROWS = (("volume", 3), ("slices", 3), ("qcriterion", 2))


def error_plot(png: Path, metrics: dict) -> None:
    """Relative MSE per predicted frame, ECHO against persistence (the first frame held); square,
    as it takes a panel's place on the sheet."""
    error_curve_png(png, np.asarray(metrics["times"]),
                    {"ECHO": metrics["rel_mse_per_step"],
                     "persistence (first frame)": metrics["persistence_rel_mse_per_step"]},
                    xlabel="time t", ylabel="relative MSE of the velocity vs the solver",
                    title=f"3D Taylor-Green, nu = {metrics['nu']:.3g}, {metrics['frames']} frames",
                    figsize=(4.2, 4.2), dpi=100, legend_fontsize=8)


def sheets(out: Path) -> None:
    """Stitch `panel_<row>_<col>.png` into the row PNGs and demo_ns3d.png, then remove the panels."""
    from PIL import Image

    rows = open_panels([[out / f"panel_{r}_{c}.png" for c in range(n)] for r, (_, n) in enumerate(ROWS)])
    cell = rows[0][0].size
    for (name, _), row in zip(ROWS, rows):
        paste_grid([row], cell).save(out / f"{name}.png")
    curve = Image.open(out / "error.png").convert("RGB").resize(cell, Image.LANCZOS)
    paste_grid(rows[:2] + [rows[2] + [curve]], cell).save(out / "demo_ns3d.png")
    for f in out.glob("panel_*.png"):
        f.unlink()
