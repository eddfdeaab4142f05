"""Datasets: add a dataset from disk, and browse its faces by expression, subject and AU."""

import pandas as pd
import streamlit as st

from core.datasets import FORMATS
from core.datasets.registry import (
    EMBEDDED,
    DatasetEntry,
    add_dataset,
    filter_samples,
    list_datasets,
    remove_dataset,
    samples_table,
)
from core.errors import InputError
from dashboard.charts import label_counts_chart
from dashboard.export import download_chart, download_table
from dashboard.navigation import page
from dashboard.widgets import pick_dataset, query_list, result_store, show_error

PAGE_SIZE = 24
COLUMNS = 6

st.title("Datasets")
store = result_store()

try:
    entries = list_datasets(store)
except InputError as error:
    show_error(error)
    entries = [EMBEDDED]
st.dataframe(
    pd.DataFrame(
        [
            {
                "name": e.name,
                "format": e.fmt,
                "folder": e.root or "",
                "AU labels": e.au_labels or "",
                "added by": e.origin,
            }
            for e in entries
        ]
    ),
    hide_index=True,
)

with st.expander("Add a dataset from this computer", expanded=False), st.form("add-dataset"):
    name = st.text_input("Name", placeholder="FER2013")
    formats = [fmt for fmt in FORMATS if fmt != "generated"]
    fmt = st.selectbox("Layout", formats, format_func=lambda f: FORMATS[f])
    root = st.text_input("Folder (or the FER2013 csv file)", placeholder="/data/fer2013")
    au_labels = st.text_input(
        "AU labels CSV (optional, CK+ only)", placeholder="ckplus_netfacs_au_emotion.csv"
    )
    if st.form_submit_button("Check and add"):
        try:
            with st.spinner("Reading the folder…"):
                count = add_dataset(store, DatasetEntry(name, fmt, root.strip(), au_labels.strip() or None))
            st.success(f"Added '{name.strip()}' with {count:,} faces.")
        except InputError as error:
            show_error(error)

saved = [e.name for e in entries if e.origin == "saved"]
if saved:
    with st.expander("Remove a dataset", expanded=False):
        gone = st.selectbox("Dataset to remove (its files stay on disk)", saved)
        if st.button("Remove"):
            remove_dataset(store, gone)
            st.rerun()

st.header("Browse")
picked = pick_dataset("browse-dataset")
if picked is None:
    st.stop()
entry, samples = picked


filters = st.columns(3)
labels = sorted({s.label for s in samples if s.label})
chosen_labels = filters[0].multiselect(
    "Expression", labels, default=[x for x in query_list("labels") if x in labels]
)
subjects = sorted({s.subject for s in samples if s.subject})
chosen_subjects = filters[1].multiselect(
    "Subject",
    subjects,
    default=[x for x in query_list("subjects") if x in subjects],
    disabled=not subjects,
    placeholder="all" if subjects else "this dataset names no subjects",
)
aus = sorted({au for s in samples for au in s.aus})
chosen_aus = filters[2].multiselect(
    "Action Units (all of)",
    aus,
    default=[int(x) for x in query_list("aus") if x.isdigit() and int(x) in aus],
    format_func=lambda au: f"AU{au}",
    disabled=not aus,
    placeholder="all" if aus else "this dataset has no AU labels",
)
st.query_params["labels"] = ",".join(chosen_labels)
st.query_params["subjects"] = ",".join(chosen_subjects)
st.query_params["aus"] = ",".join(map(str, chosen_aus))

shown = filter_samples(samples, chosen_labels, chosen_subjects, chosen_aus)
table = pd.DataFrame(
    samples_table(shown), columns=["source_id", "label", "subject", "sequence", "aus", "split"]
)
st.write(f"**{len(shown):,}** of {len(samples):,} faces match.")
if not shown:
    st.stop()

chart_column, table_column = st.columns([2, 3])
with chart_column:
    chart = label_counts_chart(table)
    st.altair_chart(chart, width="stretch")
    download_chart(chart, f"{entry.name}-label-counts", key="counts")
with table_column:
    st.dataframe(table, hide_index=True, height=280)
    download_table(table, f"{entry.name}-faces", key="faces")

pages = (len(shown) - 1) // PAGE_SIZE + 1
number = st.number_input(f"Page (1 to {pages})", 1, pages, 1) if pages > 1 else 1
grid = st.columns(COLUMNS)
for index, sample in enumerate(shown[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]):
    with grid[index % COLUMNS]:
        try:
            st.image(sample.image, width="stretch")
        except InputError as error:
            st.caption(f"Unreadable: {error}")
            continue
        details = " ".join(
            filter(None, [sample.label, sample.subject, " ".join(f"AU{a}" for a in sorted(sample.aus))])
        )
        st.caption(details or sample.source_id)
        st.page_link(
            page("explore"),
            label="Explore",
            icon=":material/arrow_forward:",
            query_params={"source": "sample", "dataset": entry.name, "sample": sample.source_id},
        )
