"""The MicroLSTM's label sets and leave-one-subject-out evaluation: the AU -> CASME II class rules, LOSO
folds that never share a face, UF1/UAR of a tiny LSTM trained on feature sequences whose answer is
known, and `spot` with the shipped CASME II model."""

import json

import numpy as np
import pytest

from core.labels.micro import CASME2_CLASSES, casme2_class_from_aus
from core.micro.intervals import UNCLASSIFIED, Interval
from core.micro.lstm import (
    LABEL_SETS,
    NONE,
    ClipData,
    event_label,
    loso_evaluation,
    train,
)
from core.micro.metrics import loso_splits
from core.micro.synthetic import LABEL_AUS

# ---- AUs -> CASME II classes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aus", "expected"),
    [
        ((12,), "happiness"),
        ((6, 12), "happiness"),
        ((6,), "happiness"),
        ((9,), "disgust"),
        ((10,), "disgust"),
        ((4, 7), "disgust"),
        ((1, 2), "surprise"),
        ((1, 2, 5, 26), "surprise"),
        ((2, 25), "surprise"),
        ((15,), "repression"),
        ((14,), "repression"),
        ((17,), "repression"),
        ((4,), "others"),  # a frown alone: not AU4+7
        ((7,), "others"),
        ((1,), "others"),  # AU1 without AU2
        ((25,), "others"),
        ((), "others"),
        ((12, 15), "happiness"),  # two rules fit: the first in CASME2_AU_RULES wins
        ((9, 1, 2), "disgust"),
    ],
)
def test_aus_map_to_casme2_classes_by_the_coding_rules(aus, expected):
    assert casme2_class_from_aus(aus) == expected


def test_the_synthetic_au_sets_cover_every_casme2_class():
    made = {casme2_class_from_aus(aus) for sets in LABEL_AUS.values() for aus in sets}
    assert made == set(CASME2_CLASSES)
    # MEGC and CASME II agree where both name the expression
    assert {casme2_class_from_aus(aus) for aus in LABEL_AUS["positive"]} == {"happiness"}
    assert {casme2_class_from_aus(aus) for aus in LABEL_AUS["surprise"]} == {"surprise"}
    event = {"label": "negative", "aus": [9]}
    assert event_label(event, "megc") == "negative" and event_label(event, "casme2") == "disgust"
    assert LABEL_SETS["casme2"] == (NONE, *CASME2_CLASSES)


# ---- leave-one-subject-out on feature sequences whose answer is known ---------------------------

FPS = 30.0
FRAMES = 72
DIM = 6


