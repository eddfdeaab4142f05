"""What a FER network sees: activations, Zeiler & Fergus deconvolution, attribution maps.

    from core.explain import deconvolve
    projection = deconvolve(model, x, "features.conv2", channel=5)   # x's shape

`deconvolve(model, x, layer, channel)` is a stable entry point (DESIGN.md). Every
method checks the model first (`check_attribution_safe`): Captum's ReLU hooks and the
deconvnet are exact only for one nn.ReLU module per activation, nothing in place.
"""

from core.explain.activations import activations, strongest
from core.explain.attributions import METHODS, Attribution, explain
from core.explain.deconv import deconvolve, deconvolve_top_k, receptive_field
from core.explain.safety import UnsafeModelError, check_attribution_safe
from core.models.layers import feature_layers
from core.models.lock import model_lock

__all__ = [
    "METHODS", "Attribution", "UnsafeModelError", "activations", "check_attribution_safe",
    "deconvolve", "deconvolve_top_k", "explain", "feature_layers", "model_lock", "receptive_field",
    "strongest",
]  # fmt: skip
