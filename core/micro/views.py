"""What the Micro-expressions page shows of one spotted interval, computed in one call.

    view = interval_view(clip, result, index, cnn, "features.conv3")
    view.onset, view.apex, view.difference     # the crops the CNN saw, and apex minus onset
    view.changed                               # the maps that changed most, with their projections

The same function serves the page and a notebook; the page only draws what comes back.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from core.explain.activations import ChangedMap, maps_that_changed
from core.explain.views import DeconvolutionView, deconvolution_view
from core.micro.intervals import Interval
from core.micro.pipeline import SpotResult
from core.micro.track import crop_at

DIFFERENCE_GAIN = 4  # apex minus onset, times this, around mid gray


@dataclass(frozen=True)
class ChangedMapView:
    """A feature map that changed from onset to apex, with what it responds to at each."""

    map: ChangedMap  # channel, its maximum at onset and at apex, the change
    onset: DeconvolutionView  # its Zeiler & Fergus projection on the onset crop
    apex: DeconvolutionView  # and on the apex crop


@dataclass(frozen=True)
class IntervalView:
    """One interval's onset and apex crops, their difference, and the maps that changed most.

    The crops are None when the face was not found at the onset or the apex frame."""

    interval: Interval
    layer: str
    onset: np.ndarray | None
    apex: np.ndarray | None
    difference: np.ndarray | None  # uint8: 128 + DIFFERENCE_GAIN * (apex - onset), clipped
    changed: list[ChangedMapView]


def interval_view(
    path: str | Path, result: SpotResult, index: int, model: nn.Module, layer: str, top: int = 4
) -> IntervalView:
    """The interval at `index` of a run on the clip at `path`, seen through `model`'s `layer`."""
    interval = result.intervals[index]
    if result.track is None:
        return IntervalView(interval, layer, None, None, None, [])
    eyes = np.asarray(result.track["eyes"], np.float32)
    crops = crop_at(path, eyes, [interval.onset_frame, interval.apex_frame])
    onset, apex = crops.get(interval.onset_frame), crops.get(interval.apex_frame)
    if onset is None or apex is None:
        return IntervalView(interval, layer, onset, apex, None, [])
    difference = np.clip(128 + DIFFERENCE_GAIN * (apex.astype(np.int16) - onset.astype(np.int16)), 0, 255)
    changed = [
        ChangedMapView(m, deconvolution_view(model, onset, layer, m.channel), deconvolution_view(model, apex, layer, m.channel))
        for m in maps_that_changed(model, onset, apex, layer, top)
    ]
    return IntervalView(interval, layer, onset, apex, difference.astype(np.uint8), changed)
