"""What a model is and what it says: its layers, its model card in plain words, its predictions.

    rows = layer_table(model)                      # one row per layer, in forward order
    probabilities = predict_expression(model, crop)  # class -> probability, card order

Pages and the CLI both read models through these functions, so they show the same thing.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.errors import InputError
from core.models.inputs import INPUT_SIZE
from core.models.lock import model_lock
from core.models.training import predict_logits
from core.models.zoo import card_of

# What each architecture is after, in words for psychologists; keyed like ARCHITECTURES.
ARCHITECTURE_NOTES = {
    "fan2019": (
        "After Fan, Yuan & Zhu (2019, arXiv 1904.09737): a plain CNN of three convolution, ReLU and "
        "max-pooling stages and two dense layers. The paper's aim is to see what the network looks at: "
        "the strongest response of each feature map is projected back to pixels (Zeiler & Fergus "
        "deconvolution) and ranked against the FACS Action Units present in the face."
    ),
    "breuer2017": (
        "After Breuer & Kimmel (2017, arXiv 1705.01842): a VGG-like CNN of paired 3x3 convolutions. "
        "The paper asks whether the filters a FER network learns match FACS Action Units, and how a "
        "network trained on one dataset or task transfers to another. It trains with batch norm, "
        "which is folded into the convolutions before shipping so deconvolution stays exact."
    ),
    "micro_lstm": (
        "After Breuer & Kimmel (2017, arXiv 1705.01842): an LSTM over the per-frame features of a CNN, "
        "to spot and recognise micro-expressions in video (CASME II)."
    ),
}


@dataclass(frozen=True)
class ReferencePoint:
    """A score to judge a model's score by."""

    name: str
    accuracy: str  # "65.3%" or a range "73-76%"
    note: str


# Published or measured points for the datasets the shipped models are scored on.
DATASET_REFERENCES = {
    "fer2013": [
        ReferencePoint("the `fer` package (mini-Xception)", "65.3%",
                       "its shipped TFLite model and preprocessing, measured on the same 3,589 PublicTest faces"),
        ReferencePoint("single networks, state of the art", "73-76%",
                       "published single CNNs on FER2013's test split (no ensembles, no extra data)"),
    ],
    "ckplus": [
        ReferencePoint("single networks, state of the art", "98-100%",
                       "published CK+ scores, under varying protocols (frames, folds, subject independence)"),
    ],
}  # fmt: skip


def reference_points(card: dict) -> list[ReferencePoint]:
    """Chance, the majority class and the dataset's published points, beside a card's headline score."""
    headline = headline_metrics(card)
    if headline is None or not headline[0].get("per_class"):
        return []
    per_class = headline[0]["per_class"]
    supports = [scores["support"] for scores in per_class.values()]
    majority = max(per_class, key=lambda c: per_class[c]["support"])
    points = [
        ReferencePoint("chance", f"{100 / len(per_class):.1f}%", f"guessing among {len(per_class)} expressions"),
        ReferencePoint("majority class", f"{100 * max(supports) / max(sum(supports), 1):.1f}%",
                       f"always answering '{majority}'"),
    ]  # fmt: skip
    return points + DATASET_REFERENCES.get(card.get("training", {}).get("format", ""), [])


def describe_architecture(architecture: str) -> str:
    return ARCHITECTURE_NOTES.get(architecture, f"Architecture '{architecture}'.")


def layer_table(model: nn.Module, input_shape: tuple[int, ...] = (1, 1, 48, 48)) -> list[dict]:
    """One row per leaf module, in the order the forward pass reaches it.

    Rows: `name` (as in `named_modules`), `type`, `output_shape` (without the batch) and
    `parameters`. Found with forward hooks on one pass of zeros, so the shapes are the real ones.
    """
    rows: list[dict] = []
    seen: set[str] = set()

    def record(name: str, module: nn.Module, _inputs, output) -> None:
        if name in seen:  # a reused module (the house rules forbid it) is listed once
            return
        seen.add(name)
        tensor = output[0] if isinstance(output, tuple) else output  # an LSTM returns (out, state)
        rows.append(
            {
                "name": name,
                "type": type(module).__name__,
                "output_shape": tuple(tensor.shape[1:]),
                "parameters": sum(p.numel() for p in module.parameters(recurse=False)),
            }
        )

    leaves = [(n, m) for n, m in model.named_modules() if n and not list(m.children())]
    # The app shares one cached model between sessions: hooks must not meet another session's.
    with model_lock(model):
        hooks = [m.register_forward_hook(lambda mod, i, o, n=n: record(n, mod, i, o)) for n, m in leaves]
        was_training = model.training
        try:
            device = next(model.parameters()).device
            model.eval()  # dropout and batch norm as at inference; shapes do not depend on it
            with torch.no_grad():
                model(torch.zeros(input_shape, device=device))
        finally:
            for hook in hooks:
                hook.remove()
            model.train(was_training)
    return rows


def model_classes(model: nn.Module) -> list[str]:
    """The class names from the model card; numbered classes for a checkpoint without one."""
    card = card_of(model)
    if card.get("classes"):
        return list(card["classes"])
    return [f"class {i}" for i in range(model.num_classes)]


def temperature(model: nn.Module) -> float | None:
    """The calibration temperature from the model card (temperature scaling), or None: uncalibrated."""
    return (card_of(model).get("calibration") or {}).get("temperature")


def probability_note(model: nn.Module, flip: bool = False) -> str:
    """What the probabilities shown for this model are, in one phrase for captions."""
    t = temperature(model)
    note = (f"calibrated by temperature scaling (T = {t:.2f}, fitted on faces the model did not train on)"
            if t else "uncalibrated softmax (this model's card has no calibration)")  # fmt: skip
    return note + ("; the face and its mirror image averaged" if flip else "")


