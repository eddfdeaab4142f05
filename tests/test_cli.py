"""The CLI as a user runs it: `python -m core VERB`, JSON on stdout, one clear line on error."""

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from core.datasets.generated import generate_face

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_faces_writes_the_crop_and_reports_the_face(tmp_path):
    Image.fromarray(generate_face("happy", 256, 0)).save(tmp_path / "face.png")
    result = cli("faces", str(tmp_path / "face.png"), "--crop", str(tmp_path / "crop.png"))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert len(out["faces"]) == 1 and out["chosen"] == 0
    assert Image.open(tmp_path / "crop.png").size == (48, 48)


def test_faces_bad_input_is_one_clear_line(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    result = cli("faces", str(tmp_path / "junk.png"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and "not an image" in result.stderr
    Image.new("RGB", (120, 120), (128, 128, 128)).save(tmp_path / "grey.png")
    result = cli("faces", str(tmp_path / "grey.png"))
    assert result.returncode == 2 and "No face" in result.stderr


def test_datasets_counts_the_embedded_faces():
    result = cli("datasets", "--format", "generated")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["n"] == 28 and out["labels"]["happy"] == 4
    assert out["aus"]["AU12"] >= 4


def test_datasets_counts_real_ckplus(data_dir):
    result = cli(
        "datasets",
        "--format",
        "ckplus",
        "--root",
        str(data_dir / "ckplus48"),
        "--au-labels",
        str(data_dir / "ckplus_facs" / "ckplus_netfacs_au_emotion.csv"),
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["n"], out["sequences"], out["subjects"]) == (981, 327, 118)
    assert out["aus"]["AU25"] == 3 * 181


def test_datasets_wrong_folder_is_one_clear_line(tmp_path):
    result = cli("datasets", "--format", "ckplus", "--root", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.strip().count("\n") == 0
