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
start = st.columns(3)
with start[0]:
    st.page_link(
        page("explore"), label="Upload a photo", icon=":material/upload:", query_params={"source": "upload"}
    )
    st.caption("Any JPEG, PNG, BMP, WebP, TIFF or GIF with a face in it.")
with start[1]:
    st.page_link(
        page("explore"),
        label="Take a webcam still",
        icon=":material/photo_camera:",
        query_params={"source": "webcam"},
    )
    st.caption("Your browser asks before the camera is used; nothing leaves this computer.")
with start[2]:
    st.page_link(
        page("explore"),
        label="Explore a dataset face",
        icon=":material/face:",
        query_params={"source": "sample"},
    )
    st.caption("Faces drawn by the dashboard itself, or your own datasets once added.")
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
