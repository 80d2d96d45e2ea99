"""Run configurations: the dataclass, the command line and the JSON written for EchoTrain agree."""
from __future__ import annotations

import argparse

import pytest

from echo_model.errors import EchoUserError
from echo_model.train import runs
from echo_model.train.runs import (AutoencoderRun, GeneratorRun, PipelineRun, RefineRun, add_arguments_from,
                                   from_json, from_namespace, to_argv, to_json)


def _parse(cls, argv):
    p = argparse.ArgumentParser()
    add_arguments_from(p, cls)
    return from_namespace(cls, p.parse_args(argv))


@pytest.mark.parametrize("cfg", [
    AutoencoderRun(data="d.h5", run="r", steps=7, grid=(64, 16), resume=False, threads=1),
    RefineRun(data="hi.h5", run="r2", init="a.safetensors", replay="lo.h5", chunk_size=4096),
    GeneratorRun(cache="c.h5", run="r3", params=False, sampler="euler", p_uncond=0.2),
    PipelineRun(data="d.h5", run="r4", dit_steps=12, progress=False, grid=(32,)),
])
def test_argv_round_trip(cfg):
    assert _parse(type(cfg), to_argv(cfg)) == cfg


def test_each_stage_alone_trains_the_recipe_train_all_trains():
    """The README's stage-by-stage commands and `train all` train the same steps at the same rates."""
    from echo_model.samplers import DEFAULT_SAMPLER, DEFAULT_SAMPLER_STEPS
    from echo_model.train import pipeline

    alone = {"ae": _parse(AutoencoderRun, ["--data", "d.h5", "--run", "r"]),
             "refine": _parse(RefineRun, ["--data", "d.h5", "--run", "r"]),
             "dit": _parse(GeneratorRun, ["--cache", "c.h5", "--run", "r"])}
    in_all = {s.name: s.config for s in pipeline.plan(PipelineRun(data="d.h5", run="r"), 5)}
    for name in alone:
        assert (in_all[name].steps, in_all[name].lr) == (alone[name].steps, alone[name].lr), name
    assert (alone["dit"].steps, alone["dit"].lr) == (runs.DIT_STEPS, runs.DIT_LR) == (9000, 1e-3)
    assert (alone["ae"].steps, alone["refine"].steps) == (runs.AE_STEPS, runs.REFINE_STEPS) == (1500, 100)
    assert (in_all["dit"].sampler, in_all["dit"].sample_steps) == (DEFAULT_SAMPLER, DEFAULT_SAMPLER_STEPS)


def test_defaults_come_from_the_dataclass():
    cfg = _parse(AutoencoderRun, ["--data", "d.h5", "--run", "r"])
    assert cfg == AutoencoderRun(data="d.h5", run="r")
    assert cfg.steps == runs.AE_STEPS and cfg.lr == runs.AE_LR and cfg.resume and cfg.grid is None
    assert _parse(RefineRun, ["--data", "d", "--run", "r"]).chunk_size == 1 << 18  # stage-specific default


def test_json_round_trip_and_refusals():
    cfg = PipelineRun(data="d.h5", run="r", grid=(64, 16), threads=1)
    assert from_json(PipelineRun, to_json(cfg)) == cfg
    with pytest.raises(EchoUserError, match="not JSON"):
        from_json(PipelineRun, "{nope", source="x.json")
    with pytest.raises(EchoUserError, match="does not hold a PipelineRun"):
        from_json(PipelineRun, to_json(AutoencoderRun(data="d", run="r")))
    with pytest.raises(EchoUserError, match=r"unknown PipelineRun options \['bogus'\]"):
        from_json(PipelineRun, '{"kind": "PipelineRun", "config": {"data": "d", "run": "r", "bogus": 1}}')


def test_echotrain_settings_build_a_pipeline_run_and_refuse_bad_extra_arguments(tmp_path):
    from echo_paraview.training import TrainingError, TrainSettings

    cfg = TrainSettings(ae_steps=5, extra_args=("--grid", "16", "--n-query", "128")).pipeline("d.h5", tmp_path)
    assert isinstance(cfg, PipelineRun)
    assert cfg.ae_steps == 5 and cfg.grid == (16,) and cfg.n_query == 128 and not cfg.progress
    with pytest.raises(TrainingError, match="unknown option"):
        TrainSettings(extra_args=("--gird", "16")).pipeline("d.h5", tmp_path)
    with pytest.raises(TrainingError, match="ExtraArguments"):
        TrainSettings(extra_args=("--ae-steps", "many")).pipeline("d.h5", tmp_path)
    # the typed fields are checked as the CLI's options are, without a detour through argv
    with pytest.raises(EchoUserError, match="EchoTrain ae_steps = 0 must be at least 1"):
        TrainSettings(ae_steps=0).pipeline("d.h5", tmp_path)
    assert TrainSettings(threads=0, frames=0).pipeline("d.h5", tmp_path).threads is None
    assert TrainSettings(extra_args=("--seed", "3")).pipeline("d.h5", tmp_path).seed == 3


def test_step_defaults_are_the_same_in_the_cli_in_echotrain_and_in_the_paraview_panel():
    """`echopv train all`, EchoTrain's settings and the plugin's panel show one recipe (the benchmark's)."""
    import re
    from dataclasses import fields
    from pathlib import Path

    from echo_paraview.training import TrainSettings

    run = {f.name: f.default for f in fields(PipelineRun)}
    assert run["dit_steps"] == 9000  # the cylinder and vorticity benchmarks' choice
    settings = TrainSettings()
    plugin = (Path(__file__).resolve().parents[2] / "plugins" / "EchoPlugin.py").read_text()
    for prop, name in (("AutoencoderSteps", "ae_steps"), ("RefineSteps", "refine_steps"), ("DiTSteps", "dit_steps")):
        panel = re.search(rf'name="{prop}"[^)]*default_values=([^)]+)\)', plugin)
        assert panel, prop
        assert panel.group(1) == f"_TRAIN.{name}", f"{prop}: the panel must read the recipe, not {panel.group(1)}"
        assert getattr(settings, name) == run[name], prop
    assert "_TRAIN = TrainSettings()" in plugin
