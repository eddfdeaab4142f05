"""An AppTest for every page: each runs without an exception and shows what it should."""

import json
import re
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from dashboard.navigation import PAGE_SPECS

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 120


def run_page(name: str, **query: str) -> AppTest:
    app = AppTest.from_file(str(REPO / "pages" / f"{name}.py"), default_timeout=TIMEOUT)
    app.query_params.update(query)
    return app.run()


def chart_titles(app: AppTest) -> list[str]:
    """The titles of the Vega-Lite charts on the page."""
    titles = []
    for chart in app.get("vega_lite_chart"):
        title = json.loads(chart.proto.spec).get("title", "")
        titles.append(title.get("text", "") if isinstance(title, dict) else title)
    return titles


def as_shown(markdown: str) -> str:
    """The text a browser shows for Markdown that `dashboard.widgets.plain` escaped."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u200b", "")


def errors(app: AppTest) -> list[str]:
    """The page's error messages as the user reads them."""
    return [as_shown(e.value) for e in app.error]


def texts(app: AppTest) -> str:
    parts = [as_shown(m.value) for m in app.markdown] + [as_shown(c.value) for c in app.caption]
    parts += [t.value for t in app.title]
    parts += [as_shown(a.value) for a in (*app.error, *app.warning, *app.info, *app.success)]
    return "\n".join(parts)


@pytest.mark.parametrize("name", [spec[0] for spec in PAGE_SPECS])
def test_every_page_runs_cleanly(name):
    app = run_page(name)
    assert not app.exception, app.exception
    assert app.title, "every page has a title"


def test_app_entry_point_navigates_every_page():
    app = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=TIMEOUT).run()
    assert not app.exception
    for name, title, _ in PAGE_SPECS[1:]:
        app.switch_page(str(REPO / "pages" / f"{name}.py")).run()
        assert not app.exception, (name, app.exception)
        assert app.title[0].value.lower().startswith(title.split()[0].lower())


def test_home_lists_the_embedded_faces():
    assert "Generated faces (embedded)" in texts(run_page("home"))


def test_explore_shows_an_embedded_face_by_default():
    app = run_page("explore")
    assert not app.exception
    assert not app.error
    assert len(app.get("image")) >= 2, "the picture with landmarks and the aligned crop"
    assert "One face found" in texts(app)


def test_explore_restores_the_sample_named_in_the_url():
    app = run_page("explore", source="sample", label="surprise", sample="generated/surprise_03")
    assert app.selectbox(key="sample-label").value == "surprise"
    assert app.number_input(key="sample-number").value == 3
    assert "generated/surprise_03" in texts(app)


def test_explore_offers_upload_and_webcam():
    app = run_page("explore", source="upload")
    assert app.get("file_uploader")
    assert not app.exception
    app = run_page("explore", source="webcam")
    assert app.get("camera_input")
    assert not app.exception


def test_datasets_filters_come_from_the_url():
    app = run_page("datasets", labels="happy")
    assert not app.exception
    assert "**4** of 28 faces match" in texts(app)


def test_datasets_add_a_folder_then_refuse_a_wrong_one(tmp_path):
    root = tmp_path / "faces"
    for label in ("happy", "sad"):
        (root / label).mkdir(parents=True)
        Image.new("L", (48, 48), 128).save(root / label / "a.png")
    app = run_page("datasets")
    app.text_input[0].input("My faces")
    next(box for box in app.selectbox if box.label == "Layout").set_value("folder")
    app.text_input[1].input(str(root))
    app.button[0].click().run()
    assert not app.exception
    assert any("Added 'My faces' with 2 faces" in s.value for s in app.success)

    app = run_page("datasets")
    app.text_input[0].input("Broken")
    app.text_input[1].input(str(tmp_path / "nowhere"))
    app.button[0].click().run()
    assert not app.exception
    assert app.error and "does not exist" in errors(app)[0]


@pytest.mark.parametrize("fmt, root", [("fer2013", "/etc/passwd"), ("fer2013", "/proc/self/environ"),
                                       ("folder", "/usr/share")])  # fmt: skip
def test_datasets_page_reads_no_file_outside_the_allowed_roots(tmp_path, monkeypatch, fmt, root):
    monkeypatch.setenv("FER_DATA_ROOTS", str(tmp_path))
    app = run_page("datasets")
    app.text_input[0].input("Probe")
    next(box for box in app.selectbox if box.label == "Layout").set_value(fmt)
    app.text_input[1].input(root)
    app.button[0].click().run()
    assert not app.exception and not app.success
    shown = " ".join(errors(app))
    assert "outside the folders this server may read" in shown
    assert "root:" not in shown and "PATH=" not in shown, "no file's contents are echoed"


def test_a_malformed_environment_keeps_the_app_running(monkeypatch):
    monkeypatch.setenv("FER_DATASETS", "oops")
    app = run_page("datasets")
    assert not app.exception
    assert "FER_DATASETS" in errors(app)[0]
    assert "28 faces match" in texts(app), "the embedded faces are still offered"


def test_a_message_is_shown_as_text_not_markdown():
    """A file called ':x: *draft*.png' is named as it is: no emoji, no bold."""
    from dashboard.widgets import plain

    name = ":x: *draft* [v2](http://x) #1 `a`_b_.png"
    escaped = plain(f"{name} is not an image.")
    assert as_shown(escaped) == f"{name} is not an image."
    assert ":x:" not in escaped and "*draft*" not in escaped and "[v2](" not in escaped
    from dashboard.widgets import count

    assert (count(1, "interval"), count(2, "interval"), count(1024, "frame")) == ("1 interval", "2 intervals", "1,024 frames")
