"""The MicroLSTM (after Breuer & Kimmel 2017): an LSTM over a clip's per-frame CNN features that
spots and recognises micro-expressions at once.

    probabilities = frame_probabilities(load_model("micro-lstm-synthetic"), video, signals)

Input per frame (`sequence_inputs`, all in the clip's own noise units, so identity and
lighting cancel out): the deviation of every pooled CNN feature map from its sliding
baseline, the signed mean landmark displacement of each AU region, and the per-region
activity of the training-free spotter (core.micro.spotting). Output per frame: the
probabilities of none / negative / positive / surprise (the MEGC classes).

The MicroLSTM is one-directional; a clip is read both ways (forward, and time-reversed)
and the two answers are averaged, so every frame's answer sees the movement's rise and
fall. It learns from both directions for the same reason.

Training (`python -m core.micro.lstm`) uses synthetic clips only (core.micro.synthetic),
never real faces; the card says exactly which.
"""

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.micro.spotting import MotionSignals
from core.micro.video import REGIONS, FaceVideo
from core.models.architectures import MicroLSTM

CLASSES: tuple[str, ...] = ("none", "negative", "positive", "surprise")
DEFAULT_NAME = "micro-lstm-synthetic"
FEATURE_MODEL = "fan2019-fer2013"
AMPLITUDE_BINS = ((1.0, 2.0), (2.0, 3.0), (3.0, 4.01))  # px, for the card's breakdown of spotting
CLIP_VALUE = 20.0  # noise units beyond this carry no more information and only destabilise training
INPUT_SCALE = 5.0


def sequence_inputs(video: FaceVideo, signals: MotionSignals) -> np.ndarray:
    """The LSTM's per-frame input (N, D) float32: CNN feature deviation, region displacement, activity."""
    found = video.found
    displacement = signals.displacement.reshape(len(found), -1)
    spread = 1.4826 * np.median(np.abs(displacement[found]), axis=0) if found.any() else np.ones(1)
    displacement = displacement / np.maximum(spread, 1e-3)
    parts = [signals.feature_deviation, displacement, signals.regions.T, signals.face[:, None]]
    x = np.concatenate(parts, axis=1)
    x[~found] = 0.0
    return (np.clip(x, -CLIP_VALUE, CLIP_VALUE) / INPUT_SCALE).astype(np.float32)


def input_size(video_maps: int) -> int:
    return video_maps + 2 * len(REGIONS) + len(REGIONS) + 1


@torch.no_grad()
def frame_probabilities(model: nn.Module, inputs: np.ndarray) -> np.ndarray:
    """Per-frame class probabilities (N, len(CLASSES)), forward and reversed passes averaged."""
    device = next(model.parameters()).device
    x = torch.from_numpy(inputs)[None].to(device)
    model.eval()
    forward = model(x).softmax(-1)[0]
    backward = model(x.flip(1)).softmax(-1)[0].flip(0)
    return ((forward + backward) / 2).cpu().numpy()


def intervals_from_probabilities(probabilities: np.ndarray, score: np.ndarray, fps: float) -> list[dict]:
    """Intervals where the LSTM says "an expression" (P(none) < 0.5), with their class.

    The apex is where the training-free score peaks inside the interval (the LSTM says
    which frames, the motion says when it is strongest); the class is the most probable
    one over the interval; the score is the mean probability of an expression there.
    """
    from core.micro.spotting import MAX_DURATION_S, MIN_DURATION_S, interval_record, smooth

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
        label = CLASSES[1 + int(np.argmax(mean[1:]))]
        intervals.append(
            interval_record(onset, apex, offset, fps, label, float(event[onset : offset + 1].mean()))
        )
    return intervals


