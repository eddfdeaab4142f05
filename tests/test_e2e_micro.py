"""End to end in headless Chromium: bad clips on the Micro-expressions page, then a good one; the Action
Units and Transfer pages opened from their URL state.

Every clip goes through the real uploader. Each bad clip must give exactly one error and leave the page
working: the next upload (another bad clip, then a synthetic clip with one event) is analysed afresh.
"""

import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.micro.synthetic import make_clip
from tests import test_e2e
from tests.test_e2e import SHOTS, check_page, open_page, settle

pytestmark = pytest.mark.e2e
# The browser fixtures of test_e2e.py, shared: this module gets its own server (module scope).
server, browser, page = test_e2e.server, test_e2e.browser, test_e2e.page

ERRORS = '[data-testid="stAlertContentError"]'
UPLOADER = '[data-testid="stFileUploaderDropzoneInput"]'
CLIP_SIZE = (320, 240)


def _zero_frame_avi(folder: Path) -> bytes:
    """A well-formed AVI header (frame rate and size) with no frame after it."""
    path = folder / "zero.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, CLIP_SIZE)
    writer.release()
    return path.read_bytes()


def _noise_mp4(folder: Path) -> bytes:
    """One second of colour noise: decodable frames, no face."""
    path = folder / "noise.mp4"
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (160, 120))
    for _ in range(30):
        writer.write(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    writer.release()
    return path.read_bytes()


def _quiet_mp4(folder: Path) -> bytes:
    """3 s of a drawn face that never moves but for head motion and noise: nothing to spot."""
    return make_clip(seconds=3.0, size=CLIP_SIZE, events=[], amplitude_px=3.0).write(folder / "quiet.mp4").read_bytes()


def _event_mp4(folder: Path) -> bytes:
    """3 s of a drawn face with one 3-pixel positive micro-expression at 1 s."""
    clip = make_clip(seconds=3.0, size=CLIP_SIZE, events=[(1.0, 0.3, "positive")], amplitude_px=3.0)
    return clip.write(folder / "event.mp4").read_bytes()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, tuple[str, bytes, str]]:
    """Upload name, bytes and the text the page must show, for each case."""
    folder = tmp_path_factory.mktemp("clips")
    return {
        "corrupt": ("junk.mp4", os.urandom(5000), "cannot be opened as a video"),
        "empty": ("empty.mp4", b"", "is empty"),
        "zero-frames": ("zero.avi", _zero_frame_avi(folder), "contains no frames"),
        "no-face": ("noise.mp4", _noise_mp4(folder), "No face was found in any of the 30 frames"),
        "event": ("event.mp4", _event_mp4(folder), "Spotted intervals"),
        "quiet": ("quiet.mp4", _quiet_mp4(folder), "Nothing was spotted in this clip"),
    }


def _drawn(page, shot: str) -> None:
    """Wait until every element is drawn (no skeleton left, every chart rendered), then screenshot and check."""
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stSkeleton"]')
            && [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
                .every(chart => chart.querySelector('canvas, svg'))""",
        timeout=60_000,
    )
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
    check_page(page)


def _upload(page, name: str, data: bytes, expected: str, shot: str) -> None:
    kind = "video/x-msvideo" if name.endswith(".avi") else "video/mp4"
    page.set_input_files(UPLOADER, files=[{"name": name, "mimeType": kind, "buffer": data}])
    page.wait_for_function("text => document.body.innerText.includes(text)", arg=expected, timeout=120_000)
    settle(page)
    page.screenshot(path=str(SHOTS / f"micro-{shot}.png"), full_page=True)
    check_page(page)


def test_bad_clips_get_one_message_each_and_the_next_clip_is_analysed(page, server, clips):
    open_page(page, f"{server}/micro?source=upload", "micro-upload-before")
    previous = None
    for case in ("corrupt", "empty", "zero-frames", "no-face"):
        name, data, expected = clips[case]
        _upload(page, name, data, expected, case)
        errors = page.locator(ERRORS)
        assert errors.count() == 1, f"{case}: {[e.inner_text() for e in errors.all()]}"
        assert expected in errors.first.inner_text()
        if previous is not None:
            assert previous not in page.inner_text("body"), f"{case}: the last clip's message stayed"
        assert "Spotted intervals" not in page.inner_text("body")
        previous = expected

    # A quiet clip, the most common clip there is: its timeline and one line, no error, no exception.
    name, data, expected = clips["quiet"]
    _upload(page, name, data, expected, "quiet")
    assert page.locator(ERRORS).count() == 0
    assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 1, "the quiet clip's timeline"

    name, data, expected = clips["event"]
    _upload(page, name, data, expected, "event")
    assert page.locator(ERRORS).count() == 0
    assert previous not in page.inner_text("body")
    table = page.locator('[data-testid="stDataFrame"]').first
    assert table.is_visible(), "the intervals table"
    assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 1, "the timeline"
    summary = page.get_by_text("frames at 30 fps (3.0 s)").first.inner_text()
    assert "90 frames" in summary, summary
    assert summary.startswith("1 interval (1 micro"), f"the one 3-pixel event at 1 s: {summary}"
    picker = page.get_by_role("combobox", name="Interval to look at").input_value()
    chosen = re.search(r"1: micro \w+ at (\d+\.\d\d) s", picker)
    assert chosen and 0.9 <= float(chosen[1]) <= 1.2, f"the interval picker names the event at 1 s: {picker}"

    # A bad clip after a good one replaces its results with the message.
    name, data, expected = clips["corrupt"]
    _upload(page, name, data, expected, "corrupt-after-event")
    assert page.locator(ERRORS).count() == 1
    assert "Spotted intervals" not in page.inner_text("body")


def test_action_units_opens_a_cell_from_its_url(page, server):
    open_page(page, f"{server}/au?model=fan2019-ckplus&method=distance&layer=features.conv3&au=AU12&channel=5",
              "au-cell")  # fmt: skip
    _drawn(page, "au-cell")
    body = page.inner_text("body")
    assert "AU12 and map 5 of conv3" in body
    assert page.locator(ERRORS).count() == 0
    assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 2, "the heatmap and the ranking"
    assert page.locator('[data-testid="stImage"] img').count() >= 1, "the cell's face sheet"
    assert "au=AU12" in page.url and "channel=5" in page.url
    assert page.get_by_role("combobox", name="Layer").input_value() == "conv3 (3rd conv, 128 maps of 12x12)"


def test_transfer_opens_a_model_from_its_url(page, server):
    open_page(page, f"{server}/transfer?model=fan2019-fer2013&grid=3&maps=5", "transfer-model")
    _drawn(page, "transfer-model")
    assert page.locator(ERRORS).count() == 0
    # The committed results of fan2019-fer2013: matrix, per class, curves, probes, micro probe, shift.
    assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 6
    assert page.get_by_label("Maps to list (1 to 60)").input_value() == "5"
    assert page.get_by_label("3 x 3 grid (max per cell: keeps where)").is_checked()
    assert "model=fan2019-fer2013" in page.url and "maps=5" in page.url
