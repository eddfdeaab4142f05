"""Per-face summaries of feature maps: one number per map and face (its spatial maximum)."""

import numpy as np
import torch
from torch import nn

from core.datasets.units import unit_means
from core.explain.activations import activations
from core.models.inputs import to_tensor
from core.models.layers import relu_after, resolve_layers
from core.progress import Progress, no_progress


def layer_maxima(
    model: nn.Module,
    crops: np.ndarray,
    layers: list[str] | None = None,
    after_relu: bool = False,
    grid: int = 1,
    batch_size: int = 256,
    progress: Progress = no_progress,
) -> dict[str, np.ndarray]:
    """conv layer -> (faces, channels * grid**2) spatial maxima of its maps (over grid x grid cells).

    `after_relu=False` gives the conv output (the atlas's 'value', before the ReLU); True
    gives the ReLU's output, the features the next layer actually receives.
    """
    convs = resolve_layers(model, layers)
    hooked = {conv: relu_after(model, conv) if after_relu else conv for conv in convs}
    parts: dict[str, list[np.ndarray]] = {conv: [] for conv in convs}
    device = next(model.parameters()).device
    model.eval()
    for start in range(0, len(crops), batch_size):
        x = to_tensor(crops[start : start + batch_size]).to(device)
        outputs = activations(model, x, list(hooked.values()))
        for conv, name in hooked.items():
            pooled = torch.nn.functional.adaptive_max_pool2d(outputs[name], grid).flatten(1)
            parts[conv].append(pooled.float().cpu().numpy())
        progress(
            min(1.0, (start + batch_size) / max(len(crops), 1)), f"feature maps {start:,}/{len(crops):,}"
        )
    return {
        conv: np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
        for conv, chunks in parts.items()
    }


def per_unit(values: np.ndarray, units: list[str]) -> tuple[np.ndarray, list[str]]:
    """Rows averaged over the faces of each unit (the 3 near-duplicate frames of a CK+ sequence)."""
    names, index = np.unique(np.asarray(units), return_inverse=True)
    return unit_means(values, index, len(names)).astype(np.float32), list(names)


@torch.no_grad()
def pooled_pixels(crops: np.ndarray, side: int = 12) -> np.ndarray:
    """Pixels averaged into side x side blocks: the baseline a probe on the network must beat."""
    x = torch.as_tensor(crops).float().unsqueeze(1) / 255.0
    return torch.nn.functional.adaptive_avg_pool2d(x, side).flatten(1).numpy()
