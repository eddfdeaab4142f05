"""The training-free spotter: on 1-D signals whose answer is known, then on synthetic clips whose
movements are as small as real micro-expressions (2-2.5 pixels), and the `spot` verb's JSON."""

import json

import numpy as np
import pytest

from core.__main__ import main
from core.media import VideoInfo
from core.micro.intervals import (
    MICRO_MAX_S,
    THRESHOLD,
    find_peaks,
    intervals_from_signals,
    keep_by_duration,
    kind_of,
)
from core.micro.metrics import interval_iou
from core.micro.pipeline import spot_video
from core.micro.signals import motion_signals, noise_units, rolling_baseline
from core.micro.spotters import TRAINING_FREE
from core.micro.synthetic import make_clip
from core.micro.track import features_from_frames

# ---- on signals -----------------------------------------------------------------------------


def bump_series(
    fps: float, events_s: list[tuple[float, float]], seconds: float = 8.0, seed: int = 0
) -> np.ndarray:
    """Gaussian noise (sd 1) with raised-cosine bumps of height 12 at (onset_s, duration_s)."""
    t = np.arange(round(seconds * fps)) / fps
    series = np.random.default_rng(seed).normal(0, 1, len(t))
    for onset, duration in events_s:
        inside = (t >= onset) & (t <= onset + duration)
        series[inside] += 12 * np.sin(np.pi * (t[inside] - onset) / duration) ** 2
    return series


def spotted_seconds(series: np.ndarray, fps: float) -> list[tuple[float, float, str]]:
    score = noise_units(series, np.ones(len(series), bool))
    peaks = keep_by_duration(find_peaks(score), fps)
    return [
        (p.onset / fps, (p.offset - p.onset + 1) / fps, kind_of((p.offset - p.onset + 1) / fps))
        for p in peaks
    ]


def test_peaks_are_found_where_the_bumps_are_and_nowhere_else():
    found = spotted_seconds(bump_series(30, [(2.0, 0.3), (5.0, 1.2)]), 30)
    assert len(found) == 2
    (onset_a, duration_a, kind_a), (onset_b, duration_b, kind_b) = found
    assert abs(onset_a - 2.0) < 0.1 and kind_a == "micro" and duration_a <= MICRO_MAX_S
    assert abs(onset_b - 5.0) < 0.3 and kind_b == "macro" and duration_b > MICRO_MAX_S


def test_pure_noise_gives_no_peak():
    for seed in range(5):
        assert spotted_seconds(bump_series(30, [], seed=seed), 30) == []


def test_kinds_and_durations_follow_the_real_fps():
    """The same movement filmed at 30 and at 60 fps lasts the same seconds and gets the same kind."""
    events = [(2.0, 0.4), (5.0, 0.9)]
    at_30, at_60 = spotted_seconds(bump_series(30, events), 30), spotted_seconds(bump_series(60, events), 60)
    assert [kind for *_, kind in at_30] == [kind for *_, kind in at_60] == ["micro", "macro"]
    for (onset_30, duration_30, _), (onset_60, duration_60, _) in zip(at_30, at_60, strict=True):
        assert abs(onset_30 - onset_60) < 0.07 and abs(duration_30 - duration_60) < 0.07


def test_too_short_a_peak_is_dropped():
    score = np.zeros(300)
    score[100] = 3 * THRESHOLD  # one frame: a glitch, not an expression
    peaks = find_peaks(score)
    assert len(peaks) == 1 and keep_by_duration(peaks, 30.0) == []


def test_the_baseline_ignores_a_brief_event_and_follows_a_drift():
    n = 300
    drift = np.linspace(0, 5, n)[:, None]
    values = drift.copy()
    values[140:150] += 10  # a third of a second
    baseline = rolling_baseline(values, np.ones(n, bool), half=75, stride=3)
    assert np.abs(baseline[140:150] - drift[140:150]).max() < 0.2, "the event does not leak into its baseline"
    assert np.abs(baseline - drift).max() < 0.3, "a slow drift is followed to both ends of the clip"


