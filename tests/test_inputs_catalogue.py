"""Inputs users bring that used to go wrong: turned photos and clips, faces lying sideways or
upside down, huge phone photos, grayscale and 16-bit lab pictures.

Every input is made here: pictures drawn with numpy and encoded by Pillow, clips written by
OpenCV (their rotation metadata patched into the MP4 header), faces from
core.datasets.generated.
"""

import io
import struct
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from core import media
from core.datasets.generated import generate_face
from core.errors import MediaError
from core.faces import (
    LEFT_EYE_CONTOUR,
    MOUTH,
    RIGHT_EYE_CONTOUR,
    Face,
    canonical_eye_positions,
    prepare_face,
)
from core.media import (
    MAX_LOADED_PIXELS,
    decode_image,
    decode_image_info,
    iter_frames,
    load_image,
    load_image_info,
    probe_video,
    turn_clockwise,
)

RED, BLUE = (255, 0, 0), (0, 0, 255)
_REAL_CAPTURE = cv2.VideoCapture


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _one_sentence(message: str, *words: str) -> None:
    assert message.endswith(".") and ". " not in message, message
    assert "Error" not in message and "Traceback" not in message, message
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"


def _red_corner(rgb: np.ndarray) -> str:
    """Which corner of the picture holds the red square: 'top left', 'bottom right', ..."""
    red = (rgb[..., 0] > 180) & (rgb[..., 2] < 80)
    ys, xs = np.nonzero(red)
    height, width = red.shape
    vertical = "top" if ys.mean() < height / 2 else "bottom"
    horizontal = "left" if xs.mean() < width / 2 else "right"
    return f"{vertical} {horizontal}"


# ---- photos with an EXIF orientation ------------------------------------------------------


@pytest.mark.parametrize(
    "orientation, shape, corner",
    [
        (1, (20, 40, 3), "top left"),  # stored upright
        (3, (20, 40, 3), "bottom right"),  # turned 180 degrees
        (6, (40, 20, 3), "top right"),  # "turn 90 clockwise to show": a phone held upright
        (8, (40, 20, 3), "bottom left"),  # "turn 270 clockwise to show"
    ],
)
def test_exif_orientation_turns_photos_upright(tmp_path, orientation, shape, corner):
    stored = Image.new("RGB", (40, 20), BLUE)
    stored.paste(RED, (0, 0, 10, 10))  # a red square at the stored top left
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.jpg"
    path.write_bytes(_encode(stored, "JPEG", exif=exif, quality=95))
    loaded = load_image_info(path)
    assert loaded.image.shape == shape
    assert _red_corner(loaded.image) == corner
    assert loaded.exif_orientation == orientation and loaded.rotated == (orientation != 1)
    assert loaded.original_size == (40, 20) and not loaded.scaled and loaded.note is None
    assert load_image(path).shape == shape


# ---- clips with rotation metadata -----------------------------------------------------------

WIDTH, HEIGHT, FRAMES = 64, 48, 6
# The MP4 display matrix (a, b, c, d of the track header, 16.16 fixed point) that FFmpeg reads
# as "turn clockwise by this many degrees to show", as phones write for portrait clips.
_DISPLAY_MATRICES = {0: (1, 0, 0, 1), 90: (0, 1, -1, 0), 180: (-1, 0, 0, -1), 270: (0, -1, 1, 0)}


