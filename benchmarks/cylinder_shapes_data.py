"""The obstacle family on the `fine` mesh (13.8k cells, St within 1.5 % of DFG 2D-2:
benchmarks/results/cylinder_mesh_study.md): what `benchmarks/cylinder.py --family shapes` trains and
scores on, generated once into $ECHOPV_CACHE by `echopv generate cylinder` with the settings below.

    nice -n 5 .venv/bin/python benchmarks/cylinder_shapes_data.py          # all sets, in this order

Every case starts by rocking its body for one shedding period (`--kick 0.5`), so the vortex street
is developed by t = 1-1.25 s instead of ~3.5 s from rest; the start-up is what a case's solver time
was mostly spent on. Training cases keep 1 s (41 frames; ellipses and squares 0.75 s, 31 frames: the
generation's CPU budget), test cases 2 s (81 frames, the forecast).
  circles     24 cylinders, Re 50-200, centres as before           (training, with its val/test split)
  ellipses    12 ellipses, axis ratio 1.5-2.5, any angle            (training)
  rsquares    12 rounded squares, turned 0-90 degrees               (training)
  held-in      3 unseen cases of the training shapes and ranges    (test a)
  triangles    2 triangles: a shape family kept out of training    (test c)
  finer        1 unseen cylinder on the `xfine` mesh (1.8x cells)   (test b)
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TRAIN = ["--kick", "0.5", "--skip-time", "1.25", "--end-time", "2.25", "--jobs", "2", "--nice", "5"]
SHORT = ["--kick", "0.5", "--skip-time", "1.0", "--end-time", "1.75", "--jobs", "2", "--nice", "5"]
TEST = ["--kick", "0.5", "--skip-time", "1.25", "--end-time", "3.25", "--jobs", "2", "--nice", "5"]
SETS: dict[str, list[str]] = {
    "circles": ["--n", "24", "--seed", "21", "--mesh", "fine", *TRAIN],
    "ellipses": ["--n", "12", "--seed", "22", "--mesh", "fine", "--shapes", "ellipse", *SHORT],
    "rsquares": ["--n", "12", "--seed", "23", "--mesh", "fine", "--shapes", "rsquare", "--angle", "0,90", *SHORT],
    "held-in": ["--n", "3", "--seed", "24", "--mesh", "fine", "--shapes", "circle,ellipse,rsquare", *TEST],
    "triangles": ["--n", "2", "--seed", "26", "--mesh", "fine", "--shapes", "triangle", "--angle", "0,120", *TEST],
    "finer": ["--n", "1", "--seed", "25", "--mesh", "xfine", *TEST],
}
TRAINING = ("circles", "ellipses", "rsquares")


def shapes_dataset(name: str) -> Path:
    """The cached dataset of one set, generated when missing."""
    from bench_common import echopv
    from echo_model.cases.cached import cache_dir

    path = cache_dir() / f"cyl_shapes_{name}.h5"
    if not path.exists():
        echopv(["generate", "cylinder", *SETS[name], "--out", str(path)])
    return path


def main() -> int:
    for name in SETS:
        print(f"{name}: {shapes_dataset(name)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
