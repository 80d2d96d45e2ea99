"""Surrogate: a loaded model bundle and the one `rollout` every consumer calls.

The CLI (`echopv rollout`), the ParaView filter, the benchmarks and the demo all call
`Surrogate.rollout`, so a fix here fixes them all.

CONTRACT (other modules rely on it; keep it stable):

    sur = Surrogate.load(path, device="auto")      # cached per (path, mtime, device): see load_cached
    sur.field_layout    -> list[(name, n_components)]  fields the model predicts (and needs as input)
    sur.dim             -> 2 or 3
    sur.dt              -> float, time between two frames of the training data
    sur.n_observed_frames -> int, physical frames the forecast needs as input (>= 1)
    sur.segment_frames  -> int, physical frames produced per generated segment
    res = sur.rollout(points (N,d) float, observed (T_obs,N,C) float32 physical units,
                      n_frames=int (frames to predict after the last observed one),
                      query_points=None (defaults to points), params=None (dict name->float),
                      n_samples=1, seed=0, steps=None, sampler=None,
                      progress=None (callable(fraction in [0,1])),
                      should_abort=None (callable() -> bool))
    res.mean  (n_frames, M, C) float32 physical units at query points
    res.std   (n_frames, M, C) float32 or None when n_samples == 1
    res.samples (n_samples, n_frames, M, C) float32 or None
    res.times (n_frames,) offsets after the last observed frame: dt, 2 dt, ...
    res.field_layout

Extra observed frames beyond n_observed_frames are allowed (the last ones are used); fewer
raise ValueError naming how many are needed.
"""
from __future__ import annotations
