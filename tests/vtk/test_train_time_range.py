"""EchoTrain's TimeRange: only the input's steps inside it are exported for training (the rest of a
run stays out, to compare the forecast with); a malformed range names the fix."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vtkmodules.vtkCommonCore")

from echo_model.data.store import TrajectoryStore  # noqa: E402
from echo_paraview.readers import EchoDatasetReaderAlgorithm  # noqa: E402
from echo_paraview.train_filter import EchoTrainAlgorithm, parse_time_range  # noqa: E402
from echo_paraview.training import TrainingError  # noqa: E402
from reader_files import write_small_dataset  # noqa: E402


def test_time_range_exports_only_the_steps_inside_it(tmp_path):
    data = write_small_dataset(tmp_path / "d.h5", n_traj=1, n_frames=8)
    with TrajectoryStore(data) as store:
        times = store.times(0)
    reader = EchoDatasetReaderAlgorithm()
    reader.SetFileName(str(data))
    train = EchoTrainAlgorithm()
    train.SetInputConnection(reader.GetOutputPort())
    train.SetTimeRange(f"{times[2]}, {times[5]}")
    out = tmp_path / "run" / "dataset.h5"
    out.parent.mkdir()
    train._export_input(out)
    with TrajectoryStore(out) as store:
        np.testing.assert_allclose(store.times(0), times[2:6])
    from echo_model.info import describe_dataset

    assert f"train t = {times[2]:g} .. {times[5]:g} every" in describe_dataset(out)  # what `echopv info` says
    train.SetTimeRange(f"{times[4]},")
    train._export_input(out)
    with TrajectoryStore(out) as store:
        np.testing.assert_allclose(store.times(0), times[4:])


def test_time_range_text_is_checked_with_the_fix():
    assert parse_time_range("") == (None, None)
    assert parse_time_range(" 2 , 30 ") == (2.0, 30.0)
    assert parse_time_range(", 30") == (None, 30.0)
    with pytest.raises(TrainingError, match="write 'start, end'"):
        parse_time_range("2 to 30")
    with pytest.raises(TrainingError, match="the end is before the start"):
        parse_time_range("30, 2")
