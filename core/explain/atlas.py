"""The filter atlas: for every feature map, the faces that excite it most and what in them
it responds to. This is figure 2 of Zeiler & Fergus 2014, "Visualizing and Understanding
Convolutional Networks" (ECCV 2014, arXiv 1311.2901), computed over a whole dataset.

For each channel of each chosen layer (default: every conv layer) the atlas keeps the
`top` faces whose strongest activation of that channel is largest. "Strongest" is the
maximum over the channel's positions of the layer's output (for a conv layer: before its
ReLU), exactly what `deconvolve` projects. For each winner it keeps the value, where it
is (row, column of the layer's output), the receptive field of that position as a box in
input pixels (`receptive_field`), and the deconvolution of that activation on that face.

Two passes, with memory flat in the number of faces:
1. Batched forward passes, one per batch, with a hook on every chosen layer that reduces
   the layer's output at once to each face's per-channel maximum and its position. A
   running top-k per (layer, channel) is merged with every batch.
2. The deconvolution of the winners only, batched: Captum's NeuronDeconvolution (the
   same code `deconvolve` runs) with one selected neuron per row of the batch. Rows are
   independent faces, so each row's input gradient is that face's projection.

Deconvolutions are kept as float16 relative to their own largest |value| (kept apart as
float32), so even the ~1e-6 projections of an untrained deep layer keep 3 digits.

Ties go to the face that comes first in the data (FER2013 holds many byte-identical
faces), and within one map to the first position in row-major order, as `strongest` does.
"""

import hashlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from captum.attr import NeuronDeconvolution
from torch import nn

from core.datasets import Sample, fingerprint, read_dataset
from core.errors import DatasetError, InputError
from core.explain.activations import activations
from core.explain.deconv import deconv_module, receptive_field, refuse_batch_norm
from core.explain.safety import check_attribution_safe, gradients_on
from core.models.inputs import crops_from_samples, to_tensor
from core.models.layers import resolve_layers
from core.models.lock import model_lock
from core.models.zoo import model_identity
from core.progress import Progress, no_progress, sub_progress
from core.store import ResultStore

ATLAS_KIND = "atlas"
FORMAT_VERSION = 1  # part of the store key: a new layout never reads an old atlas
# Pass 2 does a forward and a backward per winner; counted as this many faces of pass 1
# when the progress bar is split between the passes.
DECONV_COST = 3
READ_SHARE = 0.25  # the part of atlas_for_dataset's progress bar for reading the faces


# ---- the result ----------------------------------------------------------------------


@dataclass(eq=False)
class LayerAtlas:
    """The top faces of every channel of one layer. Arrays are (channels, top, ...), rank 0 first."""

    values: np.ndarray  # float32 (C, top): the channel's maximum on that face
    faces: np.ndarray  # int64 (C, top): index of the face in the data the atlas was built from
    source_ids: np.ndarray  # str (C, top): the face's source_id
    locations: np.ndarray  # int32 (C, top, 2): (row, column) of the maximum in the layer's output
    boxes: np.ndarray  # int32 (C, top, 4): its receptive field (top, left, bottom, right), ends exclusive
    # The projection of that maximum, stored as float16 divided by its largest |value|
    # (float16 alone loses small projections: an untrained deep layer's are ~1e-6), and that
    # largest |value| as float32; `projection` multiplies them back.
    deconvolutions: np.ndarray  # float16 (C, top, H, W), in [-1, 1]
    deconvolution_peaks: np.ndarray  # float32 (C, top); 0 where the channel did not fire

    @property
    def channels(self) -> int:
        return self.values.shape[0]

    def projection(self, channel: int, rank: int) -> np.ndarray:
        """The deconvolution of one winner as float32 (H, W), rank 0 the strongest."""
        return self.deconvolutions[channel, rank].astype(np.float32) * self.deconvolution_peaks[channel, rank]


