"""The MicroLSTM (after Breuer & Kimmel 2017): an LSTM over a clip's per-frame CNN features that
spots and recognises micro-expressions at once.

    model = load_model("micro-lstm-synthetic-casme2")
    probabilities = frame_probabilities(model, sequence_inputs(video, motion_signals(video)))
    model.card["classes"]  # ("none", "happiness", ...): column i of `probabilities` is class i

Input per frame (`sequence_inputs`, all in the clip's own noise units, so identity and
lighting cancel out): the deviation of every pooled CNN feature map from its sliding
baseline, the signed mean landmark displacement of each AU region, and the per-region
activity of the AU regions (core.micro.signals). Output per frame: the
probabilities of "none" and of each expression class of the model's label set, as its card lists
them ("classes"): the MEGC classes (negative / positive / surprise) for micro-lstm-synthetic,
CASME II's (happiness / disgust / repression / surprise / others) for micro-lstm-synthetic-casme2.

The MicroLSTM is one-directional; a clip is read both ways (forward, and time-reversed)
and the two answers are averaged, so every frame's answer sees the movement's rise and
fall. It learns from both directions for the same reason.

Training (`python -m core train --arch micro_lstm --labels megc|casme2`) uses synthetic clips only
(core.micro.synthetic), never real faces; the card says exactly which. The card's metrics come
from leave-one-subject-out over the four drawn faces (`loso_evaluation`); the shipped model is
then trained on all of them.
"""

import json
import platform
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.defaults import DEFAULT_MICRO_MODEL, MICRO_FEATURE_MODEL
from core.errors import InputError
from core.labels.micro import CASME2_CLASSES, MEGC_CLASSES, casme2_class_from_aus
from core.micro.columns import FrameColumns
from core.micro.intervals import MAX_DURATION_S, MIN_DURATION_S, Interval, intervals_from_signals
from core.micro.metrics import SpottingMatch, evaluate_loso, match_intervals, recognition_scores
from core.micro.signals import ColumnSpreads, MotionSignals, chunks, motion_signals, noise_windows, smooth
from core.micro.track import REGIONS, FaceVideo, features_from_frames
from core.models.architectures import MicroLSTM
from core.models.zoo import card_of
from core.progress import Progress, no_progress

NONE = "none"  # class 0 of every MicroLSTM: no expression on this frame
# The label sets a MicroLSTM can be trained on: "none", then the expression classes. A model's own
# classes are in its card ("classes"); these are only what training writes there.
LABEL_SETS: dict[str, tuple[str, ...]] = {"megc": (NONE, *MEGC_CLASSES), "casme2": (NONE, *CASME2_CLASSES)}
CLASSES: tuple[str, ...] = LABEL_SETS["megc"]  # the MEGC model's classes, for callers that build one
AMPLITUDE_BINS = ((1.0, 2.0), (2.0, 3.0), (3.0, 4.01))  # px, for the card's breakdown of spotting
CLIP_VALUE = 20.0  # noise units beyond this carry no more information and only destabilise training
INPUT_SCALE = 5.0
LEARNING_RATE = 3e-3


def event_label(event: dict, label_set: str) -> str:
    """A synthetic event's class in a label set: its MEGC label, or its CASME II class from its AUs."""
    if label_set == "megc":
        return event["label"]
    if label_set == "casme2":
        return casme2_class_from_aus(event["aus"])
    raise ValueError(f"Unknown label set {label_set!r}; use one of {', '.join(LABEL_SETS)}.")


