"""Which feature map detects which Action Unit: ranked AU tables with honest statistics.

    table = au_table_for_dataset(model, "ckplus", "../shared/data/ckplus48", method="distance")
    table.rows[0]  # {"layer": "features.conv1", "channel": 0, "au": "AU1", "score": ..., "rank": ...}

What a table holds, exactly:

1. A map's response on a face: the spatial maximum of the channel's activation after the
   ReLU that follows the conv layer (`features.reluN` after `features.convN`), read with
   `core.explain.activations`. Faces of one unit (a CK+ sequence: its 3 near-duplicate
   frames; elsewhere each face is its own unit) are averaged: one response per unit, so
   CK+48 counts 327 sequences, not 981 frames. A unit's AUs are those of its frames.
2. For every map and every AU (and AU combination, "AU1+2": units with both) with at least
   `min_present` units present and absent, a score over units (formulas in `core.au.stats`):
   - method "distance", after Fan, Yuan & Zhu 2019 (arXiv 1904.09737), whose own distance
     function is not at hand: Cohen's d = (m1 - m0) / s_p with the pooled sd;
   - method "correlation", after Breuer & Kimmel 2017 (arXiv 1705.01842): the
     point-biserial r between the same unit responses and the AU's presence (0/1).
   Both are the project's own definitions. Signed: bigger = the map responds more when
   the AU is present ("the greater the distance, the more sensitive the map").
3. Per row: a bootstrap 95% CI (units resampled), a one-sided permutation p-value
   (presence permuted across units) and a Benjamini-Hochberg q-value over the whole table.
   `rank`: the map's rank for that AU within its layer (1 = strongest); `rank_all_layers`
   the same across every layer; `assigned`: this AU is the map's best single AU
   (combinations are ranked but never assigned).
4. The spatial check: for each AU, the `spatial_top` best maps of each layer, on one face
   per unit with that AU (the unit's last frame: CK+'s apex), deconvolved
   (`core.au.spatial`); `spatial_share` = of the faces where the map fires, the share whose
   projection peak lies inside the AU's region, drawn from each face's own landmarks (a
   mesh of the crop; the canonical template where none is found). Empty for other rows.

Tables are kept in the ResultStore (kind "au_table") keyed by model sha256, data
fingerprint, method and parameters; the tables of the shipped models on CK+48 are
committed under weights/results/au/ (CSV and a JSON of provenance beside it).
"""

import csv
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.au import stats
from core.au.spatial import (
    au_label,
    au_mask,
    au_regions,
    cell_faces,
    crop_landmarks,
    face_region_masks,
    parse_au_label,
    projection_peak,
)
from core.datasets import Sample, fingerprint, read_dataset
from core.datasets.units import unit_ids, unit_means
from core.errors import DatasetError, InputError
from core.explain.activations import activations
from core.explain.atlas import deconvolve_rows
from core.faces import FaceAnalyzer, prepare_face
from core.models.inputs import INPUT_SIZE, to_tensor
from core.models.layers import relu_after, resolve_layers
from core.models.zoo import model_identity
from core.paths import atomic_path, write_atomically
from core.progress import Progress, no_progress, sub_progress
from core.store import ResultStore

AU_TABLE_KIND = "au_table"
FORMAT_VERSION = 1
RESULTS_DIR = Path(__file__).resolve().parents[2] / "weights" / "results" / "au"
COLUMNS = (
    "layer", "channel", "au", "score", "ci_low", "ci_high", "p_value", "q_value", "n_present", "n_absent",
    "rank", "rank_all_layers", "assigned", "region", "spatial_share", "spatial_n",
)  # fmt: skip
INT_COLUMNS = {"channel", "n_present", "n_absent", "rank", "rank_all_layers", "spatial_n"}
FLOAT_COLUMNS = {"score", "ci_low", "ci_high", "p_value", "q_value", "spatial_share"}
BATCH = 128


