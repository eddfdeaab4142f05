"""The model zoo: the checkpoints of the model cards (`core.models.cards`).

Loading verifies the file's sha256 against its card and refuses a mismatch; weights are
read with safetensors (or `torch.load(weights_only=True)` for a user's .pt file), never
unpickled.
"""

import hashlib
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from core.media import sha256_file
from core.models.architectures import ARCHITECTURES
from core.models.cards import (  # noqa: F401 - the cards' functions, as every caller knows them
    WEIGHTS_DIR,
    ModelError,
    is_micro_card,
    model_card,
    read_manifest,
    weights_dir,
    write_card,
)
from core.paths import atomic_path


def build_model(architecture: str, **arch_args) -> nn.Module:
    """An untrained network of a registered architecture."""
    if architecture not in ARCHITECTURES:
        raise ModelError(f"Unknown architecture '{architecture}'; known: {', '.join(ARCHITECTURES)}.")
    return ARCHITECTURES[architecture](**arch_args)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file, or a .pt/.pth file without unpickling code."""
    try:
        if path.suffix == ".safetensors":
            return load_file(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure to parse is the same to a user
        raise ModelError(f"{path.name} is not a readable checkpoint ({type(error).__name__}).") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # a training checkpoint: take the model's weights
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path.name} does not hold a plain state dict of tensors.")
    return state


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load a state dict into `model`, saying clearly when it belongs to another network."""
    try:
        model.load_state_dict(read_state_dict(path), strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[1].strip() if "\n" in str(error) else str(error)
        raise ModelError(f"{path.name} does not fit this architecture: {first}") from None
    return model.eval()


def load_model(name: str, device: str | torch.device = "cpu", directory: Path | None = None) -> nn.Module:
    """A shipped model by name, checksum verified, in eval mode on `device` (CPU by default)."""
    directory = directory or weights_dir()
    card = model_card(name, directory)
    path = directory / card["file"]
    if not path.is_file():
        raise ModelError(f"The weights of '{name}' ({card['file']}) are missing from {directory}.")
    if sha256_file(path) != card["sha256"]:
        raise ModelError(
            f"{card['file']} does not match the checksum in its model card; it was changed or damaged."
        )
    model = load_weights(build_model(card["architecture"], **card.get("arch_args", {})), path)
    model.card = card
    return model.to(device)


def card_of(model: nn.Module) -> dict:
    """The model card `load_model` attached to this model ({} for a user's own checkpoint): the one way
    every layer reads it."""
    return getattr(model, "card", None) or {}


def cache_id(model: nn.Module) -> str:
    """'name:sha256' of a loaded model: what pages key their caches by."""
    card = card_of(model)
    return f"{card.get('name', type(model).__name__)}:{card.get('sha256', '')}"


def load_checkpoint(path: str | Path, architecture: str, device: str = "cpu", **arch_args) -> nn.Module:
    """A user's own checkpoint of a registered architecture (no card: nothing to verify against)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"The checkpoint {path} does not exist.")
    return load_weights(build_model(architecture, **arch_args), path).to(device)


def save_model(model: nn.Module, card: dict, directory: Path | None = None) -> dict:
    """Write the weights as safetensors beside the manifest and record the card with its sha256."""
    directory = directory or weights_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{card['name']}.safetensors"
    with atomic_path(path) as partial:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, partial)
    card = {**card, "file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}
    write_card(card, directory)
    return card


def model_identity(model: nn.Module) -> tuple[str, str]:
    """(name, sha256) of a model: from its card when it has one, else a hash of its weights."""
    card = card_of(model)
    if "sha256" in card:
        return card.get("name", type(model).__name__), card["sha256"]
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return type(model).__name__, digest.hexdigest()