class SequenceInputs:
    """The LSTM's per-frame inputs (N, D) float32: CNN feature deviation, region displacement and
    activity. Made a window of frames at a time from the signals on disk (`inputs[a:b]`), so an hour's
    inputs are never in memory at once; `inputs[:]` gives them all."""

    def __init__(self, video: FaceVideo, signals: MotionSignals) -> None:
        self.found, self.signals = video.found, signals
        columns = signals.columns
        self._displacement = ColumnSpreads(
            noise_windows(video.found, video.fps), lambda a, b: columns.read("displacement", a, b).reshape(b - a, -1),
            floor=1e-3,
        )  # fmt: skip
        self.shape = (len(video.found), columns.shape("feature_deviation")[0] + 3 * len(REGIONS) + 1)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, frames: slice) -> np.ndarray:
        start, stop, _ = frames.indices(len(self))
        signals = self.signals
        displacement = signals.columns.read("displacement", start, stop).reshape(stop - start, -1)
        parts = [
            signals.columns.read("feature_deviation", start, stop), displacement / self._displacement.divisor(start, stop),
            signals.regions[:, start:stop].T, signals.face[start:stop, None],
        ]  # fmt: skip
        # Filled part by part in each part's own dtype: concatenating first would make a float64 copy.
        x = np.empty((stop - start, self.shape[1]), np.float32)
        at = 0
        for part in parts:
            x[:, at : at + part.shape[1]] = np.clip(part, -CLIP_VALUE, CLIP_VALUE) / INPUT_SCALE
            at += part.shape[1]
        x[~self.found[start:stop]] = 0.0
        return x


def sequence_inputs(video: FaceVideo, signals: MotionSignals) -> SequenceInputs:
    """The LSTM's per-frame input (N, D) float32, read a window of frames at a time."""
    return SequenceInputs(video, signals)


def input_size(video_maps: int) -> int:
    return video_maps + 2 * len(REGIONS) + len(REGIONS) + 1


@torch.no_grad()
def frame_probabilities(model: nn.Module, inputs: "np.ndarray | SequenceInputs") -> np.ndarray:
    """Per-frame class probabilities (N, classes), forward and reversed passes averaged. The clip is
    read CHUNK frames at a time, the LSTM's state carried from one chunk to the next."""
    device = next(model.parameters()).device
    model.eval()
    n = len(inputs)
    spans = list(chunks(n))
    forward, backward = torch.empty(n, model.head.out_features), torch.empty(n, model.head.out_features)
    state = None
    for start, stop in spans:
        x = torch.from_numpy(np.ascontiguousarray(inputs[start:stop]))[None].to(device)
        hidden, state = model.lstm(x, state)
        forward[start:stop] = model.head(hidden).softmax(-1)[0].cpu()
    state = None
    for start, stop in reversed(spans):
        x = torch.from_numpy(np.ascontiguousarray(inputs[start:stop]))[None].to(device)
        hidden, state = model.lstm(x.flip(1), state)
        backward[start:stop] = model.head(hidden).softmax(-1)[0].flip(0).cpu()
    return ((forward + backward) / 2).numpy()


def intervals_from_probabilities(
    probabilities: np.ndarray, score: np.ndarray, fps: float, classes: tuple[str, ...]
) -> list[Interval]:
    """Intervals where the LSTM says "an expression" (P(none) < 0.5), with their class.

    The apex is where the training-free score peaks inside the interval (the LSTM says
    which frames, the motion says when it is strongest); the class is the most probable
    one over the interval; the score is the mean probability of an expression there.
    """
    event = smooth(1.0 - probabilities[:, 0], max(1, round(0.1 * fps)) | 1)
    above = np.r_[False, event >= 0.5, False]
    starts = np.flatnonzero(~above[:-1] & above[1:])
    ends = np.flatnonzero(above[:-1] & ~above[1:]) - 1
    intervals = []
    for onset, offset in zip(starts, ends, strict=True):
        if not MIN_DURATION_S <= (offset - onset + 1) / fps <= MAX_DURATION_S:
            continue
        apex = int(onset + np.argmax(score[onset : offset + 1]))
        mean = probabilities[onset : offset + 1].mean(0)
        label = classes[1 + int(np.argmax(mean[1:]))]
        intervals.append(
            Interval.at(onset, apex, offset, fps, label, float(event[onset : offset + 1].mean()))
        )
    return intervals


def label_intervals(
    intervals: list[Interval], probabilities: np.ndarray, classes: tuple[str, ...]
) -> list[Interval]:
    """The training-free spotter's intervals, each given the LSTM's most probable class over its frames
    (`classes`: the model's, from its card, "none" first).

    The confidence becomes the LSTM's mean probability of that class there.
    """
    labelled = []
    for interval in intervals:
        mean = probabilities[interval.onset_frame : interval.offset_frame + 1].mean(0)
        best = 1 + int(np.argmax(mean[1:]))
        labelled.append(interval.labelled(classes[best], float(mean[best])))
    return labelled


