"""The Micro-expressions page on the demo clip, its URL state, and how the other pages treat a MicroLSTM."""

import json
import math
import shutil
import time

import pytest
import torch
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.runtime.memory_media_file_storage import _calculate_file_id

from core.media import excerpt_span, probe_video
from core.micro.lstm import CLASSES
from core.micro.synthetic import demo_clip, demo_clip_path
from core.models.architectures import MicroLSTM
from core.models.zoo import read_manifest, save_model
from core.store import home_dir
from tests import test_e2e
from tests.test_e2e import settle
from tests.test_pages import run_page, texts

# The browser fixtures of test_e2e.py, shared (a server of this module's own, started only for the browser test).
server, browser, page = test_e2e.server, test_e2e.browser, test_e2e.page


@pytest.fixture
def zoo_with_lstm(tiny_zoo, tmp_path, monkeypatch):
    """The tiny zoo plus an untrained MicroLSTM over fan2019-tiny's features."""
    folder = tmp_path / "weights"
    shutil.copytree(tiny_zoo, folder)
    feature = read_manifest(folder)["fan2019-tiny"]
    torch.manual_seed(0)
    dim = 56 + 2 * 9 + 9 + 1  # fan2019-tiny's 8 + 16 + 32 maps, then displacement, activity, face
    card = {
        "name": "micro-lstm-tiny", "task": "micro-expression", "architecture": "micro_lstm",
        "arch_args": {"feature_dim": dim, "num_classes": len(CLASSES), "hidden": 8},
        "input": {"feature_model": "fan2019-tiny", "feature_model_sha256": feature["sha256"]},
        "classes": list(CLASSES), "training": {"format": "none", "note": "untrained, for tests"},
    }  # fmt: skip
    save_model(MicroLSTM(dim, len(CLASSES), hidden=8).eval(), card, folder)
    monkeypatch.setenv("FER_WEIGHTS_DIR", str(folder))
    return folder


def panel_titles(app) -> list[str]:
    """The titles of the timeline's stacked panels."""
    titles = []
    for chart in app.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        titles += [panel.get("title", "") for panel in spec.get("vconcat", [])]
    return titles


def timeline_marks(app) -> tuple[float | None, int | None]:
    """The time the timeline's rule marks and the number of the interval it outlines."""
    chart = next(c.proto for c in app.get("vega_lite_chart") if "vconcat" in json.loads(c.proto.spec))
    tables = [convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.datasets]
    rules = [t for t in tables if list(t.columns) == ["time_s"]]
    chosen = [t for t in tables if "chosen" in t.columns]
    time = float(rules[0]["time_s"].item()) if rules else None
    number = int(chosen[0].loc[chosen[0]["chosen"], "interval"].item()) if chosen else None
    return time, number


def interval_box(app):
    return next(box for box in app.selectbox if box.label == "Interval to look at")


def interval_rows(app):
    return next(frame.value for frame in app.dataframe if "onset_frame" in frame.value.columns)


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory):
    """The demo clip, written once for the session (each test has its own dashboard home)."""
    import os

    home = tmp_path_factory.mktemp("demo-home")
    before = os.environ.get("FER_DASHBOARD_HOME")
    os.environ["FER_DASHBOARD_HOME"] = str(home)
    try:
        return demo_clip_path()
    finally:
        os.environ.pop("FER_DASHBOARD_HOME") if before is None else os.environ.update(
            FER_DASHBOARD_HOME=before
        )


@pytest.fixture
def demo_ready(demo_file):
    """This test's dashboard home already holds the demo clip."""
    target = home_dir() / "cache" / demo_file.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(demo_file, target)