def _marked_frame() -> np.ndarray:
    """A BGR frame, black with a red block at the top left."""
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    frame[: HEIGHT // 2, : WIDTH // 4] = (0, 0, 255)
    return frame


def _rotated_mp4(path, degrees: int):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (WIDTH, HEIGHT))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MP4 (mp4v)")
    for _ in range(FRAMES):
        writer.write(_marked_frame())
    writer.release()
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    assert at > 0, "OpenCV wrote an MP4 without a track header"
    version = data[at + 4]
    # version and flags (4), times, track id, reserved, duration (20 or 32), reserved (8),
    # layer, group, volume, reserved (8): then the 3 x 3 matrix.
    matrix_at = at + 4 + 4 + (32 if version == 1 else 20) + 8 + 8
    assert struct.unpack(">9i", data[matrix_at : matrix_at + 36])[8] == 1 << 30, "not a display matrix"
    a, b, c, d = _DISPLAY_MATRICES[degrees]
    data[matrix_at : matrix_at + 36] = struct.pack(
        ">9i", a << 16, b << 16, 0, c << 16, d << 16, 0, 0, 0, 1 << 30
    )
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    "degrees, size, corner",
    [(0, (64, 48), "top left"), (90, (48, 64), "top right"), (180, (64, 48), "bottom right"),
     (270, (48, 64), "bottom left")],
)  # fmt: skip
def test_clips_with_rotation_metadata_come_out_upright(tmp_path, degrees, size, corner):
    path = _rotated_mp4(tmp_path / f"turned{degrees}.mp4", degrees)
    info = probe_video(path)
    assert (info.width, info.height) == size and info.rotation == degrees
    assert info.frame_count == FRAMES
    frames = list(iter_frames(path))
    assert len(frames) == FRAMES
    for _, frame in frames:
        # Turned once: OpenCV's own rotation is off, so the frames are not turned twice.
        assert frame.shape == (size[1], size[0], 3)
        assert _red_corner(frame) == corner
    _, small = next(iter_frames(path, max_side=32))
    assert max(small.shape[:2]) == 32 and (small.shape[0] > small.shape[1]) == (size[1] > size[0])


class _TurnedCapture:
    """A real capture that reports rotation metadata its file does not have."""

    def __init__(self, degrees: float, *args):
        self._capture = _REAL_CAPTURE(*args)
        self._degrees = degrees

    def get(self, prop: int) -> float:
        return self._degrees if prop == cv2.CAP_PROP_ORIENTATION_META else self._capture.get(prop)

    def __getattr__(self, name: str):
        return getattr(self._capture, name)


@pytest.mark.parametrize(
    "reported, degrees", [(90.0, 90), (-90.0, 270), (450.0, 90), (270.0, 270), (float("nan"), 0), (3.0, 0)]
)
def test_rotation_metadata_of_any_container_is_applied(tmp_path, monkeypatch, reported, degrees):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (WIDTH, HEIGHT))
    for _ in range(FRAMES):
        writer.write(_marked_frame())
    writer.release()
    monkeypatch.setattr(media.cv2, "VideoCapture", lambda *args: _TurnedCapture(reported, *args))
    info = probe_video(path)
    _, frame = next(iter_frames(path))
    monkeypatch.undo()
    assert info.rotation == degrees
    assert frame.shape[:2] == (info.height, info.width)
    expected = cv2.cvtColor(turn_clockwise(_marked_frame(), degrees), cv2.COLOR_BGR2RGB)
    assert np.abs(frame.astype(int) - expected).mean() < 8  # MJPG is lossy


def test_turn_clockwise_turns_the_right_way():
    picture = np.arange(6).reshape(2, 3)  # [[0 1 2], [3 4 5]]
    assert turn_clockwise(picture, 90).tolist() == [[3, 0], [4, 1], [5, 2]]
    assert turn_clockwise(picture, 180).tolist() == [[5, 4, 3], [2, 1, 0]]
    assert turn_clockwise(picture, 270).tolist() == [[2, 5], [1, 4], [0, 3]]
    assert turn_clockwise(picture, 0) is picture
    with pytest.raises(ValueError):
        turn_clockwise(picture, 45)


# ---- faces lying sideways or upside down ---------------------------------------------------


@pytest.fixture(scope="module")
def happy():
    return generate_face("happy", 256, 0)


@pytest.fixture(scope="module")
def upright_result(analyzer, happy):
    return prepare_face(happy, analyzer)


def _crop_eyes(result) -> np.ndarray:
    landmarks = result.crop.landmarks
    return np.stack([landmarks[list(RIGHT_EYE_CONTOUR)].mean(0), landmarks[list(LEFT_EYE_CONTOUR)].mean(0)])