# ---- training on synthetic clips ---------------------------------------------------------


@dataclass
class ClipData:
    """One synthetic clip's LSTM inputs and per-frame targets, with its ground-truth events."""

    inputs: np.ndarray  # (N, D)
    targets: np.ndarray  # (N,) class index, 0 = none
    fps: float
    events: list[dict]  # ClipEvent fields, as in SyntheticClip.intervals(), labelled in the model's classes
    spotted: list[Interval]  # the training-free spotter's intervals, for comparison
    score: np.ndarray  # (N,) the training-free spotting score
    amplitude_px: float = 0.0  # how far the AU's landmarks move at the apex
    identity: int = 0  # the drawn face: the "subject" of leave-one-subject-out


def track_clip(clip, cnn: nn.Module, analyzer=None) -> FaceVideo:
    """Track a synthetic clip (frames drawn in memory, not encoded) and read its features."""
    from core.media import VideoInfo

    info = VideoInfo(clip.fps, clip.n_frames, *clip.size)
    return features_from_frames(
        enumerate(clip.frames()), info, cnn, analyzer=analyzer, name=f"seed {clip.seed}"
    )


def clip_data(video: FaceVideo, events: list[dict], classes: tuple[str, ...]) -> ClipData:
    """The LSTM's inputs and per-frame targets for a tracked clip with known events (labels in `classes`)."""
    signals = motion_signals(video)
    targets = np.zeros(video.frames, np.int64)
    for event in events:
        targets[event["onset_frame"] : event["offset_frame"] + 1] = classes.index(event["label"])
    spotted = intervals_from_signals(signals, video.fps)
    return ClipData(sequence_inputs(video, signals)[:], targets, video.fps, events, spotted, signals.score)


def _clips(seeds: range, identities: tuple[int, ...], amplitudes: tuple[float, float]):
    from core.micro.synthetic import make_clip

    for seed in seeds:
        rng = np.random.default_rng(seed)
        yield make_clip(
            seconds=8.0, fps=30.0, size=(640, 480), events=int(rng.integers(2, 4)),
            amplitude_px=float(rng.uniform(*amplitudes)), head_motion_px=float(rng.uniform(0.5, 1.5)),
            noise_sd=float(rng.uniform(1.0, 3.0)), identity=int(identities[seed % len(identities)]),
            seed=seed, macro_share=0.3,
        )  # fmt: skip


# Random events give few disgust (AU9) and others (AU4) events in CASME II's classes, and face 3
# none with AU9; these clips add one of each (and a repression, AU14) per clip, on every face.
BALANCE_AUS: tuple[tuple[int, ...], ...] = ((9,), (4,), (14,))
BALANCE_SEED = 20_000


def _balance_clips(seeds: range, identities: tuple[int, ...], amplitudes: tuple[float, float]):
    """Clips with one event of each of BALANCE_AUS (all "negative" in MEGC), in a random order."""
    from core.micro.synthetic import make_clip

    for seed in seeds:
        rng = np.random.default_rng(seed)
        durations = [
            rng.uniform(0.6, 1.2) if rng.random() < 0.3 else rng.uniform(0.15, 0.5) for _ in BALANCE_AUS
        ]
        gaps = rng.uniform(0.6, 1.0, len(BALANCE_AUS) - 1)
        slack = 8.0 - 1.0 - 0.5 - sum(durations) - gaps.sum()  # after a 1 s lead, before a 0.5 s tail
        onset, events = 1.0 + rng.uniform(0, max(slack, 0.0)), []
        for index, duration, gap in zip(
            rng.permutation(len(BALANCE_AUS)), durations, [*gaps, 0.0], strict=True
        ):
            events.append((round(onset, 3), round(duration, 3), "negative", BALANCE_AUS[index]))
            onset += duration + gap
        yield make_clip(
            seconds=8.0, fps=30.0, size=(640, 480), events=events,
            amplitude_px=float(rng.uniform(*amplitudes)), head_motion_px=float(rng.uniform(0.5, 1.5)),
            noise_sd=float(rng.uniform(1.0, 3.0)), identity=int(identities[seed % len(identities)]), seed=seed,
        )  # fmt: skip