def test_the_demo_clip_is_spotted_and_shown(zoo_with_lstm, demo_ready):
    app = run_page("micro", model="training-free", interval="2")
    assert not app.exception, app.exception
    assert not app.error
    assert app.title[0].value == "Micro-expressions"
    assert app.selectbox(key="micro-model").options == [
        "Training-free spotter (no classes)",
        "MicroLSTM: micro-lstm-tiny",
    ]
    table = next(frame.value for frame in app.dataframe if "onset_frame" in frame.value.columns)
    # The demo clip holds three micro-expressions and one macro-expression of about 3 pixels.
    assert list(table["kind"]) == ["micro", "micro", "macro", "micro"]
    assert set(table["class"]) == {"unclassified"}
    assert {"apex_frame", "offset_s", "duration_s", "confidence"} <= set(table.columns)
    assert interval_box(app).value == 2, "the URL chose the interval"
    assert app.query_params["interval"] == ["2"]
    assert panel_titles(app) == [
        "Spotting score (noise units): click a time or an interval",
        "AU-region activity (noise units)",
    ]
    # The chosen interval plays as its own excerpt, 0.3 s either side, not as a seek in the whole clip.
    first, last = plays_the_excerpt(app, table, 2, autoplay=False)  # opened from a link: it waits for a click
    onset, offset = table["onset_s"][1], table["offset_s"][1]
    fps = demo_clip().fps
    assert first == table["onset_frame"][1] - round(0.3 * fps) and last == table["offset_frame"][1] + round(
        0.3 * fps
    )
    assert f"Plays {first / fps:.2f} s to {(last + 1) / fps:.2f} s (frames {first} to {last})" in texts(app)
    assert f"interval ({onset:.2f} s to {offset:.2f} s) with 0.3 s either side, looping" in texts(app)
    assert timeline_marks(app) == (pytest.approx(onset), 2), "the rule at the onset, interval 2 outlined"
    assert len(app.get("image")) >= 3 + 4, "onset, apex, their difference and four deconvolution pairs"
    assert "whose strongest response changed most" in texts(app)
    keys = {button.proto.id for button in app.get("download_button")}
    assert any("intervals-json" in k for k in keys) and any("annotated" in k for k in keys)
    assert any("excerpt-2" in k for k in keys)
    # The MicroLSTM on the same clip: its class probabilities join the timeline, the URL keeps it.
    app.selectbox(key="micro-model").set_value("micro-lstm-tiny").run()
    assert not app.exception, app.exception
    assert app.query_params["model"] == ["micro-lstm-tiny"]
    assert "Class probabilities (MicroLSTM)" in panel_titles(app)


def test_upload_without_a_file_asks_for_one(zoo_with_lstm):
    app = run_page("micro", source="upload")
    assert not app.exception, app.exception
    assert any("Upload a clip to begin" in info.value for info in app.info)
    assert "up to 500 MB" in app.get("file_uploader")[0].proto.label
    assert "the 8 most recently used" in texts(app)


def test_image_pages_do_not_offer_the_lstm_and_the_models_page_shows_it(zoo_with_lstm):
    explore = run_page("explore")
    assert "micro-lstm-tiny" not in explore.selectbox(key="model").options
    models = run_page("models", model="micro-lstm-tiny")
    assert not models.exception, models.exception
    assert not models.error
    assert models.selectbox(key="model").value == "micro-lstm-tiny"
    layers = next(frame.value for frame in models.dataframe if "output_shape" in frame.value.columns)
    assert list(layers["name"]) == ["lstm", "head"]
    assert layers.loc[layers["name"] == "head", "output_shape"].item() == f"30 x {len(CLASSES)}"
    assert "30-frame sequence" in texts(models)


def plays_the_excerpt(app, table, number: int, autoplay: bool = True) -> tuple[int, int]:
    """Asserts the video is interval `number`'s excerpt file, looping from its start (autoplaying once the user
    chose an interval), offered for download; returns the excerpt's first and last frame."""
    clip = demo_clip()
    first, last = excerpt_span(
        table["onset_frame"][number - 1], table["offset_frame"][number - 1], clip.fps, clip.n_frames
    )
    files = list((home_dir() / "cache").glob(f"excerpt_*_{first}_{last}.webm"))
    assert len(files) == 1, "the excerpt is cached beside the clip's other copies"
    assert probe_video(files[0]).frame_count == last - first + 1
    video = app.get("video")
    assert len(video) == 1
    # Streamlit names a media file by its bytes' hash: the player gets the excerpt, not the whole clip.
    assert video[0].proto.url.endswith(f"/{_calculate_file_id(files[0].read_bytes(), 'video/webm')}.webm")
    proto = video[0].proto
    assert (proto.start_time, proto.end_time, proto.loop, proto.autoplay) == (0, 0, True, autoplay)
    download = next(b for b in app.get("download_button") if f"excerpt-{number}" in b.proto.id)
    assert download.proto.label.endswith("Download this interval (WebM)")
    return first, last


def click(app, interval: int | None = None, time: float | None = None):
    """What Streamlit keeps under the timeline's key after a click on it (a point selection per name)."""
    # A selection that the click did not set is reported as one empty point.
    selection = {
        "interval": [{"interval": interval}] if interval else [{}],
        "time": [{"time_s": time}] if time else [{}],
    }
    app.session_state["micro-timeline"] = {"selection": selection}
    return app.run()