@dataclass(frozen=True)
class AUTableParams:
    """Everything besides model, data and method that changes a table (part of its store key)."""

    layers: tuple[str, ...] | None = None  # conv layers (default: every conv layer)
    combos: tuple[str, ...] = ("AU1+2",)  # AU combinations ranked besides single AUs
    min_present: int = 5  # AUs with fewer units present (or absent) are skipped
    n_boot: int = 1000
    n_permutations: int = 999
    seed: int = 0
    spatial_top: int = 5  # maps per (layer, AU) deconvolved for the spatial check
    # AU regions of pre-aligned crops: "landmarks" measured on each crop (the canonical template
    # where no mesh is found), or "template" for all (faster; CK+48 faces are shorter than it).
    regions: str = "landmarks"

    def checked(self) -> "AUTableParams":
        if self.min_present < 2:
            raise InputError(
                f"min_present must be at least 2 (a group needs a variance), not {self.min_present}."
            )
        if self.regions not in ("landmarks", "template"):
            raise InputError(f"regions must be 'landmarks' or 'template', not '{self.regions}'.")
        if self.n_boot < 1 or self.n_permutations < 1 or self.spatial_top < 0:
            raise InputError("n_boot and n_permutations must be at least 1, spatial_top at least 0.")
        combos = tuple(au_label(parse_au_label(combo)) for combo in self.combos)
        return AUTableParams(**{**asdict(self), "combos": combos})


@dataclass(eq=False)
class AUTable:
    """Rows (one per map x AU, the columns of COLUMNS) and what they were computed from (meta)."""

    rows: list[dict]
    meta: dict = field(default_factory=dict)
    source: str = "computed"  # computed, store or committed

    def write_csv(self, path: str | Path) -> Path:
        path = Path(path)
        try:
            with atomic_path(path) as partial, open(partial, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=COLUMNS)
                writer.writeheader()
                writer.writerows({key: _csv_value(row[key]) for key in COLUMNS} for row in self.rows)
        except OSError as error:
            raise InputError(f"Cannot write {path}: {error.strerror or error}.") from None
        return path

    @classmethod
    def read_csv(cls, path: str | Path, meta: dict | None = None, source: str = "committed") -> "AUTable":
        with open(path, newline="") as f:
            rows = [_typed(row) for row in csv.DictReader(f)]
        return cls(rows, meta or {}, source)

    def to_json(self) -> dict:
        return {"meta": self.meta, "rows": self.rows}

    def au_counts(self) -> list[dict]:
        """n per AU: units present and absent, tested or skipped (and why)."""
        counts = [{"au": au, **n, "tested": True} for au, n in self.meta.get("aus", {}).items()]
        counts += [{"au": au, **n, "tested": False} for au, n in self.meta.get("skipped", {}).items()]
        return counts


def _csv_value(value):
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return "" if value is None else value


def _typed(row: dict) -> dict:
    typed = {}
    for key, value in row.items():
        if key in INT_COLUMNS:
            typed[key] = int(value) if value not in ("", None) else None
        elif key in FLOAT_COLUMNS:
            typed[key] = float(value) if value not in ("", None) else math.nan
        elif key == "assigned":
            typed[key] = value == "True"
        else:
            typed[key] = value
    return typed


# ---- units and AUs ------------------------------------------------------------------------


def group_units(samples: list[Sample]) -> tuple[list[str], np.ndarray, list[frozenset[int]]]:
    """(unit ids, the unit of each sample, each unit's AUs): a unit is a sequence where the
    dataset has them (CK+: near-duplicate frames count once), else one face."""
    ids: dict[str, int] = {}
    unit_of = np.empty(len(samples), np.int64)
    aus: list[set[int]] = []
    for i, (sample, unit) in enumerate(zip(samples, unit_ids(samples), strict=True)):
        if unit not in ids:
            ids[unit] = len(ids)
            aus.append(set())
        unit_of[i] = ids[unit]
        aus[ids[unit]] |= sample.aus
    return list(ids), unit_of, [frozenset(a) for a in aus]


