"""Which pixels made the network say this class? Captum's attribution methods, one small class each.

From a notebook:

    from core.explain.attributions import GradCamMap
    heat = GradCamMap(model, "features.conv3").attribute(x, target=3)   # (1, 1, 48, 48)

or, as every page and CLI verb does, `explain(model, x, "grad_cam", target=3)` -> (48, 48).

The methods and their papers:
- Guided backpropagation: Springenberg et al. 2015, Striving for Simplicity: The All
  Convolutional Net (arXiv 1412.6806). The input gradient, with each ReLU passing back
  only positive gradients where its input was positive.
- Grad-CAM: Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks via
  Gradient-based Localization (arXiv 1610.02391). A conv layer's maps weighted by their
  mean gradient, summed, rectified, and upsampled (bilinear) to the input.
- Guided Grad-CAM: the same paper; guided backpropagation times the upsampled Grad-CAM.
- Integrated gradients: Sundararajan et al. 2017, Axiomatic Attribution for Deep Networks
  (arXiv 1703.01365). The gradient averaged along the straight path from a baseline image
  to x, times (x - baseline); the attributions sum to f(x) - f(baseline) (completeness).
- Occlusion: Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks.
  How much the class score drops when a window of the face is replaced by gray.

Every method first checks the model with `check_attribution_safe` (cached per model),
because the ReLU-hook methods give silently wrong maps on functional or reused ReLUs.
"""

import warnings

import numpy as np
import torch
from captum.attr import (
    GuidedBackprop,
    GuidedGradCam,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    Occlusion,
)
from torch import nn

from core.errors import InputError
from core.explain.activations import check_image_batch
from core.explain.safety import check_attribution_safe, gradients_on
from core.models.inputs import INPUT_MEAN, INPUT_STD, to_tensor
from core.models.layers import conv_layers
from core.models.lock import model_lock

# Baselines in the model's normalised input space: a black face, or the mid gray that
# inputs are centred on (pixel value INPUT_MEAN * 255: the "mean" of the normalisation).
BASELINES = {"black": (0.0 - INPUT_MEAN) / INPUT_STD, "mean": 0.0}


class Attribution:
    """One attribution method on one model: `attribute(x, target)` -> a map of x's height and width."""

    name = ""
    label = ""
    note = ""  # one line for the caption under its map: what it computes, after whom
    needs_layer = False

    def __init__(self, model: nn.Module):
        check_attribution_safe(model)
        self.model = model

    def attribute(self, x: torch.Tensor, target: int) -> torch.Tensor:
        """The map for class `target` of the single image x (1, C, H, W), as (1, C or 1, H, W)."""
        check_image_batch(x)
        classes = getattr(self.model, "num_classes", None)
        if classes is not None and not 0 <= target < classes:
            raise InputError(f"Class {target} does not exist; the model has {classes} classes (0-based).")
        with model_lock(self.model), warnings.catch_warnings(), gradients_on():
            # Captum warns on every call that it sets and removes its hooks: expected here.
            warnings.filterwarnings("ignore", module="captum")
            return self._attribute(x.clone(), int(target)).detach()

    def _attribute(self, x: torch.Tensor, target: int) -> torch.Tensor:
        raise NotImplementedError


class LayerMethod(Attribution):
    """A method that reads one conv layer (default: the last one)."""

    needs_layer = True

    def __init__(self, model: nn.Module, layer: str | None = None):
        super().__init__(model)
        self.layer = layer or last_conv_layer(model)
        module = dict(model.named_modules()).get(self.layer)
        if not isinstance(module, nn.Conv2d | nn.ReLU | nn.MaxPool2d | nn.BatchNorm2d):
            raise InputError(f"{self.label} needs a conv layer of the model, not '{self.layer}'.")
        self.module = module


class GuidedBackpropMap(Attribution):
    name, label = "guided_backprop", "Guided backpropagation"
    note = (
        "Guided backpropagation (Springenberg et al. 2015, arXiv 1412.6806): how the class score "
        "changes with each pixel, passing back through each ReLU only signals that are positive both "
        "ways; sharp, edge-like detail."
    )

    def _attribute(self, x: torch.Tensor, target: int) -> torch.Tensor:
        return GuidedBackprop(self.model).attribute(x, target=target)


class GradCamMap(LayerMethod):
    name, label = "grad_cam", "Grad-CAM"
    note = (
        "Grad-CAM (Selvaraju et al. 2017, arXiv 1610.02391): the chosen conv layer's feature maps, "
        "weighted by how much each raises the class score, summed and kept where positive; coarse "
        "regions, as fine as that layer's grid."
    )

    def _attribute(self, x: torch.Tensor, target: int) -> torch.Tensor:
        cam = LayerGradCam(self.model, self.module).attribute(x, target=target, relu_attributions=True)
        return LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")


