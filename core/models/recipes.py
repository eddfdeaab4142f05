"""How the shipped models are made: a dataset in, a checkpoint and its model card out.

`python -m core train` calls `train_model`; with `cv=k` it first runs a subject-independent
k-fold cross-validation (the score in the card), then trains the shipped model on all faces.
"""

import functools
import platform
import time
from dataclasses import asdict

import numpy as np
import torch

from core.datasets import fingerprint, read_dataset
from core.datasets.units import unit_ids
from core.errors import DatasetError
from core.labels import CANONICAL_LABELS
from core.models.architectures import fold_batch_norm
from core.models.evaluation import evaluate_predictions
from core.models.inputs import INPUT_MEAN, INPUT_SIZE, INPUT_STD, crops_from_samples
from core.models.training import TrainConfig, fit, pick_device, predict_logits, subject_folds
from core.models.zoo import build_model, load_model, save_model
from core.progress import Progress, no_progress


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}), mixed precision"
    return f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def load_faces(fmt: str, root, split: str | None, au_labels=None, progress: Progress = no_progress):
    """Crops (N, 48, 48) uint8, the samples, and the classes present in canonical order."""
    samples = [s for s in read_dataset(fmt, root, split=split, au_labels=au_labels) if s.label]
    if not samples:
        raise DatasetError(f"No labelled faces in {root} ({fmt}, split {split}).")
    return crops_from_samples(samples, progress=progress), samples


def _labels(samples, classes: list[str]) -> np.ndarray:
    return np.array([classes.index(s.label) for s in samples])


def _new_model(architecture: str, classes: list[str], width: float, init: str | None) -> torch.nn.Module:
    if init and architecture == "breuer2017":
        # Its shipped weights have batch norm folded in; retraining them with BN would double it.
        raise DatasetError("Fine-tuning breuer2017 from a shipped (folded) checkpoint is not supported.")
    model = build_model(
        architecture, num_classes=len(classes), batch_norm=architecture == "breuer2017", width=width
    )
    if init:
        model.load_state_dict(_fine_tuning_start(init), strict=False)
    return model


@functools.lru_cache(maxsize=2)
def _fine_tuning_start(init: str) -> dict[str, torch.Tensor]:
    """Every layer of the source model but the last, which is new; read and verified once for all folds."""
    return {k: v for k, v in load_model(init).state_dict().items() if not k.startswith("classifier.fc2")}


def _export(model: torch.nn.Module, architecture: str) -> torch.nn.Module:
    return fold_batch_norm(model) if architecture == "breuer2017" else model.cpu().eval()


def cross_validate(
    architecture: str, crops, samples, classes, config: TrainConfig, k: int, width: float, init: str | None,
    progress: Progress = no_progress,
) -> dict:  # fmt: skip
    """Subject-independent k-fold CV; fixed epochs (no selection on the held-out fold)."""
    y = _labels(samples, classes)
    folds = subject_folds([s.subject or s.source_id for s in samples], k, config.seed)
    predictions = np.empty_like(y)
    per_fold = []
    for fold in range(k):
        test, train = folds == fold, folds != fold
        model = _new_model(architecture, classes, width, init)
        fit(model, crops[train], y[train], crops[test], y[test], config,
            progress=lambda f, m, fold=fold: progress((fold + f) / (k + 1), f"fold {fold + 1}/{k}, {m}"))  # fmt: skip
        predictions[test] = predict_logits(model, crops[test]).argmax(1).numpy()
        per_fold.append(
            {"fold": fold + 1, "n": int(test.sum()), "accuracy": float(np.mean(predictions[test] == y[test]))}
        )
    accuracies = [f["accuracy"] for f in per_fold]
    pooled = evaluate_predictions(y, predictions, classes, groups=unit_ids(samples))
    return {"k": k, "unit": "subject", "folds": per_fold, "mean": float(np.mean(accuracies)),
            "sd": float(np.std(accuracies, ddof=1)), "pooled": pooled}  # fmt: skip


def train_model(
    name: str,
    architecture: str,
    fmt: str,
    root,
    config: TrainConfig,
    train_split: str | None = None,
    val_split: str | None = None,
    cv: int = 0,
    width: float = 1.0,
    init: str | None = None,
    au_labels=None,
    command: str = "",
    progress: Progress = no_progress,
    checkpoint=None,
) -> dict:
    """Train, evaluate and save one model; returns its card (also written to the manifest).

    `checkpoint` (a path) saves the final model's training state after every epoch and
    resumes from it when it exists.
    """
    started = time.time()
    crops, samples = load_faces(fmt, root, train_split, au_labels)
    classes = [c for c in CANONICAL_LABELS if c in {s.label for s in samples}]
    card = {
        "name": name,
        "architecture": architecture,
        "arch_args": {"num_classes": len(classes), "width": width},
        "input": {"size": INPUT_SIZE, "color": "gray", "mean": INPUT_MEAN, "std": INPUT_STD},
        "classes": classes,
        "training": {
            "format": fmt,
            "root": str(root),
            "train_split": train_split,
            "selection_split": val_split,
            "n_train": len(samples),
            "fingerprint": fingerprint(samples),
            "init": init,
            "config": asdict(config),
        },  # fmt: skip
        "command": command,
        "hardware": hardware(pick_device()),
    }
    if cv:
        card["cv"] = cross_validate(architecture, crops, samples, classes, config, cv, width, init, progress)
    if val_split:
        val_crops, val_samples = load_faces(fmt, root, val_split, au_labels)
        val_samples, val_crops = zip(*[(s, c) for s, c in zip(val_samples, val_crops, strict=True) if s.label in classes],
                                     strict=True)  # fmt: skip
        val_crops, val_y = np.stack(val_crops), _labels(val_samples, classes)
    else:
        val_crops, val_y = crops[:0], np.zeros(0, np.int64)
    model = _new_model(architecture, classes, width, init)
    done = cv / (cv + 1) if cv else 0.0
    result = fit(model, crops, _labels(samples, classes), val_crops, val_y, config,
                 progress=lambda f, m: progress(done + f * (1 - done), f"final model, {m}"), checkpoint=checkpoint)  # fmt: skip
    model = _export(model, architecture)
    card["training"].update(
        best_epoch=result["best_epoch"], device=result["device"], seconds=round(time.time() - started)
    )
    card["history"] = result["history"]
    if val_split:
        card["notes"] = (
            f"The best epoch was chosen on '{val_split}', so the score there is slightly optimistic; "
            "for FER2013 the withheld PrivateTest split is the blind test."
        )
        card["metrics"] = {
            "split": val_split,
            **evaluate_predictions(val_y, predict_logits(model, val_crops).argmax(1).numpy(), classes),
        }
    return save_model(model, card)