# ---- on synthetic clips -----------------------------------------------------------------------


def track(clip, analyzer, model):
    info = VideoInfo(clip.fps, clip.n_frames, *clip.size)
    return features_from_frames(enumerate(clip.frames()), info, model, analyzer=analyzer)


@pytest.fixture(scope="module")
def fer_model(one_torch_thread):
    from core.models import load_model

    return load_model("fan2019-fer2013")


@pytest.mark.parametrize(
    "events",
    [
        [(1.2, 0.3, "positive", (12,)), (2.6, 0.4, "surprise", (1, 2))],
        [(1.2, 0.35, "negative", (4,)), (2.4, 1.0, "positive", (6, 12))],
    ],
    ids=["AU12 and AU1+2", "AU4 and a macro AU6+12"],
)
def test_small_movements_are_spotted_at_iou_half(events, analyzer, fer_model):
    clip = make_clip(
        seconds=4.0, events=events, amplitude_px=2.5, head_motion_px=1.0, noise_sd=2.0, identity=1, seed=3
    )
    video = track(clip, analyzer, fer_model)
    spotted = intervals_from_signals(motion_signals(video), video.fps)
    assert len(spotted) == len(clip.events), (spotted, clip.intervals())
    for truth, found in zip(clip.events, spotted, strict=True):
        iou = interval_iou(
            (truth.onset_frame, truth.offset_frame), (found.onset_frame, found.offset_frame)
        )
        assert iou >= 0.5, (truth, found)
        assert found.kind == truth.kind
        assert truth.onset_frame <= found.apex_frame <= truth.offset_frame


def test_the_same_clip_at_30_and_60_fps_gives_the_same_seconds(analyzer, fer_model):
    events = [(1.0, 0.3, "positive", (12,)), (2.0, 0.9, "surprise", (1, 2))]
    found = {}
    for fps in (30.0, 60.0):
        clip = make_clip(
            seconds=3.5, fps=fps, size=(320, 240), events=events, amplitude_px=2.0, identity=1, seed=8
        )
        video = track(clip, analyzer, fer_model)
        found[fps] = intervals_from_signals(motion_signals(video), video.fps)
    assert [i.kind for i in found[30.0]] == [i.kind for i in found[60.0]] == ["micro", "macro"]
    for at_30, at_60 in zip(found[30.0], found[60.0], strict=True):
        assert at_60.onset_frame > 1.5 * at_30.onset_frame, "frames count at the clip's own rate"
        for key in ("onset_s", "apex_s", "duration_s"):
            assert getattr(at_30, key) == pytest.approx(getattr(at_60, key), abs=0.1), key


def test_a_still_clip_gives_nothing(analyzer, fer_model):
    clip = make_clip(
        seconds=4.0, events=[], amplitude_px=2.5, head_motion_px=1.0, noise_sd=2.0, identity=2, seed=4
    )
    video = track(clip, analyzer, fer_model)
    signals = motion_signals(video)
    assert video.found.all()
    assert intervals_from_signals(signals, video.fps) == []
    assert signals.regions.shape == (9, clip.n_frames)


