"""The model cards: `weights/manifest.json` holds one per checkpoint. Reading them needs no torch,
so a clip's tracking and the CLI's checks start before torch is imported (`core.models.zoo` loads
the weights)."""

import json
import os
from pathlib import Path

from core.errors import InputError
from core.paths import write_atomically

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"


class ModelError(InputError):
    """A model or checkpoint that cannot be loaded safely."""


def weights_dir() -> Path:
    """$FER_WEIGHTS_DIR, else the repository's weights/ folder."""
    return Path(os.environ.get("FER_WEIGHTS_DIR", WEIGHTS_DIR))


def read_manifest(directory: Path | None = None) -> dict[str, dict]:
    """Model name -> model card, in the manifest's order."""
    path = (directory or weights_dir()) / "manifest.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text())["models"]


def is_micro_card(card: dict) -> bool:
    """A micro-expression model (an LSTM over clip features), as opposed to an image CNN."""
    return card.get("task") == "micro-expression" or card.get("architecture") == "micro_lstm"


def write_card(card: dict, directory: Path | None = None) -> None:
    """Add or replace one model card in the manifest."""
    directory = directory or weights_dir()
    models = read_manifest(directory)
    models[card["name"]] = card
    write_atomically(directory / "manifest.json", json.dumps({"models": models}, indent=2) + "\n")


def model_card(name: str, directory: Path | None = None) -> dict:
    cards = read_manifest(directory)
    if name not in cards:
        known = ", ".join(cards) or "none yet"
        raise ModelError(f"There is no model called '{name}'; the shipped models are: {known}.")
    return cards[name]
