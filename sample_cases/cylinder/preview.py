"""Redraw preview.png: |U| at the last frame of each trajectory, on its cell centres.

    .venv/bin/python sample_cases/cylinder/preview.py   (needs matplotlib and Pillow)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from echo_model.data.store import TrajectoryStore  # noqa: E402

HERE = Path(__file__).resolve().parent

with TrajectoryStore(HERE / "cylinder_coarse.h5") as s:
    fig, axes = plt.subplots(len(s), 1, figsize=(8, 1.75 * len(s)), constrained_layout=True)
    for i, ax in enumerate(axes):
        t = s[i]
        speed = np.linalg.norm(t.field("U")[-1], axis=1)
        sc = ax.scatter(t.points[:, 0], t.points[:, 1], c=speed, s=0.6, cmap="viridis", rasterized=True)
        ax.set_aspect("equal")
        ax.set_xlim(0, 2.2)
        ax.set_ylim(0, 0.41)
        ax.set_xticks([])
        ax.set_yticks([])
        p = t.params
        ax.set_title(
            f"#{i}: Re {p['Re']:.0f}, cylinder ({p['cx']:.2f}, {p['cy']:.2f}), "
            f"St {t.metadata['strouhal']:.3f}, |U| at t = {t.times[-1]:.1f} s",
            fontsize=8,
        )
        fig.colorbar(sc, ax=ax, fraction=0.02, pad=0.01)
    tmp = HERE / ".preview-full.png"
    fig.savefig(tmp, dpi=70)
# a 64-colour palette keeps the committed image ~130 KB
Image.open(tmp).convert("RGB").quantize(64).save(HERE / "preview.png", optimize=True)
tmp.unlink()
