"""The Models page and the explore page's "What the model says", with the tiny zoo and with none."""

import json

import pytest
import torch

from core.models.architectures import FanNet
from dashboard.charts import confusion_chart, probabilities_chart, training_curves_chart
from dashboard.export import chart_png, chart_svg
from tests.test_pages import chart_titles, errors, run_page, texts


@pytest.fixture
def no_models(tmp_path, monkeypatch):
    """A weights folder with no manifest at all: a fresh checkout before any training."""
    monkeypatch.setenv("FER_WEIGHTS_DIR", str(tmp_path / "empty-weights"))


def table_with(app, column: str):
    return next(frame.value for frame in app.dataframe if column in frame.value.columns)


def test_models_page_shows_the_tiny_zoo(use_tiny_zoo):
    app = run_page("models")
    assert not app.exception, app.exception
    assert not app.error
    assert app.selectbox(key="model").options == ["fan2019-tiny", "breuer2017-tiny"]
    assert app.selectbox(key="model").value == "fan2019-tiny"
    assert app.query_params["model"] == ["fan2019-tiny"]
    assert "Fan, Yuan & Zhu (2019" in texts(app)
    assert app.metric[0].value == "25.0% [20.0, 30.0]"
    assert chart_titles(app) == ["Confusion matrix: fan2019-tiny", "Training curves"]
    layers = table_with(app, "output_shape")
    assert layers.loc[layers["name"] == "features.conv1", "output_shape"].item() == "8 x 48 x 48"
    assert layers["name"].str.contains("conv").sum() == 3
    compared = table_with(app, "accuracy [95% CI]")
    assert list(compared["model"]) == ["fan2019-tiny", "breuer2017-tiny"]
    card = table_with(app, "field")
    assert "SHA-256" in set(card["field"])


def test_the_url_chooses_the_model(use_tiny_zoo):
    app = run_page("models", model="breuer2017-tiny")
    assert not app.exception, app.exception
    assert app.selectbox(key="model").value == "breuer2017-tiny"
    assert "Breuer & Kimmel (2017" in texts(app)
    layers = table_with(app, "output_shape")
    assert {"features.conv1a", "features.conv4a"} <= set(layers["name"])
    assert "Confusion matrix: breuer2017-tiny" in chart_titles(app)


def test_models_page_without_models_says_how_to_train_one(no_models):
    app = run_page("models")
    assert not app.exception, app.exception
    assert any(
        "No trained model is installed" in info.value and "python -m core train" in info.value
        for info in app.info
    )
    assert not app.get("vega_lite_chart")
    assert app.text_input(key="ckpt-path"), "the own-checkpoint loader is still offered"


