"""FER CNNs and the micro-expression LSTM, the zoo of shipped weights, training and evaluation.

from core.models import load_model
model = load_model("fan2019-fer2013")      # eval mode, CPU, checksum verified

The names below load their module (and torch) when first asked for, so that importing a module
of this package that needs no torch (`core.models.cards`) does not import it (PEP 562).
"""

import importlib

_MODULE_OF = {
    "ARCHITECTURES": "architectures", "BreuerNet": "architectures", "FanNet": "architectures",
    "MicroLSTM": "architectures", "ModelError": "cards", "model_card": "cards", "read_manifest": "cards",
    "load_checkpoint": "zoo", "load_model": "zoo",
}  # fmt: skip
__all__ = list(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'core.models' has no attribute '{name}'")
    return getattr(importlib.import_module(f"core.models.{_MODULE_OF[name]}"), name)
