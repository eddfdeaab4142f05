"""The spotters, side by side over one small base: where brief expressions are, and what they are.

    spotter = load_spotter("micro-lstm-synthetic")     # or TRAINING_FREE, or None: the default
    spotting = spotter.spot(video, motion_signals(video))
    spotting.intervals, spotting.probabilities         # probabilities: (N, classes) or None

- `TrainingFreeSpotter` finds intervals where the motion signals stand out
  (`core.micro.intervals`) and leaves them unclassified.
- `LSTMSpotter` takes the same intervals (they are better than the LSTM's own on held-out
  clips, see the model cards) and names each one's class from a MicroLSTM's per-frame
  probabilities, which it also returns for the timeline.

Which spotters there are comes from the model zoo: the training-free one, then every shipped
MicroLSTM.
"""

from dataclasses import dataclass

import numpy as np

from core.defaults import DEFAULT_MICRO_MODEL, MICRO_FEATURE_MODEL
from core.errors import InputError
from core.micro.intervals import Interval, intervals_from_signals
from core.micro.signals import MotionSignals
from core.micro.track import FaceVideo
from core.models.cards import is_micro_card, model_card, read_manifest

TRAINING_FREE = "training-free"


@dataclass(frozen=True)
class Spotting:
    """What a spotter found in one clip."""

    intervals: list[Interval]
    probabilities: np.ndarray | None  # (N, len(classes)) per frame, for a trained spotter


class Spotter:
    """A spotter reads a clip's features and motion signals; `classes` is empty when it does not classify."""

    name: str = ""
    classes: tuple[str, ...] = ()
    checksum: str = ""  # of its weights, for the results store's key ("" without any)
    feature_model: str = MICRO_FEATURE_MODEL  # the FER CNN whose per-frame features it reads

    def spot(self, video: FaceVideo, signals: MotionSignals) -> Spotting:
        raise NotImplementedError


class TrainingFreeSpotter(Spotter):
    name = TRAINING_FREE

    def __init__(self, feature_model: str = MICRO_FEATURE_MODEL):
        self.feature_model = feature_model

    def spot(self, video: FaceVideo, signals: MotionSignals) -> Spotting:
        return Spotting(intervals_from_signals(signals, video.fps), None)


class LSTMSpotter(Spotter):
    def __init__(self, name: str):
        card = model_card(name)
        self.name, self.classes, self.checksum = name, tuple(card["classes"]), card["sha256"]
        self.feature_model = card["input"]["feature_model"]
        trained_on = card["input"].get("feature_model_sha256")
        if trained_on not in (None, model_card(self.feature_model)["sha256"]):
            raise InputError(
                f"{name} was trained on the features of another version of {self.feature_model}; retrain it "
                f"with `{card.get('command', 'python -m core train --arch micro_lstm')}`."
            )

    def spot(self, video: FaceVideo, signals: MotionSignals) -> Spotting:
        # torch, imported here rather than with the spotters: a clip's tracking starts without it.
        from core.micro.lstm import frame_probabilities, label_intervals, sequence_inputs
        from core.models.zoo import load_model

        probabilities = frame_probabilities(load_model(self.name), sequence_inputs(video, signals))
        intervals = label_intervals(intervals_from_signals(signals, video.fps), probabilities, self.classes)
        return Spotting(intervals, probabilities)


def micro_models() -> list[str]:
    """The spotters one can choose: the training-free one, then every shipped MicroLSTM."""
    return [TRAINING_FREE] + [name for name, card in read_manifest().items() if is_micro_card(card)]


def default_micro_model() -> str:
    """The shipped MicroLSTM when there is one, else the training-free spotter."""
    return DEFAULT_MICRO_MODEL if DEFAULT_MICRO_MODEL in micro_models() else TRAINING_FREE


def load_spotter(name: str | None = None) -> Spotter:
    """The spotter called `name` (None: the default), or InputError naming the ones there are."""
    name = name or default_micro_model()
    if name not in micro_models():
        raise InputError(f"There is no spotter called '{name}'; choose one of: {', '.join(micro_models())}.")
    return TrainingFreeSpotter(_image_feature_model()) if name == TRAINING_FREE else LSTMSpotter(name)


def _image_feature_model() -> str:
    """The training-free spotter's CNN: MICRO_FEATURE_MODEL, or the first image model installed."""
    images = [name for name, card in read_manifest().items() if not is_micro_card(card)]
    return MICRO_FEATURE_MODEL if MICRO_FEATURE_MODEL in images or not images else images[0]
