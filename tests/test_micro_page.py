"""The Micro-expressions page on the demo clip, its URL state, and how the other pages treat a MicroLSTM."""

import json
import shutil

import pytest
import torch

from core.micro.lstm import CLASSES
from core.micro.synthetic import demo_clip_path
from core.models.architectures import MicroLSTM
from core.models.zoo import read_manifest, save_model
from core.store import home_dir
from tests.test_pages import run_page, texts


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
    assert app.selectbox(key="interval").value == 2, "the URL chose the interval"
    assert app.query_params["interval"] == ["2"]
    assert panel_titles(app) == ["Spotting score (noise units)", "AU-region activity (noise units)"]
    video = app.get("video")
    assert len(video) == 1
    assert video[0].proto.start_time == int(table["onset_s"][1])
    assert "Plays from the onset" in texts(app)
    assert len(app.get("image")) >= 3 + 4, "onset, apex, their difference and four deconvolution pairs"
    assert "whose strongest response changed most" in texts(app)
    keys = {button.proto.id for button in app.get("download_button")}
    assert any("intervals-json" in k for k in keys) and any("annotated" in k for k in keys)
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
