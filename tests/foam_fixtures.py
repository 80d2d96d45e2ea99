"""Fixtures of the ParaView and GUI tests: the CI OpenFOAM cylinder case and models that fit it
(imported by tests/paraview/conftest.py and tests/gui/conftest.py)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def foam_case(tmp_path_factory) -> Path:
    """The CI cylinder case (1.3k cells, t = 0.05 .. 1.0 every 0.05; a few seconds of pimpleFoam),
    kept as an OpenFOAM case with an empty case.foam for ParaView's OpenFOAM reader."""
    if shutil.which("pimpleFoam") is None:
        pytest.skip("pimpleFoam not found: install Debian's OpenFOAM (`bash scripts/setup.sh`)")
    from echo_model.cases.cylinder import FamilyConfig, generate_family

    root = tmp_path_factory.mktemp("foam")
    cfg = FamilyConfig(n=1, seed=3, mesh="ci", end_time=1.0, write_interval=0.05, skip_time=0.2,
                       jobs=1, nice=0, keep_case=True)
    rows = generate_family(cfg, root / "cyl.h5", root / "work", progress=False)
    case = root / "work" / "case_000"
    (case / "case.foam").write_text("")
    (case / "params.json").write_text(json.dumps(rows[0]))
    return case


def _make_model(path: Path, *, dt: float = 0.05, lo=(0.0, 0.0), hi=(2.2, 0.41), dim: int = 2,
               layout=(("U", 2), ("p", 1)), params=(("Um", 1.5, 0.5), ("Re", 100.0, 30.0))) -> Path:
    """A real, untrained ECHO model file for the cylinder's fields, domain, dt and parameters."""
    import torch

    torch.set_num_threads(2)
    from echo_model.data.normalize import Domain
    from echo_model.rollout import create_untrained

    sur = create_untrained(list(layout), dim=dim, preset="tiny", dt=dt,
                           domain=Domain(np.array(lo[:dim]), np.array(hi[:dim])),
                           param_names=[p[0] for p in params], seed=0)
    sur.meta["param_mean"] = [float(p[1]) for p in params]
    sur.meta["param_std"] = [float(p[2]) for p in params]
    sur.save(path)
    return path


@pytest.fixture(scope="session")
def make_model():
    """The model-file factory (keyword arguments: dt, lo, hi, dim, layout, params)."""
    return _make_model


@pytest.fixture(scope="session")
def cylinder_model(tmp_path_factory) -> Path:
    return _make_model(tmp_path_factory.mktemp("cylmodel") / "cyl.safetensors")
