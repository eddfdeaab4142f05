"""FER CNNs and the micro-expression LSTM, the zoo of shipped weights, training and evaluation.

from core.models import load_model
model = load_model("fan2019-fer2013")      # eval mode, CPU, checksum verified
"""

from core.models.architectures import ARCHITECTURES, BreuerNet, FanNet, MicroLSTM
from core.models.zoo import ModelError, load_checkpoint, load_model, model_card, read_manifest

__all__ = [
    "ARCHITECTURES", "BreuerNet", "FanNet", "MicroLSTM", "ModelError",
    "load_checkpoint", "load_model", "model_card", "read_manifest",
]  # fmt: skip