_CACHED = ("found", "eyes", "boxes", "landmarks", "pooled", "maxima", "regions")


def build_dataset(clips: Iterable, cache: Path, cnn, label_set: str = "megc") -> list[ClipData]:
    """ClipData for each synthetic clip, its events labelled in `label_set` (LABEL_SETS); the tracked
    features are cached as .npz (tracking is the slow part, and the same for every label set)."""
    from core.faces import FaceAnalyzer

    classes = LABEL_SETS[label_set]
    cache.mkdir(parents=True, exist_ok=True)
    data = []
    with FaceAnalyzer() as analyzer:
        for clip in clips:
            path = cache / f"clip_{clip.seed}_{clip.identity}_{clip.amplitude_px:.3f}.npz"
            if path.exists():
                saved = np.load(path, allow_pickle=False)
                meta = json.loads(str(saved["meta"]))
                columns = FrameColumns.from_arrays({name: saved[name] for name in _CACHED})
                video = FaceVideo(path=str(path), fps=meta["fps"], size=tuple(meta["size"]), columns=columns,
                                  layers=[tuple(layer) for layer in meta["layers"]])  # fmt: skip
            else:
                video = track_clip(clip, cnn, analyzer)
                meta = json.dumps({"fps": video.fps, "size": video.size, "layers": video.layers})
                np.savez(path, meta=np.array(meta), **{name: getattr(video, name) for name in _CACHED})
                print(f"clip {clip.seed}: {video.frames} frames", file=sys.stderr, flush=True)
            events = [{**event, "label": event_label(event, label_set)} for event in clip.intervals()]
            item = clip_data(video, events, classes)
            item.amplitude_px, item.identity = clip.amplitude_px, clip.identity
            data.append(item)
    return data


def train(
    data: list[ClipData], classes: tuple[str, ...], epochs: int, hidden: int, seed: int = 0
) -> tuple[MicroLSTM, list[dict]]:
    """Fit the MicroLSTM on whole clips, both directions, weighted cross-entropy (events are rare)."""
    torch.manual_seed(seed)
    model = MicroLSTM(data[0].inputs.shape[1], len(classes), hidden=hidden)
    counts = np.bincount(np.concatenate([d.targets for d in data]), minlength=len(classes)).astype(float)
    weights = torch.tensor((counts.sum() / np.maximum(counts, 1)) ** 0.5, dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=weights / weights.mean())
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, weight_decay=1e-5)
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        total, correct, frames = 0.0, 0, 0
        for i in rng.permutation(len(data)):
            x = torch.from_numpy(data[i].inputs)[None]
            y = torch.from_numpy(data[i].targets)[None]
            if rng.random() < 0.5:  # read backwards: the network learns both directions
                x, y = x.flip(1), y.flip(1)
            logits = model(x)[0]
            loss = loss_fn(logits, y[0])
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            total += float(loss.detach())
            correct += int((logits.argmax(1) == y[0]).sum())
            frames += y.shape[1]
        # Accuracy per frame (one direction, while training): most frames are "none", so it starts high.
        history.append({"epoch": epoch, "train_loss": total / len(data), "train_accuracy": correct / frames})
    return model.eval(), history


_SPOTTERS, _KINDS = ("lstm", "training_free"), ("all", "micro", "macro")


@dataclass
class HeldOutAnswers:
    """A model's answers on held-out clips before they are summarised; the folds' answers add up."""

    y_true: list[str] = field(default_factory=list)  # per true event: its class
    y_pred: list[str] = field(default_factory=list)  # the most probable class over its frames
    clips: list[int] = field(default_factory=list)  # per true event: its clip's index in the data
    spotting: dict[str, dict[str, SpottingMatch]] = field(
        default_factory=lambda: {method: {kind: SpottingMatch() for kind in _KINDS} for method in _SPOTTERS}
    )
    spotted_true: list[str] = field(default_factory=list)  # matched training-free intervals: truth
    spotted_pred: list[str] = field(default_factory=list)  # and the LSTM's class for them

    def __add__(self, other: "HeldOutAnswers") -> "HeldOutAnswers":
        spotting = {m: {k: self.spotting[m][k] + other.spotting[m][k] for k in _KINDS} for m in _SPOTTERS}
        return HeldOutAnswers(
            self.y_true + other.y_true, self.y_pred + other.y_pred, self.clips + other.clips, spotting,
            self.spotted_true + other.spotted_true, self.spotted_pred + other.spotted_pred,
        )  # fmt: skip


