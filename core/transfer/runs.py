"""Each experiment run once per model, data and parameters: from the store when it was run
before, else computed and stored with its provenance. The CLI and the page call these."""

from dataclasses import asdict

import numpy as np
from torch import nn

from core.datasets import Sample
from core.progress import Progress, no_progress
from core.store import ResultStore
from core.transfer.cross import cross_dataset
from core.transfer.curves import CurveConfig, fine_tuning_curve
from core.transfer.micro import micro_events, micro_probe
from core.transfer.probes import au_probes
from core.transfer.results import data_identity, run_stored
from core.transfer.shift import activation_shift


def run_cross_dataset(
    model: nn.Module,
    samples: list[Sample],
    split: str | None,
    crops: np.ndarray | None = None,
    store: ResultStore | None = None,
    progress: Progress = no_progress,
    command: str = "",
) -> dict:
    """`cross_dataset`, stored (kind "transfer", experiment "cross_dataset")."""
    return run_stored("cross_dataset", model, [data_identity(samples, split)],
                      lambda: cross_dataset(model, samples, crops, progress=progress),
                      params={"n_boot": 1000}, store=store, command=command)  # fmt: skip


def run_fine_tuning(
    model: nn.Module,
    samples: list[Sample],
    crops: np.ndarray,
    split: str | None,
    config: CurveConfig | None = None,
    store: ResultStore | None = None,
    progress: Progress = no_progress,
    command: str = "",
) -> dict:
    config = config or CurveConfig()
    params = {k: v for k, v in asdict(config).items() if k != "seeds"}
    return run_stored("fine_tuning", model, [data_identity(samples, split)],
                      lambda: fine_tuning_curve(model, crops, samples, config, progress=progress),
                      seeds=list(config.seeds), params=params, store=store, command=command)  # fmt: skip


def run_au_probes(
    model: nn.Module,
    samples: list[Sample],
    crops: np.ndarray,
    split: str | None,
    min_present: int = 10,
    store: ResultStore | None = None,
    progress: Progress = no_progress,
    command: str = "",
) -> dict:
    return run_stored("au_probes", model, [data_identity(samples, split)],
                      lambda: au_probes(model, crops, samples, min_present=min_present, progress=progress),
                      params={"min_present": min_present, "folds": 5, "l2": 1e-2, "grids": [1, 3]}, store=store,
                      command=command)  # fmt: skip


def run_shift(
    model: nn.Module,
    target: tuple[list[Sample], np.ndarray, str | None],
    source: tuple[list[Sample], np.ndarray, str | None],
    store: ResultStore | None = None,
    progress: Progress = no_progress,
    command: str = "",
) -> dict:
    """KS per feature map between the source data (`a`) and the target data (`b`)."""
    (samples_b, crops_b, split_b), (samples_a, crops_a, split_a) = target, source
    data = [data_identity(samples_b, split_b), data_identity(samples_a, split_a)]
    return run_stored("shift", model, data,
                      lambda: activation_shift(model, crops_a, samples_a, crops_b, samples_b, progress=progress),
                      store=store, command=command)  # fmt: skip


def run_micro_probe(
    model: nn.Module,
    per_cell: int = 10,
    store: ResultStore | None = None,
    progress: Progress = no_progress,
    command: str = "",
) -> dict:
    """`micro_probe` on `per_cell` synthetic micro-expressions per class and drawn identity."""
    events = micro_events(per_cell, progress=lambda f, m: progress(0.6 * f, m))
    data = [{"format": "synthetic-clips", "split": None, "fingerprint": events["fingerprint"]}]
    return run_stored("micro_probe", model, data,
                      lambda: micro_probe(model, events, progress=lambda f, m: progress(0.6 + 0.4 * f, m)),
                      params={"per_cell": per_cell, "amplitude_px": 3.0, "grid": 3}, store=store,
                      command=command)  # fmt: skip