def label_intervals(intervals: list[dict], probabilities: np.ndarray) -> list[dict]:
    """The training-free spotter's intervals, each given the LSTM's most probable class over its frames.

    The confidence becomes the LSTM's mean probability of that class there.
    """
    labelled = []
    for interval in intervals:
        mean = probabilities[interval["onset_frame"] : interval["offset_frame"] + 1].mean(0)
        best = 1 + int(np.argmax(mean[1:]))
        labelled.append({**interval, "label": CLASSES[best], "score": round(float(mean[best]), 4)})
    return labelled


# ---- training on synthetic clips ---------------------------------------------------------


@dataclass
class ClipData:
    """One synthetic clip's LSTM inputs and per-frame targets, with its ground-truth events."""

    inputs: np.ndarray  # (N, D)
    targets: np.ndarray  # (N,) class index, 0 = none
    fps: float
    events: list[dict]  # ClipEvent fields, as in SyntheticClip.intervals()
    spotted: list[dict]  # the training-free spotter's intervals, for comparison
    score: np.ndarray  # (N,) the training-free spotting score
    amplitude_px: float = 0.0  # how far the AU's landmarks move at the apex


def track_clip(clip, cnn: nn.Module, analyzer=None) -> FaceVideo:
    """Track a synthetic clip (frames drawn in memory, not encoded) and read its features."""
    from core.media import VideoInfo
    from core.micro.video import features_from_frames

    info = VideoInfo(clip.fps, clip.n_frames, *clip.size)
    return features_from_frames(
        enumerate(clip.frames()), info, cnn, analyzer=analyzer, name=f"seed {clip.seed}"
    )


def clip_data(video: FaceVideo, events: list[dict]) -> ClipData:
    """The LSTM's inputs and per-frame targets for a tracked clip with known events."""
    from core.micro.spotting import intervals_from_signals, motion_signals

    signals = motion_signals(video)
    targets = np.zeros(video.frames, np.int64)
    for event in events:
        targets[event["onset_frame"] : event["offset_frame"] + 1] = CLASSES.index(event["label"])
    spotted = intervals_from_signals(signals, video.fps)
    return ClipData(sequence_inputs(video, signals), targets, video.fps, events, spotted, signals.score)


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


_CACHED = ("found", "eyes", "boxes", "landmarks", "pooled", "maxima", "regions")


def build_dataset(seeds: range, identities: tuple[int, ...], amplitudes, cache: Path, cnn) -> list[ClipData]:
    """ClipData for each seed; the tracked features are cached as .npz (tracking is the slow part)."""
    from core.faces import FaceAnalyzer

    cache.mkdir(parents=True, exist_ok=True)
    data = []
    with FaceAnalyzer() as analyzer:
        for clip in _clips(seeds, identities, amplitudes):
            path = cache / f"clip_{clip.seed}_{clip.identity}_{clip.amplitude_px:.3f}.npz"
            if path.exists():
                saved = np.load(path, allow_pickle=False)
                meta = json.loads(str(saved["meta"]))
                video = FaceVideo(path=str(path), fps=meta["fps"], size=tuple(meta["size"]),
                                  layers=[tuple(layer) for layer in meta["layers"]],
                                  **{name: saved[name] for name in _CACHED})  # fmt: skip
            else:
                video = track_clip(clip, cnn, analyzer)
                meta = json.dumps({"fps": video.fps, "size": video.size, "layers": video.layers})
                np.savez(path, meta=np.array(meta), **{name: getattr(video, name) for name in _CACHED})
                print(f"clip {clip.seed}: {video.frames} frames", file=sys.stderr, flush=True)
            item = clip_data(video, clip.intervals())
            item.amplitude_px = clip.amplitude_px
            data.append(item)
    return data


