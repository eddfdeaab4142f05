"""Synthetic micro-expression clips: where the events are, what moves, and that nothing else does."""

import tracemalloc

import cv2
import numpy as np
import pytest

from core.au.regions import au_region_masks
from core.errors import InputError
from core.media import iter_frames, probe_video
from core.micro.synthetic import (
    LABEL_AUS,
    MIN_GAP_S,
    ClipEvent,
    demo_clip,
    demo_clip_path,
    make_clip,
)

SMALL = (320, 240)


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _flow(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Dense optical flow (Farneback), pixels per frame pair, (h, w, 2)."""
    return cv2.calcOpticalFlowFarneback(_gray(before), _gray(after), None, 0.5, 3, 15, 3, 5, 1.2, 0)


def test_random_events_are_placed_by_the_rules():
    clip = make_clip(seconds=20, fps=30, size=SMALL, events=6, seed=3, macro_share=0.3)
    assert len(clip.events) == 6
    assert clip.n_frames == 600
    kinds = {event.kind for event in clip.events}
    assert kinds == {"micro", "macro"}  # with this seed both kinds are drawn
    assert clip.events[0].onset_frame >= 30  # a 1 s still baseline comes first
    for event in clip.events:
        seconds = event.n_frames / clip.fps
        if event.kind == "micro":
            assert 0.1 - 1e-9 <= seconds <= 0.5
        else:
            assert 0.5 < seconds <= 2.0 + 1 / clip.fps
        assert event.onset_frame < event.apex_frame < event.offset_frame < clip.n_frames
        assert event.aus in LABEL_AUS[event.label]
    for before, after in zip(clip.events, clip.events[1:], strict=False):
        assert after.onset_frame - before.offset_frame >= MIN_GAP_S * clip.fps


def test_given_events_keep_their_times_labels_and_aus():
    clip = make_clip(
        seconds=4, fps=50, size=SMALL, events=[(2.5, 1.0, "surprise"), (1.0, 0.2, "positive", (12,))]
    )
    first, second = clip.events  # sorted by onset
    assert (first.onset_frame, first.offset_frame, first.kind, first.aus) == (50, 59, "micro", (12,))
    assert (second.onset_frame, second.offset_frame, second.kind) == (125, 174, "macro")
    assert second.aus in LABEL_AUS["surprise"]
    intervals = clip.intervals()
    assert intervals[0]["onset_s"] == 1.0 and intervals[0]["offset_s"] == pytest.approx(59 / 50)
    assert {
        "onset_frame",
        "apex_frame",
        "offset_frame",
        "onset_s",
        "offset_s",
        "kind",
        "label",
        "score",
    } <= set(intervals[0])
    levels = clip.levels()
    assert (
        levels[first.apex_frame] == 1.0 and levels[first.onset_frame] == 0 and levels[first.offset_frame] == 0
    )
    assert levels[:50].sum() == 0 and levels[60:125].sum() == 0
    assert np.all(np.diff(levels[first.onset_frame : first.apex_frame + 1]) > 0)  # rises to the apex


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seconds": 3, "events": 5},  # no room for five events and their gaps
        {"events": [(1.0, 0.3, "happy")]},  # not a MEGC class
        {"events": [(1.0, 0.3, "positive"), (1.5, 0.3, "negative")]},  # 0.2 s apart
        {"events": [(5.9, 0.3, "positive")]},  # runs past the end of a 6 s clip
        {"events": [(1.0, 0.05, "positive")]},  # under three frames
        {"events": [(1.0, 0.3, "positive", (99,))]},  # an AU the drawing cannot move
        {"size": (100, 80)},
    ],
)
def test_bad_clip_requests_are_refused_clearly(kwargs):
    with pytest.raises(InputError):
        make_clip(**kwargs)


def test_frames_are_deterministic_per_seed():
    clip = make_clip(seconds=2, size=SMALL, events=[(1.0, 0.3, "positive")], seed=5)
    again = make_clip(seconds=2, size=SMALL, events=[(1.0, 0.3, "positive")], seed=5)
    other = make_clip(seconds=2, size=SMALL, events=[(1.0, 0.3, "positive")], seed=6)
    apex = clip.events[0].apex_frame
    for index in (0, apex, 59):
        assert np.array_equal(clip.frame(index), again.frame(index))
    assert not np.array_equal(clip.frame(apex), other.frame(apex))
    frames = list(clip.frames())
    assert len(frames) == clip.n_frames == 60
    assert frames[0].shape == (240, 320, 3) and frames[0].dtype == np.uint8
    assert np.array_equal(frames[apex], clip.frame(apex))
    # Sensor noise of sd 2 on every frame: two frames of a still face differ by about 2 * sqrt(2).
    still_difference = frames[1].astype(float) - frames[2].astype(float)
    assert 2.0 < still_difference.std() < 4.0


def test_mediapipe_finds_exactly_one_face_on_sampled_frames(analyzer):
    clip = make_clip(seconds=3, events=[(1.0, 0.4, "surprise", (1, 2, 5, 26))], head_motion_px=2.0, seed=2)
    for index in (0, clip.events[0].apex_frame, clip.n_frames - 1):
        faces = analyzer.detect(clip.frame(index))
        assert len(faces) == 1
        assert faces[0].landmarks is not None
        assert 150 < faces[0].box[2] < 300  # a ~220 px face in a 640x480 frame


@pytest.mark.parametrize(
    ("aus", "region", "direction"),
    [
        ((12,), "lip_corners", "up"),
        ((15,), "lip_corners", "down"),
        ((1, 2), "brows", "up"),
        ((4,), "brows", "down"),
        ((9,), "nose", "up"),
        ((26,), "jaw", "down"),
    ],
)
def test_the_au_region_moves_by_the_amplitude_at_the_apex_and_only_there(analyzer, aus, region, direction):
    amplitude = 2.0  # subtle, like a real micro-expression
    clip = make_clip(
        seconds=2, events=[(0.8, 0.4, "negative", aus)], amplitude_px=amplitude, head_motion_px=0, noise_sd=0
    )
    event = clip.events[0]
    still = clip.frame(0)
    apex = clip.frame(event.apex_frame)
    flow = _flow(still, apex)
    magnitude = np.linalg.norm(flow, axis=2)
    landmarks = analyzer.detect(still)[0].landmarks
    height, width = still.shape[:2]
    # au_region_masks takes square crops; the frame is wider than tall, so pad the mask canvas.
    mask = au_region_masks(landmarks, max(width, height))[region][:height, :width]
    moved = magnitude[mask]
    assert amplitude * 0.6 < np.percentile(moved, 98) < amplitude * 1.4
    far = magnitude.copy()
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((81, 81), np.uint8)).astype(bool)
    far[grown] = 0
    assert far.max() < 0.3 * amplitude  # the rest of the face stays put
    vertical = np.median(flow[..., 1][mask & (magnitude > 0.5 * amplitude)])
    assert vertical < -0.3 if direction == "up" else vertical > 0.3
    # Outside the event the face is exactly the still face; inside it moves less than at the apex.
    for index in (event.onset_frame - 1, event.onset_frame, event.offset_frame, event.offset_frame + 1):
        assert np.array_equal(clip.frame(index), still)
    halfway = _flow(still, clip.frame(event.onset_frame + 2))
    assert np.percentile(np.linalg.norm(halfway, axis=2)[mask], 98) < np.percentile(moved, 98)


def test_head_motion_is_small_and_slow():
    clip = make_clip(seconds=4, size=SMALL, events=0, head_motion_px=1.0, noise_sd=0, seed=4)
    shifts = []
    still = clip.frame(0)
    for index in range(0, clip.n_frames, 10):
        (dx, dy), _ = cv2.phaseCorrelate(np.float32(_gray(still)), np.float32(_gray(clip.frame(index))))
        shifts.append(np.hypot(dx, dy))
    assert max(shifts) < 2 * 1.0 * 1.5  # x and y each within 1 px, plus a little roll
    assert max(shifts) > 0.1  # but the head does move
    assert np.abs(np.diff(shifts)).max() < 0.5  # slowly: under half a pixel per third of a second


def test_a_ten_minute_clip_streams_with_flat_memory():
    clip = make_clip(seconds=600, fps=30, size=(160, 160), events=120, seed=1)
    assert clip.n_frames == 18000
    frames = clip.frames()
    for _ in range(50):  # warm the caches (still face, AU fields) first
        next(frames)
    tracemalloc.start()
    try:
        for _, frame in zip(range(2000), frames, strict=False):
            assert frame.shape == (160, 160, 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    one_frame = 160 * 160 * 3 * 4  # a float32 working copy
    assert peak < 12 * one_frame  # a few working frames, not 2000 of them


def test_write_gives_a_video_that_decodes_with_the_clip_frames(tmp_path):
    clip = make_clip(seconds=1, fps=25, size=SMALL, events=[(0.3, 0.3, "positive")], seed=1)
    for suffix in (".webm", ".avi"):
        path = clip.write(tmp_path / f"clip{suffix}")
        info = probe_video(path)
        assert (info.width, info.height, info.frame_count) == (320, 240, 25)
        assert info.fps == pytest.approx(25)
        index, first = next(iter_frames(path))
        assert index == 0
        assert np.abs(first.astype(float) - clip.frame(0)).mean() < 6  # lossy, but the same picture
    with pytest.raises(InputError):
        clip.write(tmp_path / "clip.gif")


def test_demo_clip_is_written_once_and_reused():
    clip = demo_clip()
    assert [e.kind for e in clip.events] == ["micro", "micro", "macro", "micro"]
    assert all(isinstance(e, ClipEvent) for e in clip.events)
    path = demo_clip_path()
    stamp = path.stat().st_mtime_ns
    assert demo_clip_path() == path and path.stat().st_mtime_ns == stamp
    info = probe_video(path)
    assert (info.width, info.height, info.frame_count) == (640, 480, clip.n_frames)