def answer_clips(model: nn.Module, data: list[ClipData], indices, classes: tuple[str, ...]) -> HeldOutAnswers:
    """Run the model on the clips `data[i]` for i in `indices`: recognition of each true event (its
    class is the most probable one over its frames: spotting given) and spotting, for the MicroLSTM's
    own intervals and, for comparison, the training-free spotter's, overall and per kind (MEGC
    metric, IoU >= 0.5)."""
    answers = HeldOutAnswers()
    for index in indices:
        item = data[index]
        probabilities = frame_probabilities(model, item.inputs)
        for event in item.events:
            mean = probabilities[event["onset_frame"] : event["offset_frame"] + 1, 1:].mean(0)
            answers.y_true.append(event["label"])
            answers.y_pred.append(classes[1 + int(np.argmax(mean))])
            answers.clips.append(int(index))
        hybrid = label_intervals(item.spotted, probabilities, classes)
        for p, t, _ in match_intervals(hybrid, item.events).pairs:
            answers.spotted_true.append(item.events[t]["label"])
            answers.spotted_pred.append(hybrid[p].label)
        found = {
            "lstm": intervals_from_probabilities(probabilities, item.score, item.fps, classes),
            "training_free": item.spotted,
        }
        for method, intervals in found.items():
            for kind in _KINDS:
                predicted = [x for x in intervals if kind in ("all", x.kind)]
                truth = [x for x in item.events if kind in ("all", x["kind"])]
                answers.spotting[method][kind] += match_intervals(predicted, truth)
    return answers


def summarise(answers: HeldOutAnswers, data: list[ClipData], classes: tuple[str, ...]) -> dict:
    """The card's metrics from held-out answers: UF1, UAR (core.micro.metrics) and accuracy with a
    95% bootstrap CI over clips, spotting scores, and the training-free spotter by amplitude."""
    from core.models.evaluation import evaluate_predictions

    labels = list(classes[1:])
    recognition = recognition_scores(answers.y_true, answers.y_pred, labels)
    contract = evaluate_predictions(
        [labels.index(t) for t in answers.y_true], [labels.index(p) for p in answers.y_pred], labels,
        groups=answers.clips,
    )  # fmt: skip
    contract.pop("n_units", None)  # its units are clips, counted in "clips"
    clips = sorted(set(answers.clips))
    by_amplitude = {}
    for low, high in AMPLITUDE_BINS:
        match = SpottingMatch()
        for index in clips:
            if low <= data[index].amplitude_px < high:
                match += match_intervals(data[index].spotted, data[index].events)
        by_amplitude[f"{low:g}-{high:g} px"] = match.scores()
    spotted_recognition = recognition_scores(answers.spotted_true, answers.spotted_pred, labels)
    return {
        "task": "recognition of the true events (spotting given)",
        **contract,
        "uf1": recognition["uf1"],
        "uar": recognition["uar"],
        "classes": labels,
        "clips": len(clips),
        "spotting": {
            method: {kind: match.scores() for kind, match in kinds.items()}
            for method, kinds in answers.spotting.items()
        },
        "training_free_by_amplitude": by_amplitude,
        "spotting_rule": "MEGC: a spotted interval matches a true one at IoU >= 0.5 (core.micro.metrics)",
        "spotted_recognition": {
            "what": "the training-free spotter's intervals that match a true event, classified by the LSTM "
            "(what `spot` reports with this model)",
            **{k: spotted_recognition[k] for k in ("uf1", "uar", "accuracy", "n")},
        },
    }


def evaluate_clips(model: nn.Module, data: list[ClipData], classes: tuple[str, ...]) -> dict:
    """Held-out scores of one model on clips it never saw (see `answer_clips` and `summarise`)."""
    return {"split": "held-out synthetic clips"} | summarise(
        answer_clips(model, data, range(len(data)), classes), data, classes
    )


