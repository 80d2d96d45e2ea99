"""Stage 3 commands end to end on a tiny dataset with an untrained autoencoder:
cache-latents -> train dit / baseline (resume) -> the model file opens as a Surrogate."""
import json

import numpy as np
import pytest
import torch

from echo_model.data.normalize import Domain
from echo_model.errors import EchoUserError
from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory
from echo_model.nn.autoencoder import save_autoencoder
from echo_model.rollout import Surrogate, create_untrained
from echo_model.train.cache_latents import LatentCache
from echo_paraview.cli import main as echopv

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stage3")
    n = 12
    x = (np.arange(n) + 0.5) / n
    xx, yy = np.meshgrid(x, x)
    pts = np.stack([xx.ravel(), yy.ravel()], 1)

    def traj(s):
        f = np.stack([np.sin(2 * np.pi * (pts[:, 0] + 0.05 * t) + s) for t in range(11)])[..., None]
        return Trajectory(pts, f, 0.5 * np.arange(11), [("w", 1)], params={"nu": 1e-3 * (1 + s)})

    data = tmp / "d.h5"
    write_dataset(data, (traj(s) for s in range(4)), name="t", domain=Domain([0, 0], [1, 1], (True, True)),
                  split={"train": [0, 1, 2], "val": [], "test": [3]})
    sur = create_untrained([("w", 1)], 2, domain=Domain([0, 0], [1, 1], (True, True)))
    ae = tmp / "ae.safetensors"
    save_autoencoder(ae, sur.ae, meta={"field_layout": [["w", 1]], "stats": sur.stats.to_dict(),
                                       "domain": sur.domain.to_dict(), "dt": 0.5, "n_frames": 9})
    return tmp, data, ae


def test_cache_train_resume_and_bundle(setup, capsys):
    tmp, data, ae = setup
    cache = tmp / "lat.h5"
    assert echopv(["cache-latents", "--ae", str(ae), "--data", str(data), "--out", str(cache), "--threads", "1"]) == 0
    c = LatentCache(cache)
    assert len(c) == 3 * 3  # 3 training trajectories x starts 0, 1, 2 of 9-frame windows in 11 frames
    assert tuple(c.latents.shape[1:]) == (8, 5, 8, 8)
    assert c.param_names == ["nu"] and c.dt == pytest.approx(0.5)
    run = tmp / "dit"
    args = ["train", "dit", "--cache", str(cache), "--run", str(run), "--batch-size", "4", "--no-progress",
            "--threads", "1", "--ckpt-every", "0", "--sample-steps", "2", "--sampler", "euler"]
    assert echopv(args + ["--steps", "3"]) == 0
    assert json.loads((run / "progress.json").read_text())["step"] == 3
    capsys.readouterr()
    assert echopv(args + ["--steps", "5"]) == 0
    assert "resuming at step 3" in capsys.readouterr().out  # a fresh run would also end at step 5
    prog = json.loads((run / "progress.json").read_text())
    assert prog["step"] == 5 and prog["status"] == "done"
    sur = Surrogate.load(run / "model.safetensors", cache=False)
    assert sur.generator_kind == "flow" and sur.param_names == ["nu"] and sur.dt == pytest.approx(0.5)
    assert sur.default_steps == 2 and sur.segment_frames == 8
    pts = np.random.default_rng(0).uniform(0, 1, (50, 2))
    res = sur.rollout(pts, np.zeros((1, 50, 1), np.float32), 3, params={"nu": 2e-3})
    assert res.mean.shape == (3, 50, 1) and np.isfinite(res.mean).all()
    with pytest.raises(EchoUserError, match="unknown parameters"):
        sur.rollout(pts, np.zeros((1, 50, 1), np.float32), 3, params={"Re": 1.0})
    out = tmp / "base.safetensors"
    assert echopv(["train", "baseline", "--cache", str(cache), "--run", str(tmp / "base"), "--steps", "2",
                   "--batch-size", "4", "--no-progress", "--threads", "1", "--out", str(out)]) == 0
    assert Surrogate.load(out, cache=False).generator_kind == "baseline"


def test_clear_errors(setup, capsys):
    tmp, data, ae = setup
    assert echopv(["cache-latents", "--ae", str(ae), "--data", str(data), "--out", str(tmp / "x.h5"),
                   "--frames", "13"]) == 2
    assert "no window of 13 frames" in capsys.readouterr().err
    assert echopv(["train", "dit", "--cache", str(tmp / "missing.h5"), "--run", str(tmp / "r")]) == 2
    assert "echopv cache-latents" in capsys.readouterr().err


def test_model_header_records_the_parameter_range_and_info_opens_no_path(setup, tmp_path):
    """Fit checks and `echopv info` need the training range; they read it from the header, never
    from the dataset file the header names (which may be gone, or anything)."""
    from echo_model.bundle import read_meta
    from echo_model.info import model_rows

    tmp, data, ae = setup
    cache = tmp_path / "lat.h5"
    assert echopv(["cache-latents", "--ae", str(ae), "--data", str(data), "--out", str(cache), "--threads", "1"]) == 0
    out = tmp_path / "m.safetensors"
    assert echopv(["train", "dit", "--cache", str(cache), "--run", str(tmp_path / "dit"), "--steps", "1",
                   "--batch-size", "2", "--no-progress", "--threads", "1", "--out", str(out)]) == 0
    meta = read_meta(out)
    assert meta["param_min"] == pytest.approx([1e-3]) and meta["param_max"] == pytest.approx([3e-3])
    data.rename(data.with_suffix(".moved"))  # the named dataset is gone: the summary does not change
    try:
        rows = {k: v for _, k, v in model_rows(out)}
    finally:
        data.with_suffix(".moved").rename(data)
    assert "training range [0.001, 0.003]" in rows["parameter nu"]
