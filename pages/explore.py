"""Explore a face: found, measured with 478 landmarks, aligned to the models' crop, and what
a model sees in it (feature maps, Zeiler & Fergus deconvolution, attribution maps)."""

import numpy as np
import pandas as pd
import streamlit as st
import torch

from core.au.spatial import attribution_by_region, crop_landmarks
from core.errors import InputError
from core.explain import METHODS, explain
from core.explain.figures import (
    attribution_on_face,
    colorize,
    enlarge,
    upsample,
)
from core.explain.views import DeconvolutionView, FeatureMaps, deconvolution_view, feature_maps_view
from core.faces import draw_faces, draw_landmarks, prepare_face
from core.models.inputs import INPUT_SIZE
from core.models.layers import layer_labels
from core.models.summary import model_classes, predict_expression, probability_note
from core.models.zoo import cache_id
from dashboard.charts import probabilities_chart, region_share_chart
from dashboard.export import download_chart, download_image, download_table
from dashboard.widgets import (
    face_analyzer,
    face_input,
    pick_layer,
    pick_model,
    plain,
    query_choice,
    query_int,
    show_error,
)

CROP_DISPLAY_SCALE = 6  # the 48 px crop, shown large enough to see the landmarks
DEFAULT_METHOD = "grad_cam"  # the coarse "where" map is the easiest to read first
GRID_COLUMNS = 16  # 16 maps a row: a small layer fits one row, conv3 of FanNet (128 maps) eight


# --- What the network sees: state in the URL, heavy calls cached by (model, crop, parameters) ---


def crop_of(crop: bytes) -> np.ndarray:
    # The crop travels as bytes so st.cache_data can hash it; the model is keyed by name.
    return np.frombuffer(crop, np.uint8).reshape(INPUT_SIZE, INPUT_SIZE).copy()


@st.cache_data(show_spinner="Reading the feature maps…", max_entries=64)
def feature_maps(_model: torch.nn.Module, model_id: str, crop: bytes, layer: str) -> FeatureMaps:
    return feature_maps_view(_model, crop_of(crop), layer)


@st.cache_data(show_spinner="Projecting back to pixels…", max_entries=64)
def deconvolution(_model: torch.nn.Module, model_id: str, crop: bytes, layer: str, channel: int) -> DeconvolutionView:
    return deconvolution_view(_model, crop_of(crop), layer, channel)


@st.cache_data(show_spinner="Computing the attribution…", max_entries=64)
def attribution(
    _model: torch.nn.Module, model_id: str, crop: bytes, method: str, target: int, layer: str | None
) -> np.ndarray:
    return explain(_model, crop_of(crop), method, target, layer)


def feature_maps_section(model, model_id: str, crop: bytes, labels: dict[str, str]) -> tuple[str, FeatureMaps]:
    """Layer picker and the layer's maps as a grid, strongest first; returns (layer, maps)."""
    layer = pick_layer(labels, key="layer")
    view = feature_maps(model, model_id, crop, layer)
    maps, short = view.maps, layer.rsplit(".", 1)[-1]
    grid = view.grid(GRID_COLUMNS)
    st.image(grid)
    st.caption(
        f"The {len(maps)} feature maps of {short} for this face after its ReLU, strongest first; the number "
        f"in each corner is the map's channel. One colour scale for all: black is 0, pale yellow the "
        f"strongest response ({max(float(maps.max()), 0):.2f})."
    )
    download_image(grid, f"feature-maps-{short}", key="feature-maps")
    return layer, view


def pick_channel(layer: str, view: FeatureMaps, layer_from_url: bool) -> int:
    """The feature map to project: the URL's (when it is for this layer and exists), else the strongest."""
    maps, best = view.maps, view.strongest
    wanted = query_int("channel") if layer_from_url else None
    default = wanted if wanted is not None and 0 <= wanted < len(maps) else best
    channel = st.number_input(
        f"Feature map (0 to {len(maps) - 1}; the strongest is {best})",
        min_value=0,
        max_value=len(maps) - 1,
        value=default,
        key=f"channel-{layer}",  # one per layer: a channel of one layer means nothing in another
    )
    st.query_params["channel"] = str(int(channel))
    return int(channel)


