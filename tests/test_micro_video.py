"""The face track and per-frame features of a clip: what is kept, what is refused, and the videos
made for the page (browser-playable copy, annotated copy)."""

import cv2
import numpy as np
import pytest
import torch

from core.errors import FaceError, InputError, MediaError
from core.explain.activations import maps_that_changed
from core.media import excerpt_span, iter_frames, playable_video, probe_video, write_excerpt
from core.micro.figures import annotated_video
from core.micro.intervals import Interval
from core.micro.synthetic import make_clip
from core.micro.track import REGIONS, TRACK_POINTS, OneEuroFilter, crop_at, extract_features, prefetched
from core.models.architectures import FanNet


@pytest.fixture(scope="module")
def small_cnn(one_torch_thread):
    torch.manual_seed(0)
    return FanNet(num_classes=7, width=0.25).eval()


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    """A 2-second MJPG clip (not browser-playable) with one movement."""
    clip = make_clip(
        seconds=2.0, size=(320, 240), events=[(0.8, 0.4, "surprise", (1, 2))], amplitude_px=3.0, seed=2
    )
    return clip, clip.write(tmp_path_factory.mktemp("clips") / "clip.avi")


@pytest.fixture(scope="module")
def tracked(clip_file, small_cnn, analyzer):
    return extract_features(clip_file[1], small_cnn, analyzer=analyzer)


def test_one_euro_filter_smooths_jitter_and_follows_a_move():
    rng = np.random.default_rng(0)
    smooth = OneEuroFilter(fps=30.0, min_cutoff=1.0, beta=0.02)
    still = np.array([smooth(np.array([100.0 + rng.normal(0, 0.5)]))[0] for _ in range(60)])
    assert still[20:].std() < 0.25, "jitter of 0.5 px sd is at least halved"
    moved = [smooth(np.array([150.0]))[0] for _ in range(15)]
    assert moved[-1] == pytest.approx(150.0, abs=1.0), "a real head move is followed within half a second"


def test_every_frame_has_a_row_and_features_are_kept_small(clip_file, tracked):
    clip, _ = clip_file
    assert tracked.frames == clip.n_frames and tracked.fps == pytest.approx(30.0)
    assert tracked.found.all()
    assert tracked.landmarks.shape == (clip.n_frames, len(TRACK_POINTS), 2)
    assert np.isfinite(tracked.landmarks.astype(np.float32)).all()
    # Landmarks are in the 48x48 crop, where the canonical face puts them.
    assert 0 < tracked.landmarks.astype(np.float32).mean() < 48
    assert [name for name, _ in tracked.layers] == ["features.relu1", "features.relu2", "features.relu3"]
    maps = sum(n for _, n in tracked.layers)
    assert tracked.pooled.shape == tracked.maxima.shape == (clip.n_frames, maps)
    assert tracked.regions.shape == (clip.n_frames, len(REGIONS), tracked.layers[0][1])
    assert (tracked.maxima >= tracked.pooled).all() and (tracked.pooled >= 0).all(), (
        "post-ReLU: max >= mean >= 0"
    )
    per_frame = sum(
        a.nbytes for a in (tracked.landmarks, tracked.pooled, tracked.maxima, tracked.regions, tracked.eyes)
    )
    assert per_frame / clip.n_frames < 4096, "a few KB per frame, never the frames themselves"


def test_the_eye_track_is_steady_on_a_still_head(clip_file, tracked):
    eyes = tracked.eyes.reshape(len(tracked.eyes), -1)
    # The synthetic head moves by at most 1 px: the smoothed eyes move by no more than that and a margin.
    assert (eyes.max(0) - eyes.min(0)).max() < 3.0


def test_a_video_with_no_frames_is_refused(tmp_path):
    path = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (64, 64))
    writer.release()
    with pytest.raises(MediaError, match="contains no frames|cannot be opened|is empty"):
        extract_features(path, FanNet(width=0.25))