def au_presence(
    unit_aus: list[frozenset[int]], combos: tuple[str, ...], min_present: int
) -> tuple[list[str], np.ndarray, dict, dict]:
    """(AU labels tested, presence (units x AUs), their counts, the skipped AUs with their counts)."""
    singles = sorted(Counter(au for aus in unit_aus for au in aus))
    wanted = [(au,) for au in singles] + [parse_au_label(combo) for combo in combos]
    labels, columns, counts, skipped = [], [], {}, {}
    for aus in wanted:
        present = np.array([set(aus) <= unit for unit in unit_aus], bool)
        n = {"n_present": int(present.sum()), "n_absent": int((~present).sum())}
        if min(n.values()) < min_present:
            skipped[au_label(aus)] = n
            continue
        labels.append(au_label(aus))
        columns.append(present)
        counts[au_label(aus)] = n
    presence = np.stack(columns, axis=1) if columns else np.zeros((len(unit_aus), 0), bool)
    return labels, presence, counts, skipped


def table_layers(model: nn.Module, params: AUTableParams) -> list[str]:
    """The conv layers a table covers (`params.layers`, default every conv layer); InputError when the
    model has none (an LSTM over features has no feature maps to rank)."""
    layers = resolve_layers(model, list(params.layers) if params.layers else None)
    if not layers:
        raise InputError(
            f"{type(model).__name__} has no conv layers: AU tables rank the feature maps of a CNN; pick one."
        )
    return layers


def tested_aus(
    unit_aus: list[frozenset[int]], params: AUTableParams
) -> tuple[list[str], np.ndarray, dict, dict]:
    """`au_presence` with the table's parameters; DatasetError when no AU can be tested."""
    labels, presence, counts, skipped = au_presence(unit_aus, params.combos, params.min_present)
    if not labels:
        raise DatasetError(
            f"No AU is present in at least {params.min_present} of the {len(unit_aus)} units (and absent in as "
            "many): these faces carry too few AU labels for a table."
        )
    return labels, presence, counts, skipped


# ---- responses ------------------------------------------------------------------------------


