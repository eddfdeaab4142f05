"""Cross-dataset and cross-task transfer, after Breuer & Kimmel 2017 (arXiv 1705.01842).

    result = cross_dataset(model, samples)                  # tested on another dataset, no fine-tuning
    curve = fine_tuning_curve(source, crops, samples)       # k labelled faces per class: head, full, scratch
    probes = au_probes(model, crops, samples)               # F1 of a linear probe per layer and AU
    shift = activation_shift(model, crops_a, samples_a, crops_b, samples_b)   # KS per feature map
    micro = micro_probe(model, micro_events())              # micro-expression classes, synthetic clips

Each takes a `progress` callback and returns a plain dict; `results` stores them with their
provenance in the results store and reads the committed ones under weights/results/transfer.
"""

from core.transfer.cross import accuracy_matrix, cross_dataset, label_map, label_map_rows
from core.transfer.curves import MODES, fine_tuning_curve
from core.transfer.features import layer_maxima
from core.transfer.micro import micro_events, micro_probe
from core.transfer.probes import au_probes
from core.transfer.results import committed_results, known_results, run_stored, save_committed
from core.transfer.shift import activation_shift, ks_pvalue, ks_statistic

__all__ = [
    "MODES", "accuracy_matrix", "activation_shift", "au_probes", "committed_results", "cross_dataset",
    "fine_tuning_curve", "known_results", "ks_pvalue", "ks_statistic", "label_map", "label_map_rows", "layer_maxima",
    "micro_events", "micro_probe", "run_stored", "save_committed",
]  # fmt: skip
