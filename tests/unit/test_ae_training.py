"""Autoencoder training: overfitting, trainer checkpoints/resume, the `train ae` / `train refine` stages."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from echo_model.bundle import read_meta
from echo_model.data.normalize import Domain
from echo_model.data.store import write_dataset
from echo_model.data.trajectory import Trajectory
from echo_model.data.windows import WindowSampler, collate
from echo_model.errors import EchoUserError
from echo_model.nn.autoencoder import AutoencoderConfig, EchoAutoencoder, load_autoencoder
from echo_model.train import stage_ae, stage_refine
from echo_model.train.stage_ae import ae_step, relative_mse
from echo_model.train.trainer import TrainConfig, Trainer, lr_at

torch.set_num_threads(1)  # small tensors; spin-waiting threads hurt on a shared machine


def synthetic(n_traj: int, res: int, n_frames: int, seed: int = 0) -> list[Trajectory]:
    """Smooth periodic travelling waves (a stand-in for vorticity; no solver needed)."""
    rng = np.random.default_rng(seed)
    x = np.arange(res) / res
    pts = np.stack(np.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2)
    t = np.arange(n_frames) * 0.1
    out = []
    for _ in range(n_traj):
        f = np.zeros((n_frames, res * res), np.float32)
        for _ in range(5):
            kx, ky = rng.integers(-2, 3, 2)
            phase = 2 * np.pi * (kx * pts[:, 0] + ky * pts[:, 1])[None] + rng.uniform(0, 6.3) + rng.normal() * t[:, None]
            f += rng.normal() * np.cos(phase)
        out.append(Trajectory(points=pts, fields=f[..., None] + 3.0, times=t, field_layout=[("vorticity", 1)]))
    return out


def make_store(path, n_traj, res, n_frames, seed=0):
    split = {"train": list(range(n_traj)), "val": [], "test": []}
    write_dataset(path, synthetic(n_traj, res, n_frames, seed), name="synthetic", split=split,
                  domain=Domain([0, 0], [1, 1], (True, True)))
    return path


def test_windows_dropout_queries_and_collate(tmp_path):
    path = make_store(tmp_path / "d.h5", 2, 16, 7)
    s = WindowSampler(path, n_frames=5, frame_stride=1, keep=(0.5, 0.5), n_query=100, seed=1)
    rng = np.random.default_rng(0)
    item = s.sample(rng)
    assert item["points"].shape == (128, 2) and item["values"].shape == (5, 128, 1)
    assert item["query_points"].shape == (100, 2) and item["target"].shape == (5, 100, 1)
    assert float(item["points"].min()) >= 0 and float(item["points"].max()) <= 1
    # normalised with the dataset's stats (the raw data is offset by +3)
    full = s.window(0, 0)
    raw = s.store.read_fields(0)[:5]
    expect = (raw - s.stats.mean) / s.stats.std
    assert np.allclose(full["values"].numpy(), expect, atol=1e-5)
    s2 = WindowSampler(path, n_frames=5, keep=(0.5, 1.0), seed=1)
    b = collate([s2.window(0, 0, 0.5, np.random.default_rng(1)), s2.window(1, 2, 1.0)])
    assert b["points"].shape == (2, 256, 2) and b["point_mask"].sum(1).tolist() == [128, 256]
    assert torch.all(b["values"][0, :, 128:] == 0)
    # batches are a pure function of (seed, step, rank): resumable
    assert torch.equal(s2.batch(3, 2)["values"], s2.batch(3, 2)["values"])
    assert not torch.equal(s2.batch(3, 2)["values"], s2.batch(3, 2, rank=1)["values"])
    with pytest.raises(EchoUserError, match="frames"):
        WindowSampler(path, n_frames=9)
    # shift augmentation: one common translation of inputs and queries, wrapped into [0, 1)
    s3 = WindowSampler(path, n_frames=5, keep=(1.0, 1.0), shift=0.1, seed=2)
    it = s3.sample(np.random.default_rng(5))
    plain = s3.window(int(it["traj"]), int(it["start"]))
    moved = torch.remainder(it["points"] - plain["points"] + 0.5, 1.0) - 0.5  # minimum image
    assert torch.allclose(moved, moved[:1].expand_as(moved), atol=1e-5) and 0 < moved.abs().max() <= 0.05 + 1e-6
    assert float(it["points"].min()) >= 0 and float(it["points"].max()) < 1
    assert torch.equal(it["values"], plain["values"])


def test_tiny_model_overfits_one_trajectory(tmp_path):
    path = make_store(tmp_path / "one.h5", 1, 32, 5)
    sampler = WindowSampler(path, n_frames=5, keep=(1.0, 1.0))
    batch = sampler.batch(0, 1)
    torch.manual_seed(0)
    cfg = AutoencoderConfig(grid=(16, 16), periodic=(True, True), padding_mode="circular",
                            layout=("res", "cs", "ct", "res"), channels=(16, 16), latent_dim=8)
    trainer = Trainer(EchoAutoencoder(cfg), tmp_path / "run", TrainConfig(
        steps=30, lr=3e-3, min_lr=1e-3, warmup=2, ckpt_every=0, progress_bar=False), model_prefix="autoencoder")
    result = trainer.fit(ae_step, lambda step: batch)
    hist = result["history"]
    assert hist[0] > 0.5
    assert min(hist[-5:]) < hist[0] / 10, hist


def _tiny_trainer(run_dir, steps, cfg):
    torch.manual_seed(0)
    model = EchoAutoencoder(cfg)
    return Trainer(model, run_dir, TrainConfig(steps=steps, lr=1e-3, warmup=2, ckpt_every=3, progress_bar=False),
                   model_prefix="autoencoder", meta={"kind": "autoencoder", "autoencoder": cfg.to_dict()})


def test_checkpoint_resume_matches_uninterrupted_run(tmp_path):
    path = make_store(tmp_path / "d.h5", 2, 16, 3)
    sampler = WindowSampler(path, n_frames=3, keep=(0.5, 1.0), seed=0)
    cfg = AutoencoderConfig(grid=(8, 8), layout=("cs", "ct"), channels=(4, 8), latent_dim=2)
    get = lambda step: sampler.batch(step, 2)  # noqa: E731

    straight = _tiny_trainer(tmp_path / "a", 6, cfg)
    straight.fit(ae_step, get)

    class Stop(Exception):
        pass

    def interrupted(model, batch, calls=[0]):
        calls[0] += 1
        if calls[0] > 4:  # dies during step 5, after the step-3 checkpoint
            raise Stop
        return ae_step(model, batch)

    first = _tiny_trainer(tmp_path / "b", 6, cfg)
    with pytest.raises(Stop):
        first.fit(interrupted, get)
    resumed = _tiny_trainer(tmp_path / "b", 6, cfg)
    assert resumed.step == 3
    resumed.fit(ae_step, get)
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k
    model, meta = load_autoencoder(tmp_path / "b" / "model.safetensors")
    assert meta["training"]["step"] == 6 and model.config == cfg
    prog = json.loads((tmp_path / "b" / "progress.json").read_text())
    assert prog["status"] == "done" and prog["step"] == prog["total"] == 6


def test_lr_schedule_warmup_then_cosine():
    cfg = TrainConfig(steps=100, lr=1e-3, min_lr=1e-5, warmup=10)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(55, cfg) == pytest.approx(0.5 * (1e-3 + 1e-5), rel=1e-3)
    assert lr_at(100, cfg) == pytest.approx(1e-5)


def test_relative_mse_masks_padding():
    target = torch.randn(2, 3, 5, 1)
    pred = target.clone()
    pred[:, :, 4] += 100.0  # only padded rows are wrong
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[:, 4] = False
    assert float(relative_mse(pred, target, mask)) == 0.0
    assert float(relative_mse(2 * target, target)) == pytest.approx(1.0, rel=1e-5)


def _args(module, argv):
    p = argparse.ArgumentParser()
    module.add_arguments(p)
    return p.parse_args(argv)


def test_stage_commands_train_resume_and_refine(tmp_path, capsys):
    lo = make_store(tmp_path / "lo.h5", 2, 32, 9)
    hi = make_store(tmp_path / "hi.h5", 1, 48, 2, seed=1)
    run = tmp_path / "ae"
    common = ["--data", str(lo), "--run", str(run), "--preset", "tiny", "--batch-size", "1", "--no-progress",
              "--ckpt-every", "2", "--n-query", "256"]
    assert stage_ae.run(_args(stage_ae, common + ["--steps", "2"])) == 0
    meta = read_meta(run / "autoencoder.safetensors")
    assert meta["autoencoder"]["grid"] == [32, 32] and meta["autoencoder"]["periodic"] == [True, True]
    assert meta["compression_ratio"] == pytest.approx(32 * 32 * 9 / (8 * 5 * 8 * 8))
    assert "stats" in meta and "domain" in meta and meta["field_layout"] == [["vorticity", 1]]
    assert stage_ae.run(_args(stage_ae, common + ["--steps", "3"])) == 0  # resumes at 2
    assert "resuming at step 2" in capsys.readouterr().out
    assert read_meta(run / "autoencoder.safetensors")["training"]["step"] == 3

    ref = tmp_path / "refined"
    argv = ["--init", str(run / "autoencoder.safetensors"), "--data", str(hi), "--run", str(ref), "--steps", "2",
            "--no-progress", "--n-query", "300", "--chunk-size", "4096", "--replay", str(lo)]
    assert stage_refine.run(_args(stage_refine, argv)) == 0
    model, meta = load_autoencoder(ref / "autoencoder.safetensors")
    assert meta["stage"] == "refine" and meta["stats"] == read_meta(run / "autoencoder.safetensors")["stats"]
    assert meta["refine_replay"]["path"] == str(lo)  # stage-1 windows replayed when asked
    assert stage_refine.run(_args(stage_refine, argv[:5] + [str(tmp_path / "r2")] + argv[6:-2])) == 0
    assert read_meta(tmp_path / "r2" / "autoencoder.safetensors")["refine_replay"] is None
    with pytest.raises(EchoUserError, match="--init"):
        stage_refine.run(_args(stage_refine, ["--data", str(hi), "--run", str(tmp_path / "x")]))


def test_max_traj_trains_on_the_first_trajectories_of_the_split_and_refuses_too_many(tmp_path):
    from echo_model.data.store import TrajectoryStore
    from echo_model.errors import EchoUserError
    from echo_model.train.runs import AutoencoderRun
    from echo_model.train.stage_ae import _training_subset

    path = make_store(tmp_path / "d.h5", 4, 8, 5)
    with TrajectoryStore(path) as store:
        assert _training_subset(store, AutoencoderRun(data=str(path), run="r")) is None
        assert _training_subset(store, AutoencoderRun(data=str(path), run="r", max_traj=2)) == [0, 1]
        with pytest.raises(EchoUserError, match="has 4 trajectories"):
            _training_subset(store, AutoencoderRun(data=str(path), run="r", max_traj=5))


def test_train_ae_refuses_a_dataset_whose_only_trajectory_is_in_the_test_split(tmp_path):
    """It used to fall back to every trajectory and train on the test data without a word."""
    from echo_model.errors import EchoUserError
    from echo_model.train.runs import AutoencoderRun

    path = tmp_path / "one.h5"
    write_dataset(path, synthetic(1, 8, 6), name="one", split={"train": [], "val": [], "test": [0]},
                  domain=Domain([0, 0], [1, 1], (True, True)))
    with pytest.raises(EchoUserError, match=r"'train' split holds no trajectory .*test data"):
        stage_ae.train_autoencoder(AutoencoderRun(data=str(path), run=str(tmp_path / "ae"), steps=1, frames=5))
    assert not (tmp_path / "ae" / "autoencoder.safetensors").exists()
