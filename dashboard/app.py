"""Entry point: `streamlit run dashboard/app.py`."""

import sys
from pathlib import Path

# `streamlit run` puts dashboard/ on the path; the pages import `core` and `dashboard`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402

from dashboard.navigation import all_pages  # noqa: E402
from dashboard.provenance import start_page  # noqa: E402

st.set_page_config(page_title="FER model explorer", page_icon=":material/face:", layout="wide")
current = st.navigation(all_pages())
start_page(current.url_path)
current.run()