def test_a_corrupt_file_is_refused(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    with pytest.raises(MediaError):
        extract_features(path, FanNet(width=0.25))


def test_a_video_without_a_face_says_so_once(tmp_path, small_cnn, analyzer):
    path = tmp_path / "noise.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (160, 120))
    rng = np.random.default_rng(0)
    for _ in range(10):
        writer.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    writer.release()
    with pytest.raises(FaceError, match="No face was found in any of the 10 frames of noise.avi"):
        extract_features(path, small_cnn, analyzer=analyzer)


def test_the_crops_of_a_run_are_the_ones_the_cnn_saw(clip_file, tracked):
    clip, path = clip_file
    event = clip.events[0]
    crops = crop_at(path, tracked.eyes, [event.onset_frame, event.apex_frame, 10_000])
    assert set(crops) == {event.onset_frame, event.apex_frame}
    assert all(c.shape == (48, 48) and c.dtype == np.uint8 for c in crops.values())
    # The brows go up between onset and apex: the crops differ, and most in the upper half of the face.
    change = np.abs(crops[event.apex_frame].astype(int) - crops[event.onset_frame].astype(int))
    assert change[:24].sum() > change[24:].sum()


def test_maps_that_changed_most_come_first(small_cnn):
    onset = np.full((48, 48), 100, np.uint8)
    apex = onset.copy()
    apex[10:20, 10:30] = 200
    maps = maps_that_changed(small_cnn, onset, apex, "features.conv2", top=3)
    changes = [abs(m.change) for m in maps]
    assert len(maps) == 3 and changes == sorted(changes, reverse=True) and changes[0] > 0
    assert all(m.change == pytest.approx(m.apex_max - m.onset_max) for m in maps)


def test_an_mjpg_clip_is_made_playable_and_a_webm_is_kept(clip_file, tmp_path):
    clip, path = clip_file
    playable = playable_video(path, tmp_path)
    assert playable.suffix == ".webm" and playable.parent == tmp_path
    assert probe_video(playable).frame_count == clip.n_frames
    assert playable_video(playable, tmp_path / "other") == playable, "VP8 already plays in browsers"


def test_the_annotated_video_marks_the_interval(clip_file, tracked, tmp_path):
    clip, path = clip_file
    event = clip.events[0]
    interval = Interval.at(event.onset_frame, event.apex_frame, event.offset_frame, clip.fps, "surprise", 0.9)
    track = {
        "found": tracked.found,
        "eyes": tracked.eyes,
        "boxes": tracked.boxes,
        "landmarks": tracked.landmarks,
    }
    score = [0.0] * clip.n_frames
    target = annotated_video(path, track, score, [interval], tmp_path / "annotated.webm")
    assert probe_video(target).frame_count == clip.n_frames
    frames = dict(iter_frames(target, start=event.apex_frame - 12, stop=event.apex_frame + 1, step=12))
    before, during = frames[event.apex_frame - 12], frames[event.apex_frame]
    green = lambda f: ((f[..., 1] > 180) & (f[..., 0] < 120) & (f[..., 2] < 120)).sum()  # noqa: E731
    assert green(during) > green(before) + 50, "the face box turns green inside the interval"


def test_prefetching_keeps_order_passes_errors_on_and_stops_early():
    with prefetched(iter(range(100)), depth=4) as items:
        assert list(items) == list(range(100))

    def broken():
        yield 1
        raise MediaError("damaged")

    with prefetched(broken()) as items, pytest.raises(MediaError, match="damaged"):
        list(items)
    closed = []

    def endless():
        try:
            count = 0
            while True:
                yield count
                count += 1
        finally:
            closed.append(True)

    with prefetched(endless(), depth=2) as items:
        assert next(items) == 0
    assert closed == [True], "leaving early closes the source (the video capture)"


def test_frames_without_a_face_are_marked_and_the_face_is_found_again(tmp_path, small_cnn, analyzer):
    clip = make_clip(seconds=1.5, size=(320, 240), events=[], seed=6)
    path = tmp_path / "gap.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), clip.fps, clip.size)
    for index, frame in enumerate(clip.frames()):
        if 15 <= index < 25:  # the face leaves the picture for a third of a second
            frame = np.full_like(frame, 90)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    video = extract_features(path, small_cnn, analyzer=analyzer)
    assert video.found[:15].all() and not video.found[15:25].any()
    assert video.found[25 + 6 :].all(), "looked for again every 0.2 s, so found within 6 frames"
    assert np.isnan(video.eyes[15:25]).all() and (video.pooled[15:25] == 0).all()


@pytest.fixture(scope="module")
def numbered_clip(tmp_path_factory):
    """A 40-frame MJPG clip at 25 fps whose frame i shows a white bar at x = 4 i: each frame says which it is."""
    path = tmp_path_factory.mktemp("numbered") / "numbered.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (176, 96))
    for index in range(40):
        frame = np.full((96, 176, 3), 60, np.uint8)
        frame[:, 4 * index : 4 * index + 4] = 255
        writer.write(frame)
    writer.release()
    return path


def frame_numbers(path) -> list[int]:
    """Which numbered frame each frame of a clip shows (where its bar is)."""
    return [int(np.argmax(frame[..., 0].mean(0))) // 4 for _, frame in iter_frames(path)]


def test_an_excerpt_holds_exactly_the_intervals_frames_and_the_margin(numbered_clip, tmp_path):
    first, last = excerpt_span(10, 20, fps=25.0, frames=40)
    assert (first, last) == (2, 28), "0.3 s at 25 fps is 8 frames (7.5 rounded) either side"
    target = write_excerpt(numbered_clip, first, last, tmp_path / "excerpt.webm")
    info = probe_video(target)
    assert (info.frame_count, info.fps, info.width, info.height) == (27, pytest.approx(25.0), 176, 96)
    assert frame_numbers(target) == list(range(2, 29))
    source = dict(iter_frames(numbered_clip, start=2, stop=29))
    for index, frame in iter_frames(target):
        difference = np.abs(frame.astype(np.int16) - source[index + 2].astype(np.int16)).mean()
        assert difference < 6, f"excerpt frame {index} is source frame {index + 2} (VP8 loses a little)"
    assert not list(tmp_path.glob("*.partial.*")), "written beside the target, then renamed"


def test_an_excerpt_is_clamped_to_the_clip(numbered_clip, tmp_path):
    assert excerpt_span(3, 6, fps=25.0, frames=40) == (0, 14)
    assert excerpt_span(30, 37, fps=25.0, frames=40) == (22, 39)
    assert excerpt_span(0, 39, fps=25.0, frames=40, margin_s=0.0) == (0, 39)
    # A range past the last frame stops there (a header may over-count frames).
    target = write_excerpt(numbered_clip, 35, 50, tmp_path / "end.webm")
    assert frame_numbers(target) == [35, 36, 37, 38, 39]


@pytest.mark.parametrize("first, last", [(5, 4), (-1, 3), (40, 45)])
def test_a_bad_excerpt_range_is_refused(numbered_clip, tmp_path, first, last):
    with pytest.raises(InputError):
        write_excerpt(numbered_clip, first, last, tmp_path / "bad.webm")
    assert not list(tmp_path.iterdir()), "nothing is left behind"


@pytest.mark.parametrize("onset, offset, frames", [(5, 4, 40), (-2, 4, 40), (3, 6, 0)])
def test_a_bad_interval_has_no_excerpt(onset, offset, frames):
    with pytest.raises(InputError):
        excerpt_span(onset, offset, fps=25.0, frames=frames)
