"""Studies at scale (core.study): a study's clips spotted on Ray give what `spot_video` gives each clip;
a worker that dies is retried and counted; a damaged or face-less clip is reported and the rest are
done; a rerun submits nothing; a bad manifest is one line; the `study run` verb works end to end.

One local Ray of 2 CPUs serves the module (started once: it takes seconds); clips are 3 s at 160 px.
"""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest

from core.__main__ import main
from core.errors import InputError
from core.micro.metrics import interval_iou
from core.micro.pipeline import spot_video
from core.micro.spotters import TRAINING_FREE
from core.micro.synthetic import make_clip
from core.store import ResultStore
from core.study.manifest import read_study
from core.study.run import run_study, study_status
from core.study.summary import ClipOutcome, ratio_ci, study_tables
from core.study.worker import CRASH_ONCE_ENV
from tests.conftest import REPO

ray = pytest.importorskip("ray")

SIZE = (160, 160)
REST = [(1.2, 0.3, "positive", (12,))]
TASK = [(1.0, 0.3, "positive", (12,)), (1.9, 0.35, "surprise", (1, 2))]
# Three participants, each seen at rest and at a task: (participant, condition, events, identity).
CLIPS = [
    (f"P{p}", condition, events, p)
    for p in (1, 2, 3)
    for condition, events in (("rest", REST), ("task", TASK))
]


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module, 2 CPUs: run_study uses the connection it finds."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Six synthetic clips with known events, and a manifest with an extra column."""
    folder = tmp_path_factory.mktemp("study")
    lines, truth = ["path,participant,condition,site"], {}
    for i, (participant, condition, events, identity) in enumerate(CLIPS):
        clip = make_clip(seconds=3.0, size=SIZE, events=events, identity=identity, seed=20 + i)
        name = f"clips/{participant}_{condition}.avi"
        clip.write(folder / name)
        truth[name] = clip
        lines.append(f"{name},{participant},{condition},site-{i % 2}")
    (folder / "study.csv").write_text("\n".join(lines) + "\n")
    return folder, truth


@pytest.fixture(scope="module")
def expected(clips, one_torch_thread, tmp_path_factory):
    """What `spot_video` finds in each clip on its own (torch on one thread, as in a Ray worker)."""
    folder, truth = clips
    store = ResultStore(tmp_path_factory.mktemp("alone") / "results.sqlite")
    return {name: spot_video(folder / name, TRAINING_FREE, store=store) for name in truth}


