"""The Transfer page: with the tiny zoo (nothing computed yet, then a fresh run on the embedded
faces) and with the shipped models and their committed results."""

import json

import pytest

from tests.test_pages import chart_titles, run_page, texts


def chart_data(app, title: str) -> list[dict]:
    """The rows a chart draws (its datasets, which Streamlit sends as Arrow tables beside the spec)."""
    from streamlit import dataframe_util

    for chart in app.get("vega_lite_chart"):
        name = json.loads(chart.proto.spec).get("title", "")
        if (name.get("text", "") if isinstance(name, dict) else name).startswith(title):
            frames = [
                dataframe_util.convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets
            ]
            return [row for frame in frames for row in frame.to_dict("records")]
    raise AssertionError(f"no chart titled {title!r}")


def test_transfer_page_with_nothing_computed_then_a_fresh_run(use_tiny_zoo, one_torch_thread):
    app = run_page("transfer")
    assert not app.exception, app.exception
    assert app.title[0].value == "Transfer"
    matrix = chart_data(app, "Accuracy: each model")
    assert {(row["model"], row["what"]) for row in matrix} == {
        ("fan2019-tiny", "own test (card)"), ("breuer2017-tiny", "own test (card)")
    }  # fmt: skip
    page_text = texts(app)
    for missing in ("has not been tested on another dataset", "No fine-tuning curves", "No AU probes",
                    "No activation shift", "No micro-expression probe"):  # fmt: skip
        assert missing in page_text
    # Test the tiny model on the embedded faces now: the result is stored and joins the matrix.
    app.button(key="transfer-run").click().run(timeout=240)
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    assert any("saved in the results store" in s.value for s in app.success)
    app.button(key="transfer-refresh").click().run()
    matrix = chart_data(app, "Accuracy: each model")
    fresh = [row for row in matrix if row["what"].startswith("transfer")]
    assert [(row["model"], row["dataset"], row["n"]) for row in fresh] == [("fan2019-tiny", "generated", 28)]
    assert app.metric[0].label == "Accuracy [95% CI]"
    mapping = next(frame.value for frame in app.dataframe if "model's class" in frame.value.columns)
    assert mapping["faces"].sum() == 28


@pytest.fixture
def shipped_results():
    from core.transfer.results import results_dir

    names = {path.name.split("--")[0] for path in results_dir().glob("*.json")}
    if not {"cross_dataset", "fine_tuning", "au_probes", "shift", "micro_probe"} <= names:
        pytest.fail(f"committed transfer results are missing from {results_dir()}: found {sorted(names)}")


def test_transfer_page_shows_the_committed_results(shipped_results):
    app = run_page("transfer", model="fan2019-fer2013", grid="3", maps="5")
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    titles = " | ".join(chart_titles(app))
    for title in ("Accuracy: each model", "Recall per expression", "accuracy on held-out subjects",
                  "F1 of a linear probe", "the 5 most shifted maps", "negative / positive / surprise"):  # fmt: skip
        assert title in titles
    matrix = chart_data(app, "Accuracy: each model")
    shipped = {"breuer2017-fer2013", "breuer2017-ckplus-ft", "fan2019-fer2013", "fan2019-ckplus", "fan2019-ckplus-ft"}
    assert {row["model"] for row in matrix} == shipped
    assert len([row for row in matrix if row["what"].startswith("transfer")]) == len(shipped)
    curve = chart_data(app, "fan2019-fer2013 on ckplus")
    assert {row["mode"] for row in curve} == {"head", "full", "scratch"}
    assert {row["k"] for row in curve} == {"1", "2", "5", "10", "20", "all"}
    probes = chart_data(app, "fan2019-fer2013: F1")
    assert {row["grid"] for row in probes} == {3, 0}, "the URL's grid, and the pixel baseline"
    shift = next(frame.value for frame in app.dataframe if "atlas" in frame.value.columns)
    assert len(shift) == 5
    assert (
        shift["atlas"]
        .str.fullmatch(r"atlas\?model=fan2019-fer2013&layer=features\.conv\d&channel=\d+&built=1")
        .all()
    )
    assert app.query_params["grid"] == ["3"] and app.query_params["maps"] == ["5"]
    mapping = next(frame.value for frame in app.dataframe if "model's class" in frame.value.columns)
    assert ("(none)", "contempt") in set(
        zip(mapping["model's class"], mapping["dataset's class"], strict=True)
    )
