"""What a FER network sees: activations, Zeiler & Fergus deconvolution, attribution maps.

    from core.explain import deconvolve
    projection = deconvolve(model, x, "features.conv2", channel=5)   # x's shape

`deconvolve(model, x, layer, channel)` is a stable entry point (DESIGN.md). Every
method checks the model first (`check_attribution_safe`): Captum's ReLU hooks and the
deconvnet are exact only for one nn.ReLU module per activation, nothing in place.
"""


import importlib

# The function `activations` shares its name with its module, so it is bound here at once (a lazy
# name would lose to the submodule once imported). The rest load on first use: the clip pipeline
# needs `activations` only, and Captum (with matplotlib under it) adds a second to a `spot` start.
from core.explain.activations import activations, strongest

_WHERE = {
    "METHODS": "core.explain.attributions", "Attribution": "core.explain.attributions",
    "explain": "core.explain.attributions", "deconvolve": "core.explain.deconv",
    "deconvolve_top_k": "core.explain.deconv", "receptive_field": "core.explain.deconv",
    "UnsafeModelError": "core.explain.safety", "check_attribution_safe": "core.explain.safety",
    "feature_layers": "core.models.layers", "model_lock": "core.models.lock",
}  # fmt: skip

__all__ = [
    "METHODS", "Attribution", "UnsafeModelError", "activations", "check_attribution_safe",
    "deconvolve", "deconvolve_top_k", "explain", "feature_layers", "model_lock", "receptive_field",
    "strongest",
]  # fmt: skip


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'core.explain' has no attribute '{name}'")
    return getattr(importlib.import_module(_WHERE[name]), name)