def test_the_timeline_and_the_video_follow_a_click_and_the_url(use_tiny_zoo, demo_ready):
    # A shared link with a time inside the fourth interval: the rule sits there and the loop ends past its offset.
    app = run_page("micro", model="training-free", interval="1")
    table = interval_rows(app)
    onsets, offsets = list(table["onset_s"]), list(table["offset_s"])
    inside = round((onsets[3] + offsets[3]) / 2, 2)
    app.query_params["t"] = str(inside)
    app.query_params["interval"] = "4"
    app.run()
    assert not app.exception, app.exception
    video = app.get("video")[0].proto
    assert (video.start_time, video.end_time, video.loop) == (
        math.floor(inside),
        math.ceil(offsets[3] + 0.5),
        True,
    )
    assert timeline_marks(app) == (pytest.approx(inside), 4)
    assert "the time chosen on the timeline" in texts(app)
    # A click between intervals: the video plays on from there, the chosen interval stays.
    between = round((offsets[0] + onsets[1]) / 2, 2)
    click(app, time=between)
    assert not app.exception, app.exception
    assert app.query_params["t"] == [f"{between:.2f}"] and app.query_params["interval"] == ["4"]
    video = app.get("video")[0].proto
    assert (video.start_time, video.end_time, video.loop) == (math.floor(between), 0, False), "0: no end"
    assert timeline_marks(app) == (pytest.approx(between), 4)
    # A click inside the second interval picks it and the box follows.
    inside = round((onsets[1] + offsets[1]) / 2, 2)
    click(app, time=inside)
    assert app.query_params["interval"] == ["2"] and interval_box(app).value == 2
    assert timeline_marks(app) == (pytest.approx(inside), 2)
    # A click on the third interval's shading: it plays from its onset, the clicked time is dropped.
    click(app, interval=3)
    assert "t" not in app.query_params and app.query_params["interval"] == ["3"]
    plays_the_excerpt(app, table, 3)
    assert "with 0.3 s either side" in texts(app) and "the time chosen" not in texts(app)
    assert timeline_marks(app) == (pytest.approx(onsets[2]), 3)
    assert interval_box(app).value == 3
    # The same selection again (any rerun) is not applied twice: the box is free to change.
    interval_box(app).set_value(1).run()
    assert not app.exception, app.exception
    assert app.query_params["interval"] == ["1"] and timeline_marks(app) == (pytest.approx(onsets[0]), 1)
    plays_the_excerpt(app, table, 1)
    # A time out of the clip in the URL is ignored: the interval's onset is played.
    app.query_params["t"] = "9999"
    app.run()
    assert not app.error and timeline_marks(app) == (pytest.approx(onsets[0]), 1)


@pytest.mark.e2e
def test_clicks_on_the_timeline_in_a_browser_choose_a_time_and_an_interval(page, server):
    """Real clicks in Chromium (what Streamlit reports for a click is not what AppTest can send)."""
    from urllib.parse import parse_qs, urlparse

    def state() -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}

    def click_at(x: float) -> dict[str, str]:
        page.mouse.click(x, y)
        time.sleep(0.5)
        settle(page)
        errors = page.locator('[data-testid="stException"]')
        assert errors.count() == 0, errors.first.inner_text()
        return state()

    page.goto(f"{server}/micro?model=training-free")
    settle(page)
    box = page.locator('[data-testid="stVegaLiteChart"]').first.bounding_box()
    y = box["y"] + 110  # inside the score panel, below its title
    xs = [box["x"] + box["width"] * share for share in (0.2, 0.45)]
    times = [float(click_at(x)["t"]) for x in xs]
    assert 0 < times[0] < times[1], "each click chose the time under the pointer"
    assert state()["interval"] == "1", "the demo clip has no interval there"
    # The demo clip's macro-expression (the third interval) spans about 3.6 to 4.4 s.
    x = xs[0] + (4.0 - times[0]) * (xs[1] - xs[0]) / (times[1] - times[0])
    chosen = click_at(x)
    assert chosen["interval"] == "3" and "t" not in chosen
    assert page.get_by_text("with 0.3 s either side, looping").count() == 1
    excerpt = page.locator('[data-testid="stDownloadButton"]', has_text="Download this interval (WebM)")
    assert excerpt.count() == 1
    # The browser plays the excerpt (about 1.4 s: 0.8 s of interval and 0.3 s either side), not the 7-second clip.
    duration = page.locator("video").first.evaluate(
        "v => new Promise(done => v.readyState >= 1 ? done(v.duration) : v.addEventListener('loadedmetadata', () => done(v.duration)))"
    )
    assert 1.0 < duration < 2.0, duration