def deconvolution_section(model, model_id: str, crop: np.ndarray, layer: str, maps: np.ndarray, channel: int):
    """Side by side: the projection of the map's maximum, the map itself, its receptive field."""
    view = deconvolution(model, model_id, crop.tobytes(), layer, channel)
    value, (row, column) = view.value, view.location
    short, (height, width) = layer.rsplit(".", 1)[-1], maps.shape[1:]
    top, left, bottom, right = view.receptive_field
    stem = f"{short}-map{channel}"
    projected, raw, where = st.columns(3)
    with projected:
        st.markdown("**Deconvolution**")
        picture = view.picture(CROP_DISPLAY_SCALE)
        st.image(picture, width="stretch")
        if view.fired:
            st.caption(
                f"Map {channel}'s strongest response ({value:.2f}, at row {row}, column {column} of its "
                f"{height}x{width} grid) projected back to pixels (Zeiler & Fergus deconvnet): the pattern "
                "that drives it. Contrast stretched for this picture alone, around zero: gray is 0."
            )
        else:
            st.caption(
                f"Map {channel} does not fire on this face (its largest value is {value:.2f}): "
                "there is nothing to project, so the picture is uniform gray."
            )
        download_image(picture, f"deconvolution-{stem}", key="deconvolution")
    with raw:
        st.markdown("**Feature map**")
        picture = enlarge(colorize(upsample(maps[channel], INPUT_SIZE), "diverging"), CROP_DISPLAY_SCALE)
        st.image(picture, width="stretch")
        st.caption(
            f"Map {channel} itself ({height}x{width}, before its ReLU), stretched to the face's size: red where "
            "it responds, blue where it is pushed down, white 0."
        )
        download_image(picture, f"feature-map-{stem}", key="feature-map")
    with where:
        st.markdown("**Receptive field**")
        picture = view.field_picture(crop, CROP_DISPLAY_SCALE)
        st.image(picture, width="stretch")
        st.caption(
            f"The face pixels that can reach that response: rows {top}–{bottom - 1}, columns "
            f"{left}–{right - 1}, the receptive field of one unit of {short}."
        )
        download_image(picture, f"receptive-field-{stem}", key="receptive-field")


def attribution_section(
    model,
    model_id: str,
    crop: np.ndarray,
    labels: dict[str, str],
    predicted: str,
    landmarks: np.ndarray | None = None,
):
    """Which pixels made the network say a class: method, target and layer in the URL."""
    st.subheader("Which pixels decide the class")
    methods, classes = list(METHODS), model_classes(model)
    choose_method, choose_target, choose_layer = st.columns(3)
    method = choose_method.selectbox(
        "Method",
        methods,
        index=query_choice("method", methods, DEFAULT_METHOD),
        format_func=lambda name: METHODS[name].label,
        key="method",
    )
    target = choose_target.selectbox(
        "Class to explain",
        classes,
        index=query_choice("target", classes, predicted),
        format_func=lambda name: f"{name} (predicted)" if name == predicted else name,
        key="target",
    )
    st.query_params["method"], st.query_params["target"] = method, target
    layer = None
    if METHODS[method].needs_layer:
        layer = pick_layer(
            labels, key="cam_layer", query="cam_layer", label="Grad-CAM layer", where=choose_layer
        )
    heat = attribution(model, model_id, crop.tobytes(), method, classes.index(target), layer)
    picture = attribution_on_face(crop, heat, CROP_DISPLAY_SCALE)
    shown, text = st.columns([1, 2])
    shown.image(picture, width="stretch")
    colours = (
        f"Red: raises the score of '{target}'; blue: lowers it; the face shows through where the map is near 0."
        if heat.min() < 0
        else f"Bright: where the evidence for '{target}' lies; the face shows through where the map is near 0."
    )
    text.markdown(f"**{METHODS[method].label}** for '{target}'")
    text.caption(colours)
    text.caption(METHODS[method].note)
    with text:
        download_image(picture, f"{method}-{target}", key="attribution")
    attribution_regions_section(heat, crop, landmarks, method, target)


@st.cache_data(show_spinner=False, max_entries=64)
def aligned_crop_landmarks(crop: bytes) -> np.ndarray | None:
    # A pre-aligned dataset crop went through no detection: mesh it as it is.
    return crop_landmarks(np.frombuffer(crop, np.uint8).reshape(INPUT_SIZE, INPUT_SIZE), face_analyzer())


