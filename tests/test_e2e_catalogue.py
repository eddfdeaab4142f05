"""The catalogue of photos through the Explore page's real uploader in chromium: each one gets a
result (with a note where the picture was scaled or turned) or exactly one message, never an
exception, and the next upload works."""

import io

import numpy as np
import pytest
from PIL import Image

from core.datasets.generated import generate_face
from tests import test_e2e
from tests.test_e2e import check_page, open_page, settle

pytestmark = pytest.mark.e2e
server, browser, page = test_e2e.server, test_e2e.browser, test_e2e.page
UPLOADER = '[data-testid="stFileUploaderDropzoneInput"]'
ERRORS = '[data-testid="stAlertContentError"]'
RESULT = "What the model says"


def _bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _catalogue() -> list[tuple[str, bytes, str]]:
    """(file name, bytes, the text the page must show)."""
    face = generate_face("happy", 256, 0)
    gray16 = np.asarray(Image.fromarray(face).convert("L")).astype(np.uint16) * 200 + 1000
    big = np.zeros((6000, 8000, 3), np.uint8)
    big[...] = np.linspace(60, 200, 8000, dtype=np.uint8)[None, :, None]
    big[2000:4048, 3000:5048] = np.asarray(Image.fromarray(face).resize((2048, 2048)))
    two = np.concatenate([face, generate_face("sad", 256, 1)], axis=1)
    return [
        ("sideways :x: face.png", _bytes(Image.fromarray(np.rot90(face)), "PNG"), "turned 90 degrees"),
        ("upside-down.jpg", _bytes(Image.fromarray(face[::-1, ::-1]), "JPEG"), "upside down"),
        ("phone-48mp.jpg", _bytes(Image.fromarray(big), "JPEG", quality=70), "was scaled"),
        ("gray-16bit.png", _bytes(Image.fromarray(gray16), "PNG"), RESULT),
        ("gray-8bit.png", _bytes(Image.fromarray(face).convert("L"), "PNG"), RESULT),
        ("two-faces.png", _bytes(Image.fromarray(two), "PNG"), "2 faces were found"),
        ("noise.png", _bytes(Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200, 3), np.uint8)), "PNG"),
         "No face"),
        ("truncated.jpg", _bytes(Image.fromarray(face), "JPEG")[:900], "damaged or truncated"),
        ("not-an-image.png", b"hello, this is text", "not"),
    ]  # fmt: skip


@pytest.mark.timeout(900)
def test_every_photo_of_the_catalogue_gets_a_result_or_one_message(page, server):
    open_page(page, f"{server}/explore?source=upload", "catalogue-before")
    for name, data, expected in _catalogue():
        kind = "image/png" if name.endswith(".png") else "image/jpeg"
        page.set_input_files(UPLOADER, files=[{"name": name, "mimeType": kind, "buffer": data}])
        page.wait_for_function("t => document.body.innerText.includes(t)", arg=expected, timeout=180_000)
        settle(page)
        check_page(page)
        errors = page.locator(ERRORS).count()
        body = page.inner_text("body")
        assert (errors == 1) != (RESULT in body), f"{name}: a result or exactly one message ({errors} errors)"
        if errors:
            assert "Choose a dataset face" not in body, f"{name}: the message stands alone"


@pytest.mark.timeout(300)
def test_a_file_name_with_markup_is_shown_as_it_is(page, server):
    open_page(page, f"{server}/explore?source=upload", "catalogue-name")
    data = _bytes(Image.fromarray(generate_face("happy", 256, 0)), "PNG")
    name = ":x: *draft* face.png"
    page.set_input_files(UPLOADER, files=[{"name": name, "mimeType": "image/png", "buffer": data}])
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=RESULT, timeout=180_000)
    settle(page)
    shown = page.inner_text("body").replace("\u200b", "")  # the invisible break that keeps ':x:' from an emoji
    assert f"Uploaded photo: {name}" in shown, "no emoji, no bold: the name as it is"
    assert page.locator('[data-testid="stCaptionContainer"] strong').count() == 0