def loso_evaluation(
    data: list[ClipData],
    classes: tuple[str, ...],
    epochs: int,
    hidden: int,
    progress: Progress = no_progress,
) -> dict:
    """Leave-one-subject-out over the drawn faces: each fold trains a fresh MicroLSTM on the other
    faces' clips and answers on the held-out face's; the answers of all folds are pooled before
    scoring (core.micro.metrics.evaluate_loso, MEGC's protocol). Returns `summarise`'s metrics of
    the pooled answers plus `folds`: per held-out face its n, clips, UF1, UAR, accuracy and spotting.
    """
    clip_of = [index for index, item in enumerate(data) for _ in item.events]
    labels = [event["label"] for item in data for event in item.events]
    subjects = [f"face {data[index].identity}" for index in clip_of]
    fold_answers: dict[str, HeldOutAnswers] = {}
    trained_on: dict[str, list[str]] = {}  # held-out face -> the faces its model was trained on

    def train_and_predict(train_events: np.ndarray, test_events: np.ndarray) -> list[str]:
        train_clips = sorted({clip_of[i] for i in train_events})
        test_clips = sorted({clip_of[i] for i in test_events})
        model, _ = train([data[i] for i in train_clips], classes, epochs, hidden)
        answers = answer_clips(model, data, test_clips, classes)
        fold_answers[subjects[test_events[0]]] = answers
        trained_on[subjects[test_events[0]]] = sorted({f"face {data[i].identity}" for i in train_clips})
        # answer_clips walks the clips' events in data order, as the event indices run
        predicted = dict(zip(np.flatnonzero(np.isin(clip_of, test_clips)), answers.y_pred, strict=True))
        return [predicted[i] for i in test_events]

    pooled_scores = evaluate_loso(labels, subjects, train_and_predict, list(classes[1:]), progress)
    pooled = HeldOutAnswers()
    for subject in sorted(fold_answers):
        pooled += fold_answers[subject]
    metrics = summarise(pooled, data, classes)
    folds = []
    for fold in pooled_scores["folds"]:
        answers = fold_answers[fold["subject"]]
        scores = recognition_scores(answers.y_true, answers.y_pred, list(classes[1:]))
        folds.append({
            "subject": fold["subject"], "n": fold["n"], "clips": len(set(answers.clips)),
            "trained_on": trained_on[fold["subject"]],
            "uf1": scores["uf1"], "uar": scores["uar"], "accuracy": fold["accuracy"],
            "spotting": {method: {kind: m.scores() for kind, m in kinds.items()}
                         for method, kinds in answers.spotting.items()},
        })  # fmt: skip
    # evaluate_loso's pooled scores are the card's; `summarise` adds the CI, spotting and the rest.
    return metrics | {"uf1": pooled_scores["uf1"], "uar": pooled_scores["uar"], "folds": folds}


def _notes(metrics: dict) -> str:
    spotting = metrics["spotting"]
    return (
        "Trained and tested on synthetic clips drawn by the project; no real micro-expression video was "
        "available, so how it does on real clips is unknown. On these clips each class is a distinct AU "
        "movement, so recognising them is easy and its scores say little about real faces. The metrics are "
        f"those of the {len(metrics['folds'])} leave-one-face-out folds' models (pooled), not of this "
        "model, which is trained on all faces. `spot` takes its intervals from the training-free spotter "
        f"(MEGC F1 {spotting['training_free']['all']['f1']:.2f} on the held-out faces, against "
        f"{spotting['lstm']['all']['f1']:.2f} for the LSTM's own intervals) and lets the LSTM name their class."
    )


_LABEL_RULES = {
    "megc": "each synthetic event's MEGC class (core.micro.synthetic.LABEL_AUS: positive AU12 or AU6+12; "
    "negative AU4, AU9, AU14 or AU15; surprise AU1+2 or AU1+2+5+26)",
    "casme2": "each synthetic event's CASME II class from its AUs (core.labels.micro.casme2_class_from_aus): "
    "happiness AU12, AU6+12; disgust AU9; repression AU14, AU15; surprise AU1+2, AU1+2+5+26; others "
    "AU4 (a frown alone is not one emotion in CASME II's rules). No synthetic event moves AU10, AU7 or AU17.",
}


