"""Fine-tuning curves: accuracy on held-out subjects against k labelled faces per class.

Three ways to start (MODES):
- `head`: the source network's conv features frozen; the classifier trains, with a new last
  layer for the target's classes;
- `full`: the same start, every layer trains;
- `scratch`: random weights, every layer trains: the baseline that says whether transfer helps.

The split is by subject: seed s holds out fold s of a 5-fold subject split (so three seeds
hold out three disjoint fifths of the subjects), and draws k sequences per class from the
other subjects. A CK+ sequence's three frames are near-duplicates, so a sequence counts as
one labelled face and trains with its last (peak) frame; every frame of the held-out
subjects is tested, and the interval resamples sequences. Each curve point pools the
held-out predictions of all seeds. Training is a fixed number of steps, the same for every
mode and k, with no selection on the held-out subjects.
"""

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from core.datasets import Sample
from core.datasets.units import unit_ids
from core.errors import InputError
from core.labels import CANONICAL_LABELS
from core.models.evaluation import evaluate_predictions
from core.models.training import TrainConfig, fit, predict_logits, subject_folds
from core.progress import Progress, no_progress

MODES = ("head", "full", "scratch")
ALL = "all"


@dataclass
class CurveConfig:
    ks: tuple = (1, 2, 5, 10, 20, ALL)
    seeds: tuple = (0, 1, 2)
    modes: tuple = MODES
    folds: int = 5
    steps: int = 150  # gradient steps per run, whatever k is
    batch_size: int = 32
    lr: dict = field(default_factory=lambda: {"head": 3e-3, "full": 1e-3, "scratch": 3e-3})


def new_network(source: nn.Module, mode: str, num_classes: int, seed: int) -> nn.Module:
    """The network a run starts from: the source's weights with a new last layer, or random ones."""
    torch.manual_seed(seed)  # the new layer's initial weights depend on the seed only
    model = type(source)(num_classes=num_classes, in_channels=source.in_channels, width=source.width)
    if mode in ("head", "full"):
        start = {k: v for k, v in source.state_dict().items() if not k.startswith("classifier.fc2")}
        model.load_state_dict(start, strict=False)
    if mode == "head":
        for parameter in model.features.parameters():
            parameter.requires_grad_(False)
    return model


def training_units(
    samples: list[Sample], pool: np.ndarray, classes: list[str], k: int | str, rng: np.random.Generator
) -> np.ndarray:
    """Face indices to train on: k units (sequences) per class from `pool`, each by its last frame."""
    units = unit_ids(samples)
    last: dict[str, int] = {}
    for i in np.flatnonzero(pool):
        if units[i] not in last or samples[i].source_id > samples[last[units[i]]].source_id:
            last[units[i]] = int(i)
    chosen = []
    for name in classes:
        faces = sorted(i for i in last.values() if samples[i].label == name)
        if k != ALL and len(faces) > k:
            faces = sorted(rng.choice(faces, size=int(k), replace=False).tolist())
        chosen += faces
    return np.array(chosen, dtype=np.int64)


def _train_one(source, mode, crops, y, train, classes, seed, config: CurveConfig, progress) -> nn.Module:
    model = new_network(source, mode, len(classes), seed)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    train_config = TrainConfig(epochs=max(1, round(config.steps / steps_per_epoch)), batch_size=config.batch_size,
                               lr=config.lr[mode], seed=seed)  # fmt: skip
    fit(model, crops[train], y[train], crops[:0], y[:0], train_config, progress=progress, device="cpu")
    return model


