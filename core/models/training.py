"""Training FER CNNs fast on a CPU: crops in memory, augmentation on whole batches, checkpoints.

    model = FanNet(num_classes=7, batch_norm=True)
    result = fit(model, train_crops, train_labels, val_crops, val_labels, TrainConfig(epochs=30))

Crops are uint8 (N, 48, 48), held as one tensor and normalised a batch at a time; labels
are class indices. The selection split must be held out of the training data, never a
test split: the model comes back holding the weights of its best epoch there
(`result["best_epoch"]`). Convolutions run channels_last; on a CPU with native bf16
(`cpu_has_bf16`) they run under bf16 autocast, on CUDA under fp16 with a grad scaler.
"""

import copy
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import InputError
from core.models.inputs import to_tensor
from core.models.lock import model_lock
from core.paths import atomic_path
from core.progress import Progress, no_progress


class TrainingError(InputError):
    """A training that cannot start: bad data, a checkpoint of another run."""


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128
    lr: float = 3e-3  # the peak of the one-cycle schedule
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    seed: int = 0
    balance: bool = True  # weight the loss by 1/sqrt(class frequency)
    optimizer: str = "adamw"  # or "sgd": SGD with Nesterov momentum 0.9
    bf16: bool | None = None  # bf16 autocast on the CPU; None: where the CPU has native bf16
    random_erasing: float = 0.0  # share of faces that get one rectangle blanked (Zhong et al. 2020)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), where autocast pays off."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def pick_device(device: str | None = None) -> torch.device:
    """CUDA when present, else CPU; FER_DEVICE=cpu|cuda (or `device`) forces either."""
    wanted = device or os.environ.get("FER_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def class_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """1/sqrt(frequency), mean 1: FER2013 has 436 disgust faces against 7,215 happy ones.

    The square root is a compromise: full inverse frequency over-predicts the rare class.
    """
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights / weights[counts > 0].mean(), dtype=torch.float32)


def augment(x: torch.Tensor, generator: torch.Generator, erase: float = 0.0) -> torch.Tensor:
    """Random flips, small rotations (±10°), scale (±10%), shifts (±2 px) and lighting.

    With `erase`, that share of the faces has one rectangle (2-25% of the face) set to the mean
    grey: the network cannot lean on one region alone, the overfitting FER2013 shows after
    about 40 epochs.
    """
    n = x.shape[0]

    def uniform(*shape: int) -> torch.Tensor:
        return (torch.rand(*shape, generator=generator) * 2 - 1).to(x.device)

    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    angle, scale, shift = uniform(n) * math.radians(10), 1 + uniform(n) * 0.1, uniform(n, 2) * 0.09
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    x = x * (1 + 0.2 * uniform(n)[:, None, None, None]) + 0.2 * uniform(n)[:, None, None, None]
    return _erase_rectangles(x, generator, erase) if erase > 0 else x


def _erase_rectangles(x: torch.Tensor, generator: torch.Generator, share: float) -> torch.Tensor:
    n, _, h, w = x.shape
    draw = torch.rand(n, 5, generator=generator).to(x.device)
    area = (0.02 + 0.23 * draw[:, 0]) * h * w
    aspect = torch.exp((draw[:, 1] * 2 - 1) * math.log(3.0))  # 1/3 to 3, even on a log scale
    eh, ew = (area * aspect).sqrt().clamp(1, h), (area / aspect).sqrt().clamp(1, w)
    top, left = draw[:, 2] * (h - eh), draw[:, 3] * (w - ew)
    rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    inside_rows = (rows[None] >= top[:, None]) & (rows[None] < (top + eh)[:, None])
    inside_cols = (cols[None] >= left[:, None]) & (cols[None] < (left + ew)[:, None])
    mask = inside_rows[:, :, None] & inside_cols[:, None, :] & (draw[:, 4] < share)[:, None, None]
    return x.masked_fill(mask[:, None], 0.0)  # 0 is the mean grey after normalisation


@torch.no_grad()
def predict_logits(
    model: nn.Module, crops: np.ndarray | torch.Tensor, batch_size: int = 256, flip: bool = False
) -> torch.Tensor:
    """Logits for uint8 crops (N, 48, 48), in batches, on the model's device.

    `flip` averages the logits of each crop and its mirror image (test-time flip averaging).
    """
    device = next(model.parameters()).device
    crops = torch.as_tensor(crops)
    # The app shares one model between sessions: no forward pass while another session's
    # attribution has its hooks on the model.
    with model_lock(model):
        model.eval()
        out = []
        for i in range(0, len(crops), batch_size):
            x = to_tensor(crops[i : i + batch_size]).to(device)
            logits = model(x).float()
            if flip:
                logits = (logits + model(x.flip(-1)).float()) / 2
            out.append(logits.cpu())
    return torch.cat(out) if out else torch.empty(0)


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=config.lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay
        )
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    raise TrainingError(f"Unknown optimizer '{config.optimizer}'; use sgd or adamw.")


def _autocast(device: torch.device, config: TrainConfig):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    wanted = cpu_has_bf16() if config.bf16 is None else config.bf16
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=wanted)


def _read_checkpoint(checkpoint: Path, model: nn.Module, config: TrainConfig) -> dict:
    """A saved run, refused with one clear line when it belongs to another network or recipe."""
    try:
        saved = torch.load(checkpoint, weights_only=False, map_location="cpu")
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same to a user
        raise TrainingError(f"{checkpoint} is not a readable training checkpoint ({type(error).__name__}).") from None
    if saved.get("architecture") != type(model).__name__ or saved["model"].keys() != model.state_dict().keys():
        raise TrainingError(
            f"{checkpoint} is a checkpoint of {saved.get('architecture', 'another network')}, "
            f"not of this {type(model).__name__}; start without --resume or choose another checkpoint."
        )
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if any(tuple(v.shape) != shapes[k] for k, v in saved["model"].items()):
        raise TrainingError(f"{checkpoint} holds a {type(model).__name__} of another width or class count.")
    if saved.get("config", {}).get("epochs") != config.epochs:
        raise TrainingError(
            f"{checkpoint} was a run of {saved.get('config', {}).get('epochs')} epochs, not {config.epochs}."
        )
    return saved


def fit(
    model: nn.Module,
    train_crops: np.ndarray,
    train_labels: np.ndarray,
    val_crops: np.ndarray,
    val_labels: np.ndarray,
    config: TrainConfig,
    progress: Progress = no_progress,
    device: str | None = None,
    checkpoint: Path | None = None,
    resume: bool = False,
) -> dict:
    """Train, select the best epoch on the validation split, and return the history.

    With `checkpoint`, the state is saved after every epoch (atomically); with `resume` a
    run continues from it, and a finished run returns at once.
    """
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    dev = pick_device(device)
    if len(np.unique(np.asarray(train_labels))) < 2:
        raise TrainingError("The training faces hold fewer than two classes; a classifier needs at least two.")
    model.to(dev, memory_format=torch.channels_last)
    num_classes = model.num_classes
    x_train, y_train = torch.as_tensor(train_crops), torch.as_tensor(train_labels, dtype=torch.long)
    weights = class_weights(np.asarray(train_labels), num_classes) if config.balance else None
    loss_fn = nn.CrossEntropyLoss(weight=weights.to(dev) if weights is not None else None,
                                  label_smoothing=config.label_smoothing)  # fmt: skip
    steps_per_epoch = math.ceil(len(x_train) / config.batch_size)
    optimizer = _optimizer(model, config)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.15
    )
    use_amp = dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    state = {"history": [], "best_accuracy": -1.0, "best_epoch": 0, "best_state": None, "epoch": 0}
    if resume and checkpoint is not None and checkpoint.exists():
        saved = _read_checkpoint(checkpoint, model, config)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        generator.set_state(saved["generator"])
        if "torch_rng" in saved:  # dropout draws from it: a resumed run repeats the same draws
            torch.set_rng_state(saved["torch_rng"])
        state = saved["state"]

    for epoch in range(state["epoch"], config.epochs):
        started = time.time()
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total_loss, correct = 0.0, 0
        for step in range(steps_per_epoch):
            rows = order[step * config.batch_size : (step + 1) * config.batch_size]
            x = augment(to_tensor(x_train[rows]).to(dev), generator, config.random_erasing)
            x = x.contiguous(memory_format=torch.channels_last)
            y = y_train[rows].to(dev)
            with _autocast(dev, config):
                logits = model(x)
                loss = loss_fn(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            schedule.step()
            total_loss += loss.item() * len(rows)
            correct += (logits.argmax(1) == y).sum().item()
            done = (epoch * steps_per_epoch + step + 1) / (config.epochs * steps_per_epoch)
            progress(done, f"epoch {epoch + 1}/{config.epochs}")
        seconds = time.time() - started
        val_logits = predict_logits(model, val_crops)
        val_y = torch.as_tensor(val_labels, dtype=torch.long)
        record = {
            "epoch": epoch + 1,
            "train_loss": total_loss / len(x_train),
            "train_accuracy": correct / len(x_train),
            "val_loss": F.cross_entropy(val_logits, val_y).item() if len(val_y) else float("nan"),
            "val_accuracy": (val_logits.argmax(1) == val_y).float().mean().item()
            if len(val_y)
            else float("nan"),
            "seconds": round(seconds, 1),  # this epoch's training, without the validation pass
            "images_per_second": round(len(x_train) / seconds, 1),
        }
        state["history"].append(record)
        if len(val_y) == 0 or record["val_accuracy"] > state["best_accuracy"]:
            state.update(best_accuracy=record["val_accuracy"], best_epoch=epoch + 1)
            state["best_state"] = copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})
        state["epoch"] = epoch + 1
        if checkpoint is not None:
            _save_checkpoint(checkpoint, {
                "architecture": type(model).__name__, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                "state": state,
                "config": asdict(config),
            })  # fmt: skip
    model.load_state_dict(state["best_state"])
    model.to(memory_format=torch.contiguous_format).eval()
    return {"history": state["history"], "best_epoch": state["best_epoch"], "device": str(dev)}


def _save_checkpoint(path: Path, content: dict) -> None:
    """Through `atomic_path`, so a kill mid-write leaves the last epoch intact."""
    with atomic_path(path) as partial:
        torch.save(content, partial)


def subject_folds(subjects: list[str], k: int = 10, seed: int = 0) -> np.ndarray:
    """A fold index per sample such that no subject is in two folds, folds of similar size."""
    names, counts = np.unique(np.asarray(subjects), return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    order = order[np.argsort(-counts[order], kind="stable")]  # biggest subjects first, ties shuffled
    sizes, fold_of = np.zeros(k, np.int64), {}
    for i in order:
        fold = int(np.argmin(sizes))
        fold_of[names[i]] = fold
        sizes[fold] += counts[i]
    return np.array([fold_of[s] for s in subjects])