def train_micro_lstm(
    name: str | None = None,
    labels: str = "megc",
    clips: int = 60,
    face3_clips: int = 20,
    balance_clips: int = 3,
    epochs: int = 40,
    hidden: int = 64,
    cache: Path = Path("/tmp/micro-lstm-cache"),
    command: str = "",
    progress: Progress = no_progress,
) -> dict:
    """Train a shipped MicroLSTM on synthetic clips, with leave-one-face-out metrics; returns its card
    (also written to the manifest). `python -m core train --arch micro_lstm` calls it."""
    from core.models.zoo import load_model, save_model

    if labels not in LABEL_SETS:
        raise InputError(f"Unknown label set '{labels}'; use one of {', '.join(LABEL_SETS)}.")
    name = name or (DEFAULT_MICRO_MODEL if labels == "megc" else f"{DEFAULT_MICRO_MODEL}-{labels}")
    torch.set_num_threads(1)
    started = time.time()
    classes = LABEL_SETS[labels]
    cnn = load_model(MICRO_FEATURE_MODEL)
    amplitudes = (1.0, 4.0)
    balance_seeds = range(BALANCE_SEED, BALANCE_SEED + 4 * balance_clips)
    clips = chain(
        _clips(range(clips), (0, 1, 2), amplitudes),
        _clips(range(10_000, 10_000 + face3_clips), (3,), amplitudes),
        _balance_clips(balance_seeds, (0, 1, 2, 3), amplitudes),
    )
    data = build_dataset(clips, cache, cnn, labels)
    metrics = loso_evaluation(data, classes, epochs, hidden, progress)
    metrics = {
        "split": "leave-one-subject-out over the 4 synthetic faces: the pooled answers of the 4 fold "
        "models (each trained on 3 faces, tested on the 4th), not of the shipped model",
        **metrics,
    }
    model, history = train(data, classes, epochs, hidden)
    last = 10_000 + face3_clips - 1
    card = {
        "name": name,
        "task": "micro-expression",
        "architecture": "micro_lstm",
        "arch_args": {"feature_dim": int(data[0].inputs.shape[1]), "num_classes": len(classes),
                      "hidden": hidden},
        "input": {"features": "core.micro.lstm.sequence_inputs", "feature_model": MICRO_FEATURE_MODEL,
                  "feature_model_sha256": card_of(cnn)["sha256"]},
        "classes": list(classes),
        "labels": labels,
        "training": {
            "format": "synthetic clips (core.micro.synthetic.make_clip)",
            "train_split": f"all {len(data)} clips: seeds 0-{clips - 1} (faces 0-2 in turn) and "
            f"10000-{last} (face 3) with 2-3 random events each; seeds {BALANCE_SEED}-{balance_seeds[-1]} "
            f"({balance_clips} a face, faces 0-3 in turn) with one AU9, one AU4 and one AU14 event each "
            "(core.micro.lstm.BALANCE_AUS: without them CASME II's disgust and others are rare, and "
            "face 3 has no disgust)",
            "test_split": "none held out for this model; its metrics come from leave-one-subject-out: 4 "
            "folds, each training a fresh model (same settings) on 3 faces' clips and testing on the "
            "4th face's",
            "labels": _LABEL_RULES[labels],
            "clips": "8 s, 30 fps, 640x480; random events 30% macro 0.6-2 s, else micro 0.1-0.5 s (balance "
            "clips: 30% macro 0.6-1.2 s, else micro 0.15-0.5 s), "
            f"amplitude {amplitudes[0]}-{amplitudes[1]} px, head motion 0.5-1.5 px, sensor noise sd 1-3",
            "config": {"epochs": epochs, "hidden": hidden, "lr": LEARNING_RATE, "seed": 0},
            "device": "cpu",
            "seconds": round(time.time() - started),
            "feature_cache": f"{cache}: tracked features of each clip, reused when present (tracking "
            "is most of the time: about 10 s a clip on one CPU thread)",
            "note": "Synthetic faces only: no real micro-expression video was available (CASME II, SAMM "
            "and CAS(ME)^2 videos are not here). Scores on real clips are unknown.",
        },
        "metrics": metrics,
        "history": history,
        "notes": _notes(metrics),
        "command": command,
        "hardware": f"CPU: {platform.machine()}, 1 thread",
    }  # fmt: skip
    return save_model(model, card)
