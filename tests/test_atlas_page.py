"""The filter atlas page: cheap until asked, then built over the embedded faces and kept."""

import streamlit as st

from tests.test_pages import run_page, texts

BUILT = {"built": "1", "model": "fan2019-tiny", "top": "3"}


def test_the_page_waits_for_the_button(use_tiny_zoo):
    app = run_page("atlas")
    assert not app.exception, app.exception
    assert app.title[0].value == "Filter atlas"
    assert [b.label for b in app.button] == ["Build the atlas"]
    assert not app.get("image"), "nothing is built before the button is pressed"


def test_the_button_builds_the_atlas(use_tiny_zoo):
    app = run_page("atlas", model="fan2019-tiny", top="2")
    app.button[0].click().run()
    assert not app.exception, app.exception
    assert "built now" in texts(app)
    assert app.query_params["built"] == ["1"]


def test_a_link_builds_the_atlas_then_the_store_serves_it(use_tiny_zoo):
    app = run_page("atlas", **BUILT)
    assert not app.exception, app.exception
    assert not app.error
    shown = texts(app)
    assert "over the 28 faces" in shown and "top 3 per filter" in shown
    assert "built now and saved in the results store" in shown
    assert len(app.get("image")) == 2, "the layer overview and the filter sheet"
    summary, faces = app.dataframe
    assert list(summary.value.columns)[0] == "channel"
    assert list(faces.value["rank"]) == [1, 2, 3]
    assert app.number_input(key=f"atlas-channel-{app.selectbox(key='atlas-layer').value}").value == 0

    again = run_page("atlas", **BUILT)  # the page's cache
    assert not again.exception
    assert "read from the results store" in texts(again)

    st.cache_resource.clear()  # a fresh server: the SQLite store
    again = run_page("atlas", **BUILT)
    assert not again.exception
    assert "read from the results store" in texts(again)


def test_the_url_names_a_filter_and_bad_values_fall_back(use_tiny_zoo):
    app = run_page("atlas", **BUILT)
    first = app.selectbox(key="atlas-layer").value  # the first layer by default
    app = run_page("atlas", **BUILT, layer="features.conv2", channel="5")
    assert not app.exception, app.exception
    assert app.selectbox(key="atlas-layer").value.endswith("conv2")
    assert app.number_input(key="atlas-channel-features.conv2").value == 5
    assert "Filter 5 of conv2" in texts(app)

    app = run_page("atlas", **{**BUILT, "layer": "nope", "channel": "9999", "top": "999"})
    assert not app.exception, app.exception
    assert app.selectbox(key="atlas-layer").value == first
    assert app.number_input(key=f"atlas-channel-{first}").value == 0
    assert app.number_input(key="atlas-top").value == 9