def test_spot_cli_writes_the_contract_json(tmp_path, capsys):
    clip = make_clip(
        seconds=3.0, events=[(1.2, 0.4, "surprise", (1, 2))], amplitude_px=3.0, identity=0, seed=5
    )
    video = clip.write(tmp_path / "clip.avi")
    out = tmp_path / "spots.json"
    assert main(["spot", str(video), "--model", TRAINING_FREE, "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["fps"] == pytest.approx(30.0) and written["frames"] == clip.n_frames
    assert len(written["intervals"]) == 1
    interval = written["intervals"][0]
    keys = {"onset_frame", "apex_frame", "offset_frame", "onset_s", "offset_s", "kind", "label", "score"}
    assert keys <= set(interval)
    assert interval["onset_s"] == pytest.approx(interval["onset_frame"] / 30.0, abs=1e-3)
    assert interval["kind"] == "micro"
    truth = clip.events[0]
    assert (
        interval_iou(
            (truth.onset_frame, truth.offset_frame), (interval["onset_frame"], interval["offset_frame"])
        )
        >= 0.5
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["intervals"] == 1 and not summary["from_store"]
    # The second run comes from the results store, with the same answer.
    csv_out = tmp_path / "spots.csv"
    assert main(["spot", str(video), "--model", TRAINING_FREE, "--out", str(csv_out)]) == 0
    assert json.loads(capsys.readouterr().out)["from_store"]
    lines = csv_out.read_text().splitlines()
    assert lines[0].startswith("onset_frame,apex_frame,offset_frame") and len(lines) == 2


def test_spot_cli_refuses_bad_input_in_one_line(tmp_path, capsys):
    assert main(["spot", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "x.json")]) == 2
    assert capsys.readouterr().err.strip() == "error: The file missing.mp4 was not found."
    clip = make_clip(seconds=0.5, events=[], identity=0, seed=0).write(tmp_path / "c.avi")
    assert main(["spot", str(clip), "--out", str(tmp_path / "x.txt")]) == 2
    assert "--out must end in .json or .csv" in capsys.readouterr().err
    assert main(["spot", str(clip), "--model", "nonesuch", "--out", str(tmp_path / "x.json")]) == 2
    assert "There is no spotter called 'nonesuch'" in capsys.readouterr().err


def test_messages_and_results_use_the_name_the_user_knows(tmp_path):
    """The page keeps uploads under their checksum; the user sees the name of their own file."""
    from core.errors import MediaError

    path = tmp_path / "f96d4a3d5adb7fa8.mp4"
    path.write_bytes(b"not a video at all")
    with pytest.raises(MediaError) as error:
        spot_video(path, display_name="interview-3.mp4")
    assert "interview-3.mp4" in str(error.value) and "f96d4a3d5adb7fa8" not in str(error.value)


def test_a_stored_result_without_its_face_track_is_computed_again(tmp_path, capsys):
    """A kill between the two writes of an older version left the result without its track: never shown."""
    from core.store import ResultStore

    clip = make_clip(seconds=1.0, events=[], identity=0, seed=1).write(tmp_path / "quiet.avi")
    assert main(["spot", str(clip), "--model", TRAINING_FREE, "--out", str(tmp_path / "a.json")]) == 0
    capsys.readouterr()
    store = ResultStore()
    with store.connect() as db:
        assert db.execute("DELETE FROM results WHERE kind = 'spot-track'").rowcount == 1
    assert main(["spot", str(clip), "--model", TRAINING_FREE, "--out", str(tmp_path / "b.json")]) == 0
    assert not json.loads(capsys.readouterr().out)["from_store"], "the partial result was not reused"
    (stored,) = store.list_results("spot")
    assert store.get_results([("spot", stored["key"]), ("spot-track", stored["key"])]) is not None


def test_the_same_clip_asked_for_by_three_sessions_at_once_is_analysed_once(tmp_path, monkeypatch):
    import threading

    from core.micro import pipeline
    from core.store import ResultStore

    clip = make_clip(seconds=1.0, events=[], identity=0, seed=3).write(tmp_path / "same.avi")
    calls, real = [], pipeline.extract_features
    monkeypatch.setattr(pipeline, "extract_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    shared, store, results = pipeline.FeatureCache(), ResultStore(tmp_path / "r.sqlite"), []
    sessions = [threading.Thread(target=lambda: results.append(
        pipeline.spot_video(clip, TRAINING_FREE, store=store, features=shared))) for _ in range(3)]  # fmt: skip
    for session in sessions:
        session.start()
    for session in sessions:
        session.join()
    assert len(calls) == 1, "tracked once"
    assert sorted(r.from_store for r in results) == [False, True, True]
    assert len({json.dumps(r.contract()) for r in results}) == 1
