"""Cross-task: micro-expression classes from a FER network's frozen features.

No micro-expression video is available, so the clips are the project's own synthetic ones
(core.micro.synthetic: a drawn face whose FACS AUs move a few pixels for a third of a
second, with head motion and sensor noise). For each event, the face is found on its onset
frame and the apex frame is cut with the same alignment, so only the expression moves. The
feature of an event is apex minus onset: per conv layer, each map's post-ReLU maximum over
each cell of a 3 x 3 grid; `pixels` (the crop averaged to 12 x 12 blocks) is the baseline.
A softmax regression predicts the MEGC class (negative, positive, surprise), trained and
tested leaving one drawn identity out at a time; accuracy and macro-F1 with 95% intervals
resampling events.
"""

import hashlib

import numpy as np
import torch
from torch import nn

from core.faces import FaceAnalyzer, align_face, prepare_face
from core.models.evaluation import evaluate_predictions
from core.progress import Progress, no_progress
from core.transfer.features import layer_maxima, pooled_pixels

MICRO_LABELS = ("negative", "positive", "surprise")
IDENTITIES = (0, 1, 2, 3)
CLIP_SIZE = (320, 240)


def micro_events(
    per_cell: int = 5, amplitude_px: float = 3.0, seed: int = 0, progress: Progress = no_progress
) -> dict:
    """Onset and apex crops (N, 48, 48) of `per_cell` micro-expressions per class and identity."""
    from core.micro.synthetic import make_clip

    rng = np.random.default_rng(seed)
    specs = [(identity, label) for identity in IDENTITIES for label in MICRO_LABELS for _ in range(per_cell)]
    onsets, apexes, labels, identities, described = [], [], [], [], []
    with FaceAnalyzer() as analyzer:
        for i, (identity, label) in enumerate(specs):
            start, length = float(rng.uniform(0.4, 0.8)), float(rng.uniform(0.2, 0.45))
            clip = make_clip(seconds=start + length + 0.5, fps=30.0, size=CLIP_SIZE, amplitude_px=amplitude_px,
                             events=[(start, length, label)], identity=identity, seed=int(rng.integers(1 << 30)))  # fmt: skip
            event = clip.events[0]
            onset = prepare_face(clip.frame(event.onset_frame), analyzer)
            onsets.append(onset.crop.image)
            apexes.append(align_face(clip.frame(event.apex_frame), onset.face).image)
            labels.append(MICRO_LABELS.index(label))
            identities.append(identity)
            described.append(
                f"{identity}|{label}|{event.onset_frame}|{event.apex_frame}|{event.aus}|{clip.seed}"
            )
            progress((i + 1) / len(specs), f"synthetic micro-expressions {i + 1}/{len(specs)}")
    return {
        "onset": np.stack(onsets), "apex": np.stack(apexes), "labels": np.array(labels),
        "identities": np.array(identities),
        "fingerprint": hashlib.sha256("\n".join(described).encode()).hexdigest()[:16],
    }  # fmt: skip


def fit_softmax(x: np.ndarray, y: np.ndarray, classes: int, l2: float = 1e-2, iterations: int = 100):
    """Weights and biases of a multinomial logistic regression (L2), fitted by L-BFGS."""
    features, targets = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.long)
    weights = torch.zeros(x.shape[1], classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], lr=1, max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(features @ weights + bias, targets) + l2 * (weights**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weights.detach().numpy(), bias.detach().numpy()


def micro_probe(model: nn.Module, events: dict, n_boot: int = 1000, progress: Progress = no_progress) -> dict:
    """Accuracy per layer of a softmax probe on (apex - onset) features, leaving one identity out."""
    apex = layer_maxima(model, events["apex"], after_relu=True, grid=3)
    onset = layer_maxima(model, events["onset"], after_relu=True, grid=3)
    difference = {layer: apex[layer] - onset[layer] for layer in apex}
    difference["pixels"] = pooled_pixels(events["apex"]) - pooled_pixels(events["onset"])
    y, groups = events["labels"], events["identities"]
    rows = []
    for step, (layer, x) in enumerate(difference.items()):
        progress(step / len(difference), f"probing {layer}")
        predicted = np.zeros_like(y)
        for held_out in np.unique(groups):
            train, test = groups != held_out, groups == held_out
            mean, sd = x[train].mean(0), x[train].std(0) + 1e-6
            weights, bias = fit_softmax((x[train] - mean) / sd, y[train], len(MICRO_LABELS))
            predicted[test] = (((x[test] - mean) / sd) @ weights + bias).argmax(1)
        scores = evaluate_predictions(y, predicted, list(MICRO_LABELS), n_boot=n_boot)
        rows.append({"layer": layer, **{k: scores[k] for k in ("accuracy", "ci_low", "ci_high", "macro_f1", "n")},
                     "macro_f1_ci": scores["macro_f1_ci"], "confusion": scores["confusion"]})  # fmt: skip
    progress(1.0, "done")
    return {
        "rows": rows, "classes": list(MICRO_LABELS), "n_events": int(len(y)), "identities": len(np.unique(groups)),
        "chance": 1 / len(MICRO_LABELS),
        "features": "apex minus onset: post-ReLU maxima per cell of a 3 x 3 grid; pixels: 12 x 12 block means",
    }  # fmt: skip
