"""echo_paraview.demo_plots on synthetic data: the error curve and the panel sheet are real PNGs of
the size the demos rely on (a sheet is columns x rows panels; a short row leaves white space)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from echo_paraview.demo_plots import error_curve_png, open_panels, paste_grid, stitch_panels  # noqa: E402

W, H = 48, 30


def _panels(folder: Path, names: list[str]) -> list[Path]:
    """RGBA panels (as ParaView writes them), each a distinct solid colour."""
    paths = []
    for i, name in enumerate(names):
        rgba = np.zeros((H, W, 4), dtype=np.uint8)
        rgba[...] = (40 * i % 256, 255 - 30 * i % 256, 100, 255)
        Image.fromarray(rgba, "RGBA").save(folder / name)
        paths.append(folder / name)
    return paths


def test_error_curve_png_is_an_image_of_the_asked_size(tmp_path):
    import matplotlib.image as mpimg

    t = np.arange(1, 6) * 0.25
    error_curve_png(tmp_path / "error.png", t, {"ECHO": 1e-3 * t, "persistence": 1e-1 * t},
                    xlabel="t", ylabel="relative MSE", title="synthetic", figsize=(4.2, 4.2), dpi=100)
    img = mpimg.imread(tmp_path / "error.png")
    assert img.shape[:2] == (420, 420)
    assert img[..., :3].std() > 0.05  # axes, curves and text drawn, not a blank canvas
    error_curve_png(tmp_path / "wide.png", list(t), {"ECHO": list(1e-3 * t)}, xlabel="t", ylabel="e")
    assert mpimg.imread(tmp_path / "wide.png").shape[:2] == (384, 600)  # the default 5 x 3.2 in at 120 dpi


def test_stitch_panels_lays_rows_and_columns(tmp_path):
    paths = _panels(tmp_path, [f"panel_{r}_{c}.png" for r in range(3) for c in range(2)])
    rows = [paths[0:2], paths[2:4], paths[4:6]]
    stitch_panels(tmp_path / "sheet.png", rows)
    sheet = np.asarray(Image.open(tmp_path / "sheet.png"))
    assert sheet.shape == (3 * H, 2 * W, 3)  # 2 columns twice as wide as a panel, 3 rows three times as high
    for r, row in enumerate(rows):
        for c, p in enumerate(row):
            panel = np.asarray(Image.open(p).convert("RGB"))
            np.testing.assert_array_equal(sheet[r * H:(r + 1) * H, c * W:(c + 1) * W], panel)


def test_paste_grid_short_row_leaves_white(tmp_path):
    rows = open_panels([_panels(tmp_path, ["a.png", "b.png", "c.png"]), _panels(tmp_path, ["d.png"])])
    assert all(im.mode == "RGB" for row in rows for im in row)
    sheet = np.asarray(paste_grid(rows))
    assert sheet.shape == (2 * H, 3 * W, 3)
    assert (sheet[H:, W:] == 255).all()  # the second row's missing places
    assert not (sheet[H:, :W] == 255).all()
    big = np.asarray(paste_grid(rows, cell=(W + 10, H)))  # an explicit cell size spaces the panels out
    assert big.shape == (2 * H, 3 * (W + 10), 3)
    assert (big[:H, W:W + 10] == 255).all()