def test_an_upright_face_is_not_turned(upright_result):
    assert upright_result.rotation == 0 and upright_result.note is None
    assert upright_result.face.upright and abs(upright_result.face.roll) < 10


# np.rot90(k) turns counterclockwise by 90k degrees; the fix is the same turn clockwise.
@pytest.mark.parametrize("k, turned", [(1, 90), (2, 180), (3, 270)])
def test_a_turned_face_is_found_upright_and_gives_the_same_crop(analyzer, happy, upright_result, k, turned):
    picture = np.ascontiguousarray(np.rot90(happy, k))
    result = prepare_face(picture, analyzer)
    assert result.rotation == turned
    # The face is given in the picture's own pixels: the upright face's points, turned with it.
    assert np.array_equal(result.image, picture) and not result.face.upright
    x, y = upright_result.face.landmarks.T
    last = 255  # the last pixel of the 256 x 256 picture
    expected = {1: (y, last - x), 2: (last - x, last - y), 3: (last - y, x)}[k]
    assert np.abs(result.face.landmarks - np.stack(expected, 1)).max() < 1.5
    (bx, by, bw, bh), upright_area = result.face.box, upright_result.face.area
    assert abs(bw * bh - upright_area) < 0.02 * upright_area
    assert min(bx, by) >= 0 and max(bx + bw, by + bh) <= 256
    difference = np.abs(result.crop.image.astype(int) - upright_result.crop.image.astype(int))
    assert difference.mean() < 2, f"crop differs by {difference.mean():.1f} grey levels on average"
    assert np.abs(_crop_eyes(result) - canonical_eye_positions(48)).max() < 1.5
    word = "upside down" if turned == 180 else "sideways"
    _one_sentence(result.note, word, f"{turned} degrees")


def test_a_sideways_face_in_a_wide_picture_is_found_upright(analyzer, happy):
    canvas = np.full((300, 600, 3), 90, np.uint8)
    canvas[22:278, 172:428] = np.rot90(happy, 1)  # lying with its top to the left
    result = prepare_face(canvas, analyzer)
    assert result.rotation == 90 and result.image.shape == canvas.shape
    x, y = result.face.center
    assert 172 < x < 428 and 22 < y < 278, "the face is where it was pasted"


def _face(right_eye, left_eye, mouth) -> Face:
    keypoints = np.zeros((6, 2), np.float32)
    keypoints[0], keypoints[1], keypoints[3] = right_eye, left_eye, mouth
    return Face(box=(0, 0, 100, 100), score=0.9, keypoints=keypoints)


@pytest.mark.parametrize(
    "right_eye, left_eye, mouth, upright",
    [
        ((30, 40), (70, 40), (50, 80), True),  # eyes level, mouth below
        ((30, 45), (70, 35), (52, 80), True),  # tilted 14 degrees: still upright
        ((30, 60), (70, 60), (50, 20), False),  # eyes below the mouth (a mirrored, upside-down face)
        ((70, 60), (30, 60), (50, 20), False),  # upside down: the right eye on the image's right
        ((40, 30), (40, 70), (80, 50), False),  # eye line vertical: lying sideways
    ],
)
def test_a_face_knows_whether_it_stands_upright(right_eye, left_eye, mouth, upright):
    face = _face(right_eye, left_eye, mouth)
    assert face.upright is upright
    with_mesh = _face(right_eye, left_eye, mouth)
    with_mesh.landmarks = np.zeros((478, 2), np.float32)
    with_mesh.landmarks[list(RIGHT_EYE_CONTOUR)] = right_eye
    with_mesh.landmarks[list(LEFT_EYE_CONTOUR)] = left_eye
    with_mesh.landmarks[list(MOUTH)] = mouth
    assert with_mesh.upright is upright


# ---- huge phone photos ---------------------------------------------------------------------