def test_own_checkpoint_refuses_a_junk_file(no_models, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    app = run_page("models")
    app.text_input(key="ckpt-path").input(str(junk)).run()
    assert not app.exception, app.exception
    assert len(app.error) == 1
    assert "junk.pt is not a readable checkpoint" in errors(app)[0]


def test_own_checkpoint_refuses_a_missing_file_and_a_wrong_architecture(no_models, tmp_path):
    app = run_page("models")
    app.text_input(key="ckpt-path").input(str(tmp_path / "nowhere.pt")).run()
    assert "does not exist" in errors(app)[0]
    path = tmp_path / "fan.pt"
    torch.save(FanNet(num_classes=7, width=0.25).state_dict(), path)
    app.text_input(key="ckpt-path").input(str(path))
    app.selectbox(key="ckpt-arch").set_value("breuer2017").run()
    assert not app.exception, app.exception
    assert "does not fit this architecture" in errors(app)[0]


def test_own_checkpoint_shows_its_layers(no_models, tmp_path):
    path = tmp_path / "fan.pt"
    torch.save(FanNet(num_classes=5, width=0.25).state_dict(), path)
    app = run_page("models")
    app.number_input(key="ckpt-width").set_value(0.25)
    app.number_input(key="ckpt-classes").set_value(5)
    app.text_input(key="ckpt-path").input(str(path)).run()
    assert not app.exception, app.exception
    assert not app.error
    assert app.success and "Loaded" in app.success[0].value
    layers = table_with(app, "output_shape")
    assert layers.loc[layers["name"] == "features.conv1", "output_shape"].item() == "8 x 48 x 48"
    assert layers.loc[layers["name"] == "classifier.fc2", "output_shape"].item() == "5"


def test_explore_shows_what_the_model_says(use_tiny_zoo):
    app = run_page("explore", model="breuer2017-tiny")
    assert not app.exception, app.exception
    assert not app.error
    assert chart_titles(app)[0] == "Expression probabilities: breuer2017-tiny"
    spec = json.loads(app.get("vega_lite_chart")[0].proto.spec)
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["x"]["field"] == "probability"
    assert len(app.get("image")) >= 2, "the picture and the crop are still there"


def test_explore_without_models_still_shows_the_face(no_models):
    app = run_page("explore")
    assert not app.exception, app.exception
    assert any("No trained model is installed" in info.value for info in app.info)
    assert not app.get("vega_lite_chart")
    assert len(app.get("image")) >= 2
    assert "One face found" in texts(app)


def test_the_new_charts_export_as_png_and_svg():
    history = [
        {
            "epoch": e,
            "train_loss": 1 / e,
            "val_loss": float("nan"),
            "train_accuracy": 0.5,
            "val_accuracy": float("nan"),
        }
        for e in (1, 2)
    ]  # no validation split: NaN, left out of the chart
    charts = [
        confusion_chart([[3, 1], [0, 4]], ["happy", "sad"], "Confusion"),
        training_curves_chart(history),
        probabilities_chart({"happy": 0.7, "sad": 0.3}, "Probabilities"),
    ]
    for chart in charts:
        assert chart_png(chart).startswith(b"\x89PNG")
        assert "<svg" in chart_svg(chart)
    assert {row["split"] for row in charts[1].hconcat[0].data.to_dict("records")} == {"training"}
    top = charts[2].data.iloc[0]
    assert (top["expression"], bool(top["top"])) == ("happy", True)


def test_a_cards_notes_are_shown_beside_its_metrics(tiny_zoo, tmp_path, monkeypatch):
    import shutil

    from core.models.zoo import read_manifest, write_card

    folder = tmp_path / "weights"
    shutil.copytree(tiny_zoo, folder)
    card = read_manifest(folder)["fan2019-tiny"]
    write_card({**card, "notes": "Scored on a split chosen for this test."}, folder)
    monkeypatch.setenv("FER_WEIGHTS_DIR", str(folder))
    app = run_page("models", model="fan2019-tiny")
    assert not app.exception
    assert any("Scored on a split chosen for this test." in w.value for w in app.warning)


def test_a_score_comes_with_its_reference_points_and_its_calibration(tiny_zoo, tmp_path, monkeypatch):
    import shutil

    import numpy as np
    import torch

    from core.models.calibration import calibration_report
    from core.models.zoo import read_manifest, write_card

    folder = tmp_path / "weights"
    shutil.copytree(tiny_zoo, folder)
    card = read_manifest(folder)["fan2019-tiny"]
    supports = [10, 2, 10, 50, 12, 8, 8]
    per_class = {c: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": n} for c, n in zip(card["classes"], supports, strict=True)}
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 500)
    logits = torch.tensor(rng.normal(size=(500, 7)) + 3 * np.eye(7)[labels], dtype=torch.float32) * 3
    calibration = calibration_report(logits, labels, 3.0, "test")
    card = {**card, "training": {**card["training"], "format": "fer2013"},
            "metrics": {**card["metrics"], "per_class": per_class}, "calibration": calibration}  # fmt: skip
    write_card(card, folder)
    monkeypatch.setenv("FER_WEIGHTS_DIR", str(folder))
    app = run_page("models", model="fan2019-tiny")
    assert not app.exception
    references = next(f.value for f in app.dataframe if "accuracy" in f.value.columns and "note" in f.value.columns)
    points = dict(zip(references["name"], references["accuracy"], strict=True))
    assert points["chance"] == "14.3%" and points["majority class"] == "50.0%"
    assert points["the `fer` package (mini-Xception)"] == "65.3%"
    assert points["single networks, state of the art"] == "73-76%"
    assert "Reliability: fan2019-tiny" in chart_titles(app)
    shown = {m.label: m.value for m in app.metric}
    assert shown["Expected calibration error"] == f"{100 * calibration['ece_after']:.1f}%"
