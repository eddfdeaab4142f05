"""A model tested on another dataset as it is, on the classes both share.

Labels are canonical (core.labels), so a shared class has the same name on both sides;
the label map says which ones, and the classes each side has alone are counted. The
model's answer is its most likely class among the shared ones: a FER2013 model cannot be
right with `neutral` on CK+, which has none, so it is not allowed to answer it (how often
it would have is reported as `unshared_answers`).
"""

from collections import Counter

import numpy as np
from torch import nn

from core.datasets import Sample
from core.datasets.units import unit_ids
from core.errors import InputError
from core.models.evaluation import evaluate_predictions
from core.models.inputs import crops_from_samples
from core.models.summary import headline_metrics, model_classes
from core.models.training import predict_logits
from core.models.zoo import card_of
from core.progress import Progress, no_progress


def label_map(source_classes: list[str], target_labels: list[str | None]) -> dict[str, str]:
    """Source class -> target class, for the classes both share, in the source's order."""
    present = {label for label in target_labels if label}
    return {name: name for name in source_classes if name in present}


def source_scores(card: dict) -> tuple[dict, str] | None:
    """The model's scores on its own held-out data, from its card (held-out split, else pooled CV)."""
    return headline_metrics(card) if card else None


def cross_dataset(
    model: nn.Module,
    samples: list[Sample],
    crops: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    progress: Progress = no_progress,
) -> dict:
    """The model on `samples` without fine-tuning: the contract's keys and per-class differences.

    Keys: accuracy, ci_low, ci_high (95%, resampling CK+ sequences), n, n_units, label_map,
    skipped (faces per target class the model does not know), unshared_answers, majority_accuracy,
    per_class,
    confusion, source_accuracy (from the card, when known) and per_class_difference.
    """
    classes = model_classes(model)
    labels = [s.label for s in samples]
    mapping = label_map(classes, labels)
    if not mapping:
        raise InputError(
            f"The model's classes ({', '.join(classes)}) and the dataset's ({', '.join(sorted(set(filter(None, labels))))}) "
            "have none in common."
        )
    shared = list(mapping)
    kept = [i for i, label in enumerate(labels) if label in mapping]
    if crops is None:
        crops = crops_from_samples([samples[i] for i in kept], progress=lambda f, m: progress(0.9 * f, m))
    else:
        crops = np.asarray(crops)[kept]
    progress(0.9, "the model's answers")
    logits = predict_logits(model, crops)
    columns = [classes.index(name) for name in shared]
    y_pred = logits[:, columns].argmax(1).numpy()
    top = logits.argmax(1).numpy()
    y_true = np.array([shared.index(labels[i]) for i in kept])
    result = evaluate_predictions(y_true, y_pred, shared, groups=unit_ids([samples[i] for i in kept]),
                                  n_boot=n_boot, seed=seed)  # fmt: skip
    unshared = Counter(classes[c] for c in top if classes[c] not in mapping)
    result.update(
        label_map=mapping,
        skipped=dict(sorted(Counter(label for label in labels if label and label not in mapping).items())),
        unlabelled=sum(label is None for label in labels),
        unshared_answers={"share": sum(unshared.values()) / max(len(kept), 1), "classes": dict(unshared)},
        # What always answering the most common shared class would score: the floor to beat.
        majority_accuracy=float(np.bincount(y_true).max() / len(y_true)),
    )
    result.update(compare_with_source(card_of(model), result))
    progress(1.0, "done")
    return result


def compare_with_source(card: dict, target: dict) -> dict:
    """The model's own held-out accuracy (from its card) and its recall per shared class, there and here."""
    scores = source_scores(card)
    if scores is None:
        return {"source_accuracy": None, "source": None, "per_class_difference": []}
    metrics, where = scores
    rows = []
    for name, here in target["per_class"].items():
        own = metrics.get("per_class", {}).get(name)
        if own is None:
            continue
        rows.append({
            "class": name, "source_recall": own["recall"], "target_recall": here["recall"],
            "difference": here["recall"] - own["recall"], "source_support": own["support"],
            "target_support": here["support"],
        })  # fmt: skip
    return {
        "source_accuracy": metrics.get("accuracy"),
        "source_ci": [metrics.get("ci_low"), metrics.get("ci_high")],
        "source": f"{card.get('training', {}).get('format', '?')}: {where}",
        "per_class_difference": rows,
    }


def label_map_rows(result: dict) -> list[dict]:
    """The label mapping of a `cross_dataset` result as table rows, with the faces of each class:
    shared classes first, then the dataset's classes the model does not know ("(none)")."""
    shared = [
        {"model's class": source, "dataset's class": target, "faces": result["per_class"][target]["support"]}
        for source, target in result["label_map"].items()
    ]
    unknown = [
        {"model's class": "(none)", "dataset's class": name, "faces": count}
        for name, count in result["skipped"].items()
    ]
    return shared + unknown


def dataset_label(fmt: str | None, split: str | None) -> str:
    return f"{fmt} {split}" if split else str(fmt)


def accuracy_matrix(cards: dict[str, dict], results: dict[str, list[dict]]) -> list[dict]:
    """Rows (model, dataset, accuracy, ci_low, ci_high, n, what) for a models x datasets heatmap.

    A model's own dataset shows its card's held-out score (`own test`); every other cell is
    a cross-dataset result (`transfer`, on the shared classes).
    """
    rows = []
    for name, card in cards.items():
        scores = source_scores(card)
        training = card.get("training", {})
        if scores is not None:
            metrics, _ = scores
            own = dataset_label(training.get("format"), metrics.get("split"))
            rows.append({"model": name, "dataset": own, "accuracy": metrics["accuracy"],
                         "ci_low": metrics.get("ci_low"), "ci_high": metrics.get("ci_high"),
                         "n": metrics.get("n"), "what": "own test (card)",
                         "classes": len(metrics.get("classes") or card.get("classes", []))})  # fmt: skip
        for result in results.get(name, []):
            where = result["provenance"]
            rows.append({"model": name, "dataset": dataset_label(where["format"], where["split"]),
                         "accuracy": result["accuracy"], "ci_low": result["ci_low"], "ci_high": result["ci_high"],
                         "n": result["n"], "what": "transfer (shared classes)",
                         "classes": len(result["label_map"])})  # fmt: skip
    return rows