def train(data: list[ClipData], epochs: int, hidden: int, seed: int = 0) -> tuple[MicroLSTM, list[dict]]:
    """Fit the MicroLSTM on whole clips, both directions, weighted cross-entropy (events are rare)."""
    torch.manual_seed(seed)
    model = MicroLSTM(data[0].inputs.shape[1], len(CLASSES), hidden=hidden)
    counts = np.bincount(np.concatenate([d.targets for d in data]), minlength=len(CLASSES)).astype(float)
    weights = torch.tensor((counts.sum() / np.maximum(counts, 1)) ** 0.5, dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=weights / weights.mean())
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-5)
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
            total += float(loss)
            correct += int((logits.argmax(1) == y[0]).sum())
            frames += y.shape[1]
        # Accuracy per frame (one direction, while training): most frames are "none", so it starts high.
        history.append({"epoch": epoch, "train_loss": total / len(data), "train_accuracy": correct / frames})
        print(f"epoch {epoch}: loss {total / len(data):.4f}", file=sys.stderr, flush=True)
    return model.eval(), history


def evaluate_clips(model: nn.Module, data: list[ClipData]) -> dict:
    """Held-out scores for a model card: recognition of the true events, and spotting.

    Recognition: each true event's class is the most probable one over its frames (spotting
    given), scored with UF1 and UAR (core.micro.metrics) and accuracy with a 95% bootstrap CI
    over clips. Spotting: the MEGC metric (IoU >= 0.5, summed over clips) for the MicroLSTM's
    intervals and, for comparison, the training-free spotter's, overall and per kind.
    """
    from core.micro.metrics import SpottingMatch, match_intervals, recognition_scores
    from core.models.evaluation import evaluate_predictions

    labels = list(CLASSES[1:])
    y_true, y_pred, groups = [], [], []
    spotted_true: list[str] = []
    spotted_pred: list[str] = []
    spotted: dict[str, dict[str, SpottingMatch]] = {
        method: {kind: SpottingMatch() for kind in ("all", "micro", "macro")}
        for method in ("lstm", "training_free")
    }
    for clip_index, item in enumerate(data):
        probabilities = frame_probabilities(model, item.inputs)
        for event in item.events:
            mean = probabilities[event["onset_frame"] : event["offset_frame"] + 1, 1:].mean(0)
            y_true.append(event["label"])
            y_pred.append(labels[int(np.argmax(mean))])
            groups.append(clip_index)
        hybrid = label_intervals(item.spotted, probabilities)
        found = {
            "lstm": intervals_from_probabilities(probabilities, item.score, item.fps),
            "training_free": item.spotted,
        }
        for p, t, _ in match_intervals(hybrid, item.events).pairs:
            spotted_true.append(item.events[t]["label"])
            spotted_pred.append(hybrid[p]["label"])
        for method, intervals in found.items():
            for kind in ("all", "micro", "macro"):
                keep = (lambda x: True) if kind == "all" else (lambda x, k=kind: x["kind"] == k)  # noqa: E731
                spotted[method][kind] = spotted[method][kind] + match_intervals(
                    [x for x in intervals if keep(x)], [x for x in item.events if keep(x)]
                )
    recognition = recognition_scores(y_true, y_pred, labels)
    contract = evaluate_predictions(
        [labels.index(t) for t in y_true], [labels.index(p) for p in y_pred], labels, groups=groups
    )
    contract.pop("n_units", None)  # its units are clips, counted in "clips"
    by_amplitude = {}
    for low, high in AMPLITUDE_BINS:
        match = SpottingMatch()
        for item in data:
            if low <= item.amplitude_px < high:
                match = match + match_intervals(item.spotted, item.events)
        by_amplitude[f"{low:g}-{high:g} px"] = match.scores()
    spotted_recognition = recognition_scores(spotted_true, spotted_pred, labels)
    return {
        "split": "held-out synthetic clips",
        "task": "recognition of the true events (spotting given)",
        **contract,
        "uf1": recognition["uf1"],
        "uar": recognition["uar"],
        "classes": labels,
        "clips": len(data),
        "spotting": {
            method: {kind: match.scores() for kind, match in kinds.items()}
            for method, kinds in spotted.items()
        },
        "training_free_by_amplitude": by_amplitude,
        "spotting_rule": "MEGC: a spotted interval matches a true one at IoU >= 0.5 (core.micro.metrics)",
        "spotted_recognition": {
            "what": "the training-free spotter's intervals that match a true event, classified by the LSTM "
            "(what `spot` reports with this model)",
            **{k: spotted_recognition[k] for k in ("uf1", "uar", "accuracy", "n")},
        },
    }


