"""EchoRollout's per-frame cache and colour ranges, in plain VTK (issue 22, item 7 and the
colour-range helper): scrubbing a cached rollout asks the input for nothing and hands ParaView the
same arrays again; the gathering stops at the forecast's end; the colour ranges span every
predicted frame (echo_paraview.rollout_colours)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vtkmodules.vtkCommonCore")
from test_rollout_analysis import SeriesSource, cell_array, flow_model, leaf_at, make, times_of  # noqa: E402

from echo_paraview.rollout_colours import FieldRange  # noqa: E402


def test_scrubbing_a_cached_rollout_reads_nothing_and_serves_the_same_arrays(fake_surrogate):
    sur, ckpt = fake_surrogate
    flow_model(sur)
    src = SeriesSource()  # 0 .. 2 every 0.5: the solver has every predicted time
    alg = make(src, ckpt, NumberOfFrames=4)
    pred = alg.GetPredictedTimes() if times_of(alg) else []
    assert pred == pytest.approx([0.5, 1.0, 1.5, 2.0])
    first = {t: cell_array(leaf_at(alg, t), "p").copy() for t in pred}  # first visits
    arrays = {t: leaf_at(alg, t).GetCellData().GetArray("p_pred").__this__ for t in pred}
    n_requests = len(src.requested)
    for _ in range(3):
        for t in pred[::-1] + pred:
            leaf = leaf_at(alg, t)
            np.testing.assert_allclose(cell_array(leaf, "p"), first[t])  # the solver's own p at t ...
            np.testing.assert_allclose(cell_array(leaf, "p_truth"), first[t])  # ... and the comparison's
            assert leaf.GetFieldData().GetArray("TimeValue").GetValue(0) == pytest.approx(t)
            # the very same array object: ParaView's value ranges of it stay cached
            assert leaf.GetCellData().GetArray("p_pred").__this__ == arrays[t]
    assert src.requested[n_requests:] == []  # nothing read while scrubbing
    assert alg.n_rollouts == 1 and len(sur.calls) == 1
    xy_p = cell_array(leaf_at(alg, 1.5), "p")
    np.testing.assert_allclose(xy_p - 15.0, [0.125, 0.375, 0.625, 0.875] * 3)  # p = 10 t + x at t = 1.5


def test_the_gathering_stops_at_the_forecast_end(fake_surrogate):
    sur, ckpt = fake_surrogate
    flow_model(sur)
    src = SeriesSource(times=[0.5 * k for k in range(21)])  # the solver runs to 10, the forecast to 1
    alg = make(src, ckpt, NumberOfFrames=2)
    assert times_of(alg)[-1] == pytest.approx(10.0)  # the solver's later steps stay reachable ...
    leaf = leaf_at(alg, 1.0)
    assert max(src.requested) == pytest.approx(1.0), src.requested  # ... but are not read for the forecast
    np.testing.assert_allclose(cell_array(leaf, "p_truth"), cell_array(leaf, "p"))


def test_an_upstream_change_with_the_same_start_frame_keeps_the_rollout_and_rebuilds_the_frames(fake_surrogate):
    sur, ckpt = fake_surrogate
    flow_model(sur)
    src = SeriesSource()
    alg = make(src, ckpt, NumberOfFrames=4)
    pred = alg.GetPredictedTimes() if times_of(alg) else []
    for t in pred:
        leaf_at(alg, t)
    src.Modified()  # e.g. a reader property changed: the start frame's content is the same
    for t in pred:
        leaf_at(alg, t)  # first visits after the change read the solver's step again ...
    n_requests = len(src.requested)
    for t in pred[::-1]:
        leaf_at(alg, t)
    assert src.requested[n_requests:] == []  # ... and are kept again
    assert alg.n_rollouts == 1


def test_field_ranges_span_every_predicted_frame_and_the_solver(fake_surrogate):
    """U = (t, 2t), p = 10 t + x on the slab; the fake model adds 0.5 per frame to the start frame
    (t = 0: U = 0, p = x): the ranges below are worked out by hand."""
    sur, ckpt = fake_surrogate
    flow_model(sur)
    alg = make(src := SeriesSource(), ckpt, NumberOfFrames=4, NumberOfSamples=2)
    assert alg.GetFieldRanges() == [] and alg.GetStdNames() == []  # no rollout yet
    times_of(alg)
    leaf_at(alg, 0.5)  # one frame shown; the ranges still cover all four
    u, p = alg.GetFieldRanges()
    assert isinstance(u, FieldRange) and (u.name, p.name) == ("U", "p")
    # U: forecast |(s, s)| for s = 0.5 .. 2, solver |(t, 2t)| for t = 0.5 .. 2; error (0, -t)
    assert (u.lo, u.hi, u.error) == pytest.approx((0.5 * 2 ** 0.5, 2 * 5 ** 0.5, 2.0), rel=1e-6)
    # p: forecast x + s (x = cell centres 0.125 .. 0.875), solver 10 t + x; error -9 t
    assert (p.lo, p.hi, p.error) == pytest.approx((0.625, 20.875, 18.0), rel=1e-6)
    assert alg.GetStdNames() == ["U_std", "p_std"]
    assert len(src.requested) > 0


def test_field_ranges_without_solver_data_have_no_error_range(fake_surrogate):
    sur, ckpt = fake_surrogate
    flow_model(sur)
    alg = make(SeriesSource(times=(0.0,)), ckpt, NumberOfFrames=2)  # one input step: nothing to compare
    times_of(alg)
    leaf_at(alg, 1.0)
    u, p = alg.GetFieldRanges()
    assert u.error is None and p.error is None
    assert (p.lo, p.hi) == pytest.approx((0.125 + 0.5, 0.875 + 1.0))


def test_progress_reports_are_spaced_in_time(fake_surrogate):
    """Each report makes the GUI process events and repaint: a fast rollout reports its start and end,
    not every sampler step and gathered frame."""
    from vtkmodules.vtkCommonCore import vtkCommand

    sur, ckpt = fake_surrogate
    flow_model(sur)
    alg = make(SeriesSource(times=[0.5 * k for k in range(21)]), ckpt, NumberOfFrames=20)
    reports: list[float] = []
    alg.AddObserver(vtkCommand.ProgressEvent, lambda obj, _ev: reports.append(obj.GetProgress()))
    times_of(alg)
    leaf_at(alg, alg.GetPredictedTimes()[0])
    assert alg.n_rollouts == 1
    assert 2 <= len(reports) <= 6, reports  # 20 gathered frames and 20 predicted ones: ~40 before
    assert reports[-1] == pytest.approx(1.0)