def known_clip(rng: np.random.Generator, identity: int, classes: tuple[str, ...]) -> ClipData:
    """Noise (sd 0.2) with two events; an event of class c raises feature c-1 by 2 over its frames,
    so the class can be read from the features. The "training-free" intervals are the true ones."""
    inputs = rng.normal(0, 0.2, (FRAMES, DIM)).astype(np.float32)
    targets = np.zeros(FRAMES, np.int64)
    events = []
    for onset, length in ((12, 9), (42, 12)):
        label = int(rng.integers(1, len(classes)))
        offset = onset + length - 1
        inputs[onset : offset + 1, label - 1] += 2.0
        targets[onset : offset + 1] = label
        events.append(Interval.at(onset, onset + length // 2, offset, FPS, classes[label], 1.0).to_json())
    spotted = [Interval.from_json(event).labelled(UNCLASSIFIED, 1.0) for event in events]
    score = inputs.max(1)
    return ClipData(inputs, targets, FPS, events, spotted, score, amplitude_px=2.5, identity=identity)


@pytest.fixture(scope="module")
def known_clips(one_torch_thread) -> list[ClipData]:
    rng = np.random.default_rng(0)
    classes = LABEL_SETS["casme2"]
    return [known_clip(rng, identity, classes) for identity in range(4) for _ in range(3)]


def test_loso_folds_never_share_a_face():
    subjects = [f"face {i % 4}" for i in range(23)]
    splits = loso_splits(subjects)
    assert [name for name, *_ in splits] == [f"face {i}" for i in range(4)]
    tested = np.concatenate([test for _, _, test in splits])
    assert sorted(tested) == list(range(23)), "every event is tested exactly once"
    for name, train_rows, test_rows in splits:
        assert {subjects[i] for i in test_rows} == {name}
        assert name not in {subjects[i] for i in train_rows}


def test_a_tiny_lstm_runs_through_loso_with_uf1_and_uar(known_clips):
    classes = LABEL_SETS["casme2"]
    metrics = loso_evaluation(known_clips, classes, epochs=12, hidden=8)
    n_events = sum(len(item.events) for item in known_clips)
    assert metrics["n"] == n_events and metrics["clips"] == len(known_clips)
    assert 0.0 <= metrics["uf1"] <= 1.0 and 0.0 <= metrics["uar"] <= 1.0
    assert [fold["subject"] for fold in metrics["folds"]] == [f"face {i}" for i in range(4)]
    for fold in metrics["folds"]:
        assert fold["subject"] not in fold["trained_on"] and len(fold["trained_on"]) == 3
        assert fold["n"] == 6 and fold["clips"] == 3
        assert 0.0 <= fold["uf1"] <= 1.0 and 0.0 <= fold["uar"] <= 1.0
        assert fold["spotting"]["training_free"]["all"]["f1"] == 1.0, "its intervals are the truth"
    assert sum(fold["n"] for fold in metrics["folds"]) == n_events
    # The card's accuracy and UF1 describe the same pooled answers
    assert metrics["accuracy"] == pytest.approx(
        sum(f["accuracy"] * f["n"] for f in metrics["folds"]) / n_events
    )
    assert set(metrics["classes"]) == set(CASME2_CLASSES)
    # The class is in the features: the held-out faces are recognised far above chance (1/5)
    assert metrics["uar"] > 0.6, metrics


def test_the_model_and_its_answers_follow_the_label_set():
    """A MEGC-labelled model has 4 outputs and answers in MEGC classes, a CASME II one 6 and CASME II's."""
    from core.micro.lstm import answer_clips

    rng = np.random.default_rng(1)
    for label_set in ("megc", "casme2"):
        classes = LABEL_SETS[label_set]
        clips = [known_clip(rng, 0, classes) for _ in range(2)]
        model, history = train(clips, classes, epochs=1, hidden=4)
        assert model.head.out_features == len(classes) and len(history) == 1
        answers = answer_clips(model, clips, range(2), classes)
        assert len(answers.y_pred) == 4 and set(answers.y_pred) <= set(classes[1:])


# ---- the shipped CASME II model through the spot verb ------------------------------------------


def test_spot_with_the_casme2_model_writes_casme2_labels(tmp_path, capsys):
    from core.__main__ import main
    from core.micro.spotters import micro_models
    from core.micro.synthetic import make_clip
    from core.models.zoo import read_manifest

    name = "micro-lstm-synthetic-casme2"
    assert {"micro-lstm-synthetic", name} <= set(micro_models())
    assert read_manifest()[name]["classes"] == [NONE, *CASME2_CLASSES]
    clip = make_clip(
        seconds=3.0, events=[(1.2, 0.4, "positive", (12,))], amplitude_px=3.0, identity=0, seed=5
    )
    video = clip.write(tmp_path / "clip.avi")
    out = tmp_path / "spots.json"
    assert main(["spot", str(video), "--model", name, "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["model"] == name and written["frames"] == clip.n_frames
    assert written["fps"] == pytest.approx(30.0)
    assert len(written["intervals"]) == 1
    interval = written["intervals"][0]
    keys = {"onset_frame", "apex_frame", "offset_frame", "onset_s", "offset_s", "kind", "label", "score"}
    assert keys <= set(interval)
    assert interval["label"] in CASME2_CLASSES
    assert interval["label"] == "happiness", "AU12 is happiness in CASME II's rules"
    assert 0.0 <= interval["score"] <= 1.0
    capsys.readouterr()
