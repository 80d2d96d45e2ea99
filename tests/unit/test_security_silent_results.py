"""Issue 24, group 7: silently wrong results with exit 0.

Zero or negative step counts used to write an untrained model ("loss nan") that rollout then used;
a latent cache made with another autoencoder was bundled without a word; a header's stats.std NaN
was read as 1.0; `--preset small` on a tiny run resumed the tiny model; a case with a missing time
directory was imported with an uneven step and no warning. Each is now refused (or warned about),
naming the file or option and the fix."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from echo_model.data.array_checks import UnevenTimeStepWarning
from echo_model.errors import EchoUserError
from echo_model.rollout import Surrogate
from echo_model.train.layout import AUTOENCODER, CHECKPOINT
from echo_model.train.runs import GeneratorRun, PipelineRun, from_json, to_json
from echo_paraview.cli import main as echopv
from tiny_runs import AE_FAST, autoencoder_file, edit_header, model_file, tiny_dataset

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("silent") / "d.h5")


# --- step counts --------------------------------------------------------------------------------
@pytest.mark.parametrize("steps", ["0", "-5"])
def test_train_ae_with_no_steps_is_refused_and_writes_no_model(data, tmp_path, capsys, steps):
    run = tmp_path / "run"
    code = echopv(["train", "ae", "--data", str(data), "--run", str(run), "--steps", steps, *AE_FAST])
    err = capsys.readouterr().err
    assert code == 2 and "--steps" in err and "at least 1" in err and "untrained model" in err
    assert not (run / AUTOENCODER).exists()


@pytest.mark.parametrize("key", ["ae_steps", "dit_steps"])
def test_pipeline_config_with_zero_steps_is_refused(tmp_path, key):
    obj = json.loads(to_json(PipelineRun(data="d.h5", run=str(tmp_path / "run"))))
    obj["config"][key] = 0
    with pytest.raises(EchoUserError) as info:
        from_json(PipelineRun, json.dumps(obj), source="cfg.json")
    assert "cfg.json" in str(info.value) and repr(key) in str(info.value) and "at least 1" in str(info.value)


def test_train_dit_with_negative_sample_steps_is_refused(capsys, tmp_path):
    code = echopv(["train", "dit", "--cache", str(tmp_path / "c.h5"), "--run", str(tmp_path / "r"),
                   "--sample-steps", "-1"])
    assert code == 2 and "--sample-steps" in capsys.readouterr().err


def test_trainer_itself_refuses_zero_steps(tmp_path):
    from echo_model.train.trainer import TrainConfig, Trainer

    with pytest.raises(EchoUserError, match="steps 0"):
        Trainer(torch.nn.Linear(2, 2), tmp_path, TrainConfig(steps=0, device="cpu", progress_bar=False))
    assert not (tmp_path / "model.safetensors").exists()


# --- a latent cache made with another autoencoder ---------------------------------------------
@pytest.fixture(scope="module")
def caches(tmp_path_factory, data):
    from echo_model.train.cache_latents import cache_latents

    tmp = tmp_path_factory.mktemp("caches")
    ae1, ae2 = autoencoder_file(tmp / "ae1.safetensors", 1), autoencoder_file(tmp / "ae2.safetensors", 2)
    cache = cache_latents(ae1, data, tmp / "lat.h5", device="cpu", progress=False)
    return tmp, ae1, ae2, cache


def test_train_dit_refuses_a_cache_of_another_autoencoder(caches):
    from echo_model.train.stage_dit import train_generator

    tmp, ae1, ae2, cache = caches
    cfg = GeneratorRun(cache=str(cache), ae=str(ae2), run=str(tmp / "dit"), steps=1, threads=1, progress=False,
                       device="cpu")
    with pytest.raises(EchoUserError) as info:
        train_generator(cfg)
    msg = str(info.value)
    assert str(cache) in msg and str(ae2) in msg and "another autoencoder" in msg and "cache-latents" in msg
    assert not (tmp / "dit" / "model.safetensors").exists()


def test_train_dit_accepts_the_cache_of_its_autoencoder(caches):
    from echo_model.train.stage_dit import train_generator

    tmp, ae1, _, cache = caches
    out = train_generator(GeneratorRun(cache=str(cache), ae=str(ae1), run=str(tmp / "dit1"), steps=1, threads=1,
                                       progress=False, device="cpu", sample_steps=2))
    assert out["model"].is_file()


def test_pipeline_encodes_a_foreign_cache_again(caches):
    from echo_model.train.cache_latents import CacheLatentsRun, cache_latents_run, recorded_autoencoder
    from echo_model.train.pipeline import Stage, _stage_done

    tmp, ae1, ae2, cache = caches
    stage = Stage("cache-latents", "cache-latents", cache_latents_run,
                  CacheLatentsRun(ae=str(ae2), data="d.h5", out=str(cache)), cache, None)
    assert _stage_done(stage, upstream_mtime=0.0) is False  # made with ae1: not done for ae2
    stage.config.ae = str(ae1)
    assert _stage_done(stage, upstream_mtime=0.0) is True
    assert recorded_autoencoder(cache) is not None


# --- a header's NaN standard deviation ---------------------------------------------------------
@pytest.mark.parametrize("std", [float("nan"), 0.0, -1.0])
def test_model_with_bad_stats_std_is_refused(tmp_path, capsys, std):
    bad = edit_header(model_file(tmp_path / "m.safetensors"), tmp_path / "bad.safetensors", stats__std=[std])
    with pytest.raises(EchoUserError) as info:
        Surrogate.load(bad, device="cpu", cache=False)
    assert str(bad) in str(info.value) and "stats.std" in str(info.value) and "retrain" in str(info.value)
    assert echopv(["info", str(bad)]) == 2
    assert "stats.std" in capsys.readouterr().err


# --- --preset against the run being resumed --------------------------------------------------
def test_train_ae_refuses_another_preset_on_resume(data, tmp_path, capsys):
    run = tmp_path / "run"
    base = ["train", "ae", "--data", str(data), "--run", str(run), "--steps", "1", *AE_FAST]
    assert echopv(base + ["--preset", "tiny"]) == 0
    capsys.readouterr()
    assert echopv(base + ["--preset", "small", "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "--preset small" in err and "--preset tiny" in err and str(run) in err and "new --run" in err
    assert json.loads((run / "progress.json").read_text())["step"] == 1  # nothing resumed


def test_train_all_refuses_another_preset_on_a_finished_stage(data, tmp_path):
    from echo_model.train.pipeline import train_all
    from echo_model.train.runs import AutoencoderRun
    from echo_model.train.stage_ae import train_autoencoder

    run = tmp_path / "run"
    train_autoencoder(AutoencoderRun(data=str(data), run=str(run / "ae"), steps=1, preset="tiny", grid=(16,),
                                     n_query=64, batch_size=1, frames=5, ckpt_every=0, threads=1, progress=False))
    assert (run / "ae" / CHECKPOINT).is_file()
    with pytest.raises(EchoUserError, match=r"--preset small.*--preset tiny"):
        train_all(PipelineRun(data=str(data), run=str(run), preset="small", ae_steps=1, refine_steps=0,
                              dit_steps=1, threads=1, progress=False))
    assert json.loads((run / "pipeline.json").read_text())["state"] == "failed"


# --- a missing time directory: an uneven step --------------------------------------------------
def test_uneven_time_steps_warn_naming_the_gap(tmp_path):
    with pytest.warns(UnevenTimeStepWarning) as rec:
        tiny_dataset(tmp_path / "u.h5", n_traj=1, n_frames=6, times=[0.0, 0.1, 0.2, 0.4, 0.5, 0.6])
    msg = str(rec[0].message)
    assert "trajectory 0" in msg and str(tmp_path / "u.h5") in msg
    assert "0.2 from t = 0.2 to t = 0.4" in msg and "missing time directory" in msg


def test_even_time_steps_do_not_warn(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnevenTimeStepWarning)
        tiny_dataset(tmp_path / "e.h5", n_traj=1, times=np.round(0.1 * np.arange(7), 10))


def _foam_field(cls: str, name: str, rows: list[str]) -> str:
    kind = "vector" if cls == "volVectorField" else "scalar"
    return (f"FoamFile\n{{\n    version 2.0;\n    format ascii;\n    class {cls};\n    object {name};\n}}\n"
            f"dimensions [0 0 0 0 0 0 0];\ninternalField nonuniform List<{kind}>\n{len(rows)}\n(\n"
            + "\n".join(rows) + "\n)\n;\nboundaryField\n{\n}\n")


def _foam_case(root, times):
    """A minimal ASCII OpenFOAM case: 4 x 4 cells of a one-cell-thick slab (centres from a written C), p per time."""
    case = root / "case"
    (case / "system").mkdir(parents=True)
    (case / "system" / "controlDict").write_text("FoamFile { class dictionary; object controlDict; }\n")
    xy = [((i + 0.5) / 4, (j + 0.5) / 4) for j in range(4) for i in range(4)]
    for k, t in enumerate(times):
        d = case / f"{t:g}"
        d.mkdir()
        if k == 0:
            (d / "C").write_text(_foam_field("volVectorField", "C", [f"({x} {y} 0.05)" for x, y in xy]))
        (d / "p").write_text(_foam_field("volScalarField", "p", [f"{x + t:.6f}" for x, _ in xy]))
    return case


def test_openfoam_case_with_a_missing_time_directory_warns(tmp_path, capsys):
    case = _foam_case(tmp_path, [0.1, 0.2, 0.3, 0.5, 0.6])  # 0.4 is missing
    out = tmp_path / "d.h5"
    with pytest.warns(UnevenTimeStepWarning) as rec:
        assert echopv(["import", str(case), "--out", str(out), "--fields", "p"]) == 0
    msg = str(rec[0].message)
    assert "0.2 from t = 0.3 to t = 0.5" in msg and "missing time directory" in msg and str(case) in msg
    with warnings.catch_warnings():  # the complete case imports without a warning
        warnings.simplefilter("error", UnevenTimeStepWarning)
        full = _foam_case(tmp_path / "full", [0.1, 0.2, 0.3, 0.4, 0.5])
        assert echopv(["import", str(full), "--out", str(tmp_path / "f.h5"), "--fields", "p"]) == 0