def predict_expression(model: nn.Module, crop: np.ndarray, flip: bool = False) -> dict[str, float]:
    """Class -> calibrated probability for one aligned uint8 gray crop (48, 48), in the card's order.

    Probabilities are softmax(logits / T) with the card's temperature T (1 when it has none);
    `flip` averages the logits of the crop and its mirror image first.
    """
    crop = np.asarray(crop)
    if crop.shape != (INPUT_SIZE, INPUT_SIZE) or crop.dtype != np.uint8:
        raise InputError(
            f"The model takes a {INPUT_SIZE}x{INPUT_SIZE} grayscale uint8 crop, not {crop.dtype} {crop.shape}."
        )
    logits = predict_logits(model, crop[None], flip=flip)
    probabilities = (logits / (temperature(model) or 1.0)).softmax(1)[0].tolist()
    return dict(zip(model_classes(model), probabilities, strict=True))


def headline_metrics(card: dict) -> tuple[dict, str] | None:
    """The card's main evaluation and where it comes from: the held-out split, else pooled CV."""
    if card.get("metrics"):
        return card["metrics"], f"the held-out split '{card['metrics'].get('split', '?')}'"
    if card.get("cv", {}).get("pooled"):
        cv = card["cv"]
        unit = cv.get("unit", "subject")
        return cv["pooled"], f"the {cv['k']} {unit}-independent cross-validation folds, pooled"
    return None


def units_note(metrics: dict, data_format: str | None = None) -> str:
    """What n counts; CK+ frames of one sequence are not independent, so they count by sequence."""
    n, units = metrics.get("n"), metrics.get("n_units")
    if units is not None and (units != n or data_format == "ckplus"):
        return (
            f"{n:,} faces from {units:,} CK+ sequences: counts are by sequence, and the 95% intervals "
            "resample whole sequences, because frames of one sequence are not independent."
        )
    return f"{n:,} faces, each counted as an independent unit." if n is not None else ""


def _percent(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def with_ci(value: float | None, low: float | None, high: float | None) -> str:
    """'62.3% [61.0, 63.6]' (percent with its 95% interval), or '' when absent."""
    if value is None:
        return ""
    if low is None or high is None:
        return _percent(value)
    return f"{_percent(value)} [{100 * low:.1f}, {100 * high:.1f}]"


def _data(card: dict) -> str:
    training = card.get("training", {})
    parts = [training.get("format", "?")]
    if training.get("train_split"):
        parts.append(f"train on '{training['train_split']}'")
    if training.get("selection_split"):
        parts.append(f"test on '{training['selection_split']}'")
    if training.get("test_split"):
        parts.append(f"test on {training['test_split']}")
    if card.get("cv"):
        parts.append(f"{card['cv']['k']}-fold CV by {card['cv'].get('unit', 'subject')}")
    return ", ".join(parts)


def card_facts(card: dict) -> list[dict]:
    """The model card as (field, value) rows in plain words; absent fields are left out."""
    training, source = card.get("training", {}), card.get("input", {})
    config = training.get("config", {})
    facts = {
        "Architecture": card.get("architecture"),
        "Width multiplier": card.get("arch_args", {}).get("width"),
        "Input": f"{source['size']}x{source['size']} {source.get('color', 'gray')}, "
        f"normalised as (pixel/255 - {source.get('mean')}) / {source.get('std')}"
        if "size" in source
        else None,
        "Classes": ", ".join(card.get("classes", [])),
        "Training data": training.get("format"),
        "Data folder": training.get("root"),
        "Training split": training.get("train_split") or ("all faces" if training.get("format") else None),
        "Selection split": training.get("selection_split"),
        "Test split (never used in training)": training.get("test_split"),
        "Training faces": training.get("n_train"),
        "Fine-tuned from": training.get("init"),
        "Epochs": config.get("epochs"),
        "Best epoch": training.get("best_epoch"),
        "Device": training.get("device"),
        "Training time": f"{training['seconds'] / 60:.1f} min" if training.get("seconds") else None,
        "Note": training.get("note"),
        "Hardware": card.get("hardware"),
        "Command": card.get("command"),
        "File": card.get("file"),
        "Size": f"{card['bytes'] / 1e6:.1f} MB" if card.get("bytes") else None,
        "SHA-256": card.get("sha256"),
    }
    return [{"field": k, "value": str(v)} for k, v in facts.items() if v not in (None, "")]


def compare_models(cards: dict[str, dict]) -> list[dict]:
    """One row per model card: name, architecture, data, accuracy and macro-F1 with CIs, CV."""
    rows = []
    for name, card in cards.items():
        headline = headline_metrics(card)
        metrics = headline[0] if headline else {}
        f1_ci = metrics.get("macro_f1_ci") or [None, None]
        cv = card.get("cv")
        rows.append(
            {
                "model": name,
                "architecture": card.get("architecture", ""),
                "data": _data(card),
                "accuracy [95% CI]": with_ci(
                    metrics.get("accuracy"), metrics.get("ci_low"), metrics.get("ci_high")
                ),
                "macro-F1 [95% CI]": with_ci(metrics.get("macro_f1"), *f1_ci),
                "n": metrics.get("n"),
                "CV accuracy (mean ± sd)": f"{_percent(cv['mean'])} ± {100 * cv['sd']:.1f} ({cv['k']} folds)"
                if cv
                else "",
            }
        )
    return rows
