"""Sessions in a real browser: twenty uploads in one tab, six tabs uploading at once, and one clip
uploaded by three sessions at once (analysed once)."""

import io

import pytest
from PIL import Image

from core.datasets.generated import EXPRESSION_AUS, generate_face
from core.micro.synthetic import make_clip
from tests import test_e2e
from tests.test_e2e import SHOTS, check_page, open_page, settle

pytestmark = pytest.mark.e2e
server, browser, page = test_e2e.server, test_e2e.browser, test_e2e.page
UPLOADER = '[data-testid="stFileUploaderDropzoneInput"]'


def _face_png(i: int) -> bytes:
    labels = list(EXPRESSION_AUS)
    buffer = io.BytesIO()
    Image.fromarray(generate_face(labels[i % len(labels)], 256, i)).save(buffer, "PNG")
    return buffer.getvalue()


def _upload_face(page, name: str, data: bytes) -> None:
    page.set_input_files(UPLOADER, files=[{"name": name, "mimeType": "image/png", "buffer": data}])
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=f"Uploaded photo: {name}", timeout=120_000)
    settle(page)


@pytest.mark.timeout(900)
def test_twenty_uploads_in_one_tab_never_freeze_the_session(page, server):
    """Streamlit 1.60's forward-message cache froze a tab after about ten uploads (config.toml turns it off)."""
    open_page(page, f"{server}/explore?source=upload", "sessions-explore")
    for i in range(20):
        _upload_face(page, f"face-{i:02d}.png", _face_png(i))
        assert "Failed to process a Websocket message" not in page.inner_text("body")
    check_page(page)
    assert "face-19.png" in page.inner_text("body")
    page.screenshot(path=str(SHOTS / "sessions-twenty-uploads.png"), full_page=True)


@pytest.mark.timeout(900)
def test_six_tabs_uploading_at_once_each_see_their_own_face(browser, server):
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1600}) for _ in range(6)]
    try:
        pages = [context.new_page() for context in contexts]
        for tab in pages:
            open_page(tab, f"{server}/explore?source=upload", "sessions-six")
        for i, tab in enumerate(pages):  # Playwright is one thread: each upload starts, then all run at once
            tab.set_input_files(UPLOADER, files=[{"name": f"tab-{i}.png", "mimeType": "image/png",
                                                  "buffer": _face_png(i + 3)}])  # fmt: skip
        for i, tab in enumerate(pages):
            tab.wait_for_function("t => document.body.innerText.includes(t)", arg=f"Uploaded photo: tab-{i}.png",
                                  timeout=240_000)  # fmt: skip
            settle(tab)
            check_page(tab)
            body = tab.inner_text("body")
            others = [f"tab-{j}.png" for j in range(6) if j != i]
            assert not any(other in body for other in others), f"tab {i} shows another tab's file"
            assert "What the model says" in body
    finally:
        for context in contexts:
            context.close()


@pytest.mark.timeout(900)
def test_one_clip_uploaded_by_three_sessions_at_once_is_analysed_once(browser, server, tmp_path):
    clip = make_clip(seconds=2.0, size=(320, 240), events=[(0.8, 0.3, "positive")], identity=1, seed=11)
    data = clip.write(tmp_path / "shared.mp4").read_bytes()
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1600}) for _ in range(3)]
    try:
        pages = [context.new_page() for context in contexts]
        for tab in pages:
            open_page(tab, f"{server}/micro?source=upload&model=training-free", "sessions-micro")
        for tab in pages:
            tab.set_input_files(UPLOADER, files=[{"name": "shared.mp4", "mimeType": "video/mp4", "buffer": data}])
        bodies = []
        for tab in pages:
            tab.wait_for_function("() => document.body.innerText.includes('frames at')", timeout=300_000)
            settle(tab)
            check_page(tab)
            bodies.append(tab.inner_text("body"))
        from_store = ["From the results store." in body for body in bodies]
        assert sorted(from_store) == [False, True, True], "one session analysed it; two read its result"
    finally:
        for context in contexts:
            context.close()