@dataclass(eq=False)
class Atlas:
    """A filter atlas of one model on one set of faces (see the module docstring)."""

    model_name: str
    model_sha256: str
    data_fingerprint: str
    top: int
    layers: list[str]
    maps: dict[str, LayerAtlas]
    n_faces: int  # how many faces were searched
    face_indices: np.ndarray  # int64 (M,), ascending: the distinct winning faces
    crops: np.ndarray  # uint8 (M, H, W): their crops, to show them without the dataset
    from_store: bool = False  # True when read back from the store, not computed

    def layer(self, layer: str) -> LayerAtlas:
        """The maps of one layer; InputError naming the atlas's layers when it has not this one."""
        if layer not in self.maps:
            raise InputError(f"The atlas has no layer '{layer}'; its layers are: {', '.join(self.layers)}.")
        return self.maps[layer]

    def crop(self, face_index: int) -> np.ndarray:
        """The crop of one winning face, by its index in the data."""
        at = int(np.searchsorted(self.face_indices, face_index))
        if at == len(self.face_indices) or self.face_indices[at] != face_index:
            raise InputError(f"Face {face_index} is not among the atlas's winning faces.")
        return self.crops[at]

    def filter(self, layer: str, channel: int) -> list[dict]:
        """The top faces of one channel, strongest first: what a filter sheet shows.

        Each item: rank (1 = strongest), value, source_id, face_index, location (row,
        column), box (top, left, bottom, right), face (uint8 crop), deconvolution (float32,
        the face's shape), patch and deconvolution_patch (both under the receptive field).
        """
        maps = self.layer(layer)
        _check_channel(maps, channel)
        rows = []
        for rank in range(self.top):
            face = self.crop(int(maps.faces[channel, rank]))
            top, left, bottom, right = (int(v) for v in maps.boxes[channel, rank])
            deconvolution = maps.projection(channel, rank)
            rows.append(
                {
                    "rank": rank + 1,
                    "value": float(maps.values[channel, rank]),
                    "source_id": str(maps.source_ids[channel, rank]),
                    "face_index": int(maps.faces[channel, rank]),
                    "location": tuple(int(v) for v in maps.locations[channel, rank]),
                    "box": (top, left, bottom, right),
                    "face": face,
                    "deconvolution": deconvolution,
                    "patch": face[top:bottom, left:right],
                    "deconvolution_patch": deconvolution[top:bottom, left:right],
                }
            )
        return rows

    def layer_summary(self, layer: str) -> list[dict]:
        """One row per channel: its strongest value, the mean of its top values, the top face."""
        maps = self.layer(layer)
        return [
            {
                "channel": channel,
                "strongest": float(maps.values[channel, 0]),
                "mean_top": float(maps.values[channel].mean()),
                "top_source_id": str(maps.source_ids[channel, 0]),
            }
            for channel in range(maps.channels)
        ]

    def to_json(self) -> dict:
        """Everything but the pictures, as plain JSON (the CLI's atlas.json)."""
        layers = {}
        for layer in self.layers:
            maps = self.maps[layer]
            layers[layer] = [
                {
                    "channel": channel,
                    "top": [
                        {
                            "rank": rank + 1,
                            "value": float(maps.values[channel, rank]),
                            "source_id": str(maps.source_ids[channel, rank]),
                            "face_index": int(maps.faces[channel, rank]),
                            "location": [int(v) for v in maps.locations[channel, rank]],
                            "box": [int(v) for v in maps.boxes[channel, rank]],
                        }
                        for rank in range(self.top)
                    ],
                }
                for channel in range(maps.channels)
            ]
        return {**self._header(), "box_format": "top, left, bottom, right (exclusive)", "layers": layers}

    def _header(self) -> dict:
        return {
            "version": FORMAT_VERSION,
            "model_name": self.model_name,
            "model_sha256": self.model_sha256,
            "data_fingerprint": self.data_fingerprint,
            "top": self.top,
            "layers": self.layers,
            "n_faces": self.n_faces,
        }

    def to_bytes(self) -> bytes:
        """A compressed .npz with a JSON header (no pickles), for the results store."""
        face_ids = {
            int(f): str(s)
            for m in self.maps.values()
            for f, s in zip(m.faces.flat, m.source_ids.flat, strict=True)
        }
        header = {**self._header(), "face_ids": [face_ids[int(f)] for f in self.face_indices]}
        arrays = {
            "header": np.frombuffer(json.dumps(header).encode(), np.uint8),
            "face_indices": self.face_indices,
            "crops": self.crops,
        }
        for n, layer in enumerate(self.layers):
            maps = self.maps[layer]
            for name in ("values", "faces", "locations", "boxes", "deconvolutions", "deconvolution_peaks"):
                arrays[f"{n}_{name}"] = getattr(maps, name)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Atlas":
        """The atlas `to_bytes` wrote; InputError when the bytes are not one."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                header = json.loads(arrays["header"].tobytes())
                stored = {name: arrays[name] for name in arrays.files}
        except (OSError, ValueError, KeyError) as error:
            raise InputError(f"These bytes are not a stored filter atlas ({error}).") from None
        if header.get("version") != FORMAT_VERSION:
            raise InputError(f"This atlas has format {header.get('version')}, not {FORMAT_VERSION}.")
        face_indices = stored["face_indices"]
        face_ids = np.asarray(header["face_ids"], dtype=str)
        maps = {}
        for n, layer in enumerate(header["layers"]):
            faces = stored[f"{n}_faces"]
            maps[layer] = LayerAtlas(
                values=stored[f"{n}_values"],
                faces=faces,
                source_ids=face_ids[np.searchsorted(face_indices, faces)],
                locations=stored[f"{n}_locations"],
                boxes=stored[f"{n}_boxes"],
                deconvolutions=stored[f"{n}_deconvolutions"],
                deconvolution_peaks=stored[f"{n}_deconvolution_peaks"],
            )
        return cls(
            model_name=header["model_name"],
            model_sha256=header["model_sha256"],
            data_fingerprint=header["data_fingerprint"],
            top=header["top"],
            layers=list(header["layers"]),
            maps=maps,
            n_faces=header["n_faces"],
            face_indices=face_indices,
            crops=stored["crops"],
        )


def _check_channel(maps: LayerAtlas, channel: int) -> None:
    if not 0 <= channel < maps.channels:
        raise InputError(
            f"Channel {channel} does not exist; this layer has {maps.channels} channels (0-based)."
        )


# ---- building it ---------------------------------------------------------------------


def build_atlas(
    model: nn.Module,
    crops: np.ndarray,
    source_ids: list[str],
    layers: list[str] | None = None,
    top: int = 9,
    batch_size: int = 256,
    progress: Progress = no_progress,
    *,
    data_fingerprint: str | None = None,
) -> Atlas:
    """The atlas of `model` over gray uint8 crops (N, H, W), named by `source_ids`.

    `layers`: module names (default: every conv layer); `top`: faces kept per channel
    (at most N). `data_fingerprint` names the data in the atlas (default: a hash of the
    ids and pixels). Raises InputError on bad input or a model the deconvnet cannot explain.
    """
    crops = _check_crops(crops, source_ids)
    if top < 1 or batch_size < 1:
        raise InputError(f"top and batch_size must be at least 1, not {top} and {batch_size}.")
    top = min(top, len(crops))
    layers = resolve_layers(model, layers)
    device = next(model.parameters()).device
    example = to_tensor(crops[:1]).to(device)
    check_attribution_safe(model, example)
    refuse_batch_norm(model)
    channels = {name: act.shape[1] for name, act in activations(model, example, layers).items()}
    rows = sum(channels.values()) * top
    share = len(crops) / (len(crops) + DECONV_COST * rows)  # of the bar, for pass 1
    best = _strongest_faces(model, crops, layers, top, batch_size, sub_progress(progress, 0.0, share))
    maps, done = {}, 0
    for layer in layers:
        span = channels[layer] * top / rows * (1 - share)
        at = share + done
        maps[layer] = _layer_atlas(model, layer, crops, source_ids, best[layer], batch_size,
                                   sub_progress(progress, at, at + span))  # fmt: skip
        done += span
    progress(1.0, "atlas done")
    winners = np.unique(np.concatenate([m.faces.ravel() for m in maps.values()]))
    name, sha = model_identity(model)
    return Atlas(
        model_name=name,
        model_sha256=sha,
        data_fingerprint=data_fingerprint or _crops_fingerprint(crops, source_ids),
        top=top,
        layers=layers,
        maps=maps,
        n_faces=len(crops),
        face_indices=winners,
        crops=crops[winners].copy(),
    )


def _check_crops(crops: np.ndarray, source_ids: list[str]) -> np.ndarray:
    crops = np.asarray(crops)
    if crops.ndim != 3 or crops.dtype != np.uint8 or len(crops) == 0:
        raise InputError(
            f"Expected gray uint8 crops (N, height, width) with N >= 1, got {crops.dtype} {crops.shape}."
        )
    if len(source_ids) != len(crops):
        raise InputError(f"{len(crops)} crops but {len(source_ids)} source ids.")
    return crops


def _crops_fingerprint(crops: np.ndarray, source_ids: list[str]) -> str:
    digest = hashlib.sha256("\n".join(source_ids).encode())
    digest.update(np.ascontiguousarray(crops).tobytes())
    return digest.hexdigest()[:16]


# Per layer, (values, faces, flat positions), each (channels, k), strongest first.
Best = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@torch.inference_mode()
def _strongest_faces(
    model: nn.Module, crops: np.ndarray, layers: list[str], top: int, batch_size: int, progress: Progress
) -> dict[str, tuple[Best, int]]:
    """Pass 1: per layer, the running top-k faces of each channel, and the layer's output width."""
    modules = dict(model.named_modules())
    device = next(model.parameters()).device
    peaks: dict[str, tuple[torch.Tensor, torch.Tensor, int]] = {}

    def reduce(name: str):
        def hook(_module, _args, output):
            # Keep only each face's per-channel maximum and where it is: memory stays flat.
            values, where = output.flatten(2).max(dim=2)  # the first maximum on ties
            peaks[name] = (values, where, output.shape[-1])

        return hook

    best: dict[str, Best] = {}
    for start in range(0, len(crops), batch_size):
        x = to_tensor(crops[start : start + batch_size]).to(device)
        # The lock per batch, not per atlas: a page's deconvolution on the same (shared,
        # cached) model waits for one batch, not for the whole atlas.
        with model_lock(model):
            handles = [modules[name].register_forward_hook(reduce(name)) for name in layers]
            try:
                model(x)
            finally:
                for handle in handles:
                    handle.remove()
        faces = torch.arange(start, start + len(x), device=device)
        for name in layers:
            values, where, _ = peaks[name]
            batch = (values.T, faces.expand(values.shape[1], -1), where.T)
            best[name] = _merge(best.get(name), batch, top)
        done = start + len(x)
        progress(done / len(crops), f"strongest faces {done:,}/{len(crops):,}")
    return {name: (best[name], peaks[name][2]) for name in layers}


