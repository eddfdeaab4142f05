"""Per-layer activations of a CNN in one forward pass, and the strongest responses of a map.

Feature maps are what Zeiler & Fergus 2014 (Visualizing and Understanding Convolutional
Networks) project back to pixels; `strongest` finds the locations to project.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.errors import InputError
from core.models.inputs import to_tensor
from core.models.layers import feature_layers
from core.models.lock import model_lock


def check_image_batch(x: torch.Tensor) -> None:
    """Refuse anything but one image as a (1, channels, height, width) tensor."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"Expected one image as a (1, channels, height, width) tensor, got {shape}.")


def _modules(model: nn.Module, layers: list[str]) -> dict[str, nn.Module]:
    modules = dict(model.named_modules())
    unknown = [name for name in layers if name not in modules]
    if unknown:
        known = ", ".join(feature_layers(model))
        raise InputError(
            f"{type(model).__name__} has no layer {', '.join(unknown)}; its layers are: {known}."
        )
    return {name: modules[name] for name in layers}


@torch.no_grad()
def activations(
    model: nn.Module, x: torch.Tensor, layers: list[str] | None = None
) -> dict[str, torch.Tensor]:
    """The output of every requested module (default: `feature_layers`) for the batch `x`.

    One forward pass with forward hooks, removed afterwards even when the pass fails.
    """
    wanted = _modules(model, list(layers) if layers is not None else feature_layers(model))
    outputs: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(_module, _args, output):
            if name in outputs:
                raise InputError(f"{name} runs twice in one forward pass: its activation is ambiguous.")
            outputs[name] = output.detach()

        return hook

    with model_lock(model):
        handles = [module.register_forward_hook(keep(name)) for name, module in wanted.items()]
        try:
            model(x)
        finally:
            for handle in handles:
                handle.remove()
    idle = [name for name in wanted if name not in outputs]
    if idle:
        raise InputError(f"{', '.join(idle)} did not run in the forward pass: it has no activation.")
    return {name: outputs[name] for name in wanted}


def strongest(act: torch.Tensor, channel: int, k: int = 1) -> list[tuple[float, tuple[int, int]]]:
    """The k largest values of one channel of a (C, H, W) activation, with their (row, column).

    Largest first; ties go to the first location in row-major order (a stable sort), so
    the answer does not depend on the backend.
    """
    if act.dim() != 3:
        raise InputError(f"Expected one (channels, height, width) activation, got shape {tuple(act.shape)}.")
    if not 0 <= channel < act.shape[0]:
        raise InputError(
            f"Channel {channel} does not exist; this layer has {act.shape[0]} channels (0-based)."
        )
    plane = act[channel]
    values, order = torch.sort(plane.flatten(), descending=True, stable=True)
    width = plane.shape[1]
    return [(float(v), (int(i) // width, int(i) % width)) for v, i in zip(values[:k], order[:k], strict=True)]


def strength_order(maps: np.ndarray) -> list[int]:
    """Channels of (C, H, W) maps by their maximum, strongest first; ties by channel number.

    The maximum is what the deconvnet projects, so the first channel is the default one.
    """
    peaks = np.asarray(maps, dtype=np.float64).reshape(len(maps), -1).max(axis=1)
    return [int(c) for c in np.argsort(-peaks, kind="stable")]


@dataclass(frozen=True)
class ChangedMap:
    """A feature map whose strongest response changed between two faces (onset and apex)."""

    channel: int
    onset_max: float
    apex_max: float

    @property
    def change(self) -> float:
        return self.apex_max - self.onset_max


@torch.no_grad()
def maps_that_changed(
    model: nn.Module, onset: np.ndarray, apex: np.ndarray, layer: str, top: int = 4
) -> list[ChangedMap]:
    """The `top` feature maps of `layer` whose strongest response changed most from onset to apex
    (uint8 48x48 crops), by the absolute change of their maximum, largest first."""
    device = next(model.parameters()).device
    maps = activations(model, to_tensor(np.stack([onset, apex])).to(device), [layer])[layer]
    peak = maps.amax((2, 3)).float().cpu().numpy()
    order = np.argsort(-np.abs(peak[1] - peak[0]), kind="stable")[:top]
    return [ChangedMap(int(c), float(peak[0, c]), float(peak[1, c])) for c in order]
