"""How the shipped models are made: a dataset in, a checkpoint and its model card out.

`python -m core train` calls `train_model`; with `cv=k` it first runs a subject-independent
k-fold cross-validation (the score in the card), then trains the shipped model on all faces.
Every model is calibrated by temperature scaling on faces it did not train on.
"""

import functools
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from core.datasets import fingerprint, read_dataset
from core.datasets.units import unit_ids
from core.errors import DatasetError
from core.labels import CANONICAL_LABELS
from core.models.architectures import ARCHITECTURES, fold_batch_norm
from core.models.calibration import calibration_report, fit_temperature
from core.models.evaluation import evaluate_predictions
from core.models.inputs import INPUT_MEAN, INPUT_SIZE, INPUT_STD, crops_from_samples
from core.models.training import TrainConfig, TrainingError, fit, pick_device, predict_logits, subject_folds
from core.models.zoo import build_model, load_model, model_card, save_model
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


def _new_model(architecture: str, classes: list[str], width: float, init: str | None, seed: int) -> torch.nn.Module:
    """Batch norm while training from scratch (folded before shipping); none when fine-tuning a
    shipped checkpoint, whose batch norm is already folded into its convolutions. Seeded, so a
    run and its resumption start from the same weights."""
    torch.manual_seed(seed)
    model = build_model(architecture, num_classes=len(classes), batch_norm=init is None, width=width)
    if init:
        source = model_card(init)
        if source.get("architecture") != architecture:
            raise TrainingError(f"'{init}' is a {source.get('architecture')} network, not {architecture}.")
        model.load_state_dict(_fine_tuning_start(init), strict=False)
    return model


@functools.lru_cache(maxsize=2)
def _fine_tuning_start(init: str) -> dict[str, torch.Tensor]:
    """Every layer of the source model but the last, which is new; read and verified once for all folds."""
    return {k: v for k, v in load_model(init).state_dict().items() if not k.startswith("classifier.fc2")}


def _export(model: torch.nn.Module) -> torch.nn.Module:
    has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    return fold_batch_norm(model.cpu()) if has_bn else model.cpu().eval()