def fine_tuning_curve(
    source: nn.Module,
    crops: np.ndarray,
    samples: list[Sample],
    config: CurveConfig | None = None,
    progress: Progress = no_progress,
) -> dict:
    """Accuracy on held-out subjects per mode and k, pooled over seeds, with 95% CIs.

    Returns {"classes", "config", "points": [{mode, k, accuracy, ci_low, ci_high, macro_f1,
    n, n_units, n_train, per_seed}], "seconds"}.
    """
    config = config or CurveConfig()
    _check_config(config)
    samples, crops, classes, y = _labelled_faces(samples, crops)
    folds = subject_folds(
        [s.subject or u for s, u in zip(samples, unit_ids(samples), strict=True)], config.folds
    )
    units = np.array(unit_ids(samples))
    started, runs = time.time(), len(config.seeds) * len(config.ks) * len(config.modes)
    collected: dict[tuple, dict] = {}
    done = 0
    for seed in config.seeds:
        test = folds == seed
        for k in config.ks:
            train = training_units(
                samples, ~test, classes, k, np.random.default_rng([seed, 0 if k == ALL else k])
            )
            for mode in config.modes:
                report = lambda f, m, d=done, mode=mode, k=k, seed=seed: progress(  # noqa: E731
                    (d + f) / runs, f"{mode}, k={k}, seed {seed}: {m}"
                )
                model = _train_one(source, mode, crops, y, train, classes, seed, config, report)
                predicted = predict_logits(model, crops[test]).argmax(1).numpy()
                point = collected.setdefault((mode, k), {"y": [], "p": [], "g": [], "per_seed": []})
                point["y"].append(y[test]), point["p"].append(predicted), point["g"].append(units[test])
                point["per_seed"].append({"seed": seed, "accuracy": float(np.mean(predicted == y[test])),
                                          "n_train": int(len(train))})  # fmt: skip
                done += 1
    points = _pooled_points(collected, classes)
    progress(1.0, "done")
    return {
        "classes": classes,
        "config": asdict(config),
        "points": points,
        "seconds": round(time.time() - started),
    }


def _labelled_faces(
    samples: list[Sample], crops: np.ndarray
) -> tuple[list[Sample], np.ndarray, list[str], np.ndarray]:
    """The faces with an expression label, their crops, the classes present and each face's class index."""
    labelled = [i for i, s in enumerate(samples) if s.label]
    samples, crops = [samples[i] for i in labelled], np.asarray(crops)[labelled]
    classes = [c for c in CANONICAL_LABELS if c in {s.label for s in samples}]
    if len(classes) < 2:
        raise InputError("Fine-tuning needs faces of at least two expressions.")
    return samples, crops, classes, np.array([classes.index(s.label) for s in samples])


def _check_config(config: CurveConfig) -> None:
    """One clear InputError for modes, ks or seeds a curve cannot use."""
    unknown = set(config.modes) - set(MODES)
    if unknown:
        raise InputError(
            f"Unknown fine-tuning mode {', '.join(sorted(unknown))}; choose from {', '.join(MODES)}."
        )
    if not config.ks or not all(k == ALL or (isinstance(k, int) and k > 0) for k in config.ks):
        raise InputError(
            f"k (faces per class) must be whole numbers above 0 or '{ALL}', not {list(config.ks)}."
        )
    if (
        not config.seeds
        or len(set(config.seeds)) < len(config.seeds)
        or not set(config.seeds) <= set(range(config.folds))
    ):
        raise InputError(
            f"Seeds must be different whole numbers from 0 to {config.folds - 1}: seed s holds out fold s of the subjects."
        )


def _pooled_points(collected: dict[tuple, dict], classes: list[str]) -> list[dict]:
    """One point per (mode, k): the seeds' held-out faces pooled, CIs resampling units."""
    points = []
    for (mode, k), point in collected.items():
        scores = evaluate_predictions(np.concatenate(point["y"]), np.concatenate(point["p"]), classes,
                                      groups=np.concatenate(point["g"]))  # fmt: skip
        points.append({
            "mode": mode, "k": str(k), "accuracy": scores["accuracy"], "ci_low": scores["ci_low"],
            "ci_high": scores["ci_high"], "macro_f1": scores["macro_f1"], "n": scores["n"],
            "n_units": scores["n_units"], "n_train": float(np.mean([s["n_train"] for s in point["per_seed"]])),
            "per_seed": point["per_seed"],
        })  # fmt: skip
    return points
