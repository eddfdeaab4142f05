"""Action Units: which feature maps respond to which FACS Action Unit, ranked with honest statistics
(after Fan, Yuan & Zhu 2019 and Breuer & Kimmel 2017), and what those maps look at on the faces."""

import pandas as pd
import streamlit as st
import torch

from core.au import describe
from core.au.ranking import AUTable, au_table_for_samples, faces_for_cell, find_au_table
from core.au.spatial import cell_sheet, parse_au_label
from core.errors import InputError
from core.models.layers import layer_labels
from core.models.zoo import cache_id
from dashboard.charts import au_heatmap_chart, au_ranking_chart
from dashboard.export import download_chart, download_image, download_table
from dashboard.provenance import note_dataset
from dashboard.widgets import (
    pick_dataset,
    pick_layer,
    pick_model,
    progress_bar,
    query_choice,
    query_int,
    result_store,
    show_error,
)

METHODS = {"distance": "Distance (Cohen's d, after Fan et al. 2019)",
           "correlation": "Correlation (point-biserial r, after Breuer & Kimmel 2017)"}  # fmt: skip
SOURCES = {
    "computed": "computed now on '{dataset}' and kept in the results store",
    "store": "read from the results store (computed on '{dataset}' before)",
    "committed": "the table committed with the app (CK+48, 327 sequences), for this exact model",
}
CELL_FACES = 8
# What the table's columns mean, for the reader; the CSV keeps the CLI's column names.
COLUMN_HELP = {
    "score": ("score", "Cohen's d (distance) or point-biserial r (correlation); > 0: stronger with the AU"),
    "ci_low": ("95% CI low", "Percentile bootstrap over units"),
    "ci_high": ("95% CI high", "Percentile bootstrap over units"),
    "p_value": ("p", "One-sided permutation test (999 shuffles of AU presence)"),
    "q_value": (
        "q",
        "p corrected for the whole table (Benjamini-Hochberg); q < 0.05 is the dot on the heatmap",
    ),
    "rank": ("rank in layer", "1 = the map that responds most to this AU in this layer"),
    "rank_all_layers": ("rank, all layers", "1 = the strongest map for this AU in the whole network"),
    "assigned": ("map's own AU", "This AU is the map's strongest single AU"),
    "spatial_share": (
        "peak in AU region",
        "Share of faces with the AU where the deconvolution peaks inside its region",
    ),
    "spatial_n": ("faces checked", "Faces used for the spatial check (top 5 maps per layer and AU)"),
    "n_present": ("units with AU", "Independent units (CK+: sequences) that show the AU"),
    "n_absent": ("units without", "Independent units that do not show the AU"),
}
TOP_SHOWN = 15

FORMULAS = r"""
For each feature map $m$ and Action Unit $a$, over **units** (a CK+ sequence counts once, not its three
near-duplicate frames; elsewhere each face is a unit): the map's response on a face is the spatial maximum
of its activation after the ReLU that follows the conv layer, and a unit's response $x$ is the mean over its
faces. $n_1$ units show the AU (mean $\bar x_1$, variance $s_1^2$), $n_0$ do not ($\bar x_0$, $s_0^2$),
$n = n_1 + n_0$.
"""
DISTANCE = (
    r"d = \frac{\bar x_1 - \bar x_0}{s_p}, \qquad s_p^2 = \frac{(n_1 - 1)\,s_1^2 + (n_0 - 1)\,s_0^2}{n - 2}"
)
CORRELATION = r"r = \frac{\bar x_1 - \bar x_0}{s_n}\sqrt{\frac{n_1 n_0}{n^2}}, \qquad s_n^2 = \frac{1}{n}\sum_i (x_i - \bar x)^2"
P_VALUE = r"p = \frac{1 + \#\{\text{permuted score} \ge \text{observed}\}}{1 + 999}"
NOTES = """
- **Distance** after Fan, Yuan & Zhu 2019 (arXiv 1904.09737: "the greater the distance, the more sensitive
  the map"); **correlation** after Breuer & Kimmel 2017 (arXiv 1705.01842). Neither paper's exact formula
  is at hand: these are **the project's own definitions**, tested on planted data whose answer is known.
- Both are signed: a positive score means the map responds more strongly on faces with the AU. For fixed
  $n_1, n_0$, $r = d / \\sqrt{d^2 + n(n-2)/(n_1 n_0)}$, so within one AU both methods rank maps alike; they
  differ across AUs (r shrinks for rare AUs), hence in which AU a map is *assigned* (its best single AU).
- **95% CI**: percentile bootstrap over units (1000 resamples). **p**: one-sided permutation test, AU
  presence shuffled across units (999 permutations). **q**: Benjamini-Hochberg over the whole table.
  AUs present (or absent) in fewer than 5 units are skipped. "AU1+2" means units with both.
- **Spatial check** (top 5 maps per layer and AU): the map's strongest response on each face with the AU
  (one frame per unit) is projected back to pixels (Zeiler & Fergus deconvolution); the share of faces
  where the projection's peak lies inside the AU's region (regions from each face's own landmarks).
"""


