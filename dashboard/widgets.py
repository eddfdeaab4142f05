"""Widgets and cached resources that several pages share."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from core.datasets import Sample
from core.datasets.registry import EMBEDDED, DatasetEntry, filter_samples, list_datasets
from core.defaults import DEFAULT_MODEL
from core.errors import InputError
from core.faces import FaceAnalyzer
from core.media import decode_image_info
from core.models.training import pick_device
from core.models.zoo import ModelError, is_micro_card, load_model, read_manifest, weights_dir
from core.progress import Progress
from core.store import ResultStore, home_dir
from dashboard.provenance import note_dataset, note_model

IMAGE_TYPES = ["jpg", "jpeg", "png", "bmp", "webp", "tif", "tiff", "gif"]
SOURCES = {"sample": "Dataset sample", "upload": "Upload a photo", "webcam": "Webcam still"}
TRAIN_COMMAND = (
    "python -m core train --name fan2019-fer2013 --arch fan2019 --format fer2013 "
    "--root ../shared/data/fer2013 --train-split train --test-split test"
)


@st.cache_resource(show_spinner="Starting the face detector…")
def face_analyzer() -> FaceAnalyzer:
    return FaceAnalyzer()


@st.cache_resource
def _store_at(home: str) -> ResultStore:
    return ResultStore()


def result_store() -> ResultStore:
    """The results store under the current FER_DASHBOARD_HOME."""
    return _store_at(str(home_dir()))


@st.cache_resource(show_spinner="Reading the dataset…")
def dataset_samples(entry: DatasetEntry) -> list[Sample]:
    return entry.read()


@contextmanager
def progress_bar(text: str) -> Iterator[Progress]:
    """A Streamlit progress bar as core's `progress(fraction, message)` callback, removed when done."""
    bar = st.progress(0.0, text)
    try:
        yield lambda fraction, message: bar.progress(min(max(fraction, 0.0), 1.0), message)
    finally:
        bar.empty()


MARKDOWN_SPECIALS = set("\\`*_{}[]()<>#+-.!|~$")


def plain(text: str) -> str:
    """`text` shown as it is by Streamlit's Markdown: a file called ':x: *draft*.mp4' stays that, not an
    emoji in bold (specials escaped; a zero-width space keeps ':name:' from becoming an emoji)."""
    escaped = "".join(f"\\{c}" if c in MARKDOWN_SPECIALS else c for c in text)
    return re.sub(r":(?=[\w\\+-]+:)", ":\u200b", escaped)  # only where a colon would open ':name:'


def count(n: int, noun: str) -> str:
    """'1 interval', '2 intervals', '1,024 frames'."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def show_error(error: Exception) -> None:
    """One clear message for bad input, shown as text; the page goes on."""
    st.error(plain(str(error)), icon=":material/error:")


def query_choice(name: str, options: list[str], default: str | None = None) -> int:
    """Index in `options` of the value the URL names, so a shared link restores the view.

    A missing or unknown value gives `default` (or the first option): a bad link never breaks a page.
    """
    for wanted in (st.query_params.get(name), default):
        if wanted in options:
            return options.index(wanted)
    return 0


def pick_layer(labels: dict[str, str], key: str, query: str = "layer", label: str = "Layer", where=st) -> str:
    """A conv-layer picker (`labels`: layer -> human label), deepest by default, kept in the URL."""
    layers = list(labels)
    layer = where.selectbox(
        label, layers, index=query_choice(query, layers, layers[-1]), format_func=labels.get, key=key
    )
    st.query_params[query] = layer
    return layer


def query_int(name: str) -> int | None:
    """The URL's whole number under `name`, or None when it holds none."""
    try:
        return int(st.query_params.get(name, ""))
    except ValueError:
        return None


def query_list(name: str) -> list[str]:
    """The comma-separated values the URL holds under `name`."""
    return [item for item in st.query_params.get(name, "").split(",") if item]


def pick_dataset(key: str = "dataset") -> tuple[DatasetEntry, list[Sample]] | None:
    """A dataset picker (state in the URL); None, with a message, when it cannot be read."""
    try:
        entries = list_datasets(result_store())
    except InputError as error:
        show_error(error)
        entries = [EMBEDDED]  # a malformed FER_DATASETS must not hide the embedded faces
    names = [entry.name for entry in entries]
    name = st.selectbox("Dataset", names, index=query_choice("dataset", names), key=key)
    st.query_params["dataset"] = name
    entry = entries[names.index(name)]
    try:
        samples = dataset_samples(entry)
    except InputError as error:
        show_error(error)
        return None
    note_dataset(entry.name, samples)
    return entry, samples


