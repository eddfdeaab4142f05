"""End to end, in chromium: pin figures from three pages, reorder, caption, export the deck and read it."""

import io
import re

import pytest

from tests import test_e2e
from tests.test_e2e import SHOTS, check_page, open_page, settle

# The browser fixtures of test_e2e.py, shared: this module gets its own server (module scope).
server, browser, page = test_e2e.server, test_e2e.browser, test_e2e.page

pytestmark = pytest.mark.e2e


def _pin(tab, url: str, key: str, shot: str) -> None:
    """Open a page and press the Pin button of the figure downloaded under `key`."""
    open_page(tab, url, shot)
    button = tab.locator(f".st-key-{key}-pin button").first
    button.scroll_into_view_if_needed()
    button.click()
    tab.get_by_text("Pinned to 'My findings'").wait_for(timeout=60_000)
    settle(tab)
    check_page(tab)


def _button(tab, label: str):
    """Visible buttons whose text ends with `label` (after their icon's name)."""
    return tab.locator("button:visible").filter(has_text=re.compile(rf"(^|\s){label}$"))


def _cards(tab):
    return tab.locator('[data-testid="stTextInput"] input[aria-label^="Title of finding"]')


def test_three_pages_pinned_reordered_captioned_and_exported_as_a_deck(page, server):
    from pptx import Presentation
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    _pin(page, f"{server}/explore", "feature-maps", "findings-pin-explore")
    _pin(page, f"{server}/models", "confusion", "findings-pin-models")
    _pin(page, f"{server}/au", "au-heatmap", "findings-pin-au")
    open_page(page, f"{server}/findings", "findings-board")
    titles = [field.input_value() for field in _cards(page).all()]
    assert len(titles) == 3, titles
    assert titles[0].startswith("Feature maps") and "confusion" in titles[1] and titles[2].startswith("Au heatmap")

    _button(page, "Down").first.click()  # the first finding goes second
    settle(page)
    reordered = [field.input_value() for field in _cards(page).all()]
    assert reordered == [titles[1], titles[0], titles[2]]

    caption = page.locator('[data-testid="stTextArea"] textarea').nth(2)
    caption.fill("AU12 <b>lights</b> these maps")
    caption.press("Control+Enter")  # Streamlit commits a text area on Ctrl+Enter (or on blur)
    settle(page)
    page.reload()
    settle(page)
    assert page.locator('[data-testid="stTextArea"] textarea').nth(2).input_value() == "AU12 <b>lights</b> these maps"
    page.screenshot(path=str(SHOTS / "findings-page.png"), full_page=True)
    check_page(page)
    assert "Reopen this view" in page.inner_text("body")
    assert "sha256" in page.inner_text("body")

    with page.expect_download(timeout=120_000) as download:
        page.locator("button:has-text('Slide deck (.pptx)')").click()
    deck = Presentation(io.BytesIO(open(download.value.path(), "rb").read()))  # noqa: SIM115
    slides = list(deck.slides)
    assert len(slides) == 4 and slides[0].shapes.title.text == "My findings"
    for slide, title in zip(slides[1:], reordered, strict=True):
        texts = [shape.text_frame.text for shape in slide.shapes if shape.has_text_frame]
        assert texts[0] == title
        assert [shape.shape_type for shape in slide.shapes].count(MSO_SHAPE_TYPE.PICTURE) == 1
    assert any("AU12 <b>lights</b> these maps" in shape.text_frame.text
               for shape in slides[3].shapes if shape.has_text_frame)  # fmt: skip
    for label, check in (("Handout (.pdf)", _check_handout), ("Figure bundle (.zip)", _check_bundle)):
        with page.expect_download(timeout=120_000) as download:
            page.locator(f"button:has-text('{label}')").click()
        check(open(download.value.path(), "rb").read(), reordered)  # noqa: SIM115


def _check_handout(data: bytes, titles: list[str]) -> None:
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") >= 1 + len(titles)


def _check_bundle(data: bytes, titles: list[str]) -> None:
    import json
    import zipfile

    bundle = zipfile.ZipFile(io.BytesIO(data))
    findings = json.loads(bundle.read("findings.json"))["findings"]
    assert [f["title"] for f in findings] == titles
    assert findings[2]["caption"] == "AU12 <b>lights</b> these maps"
    assert all(name in bundle.namelist() for f in findings for name in f["files"])
    assert sum(name.endswith(".svg") for name in bundle.namelist()) == 3