@st.cache_data(show_spinner=False, max_entries=8)
def table_frame(_table: AUTable, table_id: str) -> pd.DataFrame:
    return pd.DataFrame(_table.rows)


@st.cache_data(show_spinner="Deconvolving the faces…", max_entries=32)
def cell(_model: torch.nn.Module, model_id: str, _samples, dataset: str, layer: str, channel: int, au: str):
    return faces_for_cell(_model, _samples, layer, channel, au, CELL_FACES)


def compute(model, samples, method: str) -> AUTable:
    with progress_bar("Computing the AU table…") as progress:
        return au_table_for_samples(model, samples, method, store=result_store(), progress=progress)


def counts_section(table: AUTable) -> None:
    with st.expander(f"n per AU: {table.meta.get('n_units', '?')} units ({table.meta.get('unit', 'face')}s)"):
        counts = pd.DataFrame(table.au_counts())
        st.dataframe(counts, hide_index=True)
        st.caption(
            "n_present / n_absent: independent units with and without the AU. AUs with fewer than "
            f"{table.meta.get('params', {}).get('min_present', 5)} units on either side are not tested."
        )
        download_table(counts, "au-counts", key="au-counts")


def apply_click(key: str, layer: str) -> None:
    """A new click on the heatmap (kept by Streamlit under the chart's key) sets the AU and map pickers
    and the URL; an old one is not applied again, so the pickers stay free to change."""
    points = (st.session_state.get(key) or {}).get("selection", {}).get("cell") or []
    if not points or points[0] == st.session_state.get("au-last-click"):
        return
    st.session_state["au-last-click"] = points[0]
    st.session_state["au-au"], st.session_state[f"au-channel-{layer}"] = (
        points[0]["au"],
        int(points[0]["channel"]),
    )
    st.query_params["au"], st.query_params["channel"] = points[0]["au"], str(int(points[0]["channel"]))


def pick_cell(frame: pd.DataFrame, aus: list[str], layer: str) -> tuple[str, int]:
    """The (AU, channel) to open: the URL's (a click sets it), else AU12 and its best map."""
    channels = int(frame["channel"].max()) + 1
    choose_au, choose_channel = st.columns(2)
    au = choose_au.selectbox("Action Unit", aus, index=query_choice("au", aus, "AU12"), key="au-au")
    best = int(frame[(frame["au"] == au)].sort_values("rank")["channel"].iloc[0])
    wanted = query_int("channel")
    start = wanted if wanted is not None and 0 <= wanted < channels else best
    channel = choose_channel.number_input(
        f"Feature map (0 to {channels - 1}; the best for {au} is {best})", 0, channels - 1, start,
        key=f"au-channel-{layer}",
    )  # fmt: skip
    st.query_params["au"], st.query_params["channel"] = au, str(int(channel))
    return au, int(channel)


def heatmap_section(frame: pd.DataFrame, aus: list[str], short: str, key: str) -> None:
    selected = (st.query_params.get("au"), query_int("channel"))
    chart = au_heatmap_chart(frame, aus, f"{short}: maps by Action Units", selected)
    st.altair_chart(chart, width="content", on_select="rerun", selection_mode="cell", key=key)
    st.caption(
        "Red: the map responds more on faces with the AU; blue: less; a dot: q < 0.05. Click a cell to open it "
        "below. Hover for the score, its 95% CI and q."
    )
    download_chart(chart, f"au-heatmap-{short}", key="au-heatmap")


def show_table(table: pd.DataFrame, height: int = 300) -> None:
    """An AU table with readable headers; hover a header for what it means."""
    config = {
        column: st.column_config.Column(label, help=help_text)
        for column, (label, help_text) in COLUMN_HELP.items()
        if column in table.columns
    }
    st.dataframe(table, hide_index=True, height=height, column_config=config)


def tables_section(frame: pd.DataFrame, au: str, layer: str, short: str) -> None:
    columns = ["layer", "channel", "au", "score", "ci_low", "ci_high", "p_value", "q_value", "rank",
               "rank_all_layers", "assigned", "spatial_share", "spatial_n", "n_present", "n_absent"]  # fmt: skip
    by_au, by_layer = st.tabs([f"Maps ranked for {au}", f"Each map of {short} and its AU"])
    with by_au:
        ranked = frame[(frame["au"] == au) & (frame["layer"] == layer)].sort_values("rank")[columns]
        chart = au_ranking_chart(ranked.head(TOP_SHOWN), f"{au}: the {TOP_SHOWN} strongest maps of {short}")
        st.altair_chart(chart, width="stretch")
        download_chart(chart, f"au-ranking-{au}-{short}", key="au-ranking-chart")
        show_table(ranked)
        st.caption(
            f"{describe(parse_au_label(au)[0]) if '+' not in au else au}. Click a header to sort; hover it for "
            "what it means. The CSV keeps the column names of `python -m core au-table`."
        )
        download_table(ranked, f"au-ranking-{au}-{short}", key="au-ranking")
    with by_layer:
        assigned = frame[(frame["layer"] == layer) & frame["assigned"]].sort_values("score", ascending=False)
        show_table(assigned[columns])
        st.caption("One row per map: the single AU with its largest score (combinations are never assigned).")
        download_table(assigned[columns], f"au-assigned-{short}", key="au-assigned")


