"""The Action Units page (computed on the embedded faces, then from the store, with its URL state) and
the Explore page's attribution by AU region, on the tiny zoo."""

import json

import pytest

from tests.test_pages import run_page, texts

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def check_clean(app) -> None:
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]


def test_the_au_page_computes_a_table_then_the_store_and_the_url_restore_it(use_tiny_zoo):
    app = run_page("au", model="fan2019-tiny")
    check_clean(app)
    assert app.title[0].value == "Action Units"
    assert "No table yet for fan2019-tiny" in texts(app)
    assert not app.dataframe, "nothing is computed before the button is pressed"

    app.button[0].click().run()
    check_clean(app)
    shown = texts(app)
    assert "computed now on 'Generated faces (embedded)'" in shown
    # AU12 is shown on only 4 generated faces (fewer than 5 units): not tested, so the first AU is opened.
    assert app.selectbox(key="au-au").value == "AU1" and "AU12" not in app.selectbox(key="au-au").options
    assert app.query_params["au"] == ["AU1"] and app.query_params["layer"] == ["features.conv3"]
    counts, ranked, assigned = (frame.value for frame in app.dataframe)
    assert set(counts[~counts["tested"]]["au"]) >= {"AU12", "AU6"}
    assert int(counts.set_index("au").loc["AU1", "n_present"]) == 12
    assert list(ranked["rank"])[:3] == [1, 2, 3] and set(ranked["au"]) == {"AU1"}
    assert assigned["assigned"].all()
    assert len(app.get("image")) == 1, "the faces of the chosen cell"
    titles = [json.loads(chart.proto.spec).get("title", "") for chart in app.get("vega_lite_chart")]
    assert titles == ["conv3: maps by Action Units", "AU1: the 15 strongest maps of conv3"]
    assert "Faces of 'Generated faces (embedded)' with AU1" in texts(app)

    again = run_page(
        "au", model="fan2019-tiny", layer="features.conv2", au="AU4", channel="3", method="distance"
    )
    check_clean(again)
    assert "read from the results store" in texts(again)
    assert again.selectbox(key="au-layer").value == "features.conv2"
    assert again.selectbox(key="au-au").value == "AU4"
    assert again.number_input(key="au-channel-features.conv2").value == 3
    assert "AU4 and map 3 of conv2" in [h.value for h in again.subheader]

    other = run_page("au", model="fan2019-tiny", method="correlation", layer="nope", au="AU99", channel="-4")
    check_clean(other)
    assert "No table yet" in texts(other), "each method has its own table"


def test_explore_shows_the_attribution_by_au_region(use_tiny_zoo):
    app = run_page("explore", method="occlusion")
    check_clean(app)
    shown = texts(app)
    assert "share inside each region where FACS Action Units show, drawn from this face's landmarks" in shown
    titles = [json.loads(chart.proto.spec).get("title", "") for chart in app.get("vega_lite_chart")]
    assert any("by AU region" in str(title) for title in titles), titles


def test_a_shipped_model_opens_its_committed_ck_table_on_a_fresh_machine():
    app = run_page("au", model="fan2019-ckplus", method="distance", au="AU4")
    check_clean(app)
    assert "the table committed with the app (CK+48, 327 sequences)" in texts(app)
    pins = [b.label for b in app.button if b.label.endswith(" Pin")]
    assert [b.label for b in app.button if b.label not in pins] == ["Compute on 'Generated faces (embedded)' instead"]
    assert len(pins) >= 5  # beside every figure and table download
    counts, ranked, _ = (frame.value for frame in app.dataframe)
    assert int(counts.set_index("au").loc["AU1+2", "n_present"]) == 99
    best = ranked.iloc[0]
    assert (best["au"], best["rank"], best["layer"]) == ("AU4", 1, "features.conv3")
    assert app.number_input(key="au-channel-features.conv3").value == best["channel"], "the AU's best map"
    assert "Faces of 'Generated faces (embedded)' with AU4" in texts(app)
