"""A CNN's feature stack, described once (after timm's `feature_info`), and asked everywhere.

    info = feature_info(model)            # one LayerInfo per conv, BN, ReLU and pool module
    conv_layers(model)                    # ['features.conv1', 'features.conv2', ...]
    relu_after(model, "features.conv2")   # 'features.relu2': its output is the conv's feature maps
    layer_labels(model)                   # {'features.conv2': 'conv2 (2nd conv, 64 maps of 24x24)'}
    resolve_layers(model, ["conv2"])      # a user's short names -> module names, checked

Only `model.features` is described where the model has one, so the classifier's ReLU (whose
output is not a feature map) is left out. Output shapes come from one forward pass of zeros,
so they are the real ones; the description is kept per model object (shapes do not depend on
the weights). A model without a feature stack (the MicroLSTM) has none.
"""

import weakref
from dataclasses import dataclass

import torch
from torch import nn

from core.errors import InputError
from core.models.lock import model_lock

INPUT_SHAPE = (1, 1, 48, 48)
KINDS: dict[type[nn.Module], str] = {
    nn.Conv2d: "conv",
    nn.BatchNorm2d: "bn",
    nn.ReLU: "relu",
    nn.MaxPool2d: "pool",
}
DECONV_KINDS = ("conv", "relu", "pool")  # where a Zeiler & Fergus projection can start


@dataclass(frozen=True)
class LayerInfo:
    """One module of the feature stack."""

    name: str  # as in `model.named_modules()`, e.g. 'features.conv2'
    kind: str  # conv, bn, relu or pool
    label: str  # for people: 'conv2 (2nd conv, 64 maps of 24x24)'
    output_shape: tuple[int, ...]  # channels, height, width (no batch)
    relu: str | None  # for a conv: the ReLU module right after it (its feature maps), if it has its own

    @property
    def channels(self) -> int:
        return self.output_shape[0]


_described: "weakref.WeakKeyDictionary[nn.Module, tuple[LayerInfo, ...]]" = weakref.WeakKeyDictionary()


def feature_info(model: nn.Module) -> tuple[LayerInfo, ...]:
    """The feature stack's modules in forward order, with their output shapes and labels."""
    if model not in _described:
        _described[model] = _describe(model)
    return _described[model]


def _describe(model: nn.Module) -> tuple[LayerInfo, ...]:
    root, prefix = (model.features, "features.") if hasattr(model, "features") else (model, "")
    stack = [(prefix + name, m) for name, m in root.named_modules() if name and _kind(m)]
    if not stack:
        return ()
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str, output: torch.Tensor) -> None:  # a hook that returns nothing keeps the output
        shapes.setdefault(name, tuple(output.shape[1:]))

    hooks = [m.register_forward_hook(lambda _m, _i, out, n=n: record(n, out)) for n, m in stack]
    with model_lock(model):
        was_training = model.training
        try:
            model.eval()
            with torch.no_grad():
                model(torch.zeros(INPUT_SHAPE, device=next(model.parameters()).device))
        finally:
            model.train(was_training)
            for hook in hooks:
                hook.remove()
    infos, convs = [], 0
    for i, (name, module) in enumerate(stack):
        kind, short, shape = _kind(module), name.rsplit(".", 1)[-1], shapes.get(name, ())
        label, relu = short, None
        if kind == "conv":
            convs += 1
            label = f"{short} ({_ordinal(convs)} conv, {shape[0]} maps of {shape[1]}x{shape[2]})"
            relu = _relu_right_after(stack, i)
        infos.append(LayerInfo(name, kind, label, shape, relu))
    return tuple(infos)


def _kind(module: nn.Module | None) -> str | None:
    return next((kind for cls, kind in KINDS.items() if isinstance(module, cls)), None)


def _relu_right_after(stack: list[tuple[str, nn.Module]], conv_index: int) -> str | None:
    """The first ReLU after the conv, before the next conv (batch norm may sit between them)."""
    for name, module in stack[conv_index + 1 :]:
        if isinstance(module, nn.ReLU):
            return name
        if isinstance(module, nn.Conv2d):
            return None
    return None


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def feature_layers(model: nn.Module) -> list[str]:
    """Names of the conv, BatchNorm, ReLU and pool modules of the feature stack, in order."""
    return [info.name for info in feature_info(model)]


def conv_layers(model: nn.Module) -> list[str]:
    """The conv layers users pick, in order (`features.conv1`, ...)."""
    return [info.name for info in feature_info(model) if info.kind == "conv"]


def layer_labels(model: nn.Module) -> dict[str, str]:
    """Conv layer name -> human label, for pickers and captions."""
    return {info.name: info.label for info in feature_info(model) if info.kind == "conv"}


def relu_after(model: nn.Module, conv: str) -> str:
    """The ReLU module that follows a conv layer (its output is the feature map).

    Found by position, not by name, so that a model whose conv has no ReLU of its own is refused
    rather than read before its nonlinearity.
    """
    info = {i.name: i for i in feature_info(model)}.get(conv)
    if info is None or info.kind != "conv":
        raise InputError(
            f"{conv} is not a conv layer of {type(model).__name__}: {', '.join(conv_layers(model))}."
        )
    if info.relu is None:
        raise InputError(f"{conv} is not followed by its own ReLU module: its feature maps are not defined.")
    return info.relu


def resolve_layers(model: nn.Module, layers: list[str] | None = None) -> list[str]:
    """Module names of the layers a user named: by default every conv layer, in order.

    A name may be given without the `features.` prefix (`conv2` for `features.conv2`); each must
    be a conv, ReLU or max-pool layer (where the deconvnet can start).
    """
    if layers is None:
        return conv_layers(model)
    modules = dict(model.named_modules())
    resolved = []
    for name in (name.strip() for name in layers if name.strip()):
        full = name if name in modules or f"features.{name}" not in modules else f"features.{name}"
        if _kind(modules.get(full)) not in DECONV_KINDS:
            what = "no layer" if full not in modules else f"a {type(modules[full]).__name__} at"
            choices = [i.name for i in feature_info(model) if i.kind in DECONV_KINDS]
            raise InputError(
                f"{type(model).__name__} has {what} '{name}'; deconvolution starts at a conv, ReLU or "
                f"max-pool layer: {', '.join(choices)}."
            )
        if full not in resolved:
            resolved.append(full)
    if not resolved:
        raise InputError("Name at least one layer.")
    return resolved
