"""Home: what the tool does and where to start."""

import streamlit as st

from core.datasets.registry import list_datasets
from core.errors import InputError
from dashboard.navigation import page
from dashboard.widgets import result_store, show_error

st.title("Looking inside facial-expression models")
st.markdown(
    """
This dashboard shows what facial-expression recognition networks look at. Choose a face
from a dataset, upload a photo or take a webcam still, and see the face the network
receives: found, measured with 478 landmarks, and aligned to the small grayscale crop the
models are trained on.

Every figure can be downloaded as PNG or SVG and every table as CSV, for papers and talks.
The address bar always holds what you are looking at: copy it to share the exact view.
"""
)

st.subheader("Where to start")
START = (
    ("upload", "Upload a photo", ":material/upload:", "Any JPEG, PNG, BMP, WebP, TIFF or GIF with a face in it."),
    ("webcam", "Take a webcam still", ":material/photo_camera:",
     "Your browser asks before the camera is used; nothing leaves this computer."),
    ("sample", "Explore a dataset face", ":material/face:",
     "Faces drawn by the dashboard itself, or your own datasets once added."),
)  # fmt: skip
for column, (source, label, icon, caption) in zip(st.columns(len(START)), START, strict=True):
    with column:
        st.page_link(page("explore"), label=label, icon=icon, query_params={"source": source})
        st.caption(caption)
st.page_link(page("datasets"), label="Datasets", icon=":material/photo_library:")
st.caption("Add FER2013 or CK+ from your disk and browse faces by expression, subject and Action Unit.")

st.subheader("Datasets available now")
try:
    datasets = list_datasets(result_store())
except InputError as error:
    show_error(error)
    datasets = []
for entry in datasets:
    where = f"`{entry.root}`" if entry.root else "drawn by the dashboard itself, no files needed"
    st.markdown(f"- **{entry.name}** ({entry.fmt}): {where}")