def attribution_regions_section(
    heat: np.ndarray, crop: np.ndarray, landmarks, method: str, target: str
) -> None:
    """Of the positive attribution, the share inside each AU region: which parts of the face were used."""
    if landmarks is None:
        landmarks = aligned_crop_landmarks(crop.tobytes())
    table = pd.DataFrame(attribution_by_region(heat, landmarks))
    chart = region_share_chart(table, f"Where the evidence for '{target}' lies, by AU region")
    st.altair_chart(chart, width="stretch")
    where = "this face's landmarks" if landmarks is not None else "the canonical face (no mesh was found)"
    st.caption(
        f"Of the positive part of the {METHODS[method].label} map (what raised the score of '{target}'), the "
        f"share inside each region where FACS Action Units show, drawn from {where} (the Action Units page "
        "draws the regions). Regions overlap (the lip corners lie on the lips), so shares can add up to more "
        "than 100%; 'elsewhere' is outside them all."
    )
    download_chart(chart, f"regions-{method}-{target}", key="au-regions-chart")
    download_table(table, f"regions-{method}-{target}", key="au-regions-table")


def what_the_network_sees(
    model_name: str,
    model,
    crop: np.ndarray,
    probabilities: dict[str, float],
    landmarks: np.ndarray | None = None,
) -> None:
    st.header("What the network sees")
    model_id = cache_id(model)
    # The URL's channel is only meant for the layer it came with.
    layer_in_url = st.query_params.get("layer")
    try:
        labels = layer_labels(model)
        layer, view = feature_maps_section(model, model_id, crop.tobytes(), labels)
        channel = pick_channel(layer, view, layer_from_url=layer_in_url == layer)
        deconvolution_section(model, model_id, crop, layer, view.maps, channel)
        attribution_section(
            model, model_id, crop, labels, max(probabilities, key=probabilities.get), landmarks
        )
    except InputError as error:
        show_error(error)


st.title("Explore a face")
chosen = face_input()
if chosen is None:
    st.info("Choose a dataset face, upload a photo or take a webcam still to begin.")
    st.stop()

try:
    with st.spinner("Finding the face…"):
        result = prepare_face(chosen.image, face_analyzer(), aligned=chosen.aligned)
except InputError as error:
    show_error(error)
    st.stop()

found = 1 + len(result.others) if result.face is not None else 0
if chosen.aligned:
    st.caption(f"{plain(chosen.caption)}. A pre-aligned dataset crop: used as it is, without face detection.")
elif result.others:
    st.warning(
        f"{found} faces were found; the largest (green) is used. "
        "Crop the photo to one face to analyse another.",
        icon=":material/groups:",
    )
else:
    st.caption(f"{plain(chosen.caption)}. One face found (detector confidence {result.face.score:.2f}).")

for note in (chosen.note, result.note):  # scaled down on loading; turned upright to find the face
    if note:
        st.info(note, icon=":material/info:")

picture, crop = st.columns([3, 2])
with picture:
    st.subheader("The picture")
    annotated = draw_faces(result.image, [result.face, *result.others]) if result.face else result.image
    st.image(annotated, width="stretch")
    download_image(annotated, "face-landmarks", key="annotated")
with crop:
    st.subheader("What the model receives")
    shown = draw_landmarks(result.crop.image, result.crop.landmarks, scale=CROP_DISPLAY_SCALE)
    st.image(shown, width="stretch")
    st.caption(
        f"{result.crop.image.shape[1]}x{result.crop.image.shape[0]} grayscale crop, aligned on the eyes"
        + (" with the 478 landmarks drawn." if result.crop.landmarks is not None else ".")
    )
    download_image(result.crop.image, "aligned-crop", key="crop")

st.subheader("What the model says")
picked = pick_model()
if picked is not None:
    model_name, model = picked
    probabilities = predict_expression(model, result.crop.image)
    chart = probabilities_chart(probabilities, f"Expression probabilities: {model_name}")
    st.altair_chart(chart, width="stretch")
    st.caption(
        f"The network's probabilities for this crop, {probability_note(model)}: how sure the model is, not a "
        "measured emotion. One forward pass of the crop shown, the pass every view below explains. The Models "
        "page says how accurate and how well calibrated it is."
    )
    download_chart(chart, f"probabilities-{model_name}", key="probabilities")

if result.face is not None and result.face.landmarks is not None:
    with st.expander("The 478 landmarks as a table"):
        table = pd.DataFrame(
            {
                "landmark": range(len(result.face.landmarks)),
                "x": result.face.landmarks[:, 0].round(2),
                "y": result.face.landmarks[:, 1].round(2),
                "crop_x": result.crop.landmarks[:, 0].round(3),
                "crop_y": result.crop.landmarks[:, 1].round(3),
            }
        )
        st.dataframe(table, hide_index=True, height=240)
        download_table(table, "landmarks", key="landmarks")

if picked is not None:
    what_the_network_sees(model_name, model, result.crop.image, probabilities, result.crop.landmarks)
