"""The Study page: no study, a bad manifest in one line, a finished study's tables, chart and links, a run in
the background that a reload finds, a run that stopped half-way, and a study's clip opened on the
Micro-expressions page.

One small study (3 synthetic clips of 3 s at 160 px, the tiny zoo's CNN, the training-free spotter) is run
once for the module with `run_study` (a local Ray of 2 CPUs, started and stopped by the run); the tests that
show it share that run's results store. Other manifests of the same clips are studies of their own whose
clips are all in the store already, so running them needs no Ray.
"""

import json
import threading
import time
from urllib.parse import parse_qsl, urlsplit

import pytest

from core.errors import InputError
from core.micro.spotters import TRAINING_FREE
from core.micro.synthetic import make_clip
from core.store import ResultStore
from core.study import run as study_run
from core.study.manifest import read_study
from core.study.run import run_study, study_id
from core.study.status import StudyStatus
from core.study.upload import place_manifest
from tests.test_pages import chart_titles, errors, run_page, texts

pytest.importorskip("ray")

SIZE = (160, 160)
REST = [(1.2, 0.3, "positive", (12,))]
TASK = [(1.0, 0.3, "positive", (12,)), (1.9, 0.35, "surprise", (1, 2))]
# (participant, condition, events): two participants at rest (a CI), one of them at a task too (no CI).
CLIPS = [("P1", "rest", REST), ("P2", "rest", REST), ("P1", "task", TASK)]
WAIT_S = 60


