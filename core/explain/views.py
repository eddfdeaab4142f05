"""What the Explore page's sections and the `deconv` verb show: one function each, a typed result.

    view = deconvolution_view(model, crop, "features.conv2", channel=5)
    view.value, view.location, view.receptive_field     # where the map fires most, and what can reach it
    view.picture(scale=4)                               # the projection as the page and the PNG draw it
    maps = feature_maps_view(model, crop, "features.conv2")
    maps.grid(columns=8), maps.strongest
"""

from dataclasses import dataclass

import numpy as np
from torch import nn

from core.explain.activations import activations, strength_order
from core.explain.deconv import deconvolve_top_k, receptive_field
from core.explain.figures import Box, enlarge, feature_map_grid, field_on_face, normalize_deconvolution
from core.models.inputs import to_tensor
from core.models.layers import resolve_layers


@dataclass(frozen=True)
class DeconvolutionView:
    """The Zeiler & Fergus projection of one map's strongest response on one face."""

    layer: str  # the module name
    channel: int
    value: float  # the map's maximum; <= 0: it does not fire, the projection is all zeros
    location: tuple[int, int]  # row, column of the maximum in the layer's output
    receptive_field: Box  # top, left, bottom, right (exclusive) in crop pixels
    projection: np.ndarray  # float32, the crop's shape: the raw projection

    @property
    def fired(self) -> bool:
        return self.value > 0

    def picture(self, scale: int = 1) -> np.ndarray:
        """RGB uint8: normalised around zero (gray is 0), each pixel a scale x scale block."""
        return enlarge(normalize_deconvolution(self.projection[None]), scale)

    def field_picture(self, crop: np.ndarray, scale: int = 1) -> np.ndarray:
        """The face with the receptive field outlined."""
        return field_on_face(crop, self.receptive_field, scale)

    def to_json(self) -> dict:
        top, left, bottom, right = self.receptive_field
        return {"layer": self.layer, "channel": self.channel, "value": round(self.value, 6), "fired": self.fired,
                "location": {"row": self.location[0], "column": self.location[1]},
                "receptive_field": {"top": top, "left": left, "bottom": bottom, "right": right}}  # fmt: skip


def deconvolution_view(model: nn.Module, crop: np.ndarray, layer: str, channel: int) -> DeconvolutionView:
    """The projection of `channel`'s strongest response in `layer` (a short or full name) on a uint8 crop."""
    layer = resolve_layers(model, [layer])[0]
    x = to_tensor(np.asarray(crop)[None]).to(next(model.parameters()).device)
    value, where, projection = deconvolve_top_k(model, x, layer, channel, 1)[0]
    field = receptive_field(model, layer, where, np.asarray(crop).shape)
    return DeconvolutionView(layer, channel, float(value), tuple(where), tuple(field),
                             projection[0, 0].detach().cpu().numpy().astype(np.float32))  # fmt: skip


@dataclass(frozen=True)
class FeatureMaps:
    """One layer's feature maps on one face (before its ReLU), and their order by strength."""

    layer: str
    maps: np.ndarray  # (C, H, W) float32
    order: list[int]  # channels by their maximum, strongest first

    @property
    def strongest(self) -> int:
        return self.order[0]

    def grid(self, columns: int = 8) -> np.ndarray:
        """After the ReLU (negative responses cut to 0, what the next layer receives), strongest first."""
        return feature_map_grid(np.maximum(self.maps, 0), self.order, columns=columns)


def feature_maps_view(model: nn.Module, crop: np.ndarray, layer: str) -> FeatureMaps:
    """The maps of `layer` for a uint8 crop, ordered strongest first."""
    x = to_tensor(np.asarray(crop)[None]).to(next(model.parameters()).device)
    maps = activations(model, x, [layer])[layer][0].float().cpu().numpy()
    return FeatureMaps(layer, maps, strength_order(maps))
