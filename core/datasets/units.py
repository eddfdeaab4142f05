"""The unit of analysis: faces that are near-duplicates count once.

CK+48 holds the last 3 frames of each sequence; statistics over them must count the
sequence, not its frames. Elsewhere each face is its own unit.
"""

import numpy as np

from core.datasets.sample import Sample


def unit_ids(samples: list[Sample]) -> list[str]:
    """The independent unit of each face: its sequence where it has one, else the face itself."""
    return [s.sequence or s.source_id for s in samples]


def unit_means(values: np.ndarray, unit_of: np.ndarray, n_units: int) -> np.ndarray:
    """The mean of each unit's rows: (faces, columns) -> (units, columns), in float64."""
    sums = np.zeros((n_units, values.shape[1]))
    np.add.at(sums, unit_of, values)
    return sums / np.bincount(unit_of, minlength=n_units)[:, None]