def _faceless(path, seconds: float = 1.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, SIZE)
    gradient = np.tile(np.linspace(40, 200, SIZE[0], dtype=np.uint8), (SIZE[1], 1))
    for _ in range(round(30 * seconds)):
        writer.write(cv2.cvtColor(gradient, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def _manifest(folder, rows, name="part.csv"):
    path = folder / name
    path.write_text("path,participant,condition\n" + "".join(f"{p},{who},{cond}\n" for p, who, cond in rows))
    return path


# ---- a study on Ray ------------------------------------------------------------------------------


def test_a_study_gives_the_intervals_spot_video_gives_and_a_rerun_does_no_work(
    local_ray, clips, expected, tmp_path
):
    folder, truth = clips
    store, out = ResultStore(tmp_path / "results.sqlite"), tmp_path / "out"
    reports = []
    result = run_study(read_study(folder / "study.csv"), out, workers=2, model=TRAINING_FREE, store=store,
                       progress=lambda fraction, message: reports.append(fraction))  # fmt: skip
    summary = result.summary
    assert (summary["clips"], summary["done"], summary["failed"], summary["submitted"]) == (6, 6, 0, 6)
    assert summary["retried_attempts"] == 0 and summary["skipped_already_done"] == 0
    assert reports[-1] == 1.0 and reports == sorted(reports)
    for outcome in result.outcomes:
        alone = expected[outcome.clip.shown]
        assert outcome.status == "done" and outcome.attempts == 1 and not outcome.reused
        assert [(i.onset_frame, i.apex_frame, i.offset_frame, i.kind) for i in outcome.intervals] == [
            (i.onset_frame, i.apex_frame, i.offset_frame, i.kind) for i in alone.intervals
        ]
        assert [i.score for i in outcome.intervals] == pytest.approx(
            [i.score for i in alone.intervals], abs=1e-3
        )
        events = truth[outcome.clip.shown].events
        assert len(outcome.intervals) == len(events)  # the known events, each found where it is
        for event, found in zip(events, outcome.intervals, strict=True):
            assert (
                interval_iou((event.onset_frame, event.offset_frame), (found.onset_frame, found.offset_frame))
                >= 0.5
            )

    intervals = pd.read_parquet(out / "intervals.parquet")
    assert list(intervals.columns) == ["path", "participant", "condition", "site", "onset_frame", "apex_frame",
                                       "offset_frame", "onset_s", "offset_s", "kind", "label", "score"]  # fmt: skip
    assert len(intervals) == sum(len(a.intervals) for a in expected.values()) == 9
    from_csv = pd.read_csv(out / "intervals.csv", keep_default_na=False)
    for column in ("path", "condition", "site", "onset_frame", "offset_frame", "kind", "label"):
        assert from_csv[column].tolist() == intervals[column].tolist(), column
    assert intervals["onset_frame"].dtype == "int64" and intervals["score"].dtype == "float64"
    table = pd.read_csv(out / "clips.csv")
    assert table["duration_s"].tolist() == [3.0] * 6 and (table["face_share"] == 1.0).all()
    assert table["intervals_per_min"].tolist() == [20.0, 40.0] * 3
    assert table["site"].tolist() == ["site-0", "site-1"] * 3, "the manifest's own columns are kept"
    conditions = pd.read_csv(out / "conditions.csv").set_index("condition")
    assert conditions.loc["task", "participants"] == 3 and conditions.loc["task", "intervals_per_min"] == 40.0
    assert conditions.loc["rest", "micro_per_min_low"] <= conditions.loc["rest", "micro_per_min"]
    assert pd.read_csv(out / "participants.csv")["clips"].tolist() == [2, 2, 2]
    assert json.loads((out / "summary.json").read_text())["done"] == 6
    assert not list(out.glob("*.partial*")), "only whole files under real names"
    assert {s.state for s in study_status(result.study_id, store)} == {"done"}
    (kept,) = store.list_results("study")  # the run's tables, keyed by the manifest and the models
    assert kept["key"]["manifest"] == result.study.fingerprint and kept["key"]["model"] == TRAINING_FREE

    again = run_study(read_study(folder / "study.csv"), out, workers=2, model=TRAINING_FREE, store=store)
    assert again.summary["submitted"] == 0 and again.summary["ray"] == "not needed"
    assert again.summary["skipped_already_done"] == 6
    assert [o.intervals for o in again.outcomes] == [o.intervals for o in result.outcomes]


def test_a_long_clip_tracked_in_parts_on_two_workers_gives_the_whole_clips_intervals(local_ray, tmp_path):
    """A clip longer than a part is tracked a minute-segment at a time on several workers, then joined:
    its intervals are those of one run over the whole clip, one of them across the parts' seam."""
    events = [(10.0, 0.5, "surprise", (1, 2)), (59.7, 0.6, "positive", (12,)), (65.0, 0.5, "negative", (4,))]
    clip = make_clip(seconds=70.0, fps=10.0, size=SIZE, events=events, identity=1, seed=7, amplitude_px=3.0)
    path = clip.write(tmp_path / "long.avi")
    alone = spot_video(path, TRAINING_FREE, store=ResultStore(tmp_path / "alone.sqlite"))
    manifest = _manifest(tmp_path, [("long.avi", "P1", "task")])
    result = run_study(read_study(manifest), tmp_path / "out", workers=2, model=TRAINING_FREE,
                       store=ResultStore(tmp_path / "study.sqlite"), part_s=30.0)  # fmt: skip
    (outcome,) = result.outcomes
    assert outcome.status == "done", outcome.message
    assert list(outcome.intervals) == alone.intervals
    assert [i.onset_frame // 10 for i in alone.intervals] == [10, 59, 65], "the seam's interval is whole"


def test_a_worker_killed_mid_clip_is_retried_and_each_clip_is_done_once(
    local_ray, clips, tmp_path, monkeypatch
):
    folder, _ = clips
    rows = [("clips/P1_rest.avi", "P1", "rest"), ("clips/P2_task.avi", "P2", "task")]
    study = read_study(_manifest(folder, rows, "crash.csv"))
    marker = tmp_path / "crash-once"
    marker.write_text(str(study.clips[0].path))
    monkeypatch.setenv(CRASH_ONCE_ENV, str(marker))
    store = ResultStore(tmp_path / "results.sqlite")
    result = run_study(study, tmp_path / "out", workers=2, model=TRAINING_FREE, store=store)
    assert not marker.exists(), "the crash happened"
    assert [(o.status, o.attempts) for o in result.outcomes] == [("done", 2), ("done", 1)]
    assert result.summary["retried_clips"] == 1 and result.summary["retried_attempts"] == 1
    assert len(store.list_results("spot")) == 2, "one stored run per clip"
    assert pd.read_csv(tmp_path / "out" / "clips.csv")["attempts"].tolist() == [2, 1]
    assert [s.attempts for s in study_status(result.study_id, store)] == [2, 1]


def test_a_damaged_and_a_faceless_clip_are_reported_and_the_rest_complete(local_ray, clips, tmp_path):
    folder, _ = clips
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    _faceless(tmp_path / "wall.avi")
    rows = [
        (str(folder / "clips/P3_rest.avi"), "P3", "rest"),
        ("broken.mp4", "P4", "rest"),
        ("wall.avi", "P5", "rest"),
    ]
    study = read_study(_manifest(tmp_path, rows))
    store = ResultStore(tmp_path / "results.sqlite")
    result = run_study(study, tmp_path / "out", workers=2, model=TRAINING_FREE, store=store)
    done, broken, faceless = result.outcomes
    assert done.status == "done" and len(done.intervals) == 1
    assert broken.status == faceless.status == "failed"
    assert "broken.mp4" in broken.message and "\n" not in broken.message
    assert "face" in faceless.message.lower() and "\n" not in faceless.message
    table = pd.read_csv(tmp_path / "out" / "clips.csv")
    assert (
        table["status"].tolist() == ["done", "failed", "failed"]
        and table["message"].notna().tolist()[1:] == [True] * 2
    )
    rest = pd.read_csv(tmp_path / "out" / "conditions.csv").iloc[0]
    assert (rest["participants"], rest["clips"], rest["clips_failed"]) == (1, 1, 2)
    # The same bytes are refused again on a rerun without a worker trying them.
    again = run_study(study, tmp_path / "out", workers=2, model=TRAINING_FREE, store=store)
    assert again.summary["submitted"] == 0 and [o.message for o in again.outcomes] == [
        o.message for o in result.outcomes
    ]


def test_the_cli_verb_runs_a_study_end_to_end(local_ray, clips, capsys, tmp_path):
    folder, _ = clips
    manifest = _manifest(folder, [("clips/P2_rest.avi", "P2", "rest")], "one.csv")
    out = tmp_path / "cli-out"
    address = ray.get_runtime_context().gcs_address
    args = ["study", "run", str(manifest), "--out", str(out), "--address", address, "--workers", "2"]
    assert main([*args, "--model", TRAINING_FREE]) == 0  # in this process: the module's connection is used
    printed = json.loads(capsys.readouterr().out)
    assert (printed["done"], printed["submitted"], printed["intervals"]) == (1, 1, 1)
    assert printed["ray"] == "already connected"
    assert sorted(p.name for p in out.iterdir()) == sorted(printed["files"])
    assert main([*args, "--model", TRAINING_FREE]) == 0
    assert json.loads(capsys.readouterr().out)["submitted"] == 0


def test_the_cli_verb_connects_to_a_running_cluster(local_ray, clips, tmp_path):
    """Another process, as a user's shell would be: it connects to the cluster by address, and its
    stdout is the JSON alone (the workers' logs stay in Ray's files)."""
    folder, _ = clips
    manifest = _manifest(folder, [("clips/P3_task.avi", "P3", "task")], "other.csv")
    address = ray.get_runtime_context().gcs_address
    command = [sys.executable, "-m", "core", "study", "run", str(manifest), "--out", str(tmp_path / "out"),
               "--address", address, "--workers", "1", "--model", TRAINING_FREE]  # fmt: skip
    env = {**os.environ, "FER_DASHBOARD_HOME": str(tmp_path / "home")}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = json.loads(done.stdout)
    assert (printed["done"], printed["submitted"], printed["intervals"]) == (1, 1, 2)
    assert printed["ray"] == f"cluster {address}" and printed["ray_startup_s"] >= 0


# ---- manifests -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, says",
    [
        (
            "path,participant\nclips/P1_rest.avi,P1\nclips/nowhere.avi,P2\n",
            "names clips/nowhere.avi on line 3, which was not found",
        ),
        ("path,participant\nclips/P1_rest.avi,P1\n./clips/P1_rest.avi,P2\n", "twice, on lines 2 and 3"),
        ("file,participant\nclips/P1_rest.avi,P1\n", "has no 'path' column (its columns: file, participant)"),
    ],
    ids=["missing file", "duplicate path", "no path column"],
)
def test_a_bad_manifest_is_refused_in_one_line(clips, text, says, capsys):
    folder, _ = clips
    manifest = folder / "bad.csv"
    manifest.write_text(text)
    with pytest.raises(InputError) as error:
        read_study(manifest)
    assert says in str(error.value) and "\n" not in str(error.value)
    assert main(["study", "run", str(manifest), "--out", str(folder / "never")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: The manifest bad.csv") and says in line
    assert not (folder / "never").exists(), "refused before any work"


def test_a_folder_is_a_study_of_its_clips_one_participant_each(clips):
    folder, _ = clips
    study = read_study(folder / "clips")
    assert [c.participant for c in study.clips] == sorted(f"{p}_{c}" for p, c, *_ in CLIPS)
    assert {c.condition for c in study.clips} == {""}
    assert read_study(folder / "clips").fingerprint == study.fingerprint


def test_a_manifest_keeps_its_columns_and_resolves_paths_against_its_folder(clips):
    folder, _ = clips
    study = read_study(folder / "study.csv")
    assert study.columns == ("site",) and study.clips[0].extra == ("site-0",)
    assert study.clips[0].path == (folder / "clips" / "P1_rest.avi").resolve()


# ---- summaries ---------------------------------------------------------------------------------------


def test_a_condition_averages_participants_not_intervals(clips):
    """A lively participant with many clips counts once: the condition's rate is the mean of the
    participants' rates, and its CI resamples participants."""
    folder, _ = clips
    study = read_study(folder / "study.csv")
    from core.micro.intervals import Interval

    def outcome(clip, events: int, seconds: float = 60.0) -> ClipOutcome:
        intervals = tuple(
            Interval.at(10 * k, 10 * k + 2, 10 * k + 4, 30.0, "positive", 0.9) for k in range(events)
        )
        return ClipOutcome(
            clip, "done", "", 1, False, "x", 30.0, round(30 * seconds), round(30 * seconds), intervals
        )

    clips_ = study.clips
    # P1: 10 per minute in both their clips; P2 and P3: 2 and 0 per minute (the rest clips are ignored here).
    outcomes = [outcome(clips_[1], 10), outcome(clips_[3], 2), outcome(clips_[5], 0),
                outcome(clips_[0], 0), outcome(clips_[2], 0), outcome(clips_[4], 0)]  # fmt: skip
    tables = study_tables(study, outcomes)
    task = tables.conditions.set_index("condition").loc["task"]
    assert task["micro_per_min"] == pytest.approx(4.0)  # (10 + 2 + 0) / 3
    low, high = task["micro_per_min_low"], task["micro_per_min_high"]
    assert 0 <= low < 4.0 < high <= 10
    assert ratio_ci(np.array([10.0, 2.0, 0.0]), np.ones(3)) == (low, high)
    assert np.isnan(ratio_ci(np.array([1.0]), np.array([1.0]))[0]), "no CI from one unit"
    # P1 recorded for 4 minutes at the same rate: pooling the events would give 42 / 6 = 7 per minute.
    longer = [outcome(clips_[1], 40, 240.0), *outcomes[1:]]
    assert study_tables(study, longer).conditions.set_index("condition").loc[
        "task", "micro_per_min"
    ] == pytest.approx(4.0)


# ---- what a task asks Ray for ----------------------------------------------------------------------


class _FakeRay:
    """Just enough of `ray` for `_task_resources`: the cluster's GPUs, and what the CUDA probe answers."""

    exceptions = ray.exceptions

    def __init__(self, gpus: int, cuda: bool):
        self.gpus, self.cuda, self.probed = gpus, cuda, []

    def cluster_resources(self) -> dict:
        return {"CPU": 16.0, "GPU": float(self.gpus)} if self.gpus else {"CPU": 16.0}

    def remote(self, function):
        fake = self

        class Remote:
            def options(self, **resources):
                fake.probed.append((function.__name__, resources))
                return self

            def remote(self):
                return "ref"

        return Remote()

    def get(self, ref, timeout=None):
        return self.cuda


@pytest.mark.parametrize(
    "gpus, cuda, asked, probed",
    [
        (0, False, {"num_cpus": 1}, False),
        (2, True, {"num_cpus": 1, "num_gpus": 1}, True),
        (2, False, {"num_cpus": 1}, True),
    ],  # fmt: skip
    ids=["no GPU", "GPU torch can use", "GPU torch cannot use"],
)
def test_a_task_asks_for_a_gpu_only_where_torch_in_a_worker_can_use_one(gpus, cuda, asked, probed):
    from core.study.run import _task_resources

    fake = _FakeRay(gpus, cuda)
    assert _task_resources(fake) == asked
    assert fake.probed == ([("cuda_usable", {"num_cpus": 1, "num_gpus": 1})] if probed else [])
