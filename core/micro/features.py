"""A clip's per-frame CNN features, a batch of aligned crops at a time (`core.micro.track` keeps them):
the mean and maximum of every post-ReLU map, and the first layer pooled over each AU region. Apart
from the tracking, which starts before torch is imported."""

import copy

import cv2
import numpy as np
import torch
from torch import nn

from core.au import regions as au_regions
from core.errors import InputError
from core.explain.activations import activations
from core.micro.track import REGIONS
from core.models.inputs import INPUT_SIZE, to_tensor
from core.models.layers import conv_layers, relu_after
from core.models.zoo import cache_id


class FeatureBatcher:
    """Runs the CNN on crops in batches and keeps only the pooled values."""

    def __init__(self, model: nn.Module) -> None:
        # A copy of its own, channels_last: the convolutions run twice as fast on a CPU, and the
        # caller's model (shared with the pages' explanations) is left as it is.
        self.model = model = copy.deepcopy(model).to(memory_format=torch.channels_last)
        self.layers = [relu_after(model, conv) for conv in conv_layers(model)]  # the feature maps
        if not self.layers:
            raise InputError(f"{type(model).__name__} has no ReLU feature maps to read video features from.")
        device = next(model.parameters()).device
        shapes = activations(model, torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE, device=device), self.layers)
        self.layout = [(name, shapes[name].shape[1]) for name in self.layers]  # (layer, maps)
        self._region_weights = _region_weights(shapes[self.layers[0]].shape[2:]).to(device)  # once, not per batch
        self.model_id = cache_id(model)  # 'name:sha256', what the clip's features are keyed by

    def columns(self) -> dict[str, tuple[tuple[int, ...], type, float]]:
        """The table's columns of this network's features."""
        width = sum(maps for _, maps in self.layout)
        return {"pooled": ((width,), np.float16, 0.0), "maxima": ((width,), np.float16, 0.0),
                "regions": ((len(REGIONS), self.layout[0][1]), np.float16, 0.0)}  # fmt: skip

    @torch.no_grad()
    def features(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pooled means, maxima and first-layer region pools of a batch of uint8 crops."""
        device = next(self.model.parameters()).device
        x = to_tensor(crops).to(device)
        maps = activations(self.model, x, self.layers)
        pooled = torch.cat([maps[name].mean((2, 3)) for name in self.layers], 1)
        maxima = torch.cat([maps[name].amax((2, 3)) for name in self.layers], 1)
        regions = torch.einsum("bchw,rhw->brc", maps[self.layers[0]], self._region_weights)
        return tuple(t.float().cpu().numpy().astype(np.float16) for t in (pooled, maxima, regions))


def _region_weights(shape: torch.Size) -> torch.Tensor:
    """(regions, h, w): each AU region's mask at the first layer's size, summing to 1 (a mean over it)."""
    masks = au_regions.canonical_region_masks(INPUT_SIZE)
    weights = []
    for region in REGIONS:
        mask = cv2.resize(masks[region].astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
        weights.append(torch.from_numpy(mask / max(mask.sum(), 1e-6)))
    return torch.stack(weights)