def _gradient(width: int, height: int) -> np.ndarray:
    """Red rising left to right, green top to bottom: smooth, so it encodes small and fast."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 255, width, dtype=np.float32).astype(np.uint8)[None, :]
    rgb[..., 1] = np.linspace(0, 255, height, dtype=np.float32).astype(np.uint8)[:, None]
    return rgb


@pytest.fixture(scope="module")
def photo_48mp() -> bytes:
    return _encode(Image.fromarray(_gradient(8000, 6000)), "JPEG", quality=85)


def test_a_48_megapixel_phone_photo_is_accepted_and_scaled_down(photo_48mp, tmp_path):
    began = time.perf_counter()
    loaded = decode_image_info(photo_48mp)
    elapsed = time.perf_counter() - began
    width, height = loaded.size
    assert loaded.original_size == (8000, 6000) and loaded.scaled
    assert 0.5 * MAX_LOADED_PIXELS < width * height <= MAX_LOADED_PIXELS
    assert abs(width / height - 4 / 3) < 0.01
    # The picture is the photo, smaller: red still rises left to right, green top to bottom.
    image = loaded.image.astype(int)
    assert image[height // 2, 5, 0] < 20 and image[height // 2, -5, 0] > 235
    assert image[5, width // 2, 1] < 20 and image[-5, width // 2, 1] > 235
    _one_sentence(loaded.note, "8000 x 6000", "48 megapixels", "scaled down", f"{width} x {height}")
    assert elapsed < 5, f"decoding took {elapsed:.1f} s: it was not decoded reduced"
    path = tmp_path / "phone.jpg"
    path.write_bytes(photo_48mp)
    assert load_image(path).shape == (height, width, 3)


def test_a_huge_photo_taken_sideways_is_scaled_and_turned(photo_48mp):
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encode(Image.open(io.BytesIO(photo_48mp)), "JPEG", exif=exif, quality=85)
    loaded = decode_image_info(data)
    assert loaded.scaled and loaded.rotated
    assert loaded.image.shape[0] > loaded.image.shape[1]  # portrait once turned


def test_pictures_over_the_loaded_size_are_scaled_in_every_format():
    data = _encode(Image.fromarray(_gradient(400, 300)), "PNG")
    loaded = decode_image_info(data, max_loaded_pixels=30_000)
    assert loaded.scaled and loaded.size[0] * loaded.size[1] <= 30_000 and loaded.size[0] == 200
    assert decode_image(data).shape == (300, 400, 3)  # under the default: untouched
    assert not decode_image_info(data).scaled


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims width x height (its data stays 16 x 16)."""
    data = bytearray(_encode(Image.fromarray(_gradient(16, 16)), "JPEG"))
    sof = data.find(b"\xff\xc0")  # baseline frame header: length (2), precision (1), height, width
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _png_declaring(width: int, height: int) -> bytes:
    import zlib

    data = bytearray(_encode(Image.new("1", (8, 8)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    "data, words",
    [
        (_png_declaring(100_000, 100_000), ("megapixels",)),
        (_jpeg_declaring(65_000, 65_000), ("65000 x 65000", "250 megapixels")),
        (_jpeg_declaring(20_000, 15_000), ("20000 x 15000", "250 megapixels")),
        (_png_declaring(10_000, 6_000), ("10000 x 6000", "PNG", "40 megapixels")),
    ],
    ids=["png 10 gigapixels", "jpeg 4 gigapixels", "jpeg 300 megapixels", "png 60 megapixels"],
)
def test_absurd_declared_sizes_are_refused_in_one_sentence_before_decoding(data, words):
    began = time.perf_counter()
    with pytest.raises(MediaError) as error:
        decode_image(data)
    assert time.perf_counter() - began < 0.5
    _one_sentence(str(error.value), *words)


def test_a_200_megapixel_jpeg_is_decoded_reduced():
    # 16000 x 12000 = 192 megapixels: over Pillow's own bomb limit (179), under ours. Its data
    # stop early (libjpeg fills the rest), so the time is that of the reduced decode alone.
    began = time.perf_counter()
    loaded = decode_image_info(_jpeg_declaring(16_000, 12_000))
    assert time.perf_counter() - began < 2
    assert loaded.original_size == (16_000, 12_000) and loaded.scaled
    assert loaded.size[0] * loaded.size[1] <= MAX_LOADED_PIXELS


# ---- grayscale and 16-bit pictures ---------------------------------------------------------


@pytest.fixture(scope="module")
def gray(happy) -> np.ndarray:
    return np.asarray(Image.fromarray(happy).convert("L"))


def _close_crops(result, reference, tolerance: float) -> None:
    difference = np.abs(result.crop.image.astype(int) - reference.crop.image.astype(int)).mean()
    assert difference < tolerance, f"crop differs by {difference:.1f} grey levels on average"
    assert np.abs(_crop_eyes(result) - _crop_eyes(reference)).max() < 1.5


def _stretched(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float64)
    return np.round((values - values.min()) * 255 / (values.max() - values.min())).astype(np.uint8)


def test_an_8_bit_grayscale_photo_is_found_like_its_colour_version(analyzer, gray, upright_result, tmp_path):
    path = tmp_path / "gray.png"
    Image.fromarray(gray).save(path)
    assert Image.open(path).mode == "L"
    image = load_image(path)
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    assert np.array_equal(image[..., 0], gray) and np.array_equal(image[..., 0], image[..., 2])
    result = prepare_face(image, analyzer)
    assert result.rotation == 0
    _close_crops(result, upright_result, tolerance=4)


@pytest.mark.parametrize("scale", [257, 16], ids=["16-bit", "12-bit in 16"])
def test_a_16_bit_grayscale_photo_is_scaled_by_its_range_and_found(
    analyzer, gray, upright_result, tmp_path, scale
):
    values = gray.astype(np.uint16) * scale  # 257: the full 16 bits; 16: a 12-bit camera's 0..4095
    path = tmp_path / "gray16.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == "I;16"
    image = load_image(path)
    assert image.dtype == np.uint8
    # Scaled by the range used, not clipped at 255 (which would make the 16-bit face white).
    assert np.array_equal(image[..., 0], _stretched(gray))
    assert (image == 255).mean() < 0.05
    result = prepare_face(image, analyzer)
    # The same face as from the stretched 8-bit picture; against the colour one, the contrast differs.
    _close_crops(result, prepare_face(_stretched(gray), analyzer), tolerance=1)
    correlation = np.corrcoef(result.crop.image.ravel(), upright_result.crop.image.ravel())[0, 1]
    assert correlation > 0.97, f"the crop correlates {correlation:.3f} with the colour one"
    assert np.abs(_crop_eyes(result) - _crop_eyes(upright_result)).max() < 1.5


def test_gray_arrays_of_16_bits_or_with_a_channel_axis_are_accepted(analyzer, gray, upright_result):
    from_uint16 = prepare_face(gray.astype(np.uint16) * 257, analyzer)
    assert np.array_equal(from_uint16.image[..., 0], _stretched(gray))
    with_axis = prepare_face(gray[..., None], analyzer)
    _close_crops(with_axis, upright_result, tolerance=4)


@pytest.mark.timeout(600)
def test_a_sixty_minute_clip_is_spotted_streamed(tmp_path):
    """An hour-long recording (1 fps, so the suite stays short: 3,600 frames, drawn lazily and
    streamed in and out) goes through the `spot` verb: a result, no error line, every frame."""
    import json
    import subprocess
    import sys

    from core.micro.synthetic import make_clip

    clip = make_clip(seconds=3600, fps=1.0, size=(320, 240), events=[(1800.0, 3.0, "positive")], identity=0, seed=1)
    video = clip.write(tmp_path / "hour.avi")
    out = tmp_path / "hour.json"
    done = subprocess.run([sys.executable, "-m", "core", "spot", str(video), "--model", "training-free", "--out",
                           str(out)], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=540)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "error" not in done.stderr.lower()
    written = json.loads(out.read_text())
    assert written["frames"] == 3600 and written["fps"] == pytest.approx(1.0)
    assert any(i["onset_s"] <= 1802 and i["offset_s"] >= 1800 for i in written["intervals"]), "the event at 30 min"
