"""From faces to the tensors a FER model takes: 48x48 gray crops, normalised."""

import numpy as np
import torch

from core.datasets import Sample
from core.defaults import INPUT_SIZE
from core.faces import FaceAnalyzer, prepare_face
from core.progress import Progress, no_progress

# Fixed normalisation (not fitted to a dataset) so every model takes the same input.
INPUT_MEAN, INPUT_STD = 0.5, 0.25


def crops_from_samples(
    samples: list[Sample], size: int = INPUT_SIZE, progress: Progress = no_progress
) -> np.ndarray:
    """The aligned gray crops of samples as uint8 (N, size, size); detection where needed."""
    analyzer = None
    crops = np.empty((len(samples), size, size), np.uint8)
    for i, sample in enumerate(samples):
        if not sample.aligned and analyzer is None:
            analyzer = FaceAnalyzer()
        crops[i] = prepare_face(sample.image, analyzer, size=size, aligned=sample.aligned).crop.image
        if i % 500 == 0:
            progress(i / len(samples), f"reading faces {i:,}/{len(samples):,}")
    if analyzer is not None:
        analyzer.close()
    progress(1.0, f"read {len(samples):,} faces")
    return crops


def to_tensor(crops: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 gray crops (N, H, W) as the normalised float input (N, 1, H, W)."""
    crops = torch.as_tensor(crops)
    return ((crops.float() / 255.0 - INPUT_MEAN) / INPUT_STD).unsqueeze(1)