class GuidedGradCamMap(LayerMethod):
    name, label = "guided_grad_cam", "Guided Grad-CAM"
    note = (
        "Guided Grad-CAM (Selvaraju et al. 2017, arXiv 1610.02391): guided backpropagation kept only "
        "inside the regions Grad-CAM picks; fine detail where the evidence is."
    )

    def _attribute(self, x: torch.Tensor, target: int) -> torch.Tensor:
        method = GuidedGradCam(self.model, self.module)
        return method.attribute(x, target=target, interpolate_mode="bilinear")


class IntegratedGradientsMap(Attribution):
    """`baseline`: "black", "mean" (uniform mid gray) or a tensor of x's shape (e.g. a data set's mean face).

    After `attribute`, `delta` holds Captum's completeness error:
    sum(attributions) - (f(x) - f(baseline)).
    """

    name, label = "integrated_gradients", "Integrated gradients"
    note = (
        "Integrated gradients (Sundararajan et al. 2017, arXiv 1703.01365): the pixel gradients "
        "averaged from a black image up to this face, times each pixel's change; the map sums to the "
        "score difference between the two."
    )

    def __init__(self, model: nn.Module, steps: int = 32, baseline: str | torch.Tensor = "black"):
        super().__init__(model)
        if isinstance(baseline, str) and baseline not in BASELINES:
            raise InputError(
                f"Unknown baseline '{baseline}'; use {' or '.join(BASELINES)} or an image tensor."
            )
        self.steps, self.baseline, self.delta = steps, baseline, None

    def _attribute(self, x: torch.Tensor, target: int) -> torch.Tensor:
        baseline = self.baseline
        baseline = torch.full_like(x, BASELINES[baseline]) if isinstance(baseline, str) else baseline.to(x)
        attributions, delta = IntegratedGradients(self.model).attribute(
            x, baselines=baseline, target=target, n_steps=self.steps, return_convergence_delta=True
        )
        self.delta = float(delta.sum())
        return attributions


class OcclusionMap(Attribution):
    """Score drop when a `window` x `window` square (moved by `stride`) is set to mid gray."""

    name, label = "occlusion", "Occlusion"
    note = (
        "Occlusion (Zeiler & Fergus 2014, arXiv 1311.2901): how much the class score drops when an "
        "8x8 gray square hides each part of the face; model-agnostic but coarse."
    )

    def __init__(self, model: nn.Module, window: int = 8, stride: int = 4):
        super().__init__(model)
        self.window, self.stride = window, stride

    def _attribute(self, x: torch.Tensor, target: int) -> torch.Tensor:
        channels = x.shape[1]
        return Occlusion(self.model).attribute(
            x,
            sliding_window_shapes=(channels, self.window, self.window),
            strides=(channels, self.stride, self.stride),
            baselines=BASELINES["mean"],
            target=target,
            perturbations_per_eval=64,  # the windows of one face go through in a few batches
        )


METHODS: dict[str, type[Attribution]] = {
    method.name: method
    for method in (GuidedBackpropMap, GradCamMap, GuidedGradCamMap, IntegratedGradientsMap, OcclusionMap)
}
"""Method name (as in URLs and the CLI) -> class; `METHODS[name].label` is the human label."""


def last_conv_layer(model: nn.Module) -> str:
    """The name of the model's last conv layer, Grad-CAM's usual layer."""
    convs = conv_layers(model)
    if not convs:
        raise InputError(f"{type(model).__name__} has no conv layer.")
    return convs[-1]


def explain(
    model: nn.Module,
    x: torch.Tensor | np.ndarray,
    method: str,
    target: int,
    layer: str | None = None,
    **options,
) -> np.ndarray:
    """The `method` map of class `target` for one face, as a float (H, W) array (48 x 48).

    x: the model's input (1, C, H, W), or a uint8 gray crop (H, W). layer: for the layer
    methods (Grad-CAM, Guided Grad-CAM); others ignore it. options go to the method (steps,
    baseline, window, stride). Colour channels, if any, are summed.
    """
    if method not in METHODS:
        raise InputError(f"Unknown attribution method '{method}'; known: {', '.join(METHODS)}.")
    if isinstance(x, np.ndarray):
        if x.dtype != np.uint8 or x.ndim != 2:
            raise InputError(f"Expected a uint8 gray crop (height, width), got {x.dtype} {x.shape}.")
        x = to_tensor(x[None])
    parameter = next(model.parameters(), None)
    if parameter is not None:
        x = x.to(parameter.device)
    cls = METHODS[method]
    explainer = cls(model, layer, **options) if cls.needs_layer else cls(model, **options)
    return explainer.attribute(x, target).sum(dim=1)[0].cpu().numpy()