def _merge(previous: Best | None, batch: Best, k: int) -> Best:
    """The k strongest of the previous best and this batch, per channel."""
    if previous is not None:
        batch = tuple(torch.cat([old, new], dim=1) for old, new in zip(previous, batch, strict=True))
    # A stable sort, not topk: topk leaves the order of equal values open, and a stable sort
    # keeps equal values in face order (the previous best all come before this batch).
    order = torch.sort(batch[0], dim=1, descending=True, stable=True).indices[:, :k]
    return tuple(t.gather(1, order) for t in batch)


def _layer_atlas(
    model: nn.Module,
    layer: str,
    crops: np.ndarray,
    source_ids: list[str],
    best: tuple[Best, int],
    batch_size: int,
    progress: Progress,
) -> LayerAtlas:
    """Pass 2 for one layer: receptive fields and deconvolutions of its winners."""
    (values, faces, flat), width = best
    values, faces, flat = values.cpu().numpy(), faces.cpu().numpy(), flat.cpu().numpy()
    locations = np.stack([flat // width, flat % width], axis=-1).astype(np.int32)
    fields: dict[tuple[int, int], tuple[int, int, int, int]] = {}
    for where in map(tuple, locations.reshape(-1, 2).tolist()):
        if where not in fields:
            fields[where] = receptive_field(model, layer, where, crops.shape[1:])
    boxes = np.array([fields[tuple(w)] for w in locations.reshape(-1, 2).tolist()], np.int32)
    channels, top = values.shape
    deconvolutions, peaks = deconvolve_rows(
        model, layer, crops, faces.ravel(), np.repeat(np.arange(channels), top), locations.reshape(-1, 2),
        batch_size, progress,
    )  # fmt: skip
    return LayerAtlas(
        values=values.astype(np.float32),
        faces=faces.astype(np.int64),
        source_ids=np.asarray(source_ids, dtype=str)[faces],
        locations=locations,
        boxes=boxes.reshape(channels, top, 4),
        deconvolutions=deconvolutions.reshape(channels, top, *crops.shape[1:]),
        deconvolution_peaks=peaks.reshape(channels, top),
    )


def deconvolve_rows(
    model: nn.Module,
    layer: str,
    crops: np.ndarray,
    faces: np.ndarray,
    channels: np.ndarray,
    locations: np.ndarray,
    batch_size: int,
    progress: Progress,
) -> tuple[np.ndarray, np.ndarray]:
    """The deconvolution of (face, channel, location) per row: float16 (rows, H, W) divided by
    its largest |value|, and that value, float32 (rows,)."""
    device = next(model.parameters()).device
    deconv = NeuronDeconvolution(model, deconv_module(model, layer))
    out = np.empty((len(faces), *crops.shape[1:]), np.float16)
    peaks = np.empty(len(faces), np.float32)
    picked: dict[str, torch.Tensor] = {}
    for start in range(0, len(faces), batch_size):
        rows = slice(start, start + batch_size)
        with model_lock(model), warnings.catch_warnings(), gradients_on():
            # Captum warns on every call that it sets (and removes) ReLU hooks: expected here.
            warnings.filterwarnings("ignore", module="captum")
            x = to_tensor(crops[faces[rows]]).to(device)
            index = (
                torch.arange(len(x), device=device),
                torch.as_tensor(channels[rows], device=device),
                torch.as_tensor(locations[rows, 0], device=device),
                torch.as_tensor(locations[rows, 1], device=device),
            )

            def selector(output: torch.Tensor, index: tuple = index) -> torch.Tensor:
                picked["values"] = output[index]  # one neuron per row: rows stay independent
                return picked["values"]

            gradient = deconv.attribute(x, neuron_selector=selector)
        # As `deconvolve`: the gradient scaled by the activation; nothing where it is <= 0.
        scale = picked["values"].detach().clamp(min=0)[:, None, None, None]
        projection = (gradient.detach() * scale)[:, 0].cpu().numpy()
        peaks[rows] = np.abs(projection).max(axis=(1, 2))
        out[rows] = projection / np.maximum(peaks[rows], np.finfo(np.float32).tiny)[:, None, None]
        done = min(start + batch_size, len(faces))
        progress(done / len(faces), f"deconvolving {layer} {done:,}/{len(faces):,}")
    return out, peaks


# ---- through the results store ---------------------------------------------------------


def atlas_key(model: nn.Module, samples: list[Sample], top: int = 9, layers: list[str] | None = None) -> dict:
    """What a stored atlas is keyed by: model checksum, data fingerprint, top, layers."""
    return {
        "model": model_identity(model)[1],
        "data": fingerprint(samples),
        "top": top,
        "layers": resolve_layers(model, layers),
        "version": FORMAT_VERSION,
    }


def atlas_for_samples(
    model: nn.Module,
    samples: list[Sample],
    top: int = 9,
    layers: list[str] | None = None,
    store: ResultStore | None = None,
    progress: Progress = no_progress,
    crops: np.ndarray | None = None,
) -> Atlas:
    """The atlas of these samples from the store, else built (faces read, or `crops`) and stored.

    `store`: None means the default ResultStore.
    """
    if not samples:
        raise DatasetError("There are no faces to build an atlas from.")
    store = store if store is not None else ResultStore()
    key = atlas_key(model, samples, top, layers)
    stored = store.get_result(ATLAS_KIND, key)
    if isinstance(stored, bytes):
        try:
            atlas = Atlas.from_bytes(stored)
        except InputError:
            atlas = None  # a damaged entry: build it again and replace it
        if atlas is not None:
            atlas.from_store = True
            progress(1.0, "atlas read from the store")
            return atlas
    share = 0.0
    if crops is None:
        share = READ_SHARE
        crops = crops_from_samples(samples, progress=sub_progress(progress, 0.0, share))
    atlas = build_atlas(
        model, crops, [s.source_id for s in samples], key["layers"], top,
        progress=sub_progress(progress, share, 1.0), data_fingerprint=key["data"],
    )  # fmt: skip
    store.put_result(ATLAS_KIND, key, atlas.to_bytes())
    return atlas


def atlas_for_dataset(
    model: nn.Module,
    fmt: str,
    root: str | Path | None,
    split: str | None = None,
    top: int = 9,
    layers: list[str] | None = None,
    store: ResultStore | None = None,
    progress: Progress = no_progress,
) -> Atlas:
    """The atlas of a dataset (`read_dataset(fmt, root, split=split)`); a second call is instant.

    Keyed in the store by the model's sha256, the data fingerprint, top and layers;
    `store`: None means the default ResultStore. fmt="generated" needs no root.
    """
    samples = read_dataset(fmt, root, split=split)
    return atlas_for_samples(model, samples, top, layers, store, progress)
