"""A clip's length never shows in memory: its features go to disk a block of frames at a time, its
signals and the MicroLSTM read them back a chunk at a time, and neither changes a result. The
memory figures themselves are `bench/bench_micro.py`'s."""

import gc

import numpy as np
import pytest
import torch

from core.media import VideoInfo
from core.micro import signals, track
from core.micro.columns import FrameColumns
from core.micro.intervals import THRESHOLD
from core.micro.lstm import frame_probabilities, input_size, sequence_inputs
from core.micro.signals import motion_signals, noise_units, noise_windows
from core.micro.synthetic import make_clip
from core.models.architectures import FanNet, MicroLSTM


def test_columns_append_read_rewrite_and_leave_no_scratch_behind():
    columns = FrameColumns()
    rows = np.arange(24, dtype=np.float16).reshape(6, 2, 2)
    columns.append("x", rows[:4])
    columns.append("x", rows[4:])
    assert columns.rows("x") == 6 and columns.shape("x") == (2, 2)
    np.testing.assert_array_equal(columns.read("x", 2, 5), rows[2:5])
    np.testing.assert_array_equal(columns.mapped("x")[5], rows[5])
    columns.write("x", 1, rows[:2] + 100)
    np.testing.assert_array_equal(columns.read("x")[1:3], rows[:2] + 100)
    with pytest.raises(IndexError):
        columns.write("x", 5, rows[:2])
    folder = columns.folder
    assert folder.is_dir()
    del columns
    gc.collect()
    assert not folder.exists(), "a clip's scratch folder goes with its columns"


@pytest.fixture(scope="module")
def small_cnn(one_torch_thread):
    torch.manual_seed(0)
    return FanNet(width=0.25).eval()


def tracked(analyzer, cnn):
    clip = make_clip(
        seconds=4.0, size=(320, 240), events=[(1.2, 0.3, "positive", (12,)), (2.5, 0.9, "surprise", (1, 2))],
        amplitude_px=2.5, identity=1, seed=3,
    )  # fmt: skip
    info = VideoInfo(clip.fps, clip.n_frames, *clip.size)
    return track.features_from_frames(enumerate(clip.frames()), info, cnn, analyzer=analyzer)


def test_blocks_of_features_and_chunks_of_signals_change_nothing(analyzer, small_cnn, monkeypatch):
    whole = tracked(analyzer, small_cnn)
    whole_signals = motion_signals(whole)
    monkeypatch.setattr(track, "BLOCK", 16)  # 120 frames: 8 blocks to disk, the CNN worker behind
    monkeypatch.setattr(signals, "CHUNK", 37)  # shorter than a baseline window: chunks read past their ends
    pieces = tracked(analyzer, small_cnn)
    for name in ("found", "eyes", "boxes", "landmarks", "pooled", "maxima", "regions"):
        np.testing.assert_array_equal(pieces.read(name), whole.read(name), err_msg=name)
    pieces_signals = motion_signals(pieces)
    for name in ("score", "regions", "face", "displacement", "feature_deviation"):
        np.testing.assert_array_equal(getattr(pieces_signals, name), getattr(whole_signals, name), err_msg=name)

    model = MicroLSTM(input_size(whole.pooled.shape[1]), 4, hidden=16).eval()
    chunked = frame_probabilities(model, sequence_inputs(pieces, pieces_signals))
    monkeypatch.setattr(signals, "CHUNK", 4096)
    at_once = frame_probabilities(model, sequence_inputs(whole, whole_signals)[:])
    np.testing.assert_allclose(chunked, at_once, atol=1e-6, err_msg="the LSTM's state is carried across chunks")


def test_a_minute_is_scaled_by_the_whole_clip_and_a_long_recording_by_its_own_stretch():
    fps, rng = 10.0, np.random.default_rng(0)
    minute = rng.normal(0, 1, 600)
    found = np.ones(600, bool)
    np.testing.assert_array_equal(noise_units(minute, found, noise_windows(found, fps)), noise_units(minute, found))

    # Ten minutes: a calm first half, a noisy second half (the light changed), a bump in each half.
    series = np.r_[rng.normal(0, 1, 3000), rng.normal(0, 12, 3000)]
    series[1500:1505] += 8
    found = np.ones(len(series), bool)
    local = noise_units(series, found, noise_windows(found, fps))
    whole = noise_units(series, found)
    assert local[1500:1505].max() > THRESHOLD > whole[1500:1505].max(), "the calm half's bump stands out locally"
    assert np.abs(local[3600:]).max() < 2 * np.abs(local[600:2400]).max(), "each half in its own noise units"


def test_a_clip_tracked_in_parts_gives_the_run_of_the_whole_clip(tmp_path, monkeypatch):
    """A study's workers track a long clip's segments apart; joined, they give `spot_video`'s run."""
    from core.media import probe_video, sha256_file
    from core.micro.pipeline import part_ranges, spot_parts, spot_video
    from core.micro.spotters import TRAINING_FREE
    from core.models import load_model
    from core.store import ResultStore

    monkeypatch.setattr(track, "SEGMENT_S", 1.0)  # 30-frame segments: a 3.5 s clip has four
    clip = make_clip(seconds=3.5, size=(320, 240), events=[(1.1, 0.4, "surprise", (1, 2))], amplitude_px=3.0, seed=5)
    path = clip.write(tmp_path / "clip.avi")
    whole = spot_video(path, TRAINING_FREE, store=ResultStore(tmp_path / "whole.sqlite"))
    info, cnn = probe_video(path), load_model(whole.feature_model)
    ranges = part_ranges(info, part_s=2.0)
    assert ranges == [(0, 60), (60, None)]
    parts = [track.track_part(path, cnn, start, stop, info) for start, stop in ranges]
    joined = spot_parts(path, parts, TRAINING_FREE, ResultStore(tmp_path / "parts.sqlite"), sha256_file(path))
    assert joined.intervals == whole.intervals and len(whole.intervals) == 1
    for name, values in whole.timeline.items():
        np.testing.assert_array_equal(joined.timeline[name], values, err_msg=name)
    with pytest.raises(Exception, match="segment's first frame"):
        track.track_part(path, cnn, 45, None, info)


class BrokenCNN(FanNet):
    def forward(self, x):
        raise RuntimeError("the CNN broke")


def test_an_error_of_the_cnn_thread_reaches_the_caller_and_nothing_hangs(analyzer, monkeypatch):
    monkeypatch.setattr(track, "FRAME_QUEUE", 2)  # the tracker blocks on a full queue at once
    with pytest.raises(RuntimeError, match="the CNN broke"):
        tracked(analyzer, BrokenCNN(width=0.25).eval())


def test_tracking_starts_without_torch():
    """The spot verb's modules import no torch: the CNN's thread imports it beside the first frames'
    tracking (bench/bench_micro.py times what that saves)."""
    import subprocess
    import sys

    code = "import sys, core.__main__, core.micro.pipeline; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
