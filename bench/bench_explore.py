"""Explore, as a user meets it: seconds from uploading a 640x480 photo to the full page, in chromium.

    .venv/bin/python bench/bench_explore.py [--uploads 5]

Starts `streamlit run` on 127.0.0.1, opens Explore in Debian's chromium (Playwright), uploads
photos of a drawn face on a 640x480 background (a new picture each time: nothing is cached),
and times each from the upload to the end of the script run that draws the whole page: the
prediction, the feature maps, the deconvolution views and the attribution (target: under 3 s).
The first upload is timed apart: it loads the face detector and the model once per server.
"""

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

UPLOADER = '[data-testid="stFileUploaderDropzoneInput"]'
TARGET_S = 3.0


def photo(seed: int) -> bytes:
    from core.datasets.generated import generate_face

    canvas = np.full((480, 640, 3), (70 + seed * 7) % 200, np.uint8)
    canvas[100:380, 180:460] = generate_face(("happy", "sad", "surprise", "angry")[seed % 4], size=280, seed=seed)
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def start_server(port: int, home: Path) -> subprocess.Popen:
    env = {**os.environ, "FER_DASHBOARD_HOME": str(home)}
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.address", "127.0.0.1",
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]  # fmt: skip
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(240):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                return server
        except OSError:
            time.sleep(0.25)
    server.kill()
    raise SystemExit("streamlit did not start")


def timed_upload(page, name: str, data: bytes) -> float:
    """Seconds from handing the file to the uploader until the run that drew the full page ended."""
    app = page.locator('[data-testid="stApp"]').first
    started = time.perf_counter()
    page.set_input_files(UPLOADER, files=[{"name": name, "mimeType": "image/jpeg", "buffer": data}])
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=f"Uploaded photo: {name}", timeout=120_000)
    while True:  # the run ends with the attribution; then the script state leaves "running"
        idle = app.get_attribute("data-test-script-state") not in ("initial", "running")
        if idle and page.get_by_text("What the network sees").count() and page.locator('[data-testid="stImage"]').count() >= 7:
            return time.perf_counter() - started
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=5)
    parser.add_argument("--port", type=int, default=8597)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from tests.test_e2e import CHROMIUM, CHROMIUM_FLAGS, settle

    with tempfile.TemporaryDirectory() as home:
        server = start_server(args.port, Path(home))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
                page = browser.new_context(viewport={"width": 1400, "height": 2000}).new_page()
                page.goto(f"http://127.0.0.1:{args.port}/explore?source=upload")
                settle(page)
                first = timed_upload(page, "photo-0.jpg", photo(0))
                times = [timed_upload(page, f"photo-{i}.jpg", photo(i)) for i in range(1, args.uploads + 1)]
                browser.close()
        finally:
            server.terminate()
    print(f"first upload (loads the detector and the model): {first:.2f} s")
    print(f"upload to full page, {len(times)} photos of 640x480: median {statistics.median(times):.2f} s, "
          f"max {max(times):.2f} s (target under {TARGET_S:.0f} s): {', '.join(f'{t:.2f}' for t in times)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
