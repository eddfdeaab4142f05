"""Bad input to the CLI is one `error: ...` line on stderr and exit status 2, never a traceback,
and never preceded by the native libraries' own logging (MediaPipe, TFLite, absl, FFmpeg).

`python -m core` runs in a subprocess, as a user runs it. Every input is made here.
"""

import json
import os
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from core.datasets.generated import generate_face
from tests.test_cli import cli


def _one_line(result, *words: str) -> str:
    """The run failed with exit 2 and exactly one stderr line, `error: ...`, holding `words`."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"stderr has {len(lines)} lines:\n{result.stderr}"
    line = lines[0]
    assert line.startswith("error: ") and "Traceback" not in line, line
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"
    return line


@pytest.fixture(scope="module")
def face(tmp_path_factory):
    path = tmp_path_factory.mktemp("faces") / "face.png"
    Image.fromarray(generate_face("happy", 256, 0)).save(path)
    return path


@pytest.fixture(scope="module")
def grey(tmp_path_factory):
    path = tmp_path_factory.mktemp("grey") / "grey.png"
    Image.new("RGB", (160, 160), (128, 128, 128)).save(path)
    return path


@pytest.fixture
def a_file(tmp_path):
    """A plain file, named as if it were a folder by the outputs below."""
    path = tmp_path / "somefile.txt"
    path.write_text("not a folder")
    return path


# ---- faces ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["0", "-5", "100000", "15", "1025"])
def test_faces_crop_size_out_of_range_is_one_line(face, size):
    _one_line(cli("faces", str(face), "--size", size), "--size", "16 to 1024", f"not {size}")


def test_faces_crop_sizes_at_the_limits_work(face, tmp_path):
    for size in (16, 1024):
        result = cli("faces", str(face), "--size", str(size), "--crop", str(tmp_path / f"c{size}.png"))
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["crop_size"] == [size, size]


def test_faces_crop_under_a_file_is_one_line_naming_it(face, a_file):
    target = a_file / "crop.png"
    _one_line(cli("faces", str(face), "--crop", str(target)), str(target), "is a file, not a folder")


def test_faces_crop_with_an_unknown_extension_is_one_line(face, tmp_path):
    _one_line(cli("faces", str(face), "--crop", str(tmp_path / "crop.gif")), "--crop", ".png", "crop.gif")
    _one_line(cli("faces", str(face), "--annotated", str(tmp_path / "marked")), "--annotated", "'marked'")
    assert not list(tmp_path.iterdir()), "nothing is written when an output is refused"


def test_faces_crop_into_a_missing_folder_makes_it(face, tmp_path):
    target = tmp_path / "new" / "folder" / "crop.png"
    result = cli("faces", str(face), "--crop", str(target), "--annotated", str(tmp_path / "new" / "a.jpg"))
    assert result.returncode == 0, result.stderr
    assert Image.open(target).size == (48, 48) and (tmp_path / "new" / "a.jpg").is_file()
    assert result.stderr == "", "a run that works is silent on stderr"
    out = json.loads(result.stdout)
    assert out["rotation"] == 0 and out["scaled"] is False and out["notes"] == []


def test_faces_crop_where_nothing_can_be_written_is_one_line(face):
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc on this system")
    _one_line(cli("faces", str(face), "--crop", "/proc/crop.png"), "/proc/crop.png", "Cannot write")


def test_faces_reports_a_turned_picture(face, tmp_path):
    turned = tmp_path / "turned.png"
    Image.open(face).rotate(90, expand=True).save(turned)  # counterclockwise: lying with its top left
    result = cli("faces", str(turned))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["rotation"] == 90 and len(out["faces"]) == 1
    assert any("sideways" in note for note in out["notes"])


# ---- deconv and spot outputs ------------------------------------------------------------


def test_deconv_out_under_a_file_or_in_proc_is_one_line(face, a_file):
    base = ("deconv", str(face), "--layer", "conv2", "--channel", "1", "--out")
    _one_line(cli(*base, str(a_file / "x.png")), str(a_file / "x.png"), "is a file, not a folder")
    if os.path.isdir("/proc/self"):
        _one_line(cli(*base, "/proc/nowhere/x.npy"), "/proc/nowhere/x.npy", "Cannot write")
    _one_line(cli(*base, str(a_file.parent)), "--out", "must end in .png")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clips") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for _ in range(5):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    return path


def test_spot_out_under_a_file_is_one_line_before_any_work(clip, a_file):
    target = a_file / "spots.json"
    result = cli("spot", str(clip), "--model", "training-free", "--out", str(target))
    _one_line(result, str(target), "is a file, not a folder")
    assert "spotting" not in result.stderr, "refused before the progress bar"


def test_spot_of_a_file_ffmpeg_cannot_open_is_one_line_without_ffmpeg_noise(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)  # FFmpeg logs "moov atom not found" for it
    _one_line(cli("spot", str(path), "--out", str(tmp_path / "x.json")), "notes.mp4", "cannot be opened")


# ---- predict ---------------------------------------------------------------------------------


def test_predict_of_a_faceless_picture_is_one_line_without_mediapipe_noise(grey, use_tiny_zoo):
    result = cli("predict", str(grey), "--model", "fan2019-tiny")
    _one_line(result, str(grey), "No face was found")
    out = json.loads(result.stdout)
    assert out["failed"] == 1 and out["predictions"] == [
        {"image": str(grey), "error": out["predictions"][0]["error"]}
    ]


def test_predict_with_some_bad_images_predicts_the_others_and_names_each_bad_one(
    face, grey, tmp_path, use_tiny_zoo
):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    missing = tmp_path / "missing.png"
    result = cli("predict", str(face), str(grey), str(junk), str(missing), "--model", "fan2019-tiny")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 3, result.stderr
    assert all(line.startswith("error: ") for line in lines)
    assert str(grey) in lines[0] and "No face" in lines[0]
    assert "junk.jpg" in lines[1] and "not an image" in lines[1]
    assert "missing.png" in lines[2] and "not found" in lines[2]
    out = json.loads(result.stdout)
    rows = out["predictions"]
    assert [row["image"] for row in rows] == [str(face), str(grey), str(junk), str(missing)]
    assert rows[0]["label"] in rows[0]["probabilities"] and "error" not in rows[0]
    assert all("error" in row and "label" not in row for row in rows[1:])
    assert out["failed"] == 3


def test_predict_with_good_images_only_exits_0(face, use_tiny_zoo):
    result = cli("predict", str(face), str(face), "--model", "fan2019-tiny")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    out = json.loads(result.stdout)
    assert out["failed"] == 0 and len(out["predictions"]) == 2


# ---- the redirect itself ---------------------------------------------------------------------


def test_native_logs_are_silenced_and_python_messages_kept(capfd):
    from core.__main__ import _native_logs_silenced

    with _native_logs_silenced():
        os.write(2, b"native library noise\n")  # what C++ code does: straight to descriptor 2
        print("a python message", file=sys.stderr)
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "a python message\nafter\n"


def test_native_logs_can_be_shown(capfd, monkeypatch):
    from core.__main__ import _native_logs_silenced

    monkeypatch.setenv("FER_NATIVE_LOGS", "1")
    with _native_logs_silenced():
        os.write(2, b"native library noise\n")
    assert capfd.readouterr().err == "native library noise\n"