@pytest.fixture(scope="module")
def module_env(tiny_zoo, tmp_path_factory):
    """The tiny zoo and one dashboard home for the module (the finished study's results store)."""
    home = tmp_path_factory.mktemp("study-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FER_WEIGHTS_DIR", str(tiny_zoo))
        patch.setenv("FER_DASHBOARD_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def folder(module_env, tmp_path_factory):
    """The clips and the study's manifest (with a column of its own)."""
    folder = tmp_path_factory.mktemp("study-clips")
    lines = ["path,participant,condition,site"]
    for i, (participant, condition, events) in enumerate(CLIPS):
        name = f"clips/{participant}_{condition}.avi"
        make_clip(seconds=3.0, size=SIZE, events=events, identity=i + 1, seed=40 + i).write(folder / name)
        lines.append(f"{name},{participant},{condition},site-{i % 2}")
    (folder / "study.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def finished(folder, module_env):
    """The study run to the end, as the page would have run it (its output folder is the page's default)."""
    study = read_study(folder / "study.csv")
    sid = study_id(study, TRAINING_FREE)
    result = run_study(study, module_env / "studies" / sid, workers=2, model=TRAINING_FREE,
                       store=ResultStore(module_env / "results.sqlite"))  # fmt: skip
    assert result.summary["done"] == 3 and result.summary["ray"] == "local"
    return result


@pytest.fixture
def in_study_home(module_env, monkeypatch):
    """This test sees the module's results store (conftest gives each test an empty one)."""
    monkeypatch.setenv("FER_DASHBOARD_HOME", str(module_env))
    return module_env


def _other_study(folder, name: str, conditions=("a", "b", "c")):
    """A manifest of the same clips with other conditions: another study, every clip already spotted."""
    rows = "".join(f"clips/{p}_{c}.avi,{p},{new}\n" for (p, c, _), new in zip(CLIPS, conditions, strict=True))
    path = folder / name
    path.write_text("path,participant,condition\n" + rows)
    return path


def _frame(app, column: str):
    return next(frame.value for frame in app.dataframe if column in frame.value.columns)


def _run_button(app):
    return next(button for button in app.button if "Run the study" in button.label)


def test_the_page_without_a_study_says_how_to_begin():
    app = run_page("study")
    assert not app.exception, app.exception
    assert not app.error
    assert app.title[0].value == "Study"
    assert "Name a study to begin" in texts(app)
    assert app.text_input(key="study-path").value == ""


@pytest.mark.parametrize(
    "content, expected",
    [
        ("path,participant\nmissing.avi,P1\n", "names missing.avi on line 2, which was not found"),
        ("path\na.avi\na.avi\n", "names a.avi twice, on lines 2 and 3"),
        ("file,participant\na.avi,P1\n", "has no 'path' column (its columns: file, participant)"),
    ],
)
def test_a_bad_manifest_is_one_line(tmp_path, content, expected):
    (tmp_path / "a.avi").write_bytes(b"not looked at")
    manifest = tmp_path / "bad.csv"
    manifest.write_text(content)
    with pytest.raises(InputError) as refused:
        read_study(manifest)
    app = run_page("study", manifest=str(manifest))
    assert not app.exception, app.exception
    assert errors(app) == [str(refused.value)] and expected in str(refused.value)
    assert "\n" not in str(refused.value)
    assert not app.dataframe and not app.button, "nothing to run"


def test_a_study_outside_the_readable_folders_is_refused_by_name():
    app = run_page("study", manifest="/etc/study.csv")
    assert not app.exception, app.exception
    (message,) = errors(app)
    assert message.startswith("The study /etc/study.csv is outside the folders this server may read")


def test_a_finished_study_shows_its_counts_tables_chart_and_links(finished, in_study_home, folder):
    app = run_page("study", manifest=str(folder / "study.csv"), model=TRAINING_FREE)
    assert not app.exception, app.exception
    assert not app.error
    assert app.query_params["study"] == [finished.study_id]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics == {"Clips": "3", "Done": "3", "Failed": "0", "Intervals": "4", "Participants": "2",
                       "Conditions": "2"}  # fmt: skip
    preview = _frame(app, "site")
    assert list(preview.columns) == ["path", "participant", "condition", "site"] and len(preview) == 3
    clips = _frame(app, "micro_per_min")
    assert list(clips["path"]) == [f"clips/{p}_{c}.avi" for p, c, _ in CLIPS]
    assert list(clips["micro"]) == [1, 1, 2] and list(clips["status"]) == ["done"] * 3
    assert list(clips["site"]) == ["site-0", "site-1", "site-0"], "the manifest's own column is kept"
    links = [dict(parse_qsl(urlsplit(link).query)) for link in clips["timeline"]]
    assert all(urlsplit(link).path == "micro" for link in clips["timeline"])
    assert [link["clip"] for link in links] == [str(c.path) for c in finished.study.clips]
    assert {(link["source"], link["model"]) for link in links} == {("file", TRAINING_FREE)}
    participants = next(f.value for f in app.dataframe if list(f.value.columns)[:1] == ["participant"])
    assert list(participants["participant"]) == ["P1", "P2"] and list(participants["clips"]) == [2, 1]
    conditions = next(f.value for f in app.dataframe if list(f.value.columns)[:1] == ["condition"])
    rest = conditions.set_index("condition").loc["rest"]
    assert (
        rest["participants"] == 2
        and rest["micro_per_min_low"] <= rest["micro_per_min"] <= rest["micro_per_min_high"]
    )
    assert chart_titles(app) == ["Micro-expressions per minute by condition (mean over participants, 95% CI)"]
    spec = json.loads(app.get("vega_lite_chart")[0].proto.spec)
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["bar", "errorbar"]
    downloads = {button.proto.id for button in app.get("download_button")}
    for key in ("study-manifest-csv", "study-clips-table-csv", "study-participants-csv", "study-conditions-csv",
                "study-chart-png", "study-chart-svg", "study-runs-csv"):  # fmt: skip
        assert any(key in d for d in downloads), key
    assert any("study-chart-pin" in (b.proto.id or "") for b in app.button), "every figure can be pinned"
    # Another rate: the URL keeps it.
    app.selectbox(key="study-rate").set_value("intervals_per_min").run()
    assert app.query_params["rate"] == ["intervals_per_min"]
    assert chart_titles(app)[0].startswith("Intervals (micro and macro) per minute")


def test_a_study_reopens_from_its_id_alone_and_is_remembered(finished, in_study_home, folder):
    app = run_page("study", study=finished.study_id)
    assert not app.exception, app.exception
    assert app.text_input(key="study-path").value == str(folder / "study.csv")
    assert {m.label: m.value for m in app.metric}["Done"] == "3"
    assert app.selectbox(key="study-recent").options[1:2] == [str(folder / "study.csv")]


def test_a_clip_of_the_study_opens_on_the_micro_page(finished, in_study_home, folder):
    app = run_page("micro", source="file", clip=str(finished.study.clips[2].path), model=TRAINING_FREE)
    assert not app.exception, app.exception
    assert not app.error
    table = next(frame.value for frame in app.dataframe if "onset_frame" in frame.value.columns)
    assert len(table) == len(finished.outcomes[2].intervals) == 2
    assert "From the results store." in texts(app), "the study's run, not a second one"
    outside = run_page("micro", source="file", clip="/etc/clip.mp4")
    (message,) = errors(outside)
    assert message.startswith("The clip /etc/clip.mp4 is outside the folders this server may read")
    assert not outside.info, "the message is the answer"


def test_a_run_goes_on_in_the_background_and_a_reload_finds_it(finished, in_study_home, folder, monkeypatch):
    manifest = _other_study(folder, "again.csv")
    release, real = threading.Event(), study_run.run_study

    def held(*args, progress, **kwargs):  # the run waits for the test, then runs (no clip needs Ray)
        progress(0.3, "held by the test")
        assert release.wait(WAIT_S)
        return real(*args, progress=progress, **kwargs)

    monkeypatch.setattr(study_run, "run_study", held)
    app = run_page("study", manifest=str(manifest), model=TRAINING_FREE, workers="1")
    assert "Not run yet with this spotter" in texts(app)
    _run_button(app).click().run()
    assert not app.exception, app.exception
    (bar,) = app.get("progress")
    assert bar.proto.value == 30 and "held by the test" in bar.proto.text
    assert "Running in the background" in texts(app) and _run_button(app).disabled
    # A reload (a new session with the same URL) finds the run in progress.
    reloaded = run_page("study", **{k: v[0] for k, v in app.query_params.items()})
    assert not reloaded.exception, reloaded.exception
    assert reloaded.get("progress") and _run_button(reloaded).disabled
    assert not reloaded.metric, "no results while it runs"
    release.set()
    deadline = time.monotonic() + WAIT_S
    while reloaded.get("progress") and time.monotonic() < deadline:
        time.sleep(0.2)
        reloaded.run()
    assert not reloaded.exception, reloaded.exception
    assert {m.label: m.value for m in reloaded.metric}["Done"] == "3"
    assert "0 submitted to Ray (not needed)" in texts(reloaded)
    conditions = next(f.value for f in reloaded.dataframe if list(f.value.columns)[:1] == ["condition"])
    assert list(conditions["condition"]) == ["a", "b", "c"]
    assert not _run_button(reloaded).disabled, "it may be run again"


def test_a_run_that_stopped_half_way_shows_where_it_stands(finished, in_study_home, folder):
    study = read_study(_other_study(folder, "stopped.csv", ("x", "y", "z")))
    sid = study_id(study, TRAINING_FREE)
    rows = [(str(c.path), c.participant, c.condition, state, "") for c, state in
            zip(study.clips, ("done", "running", "queued"), strict=True)]  # fmt: skip
    StudyStatus(ResultStore()).start(sid, str(study.source), TRAINING_FREE, rows)
    app = run_page("study", manifest=str(study.source), model=TRAINING_FREE)
    assert not app.exception, app.exception
    assert "last run has not finished" in texts(app)
    states = _frame(app, "state")
    assert list(states["state"]) == ["done", "running", "queued"] and list(states["attempts"]) == [0, 0, 0]
    assert "**3 clips**: 1 done, 1 running, 1 queued." in texts(app)
    assert not app.metric


def test_an_uploaded_manifest_is_placed_beside_its_clips(folder):
    data = (folder / "study.csv").read_bytes()
    assert place_manifest(data, "study.csv", folder) == folder / "study.csv", "the same bytes: the same file"
    other = place_manifest(data.replace(b"site-1", b"site-9"), "study.csv", folder)
    assert other.parent == folder and other.name.startswith("study-") and other.name != "study.csv"
    assert read_study(other).clips[1].extra == ("site-9",)
    assert (folder / "study.csv").read_bytes() == data, "a file there is never overwritten"
    with pytest.raises(InputError, match="was not found"):
        place_manifest(data, "study.csv", folder / "nowhere")
    with pytest.raises(
        InputError, match="^The manifest my study.csv names gone.avi on line 2, which was not found"
    ):
        place_manifest(b"path\ngone.avi\n", "my study.csv", folder)
    assert not list(folder.glob("my_study*")), "a refused manifest is not left beside the clips"
    other.unlink()