def cell_section(model, model_id: str, entry, samples, layer: str, channel: int, au: str, row: pd.Series):
    short = layer.rsplit(".", 1)[-1]
    st.subheader(f"{au} and map {channel} of {short}")
    st.caption(
        f"score {row['score']:.3f} (95% CI {row['ci_low']:.3f} to {row['ci_high']:.3f}), q = {row['q_value']:.3g}, "
        f"rank {int(row['rank'])} for {au} in {short}; n = {int(row['n_present'])} units with, "
        f"{int(row['n_absent'])} without."
    )
    faces = cell(model, model_id, samples, entry.name, layer, channel, au)
    if not faces:
        st.info(f"No face of '{entry.name}' shows {au}; pick a dataset with AU labels (CK+) on this page.")
        return
    sheet = cell_sheet(faces, parse_au_label(au))
    st.image(sheet)
    inside = [f["inside"] for f in faces if f["inside"] is not None]
    share = f"{sum(inside)} of {len(inside)}" if inside else "none"
    st.caption(
        f"Faces of '{entry.name}' with {au} (one per unit). Left: the face with the AU's region tinted; right: "
        f"the deconvolution of map {channel}'s strongest response (gray is 0), the same region, and its peak "
        f"(yellow cross). The peak lies inside the region on {share} of the faces where the map fires."
    )
    download_image(sheet, f"au-cell-{au}-{short}-map{channel}", key="au-cell")
    table = pd.DataFrame(
        {"source_id": f["source_id"], "value": f["value"], "peak (row, column)": str(f["peak"]),
         "inside": f["inside"]} for f in faces
    )  # fmt: skip
    download_table(table, f"au-cell-{au}-{short}-map{channel}", key="au-cell-table")


st.title("Action Units")
st.caption(
    "Which feature maps of a network respond to which FACS Action Unit, ranked with confidence intervals and "
    "multiple-testing-corrected q-values, and where on the face those maps look."
)
with st.expander("How the tables are computed (formulas)"):
    st.markdown(FORMULAS)
    st.latex(DISTANCE)
    st.latex(CORRELATION)
    st.latex(P_VALUE)
    st.markdown(NOTES)

choose_model, choose_method, choose_data = st.columns(3)
with choose_model:
    picked_model = pick_model()
with choose_method:
    names = list(METHODS)
    method = st.selectbox("Method", names, index=query_choice("method", names), format_func=METHODS.get)
    st.query_params["method"] = method
with choose_data:
    picked_data = pick_dataset("au-dataset")
if picked_model is None or picked_data is None:
    st.stop()
model_name, model = picked_model
entry, samples = picked_data
model_id = cache_id(model)

try:
    table = find_au_table(model, samples, method, result_store())
    if table is None or table.source == "committed":
        label = f"Compute on '{entry.name}'" + (" instead" if table is not None else "")
        if st.button(label, icon=":material/calculate:"):
            table = compute(model, samples, method)
    if table is None:
        st.info(
            f"No table yet for {model_name} ({method}). Press the button to compute one on the {len(samples):,} "
            f"faces of '{entry.name}' (its AU labels); it is kept in the results store.",
            icon=":material/calculate:",
        )
        st.stop()
    st.caption(
        f"Table of {model_name}, {METHODS[method]}: {SOURCES[table.source].format(dataset=entry.name)}."
    )
    if table.source == "committed":  # pinned figures trace to the data the table was computed on
        note_dataset("CK+48 (the committed table)", fingerprint=table.meta.get("data_fingerprint"))
    counts_section(table)
    frame = table_frame(table, f"{model_id}:{method}:{table.source}:{table.meta.get('data_fingerprint')}")
    st.caption(f"The whole table: {len(frame):,} rows, one per feature map and AU, every layer (CSV).")
    download_table(frame, f"au-table-{model_name}-{method}", key="au-table")
    aus = list(table.meta.get("aus") or dict.fromkeys(frame["au"]))
    labels = layer_labels(model)
    in_table = list(table.meta.get("layers") or dict.fromkeys(frame["layer"]))
    layer = pick_layer({name: labels.get(name, name.rsplit(".", 1)[-1]) for name in in_table}, key="au-layer")
    short = layer.rsplit(".", 1)[-1]
    in_layer = frame[frame["layer"] == layer]
    heatmap_key = f"au-heatmap-{short}"
    apply_click(heatmap_key, layer)
    heatmap_section(in_layer, aus, short, heatmap_key)
    au, channel = pick_cell(in_layer, aus, layer)
    tables_section(frame, au, layer, short)
    row = in_layer[(in_layer["au"] == au) & (in_layer["channel"] == channel)].iloc[0]
    cell_section(model, model_id, entry, samples, layer, channel, au, row)
except InputError as error:
    show_error(error)
