"""The pictures of `echopv demo ns3d` put together: ParaView's panels into one PNG per row
(volume.png, slices.png, qcriterion.png), the error curve (error.png), and all of them on one sheet
(demo_ns3d.png: the Q-criterion row's third place holds the error curve)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

ROWS = (("volume", 3), ("slices", 3), ("qcriterion", 2))


def error_plot(png: Path, metrics: dict) -> None:
    """Relative MSE per predicted frame, ECHO against persistence (the first frame held)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.asarray(metrics["times"])
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=100)
    ax.semilogy(t, metrics["rel_mse_per_step"], "o-", label="ECHO")
    ax.semilogy(t, metrics["persistence_rel_mse_per_step"], "s--", label="persistence (first frame)")
    ax.set_xlabel("time t")
    ax.set_ylabel("relative MSE of the velocity vs the solver")
    ax.set_title(f"3D Taylor-Green, nu = {metrics['nu']:.3g}, {metrics['frames']} frames", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def sheets(out: Path) -> None:
    """Stitch `panel_<row>_<col>.png` into the row PNGs and demo_ns3d.png, then remove the panels."""
    from PIL import Image

    rows = [[Image.open(out / f"panel_{r}_{c}.png").convert("RGB") for c in range(n)] for r, (_, n) in enumerate(ROWS)]
    w, h = rows[0][0].size
    for (name, _), row in zip(ROWS, rows):
        _paste([row], w, h).save(out / f"{name}.png")
    curve = Image.open(out / "error.png").convert("RGB").resize((w, h), Image.LANCZOS)
    _paste(rows[:2] + [rows[2] + [curve]], w, h).save(out / "demo_ns3d.png")
    for f in out.glob("panel_*.png"):
        f.unlink()


def _paste(rows: list, w: int, h: int):
    from PIL import Image

    sheet = Image.new("RGB", (w * max(len(r) for r in rows), h * len(rows)), "white")
    for r, row in enumerate(rows):
        for c, im in enumerate(row):
            sheet.paste(im, (c * w, r * h))
    return sheet
