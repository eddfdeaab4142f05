"""core.models.summary: layer tables with real shapes, predictions, and model cards in words."""

import numpy as np
import pytest
import torch

from core.errors import InputError
from core.models.architectures import BreuerNet, FanNet, MicroLSTM
from core.models.summary import (
    card_facts,
    compare_models,
    headline_metrics,
    layer_table,
    predict_expression,
    units_note,
    with_ci,
)
from core.models.zoo import load_model, read_manifest


def test_fan_layer_table_has_the_real_shapes_in_forward_order():
    rows = layer_table(FanNet(num_classes=7).eval())
    shapes = {row["name"]: row["output_shape"] for row in rows}
    assert shapes["features.conv1"] == (32, 48, 48)
    assert shapes["features.pool1"] == (32, 24, 24)
    assert shapes["features.conv2"] == (64, 24, 24)
    assert shapes["features.pool2"] == (64, 12, 12)
    assert shapes["features.conv3"] == (128, 12, 12)
    assert shapes["features.pool3"] == (128, 6, 6)
    assert shapes["classifier.flatten"] == (128 * 6 * 6,)
    assert shapes["classifier.fc2"] == (7,)
    names = [row["name"] for row in rows]
    assert names[:3] == ["features.conv1", "features.relu1", "features.pool1"]
    assert names[-1] == "classifier.fc2"
    assert {row["type"] for row in rows} >= {"Conv2d", "ReLU", "MaxPool2d", "Linear", "Dropout", "Flatten"}


@pytest.mark.parametrize(
    "model",
    [FanNet(num_classes=7), BreuerNet(num_classes=6, width=0.125, batch_norm=True)],
    ids=["fan", "breuer"],
)
def test_parameter_counts_add_up_and_the_mode_is_kept(model):
    model.train()
    rows = layer_table(model)
    assert sum(row["parameters"] for row in rows) == sum(p.numel() for p in model.parameters())
    assert model.training, "the table must not leave the model in eval mode"
    assert rows[-1]["output_shape"] == (model.num_classes,)


def test_breuer_layer_table_halves_the_side_at_each_pool():
    rows = layer_table(BreuerNet(num_classes=7, width=0.125).eval())
    pools = [row["output_shape"][1] for row in rows if row["type"] == "MaxPool2d"]
    assert pools == [24, 12, 6, 3]


def test_layer_table_of_the_lstm_takes_its_own_input_shape():
    rows = layer_table(MicroLSTM(feature_dim=16, num_classes=3, hidden=8), input_shape=(1, 5, 16))
    assert [(row["name"], row["output_shape"]) for row in rows] == [("lstm", (5, 8)), ("head", (5, 3))]


def test_predict_expression_gives_probabilities_in_the_card_order(use_tiny_zoo):
    model = load_model("fan2019-tiny")
    crop = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    probabilities = predict_expression(model, crop)
    assert list(probabilities) == model.card["classes"]
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert all(0 <= p <= 1 for p in probabilities.values())
    logits = model(((torch.as_tensor(crop).float() / 255 - 0.5) / 0.25)[None, None])
    assert max(probabilities, key=probabilities.get) == model.card["classes"][int(logits.argmax())]


def test_predict_expression_names_classes_of_a_checkpoint_without_card():
    probabilities = predict_expression(FanNet(num_classes=3, width=0.25).eval(), np.zeros((48, 48), np.uint8))
    assert list(probabilities) == ["class 0", "class 1", "class 2"]


@pytest.mark.parametrize(
    "crop", [np.zeros((48, 48, 3), np.uint8), np.zeros((64, 64), np.uint8), np.zeros((48, 48))]
)
def test_predict_expression_refuses_a_crop_the_model_does_not_take(crop):
    with pytest.raises(InputError, match="48x48 grayscale uint8"):
        predict_expression(FanNet().eval(), crop)


CV_CARD = {
    "name": "fan2019-ckplus",
    "architecture": "fan2019",
    "classes": ["happy", "sad"],
    "training": {"format": "ckplus", "root": "/data/CK+48", "n_train": 300},
    "cv": {
        "k": 3, "unit": "subject", "mean": 0.8, "sd": 0.05,
        "folds": [{"fold": 1, "n": 100, "accuracy": 0.75}, {"fold": 2, "n": 100, "accuracy": 0.8},
                  {"fold": 3, "n": 100, "accuracy": 0.85}],
        "pooled": {"accuracy": 0.8, "macro_f1": 0.79, "ci_low": 0.75, "ci_high": 0.85,
                   "macro_f1_ci": [0.7, 0.86], "n": 300, "n_units": 100, "classes": ["happy", "sad"]},
    },
}  # fmt: skip


def test_a_cv_card_is_scored_by_its_pooled_folds_counted_by_sequence():
    metrics, source = headline_metrics(CV_CARD)
    assert metrics["n"] == 300
    assert source == "the 3 subject-independent cross-validation folds, pooled"
    note = units_note(metrics, "ckplus")
    assert "300 faces from 100 CK+ sequences" in note and "counts are by sequence" in note
    assert headline_metrics({"name": "bare"}) is None


def test_units_note_for_independent_faces():
    assert (
        units_note({"n": 7178, "n_units": 7178}, "fer2013")
        == "7,178 faces, each counted as an independent unit."
    )


def test_with_ci_formats_percent_and_interval():
    assert with_ci(0.6234, 0.61, 0.636) == "62.3% [61.0, 63.6]"
    assert with_ci(0.5, None, None) == "50.0%"
    assert with_ci(None, 0.1, 0.2) == ""


def test_compare_models_has_one_row_per_card(use_tiny_zoo):
    cards = {**read_manifest(), CV_CARD["name"]: CV_CARD}
    rows = {row["model"]: row for row in compare_models(cards)}
    assert set(rows) == {"fan2019-tiny", "breuer2017-tiny", "fan2019-ckplus"}
    assert rows["fan2019-tiny"]["accuracy [95% CI]"] == "25.0% [20.0, 30.0]"
    assert rows["fan2019-ckplus"]["CV accuracy (mean ± sd)"] == "80.0% ± 5.0 (3 folds)"
    assert rows["fan2019-ckplus"]["macro-F1 [95% CI]"] == "79.0% [70.0, 86.0]"
    assert rows["fan2019-ckplus"]["data"] == "ckplus, 3-fold CV by subject"
    assert rows["breuer2017-tiny"]["architecture"] == "breuer2017"


def test_card_facts_leave_out_what_is_absent(use_tiny_zoo):
    card = read_manifest()["fan2019-tiny"]
    facts = {row["field"]: row["value"] for row in card_facts(card)}
    assert facts["SHA-256"] == card["sha256"]
    assert facts["Architecture"] == "fan2019"
    assert facts["Input"].startswith("48x48 gray")
    assert "Command" not in facts and "Hardware" not in facts
