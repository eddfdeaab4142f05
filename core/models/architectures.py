"""The networks, written so that deconvolution and Captum's attributions are exact.

Rules (DESIGN.md): every ReLU and every pooling layer is its own module, used once,
never in place; no functional activations. Conv layers carry readable names (`conv1`,
`conv2a`, ...) because users pick them in the app; `core.models.layers.feature_info`
describes the stack (names, kinds, shapes, labels) for everything that lists layers.

- `FanNet` after Fan, Yuan & Zhu 2019: plain conv, ReLU, max-pool stacks on 48x48 gray.
- `BreuerNet` after Breuer & Kimmel 2017: a VGG-like FER network (pairs of 3x3 convs).
  It trains with batch norm; `fold_batch_norm` merges each BN into its conv, so the
  shipped network is plain conv/ReLU/pool again and deconvolution stays exact.
- `MicroLSTM` after Breuer & Kimmel 2017: an LSTM over per-frame CNN features.
"""

from collections import OrderedDict

import torch
from torch import nn


def _block(name: str, in_channels: int, out_channels: int, kernel: int, batch_norm: bool) -> list:
    layers = [(name, nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2))]
    if batch_norm:
        layers.append((f"bn{name[4:]}", nn.BatchNorm2d(out_channels)))
    layers.append((f"relu{name[4:]}", nn.ReLU()))
    return layers


class FERNet(nn.Module):
    """A conv feature stack (`features`) and a classifier head (`classifier`)."""

    # (conv name, out channels, kernel) per conv; "pool" closes a stage.
    PLAN: tuple = ()
    HIDDEN = 256

    def __init__(
        self, num_classes: int = 7, in_channels: int = 1, batch_norm: bool = False, width: float = 1.0
    ):
        super().__init__()
        self.num_classes, self.in_channels, self.width = num_classes, in_channels, width
        layers, channels, stage = [], in_channels, 1
        for step in self.PLAN:
            if step == "pool":
                layers.append((f"pool{stage}", nn.MaxPool2d(2, 2)))
                stage += 1
                continue
            name, out, kernel = step
            out = max(8, round(out * width))
            layers += _block(name, channels, out, kernel, batch_norm)
            channels = out
        self.features = nn.Sequential(OrderedDict(layers))
        side = 48 // 2 ** (stage - 1)
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("flatten", nn.Flatten()),
                    ("dropout1", nn.Dropout(0.5)),
                    ("fc1", nn.Linear(channels * side * side, self.HIDDEN)),
                    ("relu_fc1", nn.ReLU()),
                    ("dropout2", nn.Dropout(0.5)),
                    ("fc2", nn.Linear(self.HIDDEN, num_classes)),
                ]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class FanNet(FERNet):
    """After Fan et al. 2019: three conv/ReLU/max-pool stages, then two dense layers."""

    PLAN = (("conv1", 32, 5), "pool", ("conv2", 64, 3), "pool", ("conv3", 128, 3), "pool")


class BreuerNet(FERNet):
    """After Breuer & Kimmel 2017: a VGG-like network of paired 3x3 convolutions."""

    PLAN = (
        ("conv1a", 64, 3), ("conv1b", 64, 3), "pool",
        ("conv2a", 128, 3), ("conv2b", 128, 3), "pool",
        ("conv3a", 256, 3), ("conv3b", 256, 3), "pool",
        ("conv4a", 512, 3), ("conv4b", 512, 3), "pool",
    )  # fmt: skip
    HIDDEN = 512


@torch.no_grad()
def fold_batch_norm(model: FERNet) -> FERNet:
    """The same network in eval mode without BatchNorm: each BN merged into its conv."""
    plain = type(model)(model.num_classes, model.in_channels, batch_norm=False, width=model.width)
    modules = dict(model.features.named_children())
    for name, conv in plain.features.named_children():
        if not isinstance(conv, nn.Conv2d):
            continue
        trained, bn = modules[name], modules[f"bn{name[4:]}"]
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        conv.weight.copy_(trained.weight * scale[:, None, None, None])
        conv.bias.copy_((trained.bias - bn.running_mean) * scale + bn.bias)
    plain.classifier.load_state_dict(model.classifier.state_dict())
    return plain.eval()


class MicroLSTM(nn.Module):
    """An LSTM over a clip's per-frame CNN features, after Breuer & Kimmel 2017.

    Input: (batch, frames, features); output: per-frame class logits (batch, frames, classes),
    so one network both spots (where the class is not `none`) and recognises.
    """

    def __init__(self, feature_dim: int, num_classes: int, hidden: int = 128, layers: int = 1):
        super().__init__()
        self.lstm = nn.LSTM(feature_dim, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(features)
        return self.head(hidden)


ARCHITECTURES: dict[str, type[nn.Module]] = {
    "fan2019": FanNet,
    "breuer2017": BreuerNet,
    "micro_lstm": MicroLSTM,
}