@dataclass
class FaceInput:
    """A picture to analyse and where it came from."""

    image: np.ndarray  # RGB uint8
    aligned: bool  # already a canonical crop: skip detection
    caption: str
    sample: Sample | None = None
    note: str | None = None  # what was done to the picture on loading (scaled down), for the user


def face_input() -> FaceInput | None:
    """Choose a face: a dataset sample, an uploaded photo or a webcam still."""
    keys = list(SOURCES)
    source = st.radio(
        "Face from", keys, index=query_choice("source", keys), format_func=SOURCES.get, horizontal=True
    )
    st.query_params["source"] = source
    if source == "sample":
        return _sample_input()
    if source == "upload":
        upload = st.file_uploader("A photo with a face (JPEG, PNG, BMP, WebP, TIFF or GIF)", type=IMAGE_TYPES)
        return _decoded(upload, "Uploaded photo")
    still = st.camera_input("Take a webcam still")
    return _decoded(still, "Webcam still")


def _decoded(upload, caption: str) -> FaceInput | None:
    if upload is None:
        return None
    try:
        loaded = decode_image_info(upload.getvalue())
    except InputError as error:
        show_error(error)
        st.stop()  # the message is the answer: no "choose a face" hint under it
    return FaceInput(loaded.image, aligned=False, caption=f"{caption}: {upload.name}", note=loaded.note)


def _sample_input() -> FaceInput | None:
    picked = pick_dataset()
    if picked is None:
        return None
    entry, samples = picked
    labels = sorted({s.label for s in samples if s.label})
    options = ["all", *labels]
    label = st.selectbox("Expression", options, index=query_choice("label", options), key="sample-label")
    st.query_params["label"] = label
    shown = filter_samples(samples, labels=None if label == "all" else [label])
    if not shown:
        st.info("No face in this dataset has that label.")
        return None
    ids = [s.source_id for s in shown]
    wanted = st.query_params.get("sample")
    start = ids.index(wanted) + 1 if wanted in ids else 1
    number = st.number_input(f"Face number (1 to {len(shown)})", 1, len(shown), start, key="sample-number")
    sample = shown[int(number) - 1]
    st.query_params["sample"] = sample.source_id
    try:
        image = sample.image
    except InputError as error:
        show_error(error)
        return None
    return FaceInput(image, sample.aligned, f"{entry.name}: {sample.source_id}", sample)


@st.cache_resource(show_spinner="Loading the model…")
def cached_model(name: str, weights_dir_str: str, sha256: str = "") -> torch.nn.Module:
    """A zoo model, loaded once. Keyed by the weights folder (tests point FER_WEIGHTS_DIR
    elsewhere) and the checksum (a retrained model with the same name is loaded afresh)."""
    return load_model(name, device=pick_device(), directory=Path(weights_dir_str))


def pick_model(key: str = "model", include_micro: bool = False) -> tuple[str, torch.nn.Module] | None:
    """A model picker (state in the URL); None, with a message, when no model can be used.

    Image pages get image models only; `include_micro` also offers the micro-expression LSTMs.
    """
    try:
        cards = read_manifest()
    except (OSError, ValueError, KeyError) as error:  # e.g. a manifest being rewritten by training
        show_error(ModelError(f"The model list {weights_dir() / 'manifest.json'} cannot be read: {error}"))
        return None
    if not cards:
        st.info(
            f"No trained model is installed (in {weights_dir()}); run `{TRAIN_COMMAND}` to train one.",
            icon=":material/model_training:",
        )
        return None
    # Image pages take image models only: a MicroLSTM reads clip features, not a face.
    names = [name for name, card in cards.items() if include_micro or not is_micro_card(card)]
    if not names:
        st.info(f"No image model is installed (in {weights_dir()}); run `{TRAIN_COMMAND}` to train one.")
        return None
    name = st.selectbox("Model", names, index=query_choice("model", names, DEFAULT_MODEL), key=key)
    st.query_params["model"] = name
    note_model(name, cards[name].get("sha256", ""))
    try:
        return name, cached_model(name, str(weights_dir()), cards[name].get("sha256", ""))
    except ModelError as error:
        show_error(error)
        return None