def _notes(metrics: dict) -> str:
    spotting = metrics["spotting"]
    return (
        "Trained and tested on synthetic clips drawn by the project; no real micro-expression video was "
        "available, so how it does on real clips is unknown. On these clips each class is a distinct AU "
        "movement, so recognising them is easy and its scores say little about real faces. `spot` takes its "
        f"intervals from the training-free spotter (MEGC F1 {spotting['training_free']['all']['f1']:.2f} on "
        f"the held-out clips, against {spotting['lstm']['all']['f1']:.2f} for the LSTM's own intervals) and "
        "lets the LSTM name their class."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.micro.lstm", description="Train the shipped MicroLSTM."
    )
    parser.add_argument("--name", default=DEFAULT_NAME)
    parser.add_argument("--train-clips", type=int, default=60)
    parser.add_argument("--test-clips", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/micro-lstm-cache"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from core.models.zoo import load_model, save_model

    started = time.time()
    cnn = load_model(FEATURE_MODEL)
    amplitudes = (1.0, 4.0)
    train_seeds = range(0, args.train_clips)
    test_seeds = range(10_000, 10_000 + args.test_clips)
    train_data = build_dataset(train_seeds, (0, 1, 2), amplitudes, args.cache, cnn)
    test_data = build_dataset(test_seeds, (3,), amplitudes, args.cache, cnn)
    model, history = train(train_data, args.epochs, args.hidden)
    metrics = evaluate_clips(model, test_data)
    card = {
        "name": args.name,
        "task": "micro-expression",
        "architecture": "micro_lstm",
        "arch_args": {"feature_dim": int(train_data[0].inputs.shape[1]), "num_classes": len(CLASSES),
                      "hidden": args.hidden},
        "input": {"features": "core.micro.lstm.sequence_inputs", "feature_model": FEATURE_MODEL,
                  "feature_model_sha256": cnn.card["sha256"]},
        "classes": list(CLASSES),
        "training": {
            "format": "synthetic clips (core.micro.synthetic.make_clip)",
            "train_split": f"{args.train_clips} clips, seeds 0-{args.train_clips - 1}, identities 0-2",
            "test_split": f"{args.test_clips} held-out clips, seeds 10000-{10_000 + args.test_clips - 1}, "
            "identity 3 (a face never seen in training)",
            "clips": "8 s, 30 fps, 640x480; 2-3 events each (30% macro 0.6-2 s, else micro 0.1-0.5 s), "
            f"amplitude {amplitudes[0]}-{amplitudes[1]} px, head motion 0.5-1.5 px, sensor noise sd 1-3",
            "config": {"epochs": args.epochs, "hidden": args.hidden, "lr": 3e-3, "seed": 0},
            "device": "cpu",
            "seconds": round(time.time() - started),
            "feature_cache": f"{args.cache}: tracked features of each clip, reused when present (tracking "
            "is most of the time: about 10 s a clip on one CPU thread)",
            "note": "Synthetic faces only: no real micro-expression video was available (CASME II, SAMM "
            "and CAS(ME)^2 videos are not here). Scores on real clips are unknown.",
        },
        "metrics": metrics,
        "history": history,
        "notes": _notes(metrics),
        "command": "python -m core.micro.lstm " + " ".join(argv if argv is not None else sys.argv[1:]),
        "hardware": f"CPU: {platform.machine()}, 1 thread",
    }  # fmt: skip
    card = save_model(model, card)
    print(json.dumps({k: card[k] for k in ("name", "file", "sha256")} | {"metrics": metrics}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
