"""The app's pages, in menu order. Pages link to each other through `page(name)`."""

from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"

# (module, title, icon); the first is the home page.
PAGE_SPECS = (
    ("home", "Home", ":material/home:"),
    ("explore", "Explore a face", ":material/face:"),
    ("atlas", "Filter atlas", ":material/grid_view:"),
    ("au", "Action Units", ":material/sentiment_satisfied:"),
    ("models", "Models", ":material/model_training:"),
    ("transfer", "Transfer", ":material/compare_arrows:"),
    ("datasets", "Datasets", ":material/photo_library:"),
    ("micro", "Micro-expressions", ":material/movie:"),
    ("study", "Study", ":material/groups:"),
    ("findings", "Findings", ":material/push_pin:"),
)


def all_pages() -> list[StreamlitPage]:
    return [page(name) for name, _, _ in PAGE_SPECS]


def page(name: str) -> StreamlitPage:
    """The page object for `pages/<name>.py`, for st.navigation and st.page_link."""
    for index, (module, title, icon) in enumerate(PAGE_SPECS):
        if module == name:
            return st.Page(
                PAGES_DIR / f"{module}.py", title=title, icon=icon, url_path=module, default=index == 0
            )
    raise KeyError(name)