def holdout_split(labels: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A stratified random share of the training faces held out (True) for selection and calibration."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        held[rows[: round(share * len(rows))]] = True
    return held


def _scores(y: np.ndarray, logits: torch.Tensor, flipped: torch.Tensor, classes, groups=None) -> dict:
    """The contract's evaluation of the single forward pass, and of flip averaging beside it."""
    metrics = evaluate_predictions(y, logits.argmax(1).numpy(), classes, groups=groups)
    flip = evaluate_predictions(y, flipped.argmax(1).numpy(), classes, groups=groups)
    metrics["flip_averaged"] = {k: flip[k] for k in ("accuracy", "ci_low", "ci_high", "macro_f1", "macro_f1_ci")}
    return metrics


def _checkpoint(directory: Path | None, name: str) -> Path | None:
    return None if directory is None else Path(directory) / f"{name}.pt"


def cross_validate(
    architecture: str, crops, samples, classes, config: TrainConfig, k: int, width: float, init: str | None,
    progress: Progress = no_progress, checkpoints: Path | None = None, resume: bool = False,
) -> tuple[dict, torch.Tensor]:  # fmt: skip
    """Subject-independent k-fold CV; fixed epochs (no selection on the held-out fold).

    Returns the CV summary and the out-of-fold logits (every face scored by the fold model
    that never saw its subject), which also calibrate the final model.
    """
    y = _labels(samples, classes)
    folds = subject_folds([s.subject or s.source_id for s in samples], k, config.seed)
    logits = torch.empty(len(y), len(classes))
    flipped = torch.empty_like(logits)
    per_fold = []
    for fold in range(k):
        test, train = folds == fold, folds != fold
        model = _new_model(architecture, classes, width, init, config.seed + fold)
        fit(model, crops[train], y[train], crops[:0], y[:0], config,
            progress=lambda f, m, fold=fold: progress((fold + f) / (k + 1), f"fold {fold + 1}/{k}, {m}"),
            checkpoint=_checkpoint(checkpoints, f"fold{fold + 1:02d}"), resume=resume)  # fmt: skip
        model = _export(model)
        logits[test] = predict_logits(model, crops[test])
        flipped[test] = predict_logits(model, crops[test], flip=True)
        per_fold.append({"fold": fold + 1, "n": int(test.sum()),
                         "accuracy": float(np.mean(logits[test].argmax(1).numpy() == y[test]))})  # fmt: skip
    accuracies = [f["accuracy"] for f in per_fold]
    pooled = _scores(y, logits, flipped, classes, groups=unit_ids(samples))
    summary = {"k": k, "unit": "subject", "folds": per_fold, "mean": float(np.mean(accuracies)),
               "sd": float(np.std(accuracies, ddof=1)), "pooled": pooled}  # fmt: skip
    return summary, logits


def train_model(
    name: str,
    architecture: str,
    fmt: str,
    root,
    config: TrainConfig,
    train_split: str | None = None,
    test_split: str | None = None,
    holdout: float = 0.1,
    cv: int = 0,
    width: float = 1.0,
    init: str | None = None,
    au_labels=None,
    command: str = "",
    progress: Progress = no_progress,
    checkpoints: Path | None = None,
    resume: bool = False,
) -> dict:
    """Train, evaluate, calibrate and save one model; returns its card (also written to the manifest).

    Without `cv`, a stratified `holdout` share of the training faces selects the best epoch
    and fits the temperature; `test_split` is scored once, at the end. With `cv=k`, the
    k-fold CV is the score, its out-of-fold logits fit the temperature, and the shipped model
    trains on all faces for the same epochs. `checkpoints` (a folder) keeps each run's state
    after every epoch; `resume` continues from it.
    """
    started = time.time()
    if architecture not in ARCHITECTURES or architecture == "micro_lstm":
        raise TrainingError(f"Unknown image architecture '{architecture}'; known: fan2019, breuer2017.")
    crops, samples = load_faces(fmt, root, train_split, au_labels)
    classes = [c for c in CANONICAL_LABELS if c in {s.label for s in samples}]
    if len(classes) < 2:
        raise TrainingError(f"{root} holds faces of one class only ({classes[0]}); a classifier needs two or more.")
    y = _labels(samples, classes)
    card = _card(name, architecture, classes, width, fmt, root, train_split, test_split, samples, init, config,
                 command)  # fmt: skip
    if cv:
        card["cv"], calibration_logits = cross_validate(
            architecture, crops, samples, classes, config, cv, width, init, progress, checkpoints, resume
        )
        calibration_y, calibration_split, held = y, f"the {cv} cross-validation folds, out of fold", None
    else:
        held = holdout_split(y, holdout, config.seed)
        card["training"]["holdout"] = {"share": holdout, "n": int(held.sum()), "seed": config.seed}
    model = _new_model(architecture, classes, width, init, config.seed)
    done = cv / (cv + 1) if cv else 0.0
    fit_rows = np.ones(len(y), bool) if held is None else ~held
    val_crops, val_y = (crops[:0], y[:0]) if held is None else (crops[held], y[held])
    result = fit(model, crops[fit_rows], y[fit_rows], val_crops, val_y, config,
                 progress=lambda f, m: progress(done + f * (1 - done), f"final model, {m}"),
                 checkpoint=_checkpoint(checkpoints, "final"), resume=resume)  # fmt: skip
    model = _export(model)
    if held is not None:
        calibration_logits, calibration_y = predict_logits(model, val_crops), val_y
        calibration_split = f"a held-out {holdout:.0%} of '{train_split or 'the training faces'}'"
    temperature = fit_temperature(calibration_logits, calibration_y)
    card["calibration"] = {"temperature": temperature, "fitted_on": calibration_split}
    card["training"].update(_timing(result, started))
    card["history"] = result["history"]
    if test_split:
        metrics, report = _test_scores(model, fmt, root, test_split, au_labels, classes, temperature)
        card["metrics"] = metrics
        card["calibration"].update(report)
        card["notes"] = (
            f"'{test_split}' was scored once, after training: the best epoch was chosen on {calibration_split}, "
            "never on a test split. Headline numbers are one forward pass per face; flip averaging (the face "
            "and its mirror image) is reported beside them."
        )
    elif cv:
        card["calibration"].update(calibration_report(calibration_logits, y, temperature, "cross-validation"))
        card["notes"] = (
            f"The score is the {cv}-fold subject-independent cross-validation (fixed epochs, no selection "
            "on held-out folds); the shipped model is then trained on all faces. Its temperature was fitted "
            "on the folds' out-of-fold logits, so the ECE after scaling is measured on the faces it was fitted on."
        )
    return save_model(model, card)


def _card(name, architecture, classes, width, fmt, root, train_split, test_split, samples, init, config, command):
    return {
        "name": name,
        "architecture": architecture,
        "arch_args": {"num_classes": len(classes), "width": width},
        "input": {"size": INPUT_SIZE, "color": "gray", "mean": INPUT_MEAN, "std": INPUT_STD},
        "classes": classes,
        "training": {
            "format": fmt, "root": str(root), "train_split": train_split, "test_split": test_split,
            "n_train": len(samples), "fingerprint": fingerprint(samples), "init": init,
            "init_sha256": model_card(init)["sha256"] if init else None, "config": asdict(config),
        },  # fmt: skip
        "command": command,
        "hardware": hardware(pick_device()),
    }


def _timing(result: dict, started: float) -> dict:
    history = result["history"]
    return {
        "best_epoch": result["best_epoch"], "device": result["device"], "seconds": round(time.time() - started),
        "epoch_seconds": float(np.median([h["seconds"] for h in history])),
        "images_per_second": float(np.median([h["images_per_second"] for h in history])),
    }  # fmt: skip


def _test_scores(model, fmt, root, split, au_labels, classes, temperature: float) -> tuple[dict, dict]:
    """The test split scored once, after training: metrics (single pass and flip-averaged) and calibration."""
    crops, samples = load_faces(fmt, root, split, au_labels)
    kept = [i for i, s in enumerate(samples) if s.label in classes]
    crops, y, units = crops[kept], _labels([samples[i] for i in kept], classes), unit_ids([samples[i] for i in kept])
    logits = predict_logits(model, crops)
    metrics = {"split": split, **_scores(y, logits, predict_logits(model, crops, flip=True), classes, groups=units)}
    return metrics, calibration_report(logits, y, temperature, split)
