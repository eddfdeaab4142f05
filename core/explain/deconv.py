"""The deconvnet of Zeiler & Fergus 2014, "Visualizing and Understanding Convolutional
Networks" (ECCV 2014, arXiv 1311.2901), as used by Fan, Yuan & Zhu 2019 to see what a
feature map of a FER network responds to.

What `deconvolve(model, x, layer, channel)` returns, exactly:

1. Run `x` forward. At `layer`'s output keep only the chosen channel's maximal activation
   (first in row-major order on ties), with its value; every other activation is zero.
2. Go back down to the pixels, module by module:
   - through a ReLU: rectify the reconstruction (ReLU of the signal going down, not gated
     by where the forward pass was positive: that gate would be guided backpropagation);
   - through max pooling: unpool with the switches recorded in the forward pass, i.e. the
     transpose of the max selection; where overlapping windows chose the same input
     pixel, their contributions add;
   - through a conv: the transposed filters (conv_transpose with the same weights, stride
     and padding; no bias).
3. The result has x's shape. It is zero outside the receptive field of the maximum
   (`receptive_field`). A channel whose maximum is <= 0 did not fire: the projection is
   all zeros.

BatchNorm has no deconvnet rule; networks that train with it are folded first
(`core.models.architectures.fold_batch_norm`), and a model that still has it is refused.

Implementation: Captum's `NeuronDeconvolution` computes exactly this on a model that
passes `check_attribution_safe`: it overrides each nn.ReLU's backward to rectify the
gradient, autograd's max-pool backward scatter-adds to the argmax switches, and a conv's
input gradient is the transposed convolution. The gradient of the selected neuron is
scaled by its value (every step down is positively homogeneous). tests/test_explain.py
checks it against an independent hand-written deconvnet.
"""

import warnings

import torch
from captum.attr import NeuronDeconvolution
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.utils import _pair

from core.errors import InputError
from core.explain.activations import activations, check_image_batch, strongest
from core.explain.safety import check_attribution_safe, gradients_on
from core.models.layers import resolve_layers
from core.models.lock import model_lock

# Modules that do not move pixels: the receptive field passes through them unchanged.
POINTWISE_TYPES = (nn.ReLU, nn.BatchNorm2d, nn.Dropout, nn.Identity)

Projection = tuple[float, tuple[int, int], torch.Tensor]


def deconvolve(model: nn.Module, x: torch.Tensor, layer: str, channel: int) -> torch.Tensor:
    """The projection of `channel`'s strongest activation at `layer` back to pixel space.

    x: a batch of one as the model takes it, e.g. (1, 1, 48, 48); layer: a conv, ReLU or
    max-pool module name from `model.named_modules()` (e.g. `features.conv2`). Returns a
    tensor of x's shape; all zeros where the channel's maximum is <= 0.
    """
    return deconvolve_top_k(model, x, layer, channel, 1)[0][2]


def deconvolve_top_k(model: nn.Module, x: torch.Tensor, layer: str, channel: int, k: int) -> list[Projection]:
    """One projection per location of the channel's k strongest activations, strongest first.

    Each item is (value, (row, column) in the layer's output, projection of x's shape).
    """
    module = deconv_module(model, layer)
    check_image_batch(x)
    if k < 1:
        raise InputError(f"k must be at least 1, not {k}.")
    check_attribution_safe(model, x)
    refuse_batch_norm(model)
    with model_lock(model):
        act = activations(model, x, [layer])[layer]
        if act.dim() != 4:
            raise InputError(
                f"{layer} does not output feature maps (its output has shape {tuple(act.shape)})."
            )
        peaks = strongest(act[0], channel, k)
        return [(value, where, _project(model, module, x, channel, where, value)) for value, where in peaks]


def _project(
    model: nn.Module, module: nn.Module, x: torch.Tensor, channel: int, where: tuple[int, int], value: float
) -> torch.Tensor:
    if value <= 0:
        return torch.zeros_like(x)
    deconv = NeuronDeconvolution(model, module)
    with warnings.catch_warnings(), gradients_on():
        # Captum warns on every call that it sets (and removes) ReLU hooks: expected here.
        warnings.filterwarnings("ignore", module="captum")
        gradient = deconv.attribute(x.clone(), neuron_selector=(channel, *where))
    return gradient.detach() * value


def deconv_module(model: nn.Module, layer: str) -> nn.Module:
    """The conv, ReLU or max-pool module a projection starts from; InputError naming the choices."""
    return model.get_submodule(resolve_layers(model, [layer])[0])


def refuse_batch_norm(model: nn.Module) -> None:
    norms = [name for name, m in model.named_modules() if isinstance(m, _BatchNorm)]
    if norms:
        raise InputError(
            f"{type(model).__name__} has BatchNorm ({', '.join(norms)}), which the deconvnet does not "
            "define; fold it into the convolutions first (core.models.architectures.fold_batch_norm)."
        )


def _geometry(module: nn.Module) -> tuple[tuple[int, int], ...]:
    """(kernel, stride, padding, dilation) per axis of a conv or pooling module."""
    kernel, stride = _pair(module.kernel_size), _pair(module.stride or module.kernel_size)
    dilation = _pair(getattr(module, "dilation", 1))
    padding = module.padding
    if isinstance(padding, str):  # 'valid' or 'same' (stride 1): the left padding
        padding = tuple(
            0 if padding == "valid" else d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True)
        )
    return kernel, stride, _pair(padding), dilation


def receptive_field(
    model: nn.Module, layer: str, where: tuple[int, int], image_size: int | tuple[int, int] = 48
) -> tuple[int, int, int, int]:
    """The input pixels that can influence location `where` = (row, column) of `layer`'s output.

    Returns (top, left, bottom, right) with bottom and right exclusive, so
    `image[top:bottom, left:right]` is the field; clipped to the image. Analytic, from the
    kernel, stride, padding and dilation of the modules before `layer`, for a plain stack
    of conv / pool / pointwise modules defined in the order they run (as FanNet and BreuerNet).
    """
    target = dict(model.named_modules()).get(layer)
    if target is None or next(target.children(), None) is not None:
        raise InputError(f"{type(model).__name__} has no single layer '{layer}'.")
    chain = []
    for name, module in model.named_modules():
        if next(module.children(), None) is None:
            chain.append((name, module))
        if name == layer:
            break
    spans = [[where[0], where[0]], [where[1], where[1]]]  # inclusive, per axis
    for name, module in reversed(chain):
        if isinstance(module, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
            kernel, stride, padding, dilation = _geometry(module)
            for axis, span in enumerate(spans):
                span[0] = span[0] * stride[axis] - padding[axis]
                span[1] = span[1] * stride[axis] - padding[axis] + dilation[axis] * (kernel[axis] - 1)
        elif not isinstance(module, POINTWISE_TYPES):
            raise InputError(f"The receptive field is not defined through {name} ({type(module).__name__}).")
    height, width = _pair(image_size)
    (top, bottom), (left, right) = spans
    return max(top, 0), max(left, 0), min(bottom + 1, height), min(right + 1, width)
