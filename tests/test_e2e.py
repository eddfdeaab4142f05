"""End to end: `streamlit run` on 127.0.0.1, every page opened in headless Chromium.

Debian's chromium is driven by Playwright through `executable_path` (no browser download).
A page fails on any exception box; screenshots are kept in test-artifacts/e2e/.
"""

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.datasets.generated import generate_face
from dashboard.navigation import PAGE_SPECS
from tests.test_media import _png_declaring

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "test-artifacts" / "e2e"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = pytest.mark.e2e


def _require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; CI must run the browser tests (make test installs it).")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _require_chromium()
    port = _free_port()
    env = {**os.environ, "FER_DASHBOARD_HOME": str(tmp_path_factory.mktemp("e2e-home"))}
    env.pop("FER_DATASETS", None)
    log = open(tmp_path_factory.mktemp("log") / "streamlit.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "dashboard/app.py",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail(f"streamlit did not start: {Path(log.name).read_text()[-2000:]}")
    yield url
    process.terminate()
    process.wait(timeout=20)
    log.close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 2000})
    page = context.new_page()
    yield page
    context.close()


def settle(page, timeout_s: float = 180) -> None:
    """Wait until the script run is over: Streamlit marks its root with the script's state."""
    page.wait_for_selector("h1", timeout=timeout_s * 1000)
    deadline, quiet_since = time.time() + timeout_s, None
    while time.time() < deadline:
        state = page.locator('[data-testid="stApp"]').first.get_attribute("data-test-script-state")
        if state in ("initial", "running"):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > 1.0:  # a rerun (st.rerun, query params) starts within this
            return
        time.sleep(0.2)
    raise AssertionError("the page kept running")


def open_page(page, url: str, shot: str) -> None:
    page.goto(url)
    settle(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
    check_page(page)


def check_page(page) -> None:
    """No exception box, and every image really loaded (a broken one has no natural width).

    An image still on its way (a busy server, other tabs running) is waited for, up to 30 s: only
    one that ends in an error, or never arrives, fails.
    """
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()
    for image in page.locator('[data-testid="stImage"] img').all():
        image.scroll_into_view_if_needed()
        loaded = image.evaluate(IMAGE_LOADED)
        assert loaded, f"image failed to load: {image.get_attribute('src')}"


IMAGE_LOADED = """e => e.complete ? e.naturalWidth > 0 : new Promise(done => {
    e.addEventListener("load", () => done(e.naturalWidth > 0));
    e.addEventListener("error", () => done(false));
    setTimeout(() => done(e.complete && e.naturalWidth > 0), 30000);
})"""


@pytest.mark.parametrize("name", [spec[0] for spec in PAGE_SPECS])
def test_every_page_opens_without_an_exception(page, server, name):
    open_page(page, f"{server}/{'' if name == 'home' else name}", name)
    assert page.locator("h1").first.inner_text().strip()


def test_explore_draws_a_face_and_its_crop(page, server):
    open_page(page, f"{server}/explore", "explore-embedded-face")
    assert page.locator('[data-testid="stImage"]').count() >= 2
    assert "One face found" in page.inner_text("body")


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _group_photo() -> np.ndarray:
    canvas = np.full((300, 560, 3), 90, np.uint8)
    canvas[20:276, 10:266] = generate_face("happy", size=256, seed=1)
    small = np.asarray(Image.fromarray(generate_face("sad", size=256, seed=2)).resize((180, 180)))
    canvas[60:240, 330:510] = small
    return canvas


UPLOADS = {
    "corrupt": ("junk.png", os.urandom(3000), "not an image"),
    "empty": ("empty.png", b"", "The file is empty"),
    "too-large": ("bomb.png", _png_declaring(30000, 30000), "megapixels"),
    "truncated": ("cut.png", _png(generate_face("happy", 256, 0))[:5000], "damaged or truncated"),
    "no-face": ("grey.png", _png(np.full((200, 200, 3), 128, np.uint8)), "No face was found"),
    "several-faces": ("group.png", _png(_group_photo()), "2 faces were found"),
    "one-face": ("face.png", _png(generate_face("surprise", 256, 3)), "One face found"),
}


@pytest.mark.parametrize("case", list(UPLOADS))
def test_uploads_get_one_clear_message_and_the_app_goes_on(page, server, case):
    name, data, expected = UPLOADS[case]
    open_page(page, f"{server}/explore?source=upload", f"upload-{case}-before")
    page.set_input_files(
        '[data-testid="stFileUploaderDropzoneInput"]',
        files=[{"name": name, "mimeType": "image/png", "buffer": data}],
    )
    page.wait_for_function("text => document.body.innerText.includes(text)", arg=expected, timeout=60_000)
    settle(page)
    page.screenshot(path=str(SHOTS / f"upload-{case}.png"), full_page=True)
    check_page(page)
    assert expected in page.inner_text("body")


def test_a_built_atlas_opens_from_its_url(page, server):
    # Building shows a progress bar; `settle` waits for the run that draws the result.
    open_page(page, f"{server}/atlas?built=1&top=3&layer=features.conv2b&channel=4", "atlas-built")
    assert page.locator('[data-testid="stImage"]').count() >= 2, "the layer overview and the filter sheet"
    assert "features.conv2b" in page.url and "channel=4" in page.url


def test_explore_shows_what_the_network_sees(page, server):
    open_page(page, f"{server}/explore?method=guided_backprop", "explore-network")
    section = page.get_by_text("What the network sees")
    section.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "explore-network-sees.png"), full_page=False)
    assert page.locator('[data-testid="stImage"]').count() >= 7, (
        "grid, three deconvolution views, attribution"
    )
    check_page(page)