@torch.inference_mode()
def map_responses(
    model: nn.Module, crops: np.ndarray, layers: list[str], progress: Progress = no_progress
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per conv layer: each face's spatial maximum of every post-ReLU map (faces, channels) and
    where it is, as (row, column) of the layer's output (faces, channels, 2)."""
    relus = {layer: relu_after(model, layer) for layer in layers}
    device = next(model.parameters()).device
    values: dict[str, list] = {layer: [] for layer in layers}
    where: dict[str, list] = {layer: [] for layer in layers}
    for start in range(0, len(crops), BATCH):
        outputs = activations(model, to_tensor(crops[start : start + BATCH]).to(device), list(relus.values()))
        for layer, relu in relus.items():
            out = outputs[relu]
            peak, flat = out.flatten(2).max(dim=2)  # the first maximum on ties
            values[layer].append(peak.cpu().numpy())
            width = out.shape[-1]
            where[layer].append(torch.stack([flat // width, flat % width], dim=-1).cpu().numpy())
        done = min(start + BATCH, len(crops))
        progress(done / len(crops), f"feature maps {done:,}/{len(crops):,} faces")
    return {layer: (np.concatenate(values[layer]), np.concatenate(where[layer])) for layer in layers}


# ---- the table ----------------------------------------------------------------------------------


def compute_au_table(
    model: nn.Module,
    crops: np.ndarray,
    samples: list[Sample],
    method: str = "distance",
    params: AUTableParams = AUTableParams(),
    landmarks: list[np.ndarray | None] | None = None,
    progress: Progress = no_progress,
) -> AUTable:
    """The AU table of `model` over gray uint8 crops (N, 48, 48) of `samples` (see the module docstring).

    `landmarks`: per crop its 478 points (None: the canonical template, as for CK+48).
    """
    if method not in stats.METHODS:
        raise InputError(f"Unknown method '{method}'; use one of {', '.join(stats.METHODS)}.")
    params = params.checked()
    if len(crops) != len(samples) or len(samples) == 0:
        raise InputError(
            f"Expected one crop per sample and at least one, got {len(crops)} and {len(samples)}."
        )
    landmarks = landmarks if landmarks is not None else [None] * len(samples)
    layers = table_layers(model, params)
    unit_ids, unit_of, unit_aus = group_units(samples)
    labels, presence, counts, skipped = tested_aus(unit_aus, params)
    per_layer = map_responses(model, crops, layers, sub_progress(progress, 0.0, 0.3))
    channels = {layer: per_layer[layer][0].shape[1] for layer in layers}
    responses = np.concatenate(
        [unit_means(per_layer[layer][0], unit_of, len(unit_ids)) for layer in layers], 1
    )
    progress(0.3, "scores, bootstrap and permutations")
    score = stats.scores(responses, presence, method)
    low, high = stats.bootstrap_ci(responses, presence, method, params.n_boot, params.seed)
    p = stats.permutation_p(responses, presence, method, params.n_permutations, params.seed, observed=score)
    q = stats.benjamini_hochberg(p)
    rows = _rows(layers, channels, labels, counts, score, low, high, p, q)
    spatial = sub_progress(progress, 0.4, 1.0)
    _spatial_check(model, crops, landmarks, unit_of, unit_aus, per_layer, rows, params.spatial_top, spatial)
    name, sha = model_identity(model)
    meta = {
        "version": FORMAT_VERSION, "model_name": name, "model_sha256": sha, "data_fingerprint": fingerprint(samples),
        "dataset": samples[0].dataset, "method": method, "params": asdict(params), "layers": layers,
        "n_faces": len(samples), "n_units": len(unit_ids),
        "unit": "sequence" if any(s.sequence for s in samples) else "face", "aus": counts, "skipped": skipped,
        "response": "spatial max of the post-ReLU map, averaged over a unit's faces",
    }  # fmt: skip
    progress(1.0, "AU table done")
    return AUTable(rows, meta)


def _rows(layers, channels, labels, counts, score, low, high, p, q) -> list[dict]:
    """One row per (layer, AU, channel), with ranks and the assigned AU of each map."""
    rank_all = _ranks(score)
    singles = np.array(["+" not in label for label in labels])
    single_scores = np.where(singles[:, None], np.nan_to_num(score, nan=-np.inf), -np.inf)
    best = single_scores.argmax(axis=0) if singles.any() else np.full(score.shape[1], -1)
    rows, offset = [], 0
    for layer in layers:
        span = slice(offset, offset + channels[layer])
        rank_layer = _ranks(score[:, span])
        for a, label in enumerate(labels):
            for c in range(channels[layer]):
                m = offset + c
                rows.append({
                    "layer": layer, "channel": c, "au": label, "score": float(score[a, m]),
                    "ci_low": float(low[a, m]), "ci_high": float(high[a, m]), "p_value": float(p[a, m]),
                    "q_value": float(q[a, m]), **counts[label], "rank": int(rank_layer[a, c]),
                    "rank_all_layers": int(rank_all[a, m]), "assigned": bool(best[m] == a),
                    "region": au_regions(parse_au_label(label)), "spatial_share": math.nan, "spatial_n": None,
                })  # fmt: skip
        offset += channels[layer]
    return rows


def _ranks(score: np.ndarray) -> np.ndarray:
    """Rank of each map per AU (AUs x maps), 1 = largest score; ties to the lower channel; NaN last."""
    order = np.argsort(-np.nan_to_num(score, nan=-np.inf), axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, score.shape[1] + 1)[None].repeat(len(score), 0), axis=1)
    return ranks


def _spatial_check(
    model, crops, landmarks, unit_of, unit_aus, per_layer, rows, top: int, progress: Progress
) -> None:
    """Fill spatial_share / spatial_n of the `top` maps per (layer, AU): see the module docstring."""
    if top == 0:
        return
    last_face = {int(u): i for i, u in enumerate(unit_of)}  # the last face of each unit
    units_with: dict[str, list[int]] = {}
    chosen = [row for row in rows if row["rank"] <= top and row["region"]]
    wanted: dict[str, set[tuple[int, int]]] = {}
    for row in chosen:
        aus = parse_au_label(row["au"])
        if row["au"] not in units_with:
            units_with[row["au"]] = [i for u, i in last_face.items() if set(aus) <= unit_aus[u]]
        wanted.setdefault(row["layer"], set()).update((i, row["channel"]) for i in units_with[row["au"]])
    peaks: dict[tuple[str, int, int], tuple[int, int] | None] = {}
    layers = list(wanted)
    for n, layer in enumerate(layers):
        pairs = sorted(wanted[layer])
        faces = np.array([i for i, _ in pairs], np.int64)
        channels = np.array([c for _, c in pairs], np.int64)
        locations = per_layer[layer][1][faces, channels]
        projections, scale = deconvolve_rows(
            model, layer, crops, faces, channels, locations, 256, sub_progress(progress, n / len(layers), (n + 1) / len(layers))
        )  # fmt: skip
        for k, (i, c) in enumerate(pairs):
            peaks[layer, i, c] = projection_peak(projections[k]) if scale[k] > 0 else None
    masks: dict[int, dict] = {}
    for row in chosen:
        inside = fired = 0
        for i in units_with[row["au"]]:
            peak = peaks[row["layer"], i, row["channel"]]
            if peak is None:
                continue
            if i not in masks:
                masks[i] = face_region_masks(landmarks[i], crops.shape[1])
            fired += 1
            inside += bool(au_mask(parse_au_label(row["au"]), masks[i])[peak])
        row["spatial_n"] = fired
        row["spatial_share"] = inside / fired if fired else math.nan


# ---- faces, the store and the committed tables ------------------------------------------------


def read_faces(
    samples: list[Sample], progress: Progress = no_progress, measure_aligned: bool = True
) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """The 48x48 gray crops of samples and their landmarks in crop pixels.

    Faces that need detection go through `prepare_face`, as on every page. Pre-aligned crops
    (CK+48) are meshed as they are when `measure_aligned` (`crop_landmarks`), else, and where no
    mesh is found, their landmarks are None: the canonical template stands in for them.
    """
    crops = np.empty((len(samples), INPUT_SIZE, INPUT_SIZE), np.uint8)
    landmarks: list[np.ndarray | None] = []
    analyzer = None
    try:
        for i, sample in enumerate(samples):
            if (measure_aligned or not sample.aligned) and analyzer is None:
                analyzer = FaceAnalyzer()
            crop = prepare_face(sample.image, analyzer, size=INPUT_SIZE, aligned=sample.aligned).crop
            crops[i] = crop.image
            points = crop.landmarks
            if points is None and sample.aligned and measure_aligned:
                points = crop_landmarks(crop.image, analyzer)
            landmarks.append(points)
            if i % 50 == 0:
                progress(i / len(samples), f"reading faces {i:,}/{len(samples):,}")
    finally:
        if analyzer is not None:
            analyzer.close()
    progress(1.0, f"read {len(samples):,} faces")
    return crops, landmarks


def table_key(model: nn.Module, samples: list[Sample], method: str, params: AUTableParams) -> dict:
    """What a stored table is keyed by: model sha256, data fingerprint, method, parameters."""
    params = params.checked()
    layers = table_layers(model, params)
    return {
        "model": model_identity(model)[1], "data": fingerprint(samples), "method": method,
        "params": {**asdict(params), "layers": layers}, "version": FORMAT_VERSION,
    }  # fmt: skip


def stored_table(
    model: nn.Module, samples: list[Sample], method: str, params: AUTableParams = AUTableParams(),
    store: ResultStore | None = None,
) -> AUTable | None:  # fmt: skip
    """The table of these samples from the store, or None."""
    store = store if store is not None else ResultStore()
    stored = store.get_result(AU_TABLE_KIND, table_key(model, samples, method, params))
    if not isinstance(stored, dict) or "rows" not in stored:
        return None
    return AUTable(stored["rows"], stored.get("meta", {}), source="store")


def au_table_for_samples(
    model: nn.Module,
    samples: list[Sample],
    method: str = "distance",
    params: AUTableParams = AUTableParams(),
    store: ResultStore | None = None,
    progress: Progress = no_progress,
) -> AUTable:
    """The table from the store, else computed (faces read, then scored) and stored."""
    if not samples:
        raise DatasetError("There are no faces to build an AU table from.")
    store = store if store is not None else ResultStore()
    table = stored_table(model, samples, method, params, store)
    if table is not None:
        progress(1.0, "AU table read from the store")
        return table
    tested_aus(group_units(samples)[2], params.checked())  # before reading thousands of faces for nothing
    crops, landmarks = read_faces(samples, sub_progress(progress, 0.0, 0.2), params.regions == "landmarks")
    table = compute_au_table(
        model, crops, samples, method, params, landmarks, sub_progress(progress, 0.2, 1.0)
    )
    store.put_result(AU_TABLE_KIND, table_key(model, samples, method, params), table.to_json())
    return table


def au_table_for_dataset(
    model: nn.Module,
    fmt: str,
    root: str | Path | None,
    au_labels: str | Path | None = None,
    method: str = "distance",
    params: AUTableParams = AUTableParams(),
    store: ResultStore | None = None,
    progress: Progress = no_progress,
) -> AUTable:
    """The table of a dataset (`read_dataset(fmt, root, au_labels=...)`); a second call is instant."""
    samples = read_dataset(fmt, root, au_labels=au_labels)
    return au_table_for_samples(model, samples, method, params, store, progress)


def write_table(table: AUTable, out: str | Path, command: str = "", created: str = "") -> tuple[Path, Path]:
    """The CSV of the CLI contract, and beside it (same name, .json) its provenance."""
    csv_path = table.write_csv(out)
    provenance = {**table.meta, "command": command, "created": created, "csv": csv_path.name}
    json_path = csv_path.with_suffix(".json")
    try:
        write_atomically(json_path, json.dumps(provenance, indent=1) + "\n")
    except OSError as error:
        raise InputError(f"Cannot write {json_path}: {error.strerror or error}.") from None
    return csv_path, json_path


def committed_table(model: nn.Module, method: str, directory: Path | None = None) -> AUTable | None:
    """A committed table (weights/results/au/) of this very model (by sha256) and method, or None."""
    sha = model_identity(model)[1]
    for path in sorted((directory or RESULTS_DIR).glob("*.json")):
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        csv_path = path.with_name(str(meta.get("csv", path.with_suffix(".csv").name)))
        if meta.get("model_sha256") == sha and meta.get("method") == method and csv_path.is_file():
            return AUTable.read_csv(csv_path, meta, source="committed")
    return None


def find_au_table(
    model: nn.Module, samples: list[Sample], method: str, store: ResultStore | None = None
) -> AUTable | None:
    """What a page shows without computing: the table of these samples from the store, else a
    committed table of this model (by sha256), else None."""
    return stored_table(model, samples, method, AUTableParams(), store) or committed_table(model, method)


def faces_for_cell(
    model: nn.Module, samples: list[Sample], layer: str, channel: int, au: str, limit: int = 8
) -> list[dict]:
    """Up to `limit` faces with the AU (one per unit, its last frame), each with the map's
    deconvolution, the AU region and whether the projection's peak lies in it (`cell_faces`)."""
    aus = parse_au_label(au)
    _, unit_of, unit_aus = group_units(samples)
    last = {int(u): i for i, u in enumerate(unit_of)}
    chosen = [samples[i] for u, i in sorted(last.items()) if set(aus) <= unit_aus[u]][:limit]
    if not chosen:
        return []
    crops, landmarks = read_faces(chosen)
    return cell_faces(model, crops, landmarks, [s.source_id for s in chosen], layer, channel, aus)
