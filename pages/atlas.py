"""Filter atlas: for every filter of every conv layer, the faces of a dataset that excite it
most, with their deconvolutions and receptive-field patches (Zeiler & Fergus 2014, fig. 2)."""

import pandas as pd
import streamlit as st

from core.errors import InputError
from core.explain.atlas import Atlas, atlas_for_dataset
from core.explain.figures import filter_sheet, layer_overview
from core.models.layers import layer_labels
from core.models.zoo import cache_id
from core.store import home_dir
from dashboard.export import download_image, download_table
from dashboard.widgets import (
    pick_dataset,
    pick_model,
    progress_bar,
    query_choice,
    query_int,
    result_store,
    show_error,
)

DEFAULT_TOP, MAX_TOP = 9, 25
SHEET_SCALE = 2  # the 48 px faces of a filter sheet, doubled


@st.cache_resource(max_entries=8)
def atlas_slot(model_id: str, dataset: str, fmt: str, root: str | None, top: int, home: str) -> dict:
    """A holder per (model, dataset, top, store): the atlas is put in it once, outside this
    function, so the progress bar is never recorded for cache replay."""
    return {}


def load_atlas(model, model_id: str, entry, top: int) -> tuple[Atlas, bool]:
    """The atlas (from the page's cache, the store, or built now) and whether it was built now."""
    slot = atlas_slot(model_id, entry.name, entry.fmt, entry.root, top, str(home_dir()))
    if "atlas" in slot:
        return slot["atlas"], False
    with progress_bar("Building the atlas…") as progress:
        atlas = atlas_for_dataset(model, entry.fmt, entry.root, top=top, store=result_store(), progress=progress)
    slot["atlas"] = atlas
    return atlas, not atlas.from_store


def pick_top() -> int:
    wanted = query_int("top")
    start = wanted if wanted is not None and 1 <= wanted <= MAX_TOP else DEFAULT_TOP
    top = st.number_input(f"Faces per filter (1 to {MAX_TOP})", 1, MAX_TOP, start, key="atlas-top")
    st.query_params["top"] = str(int(top))
    return int(top)


def overview_section(atlas: Atlas, labels: dict[str, str]) -> str:
    """Layer picker, the layer's grid of top-1 deconvolutions and its summary table; returns the layer."""
    st.header("Layer overview")
    layers = atlas.layers
    layer = st.selectbox(
        "Layer",
        layers,
        index=query_choice("layer", layers, layers[0]),
        format_func=lambda name: labels.get(name, name),
        key="atlas-layer",
    )
    st.query_params["layer"] = layer
    short = layer.rsplit(".", 1)[-1]
    grid = layer_overview(atlas, layer)
    picture, table_column = st.columns([3, 2])
    with picture:
        st.image(grid, width="stretch")
        st.caption(
            f"The {atlas.maps[layer].channels} filters of {short}, channel 0 top left, in reading order. Each tile "
            "is the deconvolution of the filter's strongest response over the whole dataset, cut to its "
            "receptive field and enlarged: the pattern the filter looks for. Each tile is normalised on its "
            "own (gray is 0), so compare strengths in the table, not by contrast."
        )
        download_image(grid, f"atlas-{short}-overview", key="atlas-overview")
    with table_column:
        table = pd.DataFrame(atlas.layer_summary(layer)).rename(
            columns={
                "strongest": "strongest value",
                "mean_top": f"mean of top {atlas.top}",
                "top_source_id": "top-1 face",
            }
        )
        st.dataframe(table, hide_index=True, height=360)
        st.caption("One row per filter; click a column header to sort.")
        download_table(table, f"atlas-{short}-summary", key="atlas-summary")
    return layer


def filter_section(atlas: Atlas, layer: str, layer_in_url: str | None) -> None:
    """One filter as in Zeiler & Fergus's figure 2, and its top faces as a table."""
    st.header("One filter")
    channels = atlas.maps[layer].channels
    wanted = query_int("channel") if layer_in_url == layer else None
    start = wanted if wanted is not None and 0 <= wanted < channels else 0
    channel = int(
        st.number_input(
            f"Filter (channel 0 to {channels - 1})",
            min_value=0,
            max_value=channels - 1,
            value=start,
            key=f"atlas-channel-{layer}",  # one per layer: a channel of one layer means nothing in another
        )
    )
    st.query_params["channel"] = str(channel)
    short = layer.rsplit(".", 1)[-1]
    sheet = filter_sheet(atlas, layer, channel, scale=SHEET_SCALE)
    rows = atlas.filter(layer, channel)
    picture, table_column = st.columns([2, 3])
    with picture:
        st.image(sheet)
        st.caption(
            f"Filter {channel} of {short}: its {len(rows)} strongest faces, strongest on top. Columns: the face "
            "with the receptive field of the strongest response outlined; the deconvolution of that response "
            "(what in the face drives it); the deconvolution under the field; the face's patch under the "
            "field. Gray is 0; each deconvolution is normalised on its own."
        )
        download_image(sheet, f"atlas-{short}-filter{channel}", key="atlas-sheet")
    with table_column:
        table = pd.DataFrame(
            {
                "rank": row["rank"],
                "value": row["value"],
                "source_id": row["source_id"],
                "location (row, column)": str(row["location"]),
                "box (top, left, bottom, right)": str(row["box"]),
            }
            for row in rows
        )
        st.dataframe(table, hide_index=True)
        st.caption(
            "value: the filter's largest response on that face (before its ReLU); location: where, on the "
            "layer's grid; box: its receptive field in face pixels (ends exclusive)."
        )
        download_table(table, f"atlas-{short}-filter{channel}", key="atlas-filter-table")


st.title("Filter atlas")
st.caption(
    "For every filter of every conv layer, the faces of a dataset that excite it most, each with the "
    "deconvolution of that response and the face patch under the filter's receptive field "
    "(Zeiler & Fergus 2014, 'Visualizing and Understanding Convolutional Networks', fig. 2). "
    "An atlas is built once per model, dataset and number of faces, and kept in the results store."
)

layer_in_url = st.query_params.get("layer")
choose_model, choose_data, choose_top = st.columns(3)
with choose_model:
    picked_model = pick_model()
with choose_data:
    picked_data = pick_dataset("atlas-dataset")
with choose_top:
    top = pick_top()
if picked_model is None or picked_data is None:
    st.stop()
model_name, model = picked_model
entry, samples = picked_data
model_id = cache_id(model)

if st.button("Build the atlas", type="primary", icon=":material/grid_view:"):
    st.session_state["atlas-built"] = True
if not (st.session_state.get("atlas-built") or st.query_params.get("built") == "1"):
    st.info(
        f"Press the button to search the {len(samples):,} faces of '{entry.name}' for the {top} that excite "
        "each filter most. A large dataset takes a while; an atlas built before is read from the store at once.",
        icon=":material/grid_view:",
    )
    st.stop()
st.query_params["built"] = "1"

try:
    atlas, built_now = load_atlas(model, model_id, entry, top)
    labels = layer_labels(model)
    how = "built now and saved in the results store" if built_now else "read from the results store"
    st.caption(
        f"Atlas of {model_name} over the {atlas.n_faces:,} faces of '{entry.name}', top {atlas.top} per filter, "
        f"{len(atlas.layers)} layers: {how}."
    )
    layer = overview_section(atlas, labels)
    filter_section(atlas, layer, layer_in_url)
except InputError as error:
    show_error(error)
