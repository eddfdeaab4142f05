"""Tests of core.media: image decoding, video probing and streaming, and every refusal.

All fixtures are written here into temporary folders. Video frames carry their own index
as a pattern of black and white column blocks (bit k of the index lights block k), which
survives lossy codecs, so the order of the frames that come back can be checked.
"""

import io
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from core import media
from core.errors import InputError, MediaError
from core.media import VideoInfo, decode_image, iter_frames, load_image, probe_video

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _assert_user_message(error: pytest.ExceptionInfo, *words: str) -> None:
    """One sentence in plain words: ends with a full stop, no second sentence, no Python."""
    message = str(error.value)
    assert message.endswith("."), message
    assert ". " not in message, message
    assert "Error" not in message and "errno" not in message.lower(), message
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"


def _close(pixel: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(colour)) <= tolerance))


# --- images that decode -----------------------------------------------------------------


def _red_and_blue(mode: str = "RGB") -> Image.Image:
    """40 x 30: left half red, right half blue."""
    array = np.zeros((30, 40, 3), np.uint8)
    array[:, :20] = RED
    array[:, 20:] = BLUE
    return Image.fromarray(array).convert(mode)


@pytest.mark.parametrize(
    "fmt, options",
    [("JPEG", {"quality": 95}), ("PNG", {}), ("BMP", {}), ("WEBP", {"lossless": True}), ("TIFF", {})],
)
def test_common_formats_decode_to_rgb(fmt, options):
    rgb = decode_image(_encode(_red_and_blue(), fmt, **options))
    assert rgb.shape == (30, 40, 3) and rgb.dtype == np.uint8
    assert _close(rgb[15, 5], RED) and _close(rgb[15, 35], BLUE)


def test_gif_gives_its_first_frame():
    first, second = Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), GREEN)
    data = _encode(first, "GIF", save_all=True, append_images=[second], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    rgb = decode_image(data)
    assert _close(rgb[8, 8], RED, tolerance=0)


def test_grayscale_is_repeated_on_three_channels():
    rgb = decode_image(_encode(Image.new("L", (8, 6), 77), "PNG"))
    assert rgb.shape == (6, 8, 3)
    assert np.all(rgb == 77)


def test_transparent_pixels_are_composited_on_white():
    array = np.zeros((4, 4, 4), np.uint8)  # all transparent black
    array[0, 0] = (255, 0, 0, 255)  # one opaque red pixel
    rgb = decode_image(_encode(Image.fromarray(array), "PNG"))
    assert tuple(rgb[0, 0]) == RED
    assert tuple(rgb[3, 3]) == WHITE


def test_palette_image_gives_its_colours():
    image = Image.new("P", (4, 2), 0)
    image.putpalette([*RED, *GREEN] + [0] * 762)
    image.putpixel((3, 1), 1)
    rgb = decode_image(_encode(image, "PNG"))
    assert tuple(rgb[0, 0]) == RED and tuple(rgb[1, 3]) == GREEN


def test_16_bit_png_range_is_stretched_to_8_bits():
    values = np.linspace(1000, 2000, 64 * 32).reshape(32, 64).astype(np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    rgb = decode_image(_encode(image, "PNG"))
    assert rgb.dtype == np.uint8
    assert rgb.min() == 0 and rgb.max() == 255  # not 1000 // 256 = 3 .. 2000 // 256 = 7


def test_cmyk_jpeg_is_converted_to_rgb():
    data = _encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    assert _close(decode_image(data)[8, 8], RED)


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), BLUE)
    image.paste(RED, (0, 0, 10, 10))  # a red square at the stored top left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    rgb = decode_image(_encode(image, "JPEG", exif=exif, quality=95))
    assert rgb.shape == (40, 20, 3)  # width and height swapped
    assert _close(rgb[4, 15], RED) and _close(rgb[4, 4], BLUE)  # the square is now top right


def test_load_image_reads_a_file(tmp_path):
    path = tmp_path / "face.png"
    path.write_bytes(_encode(_red_and_blue(), "PNG"))
    assert load_image(path).shape == (30, 40, 3)


# --- images that are refused ------------------------------------------------------------


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny 1-bit PNG whose header claims width x height: a decompression bomb's disguise."""
    data = bytearray(_encode(Image.new("1", (8, 8)), "PNG"))
    ihdr = 8  # after the signature: length (4), type (4), then width and height
    data[ihdr + 8 : ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4 : ihdr + 8 + 13]))
    data[ihdr + 8 + 13 : ihdr + 8 + 17] = struct.pack(">I", crc)
    return bytes(data)


def test_empty_bytes_are_refused():
    with pytest.raises(MediaError) as error:
        decode_image(b"")
    _assert_user_message(error, "empty")


@pytest.mark.parametrize(
    "data",
    [np.random.default_rng(0).bytes(5000), b"Subject, emotion\n1, happy\n" * 50],
    ids=["random bytes", "text"],
)
def test_not_an_image_is_refused(data):
    with pytest.raises(MediaError) as error:
        decode_image(data)
    _assert_user_message(error, "not an image", "JPEG")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_refused(fmt):
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = _encode(Image.fromarray(noise), fmt)
    with pytest.raises(MediaError) as error:
        decode_image(data[: len(data) // 2])
    _assert_user_message(error, "damaged or truncated")


def test_too_many_bytes_are_refused():
    with pytest.raises(MediaError) as error:
        decode_image(_encode(_red_and_blue(), "BMP"), max_bytes=100)
    _assert_user_message(error, "up to 100 bytes")


def test_too_large_file_on_disk_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.bmp"
    path.write_bytes(_encode(_red_and_blue(), "BMP"))
    with pytest.raises(MediaError) as error:
        load_image(path, max_bytes=1000)
    _assert_user_message(error, "big.bmp", "up to 1 KB")


def test_missing_image_file_is_refused(tmp_path):
    with pytest.raises(MediaError) as error:
        load_image(tmp_path / "nowhere.png")
    _assert_user_message(error, "nowhere.png", "not found")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow's, above 89 MP
@pytest.mark.parametrize("width, height", [(30000, 30000), (12000, 9000), (10000, 5000)])
def test_decompression_bomb_is_refused_before_decoding(width, height):
    data = _png_declaring(width, height)
    assert len(data) < 200  # tiny on disk, huge once decoded
    began = time.perf_counter()
    with pytest.raises(MediaError) as error:
        decode_image(data)
    assert time.perf_counter() - began < 0.5  # decoding 900 megapixels would take seconds and GBs
    _assert_user_message(error, "megapixels", "40")


def test_header_size_within_limits_but_data_missing_is_damaged():
    with pytest.raises(MediaError) as error:
        decode_image(_png_declaring(100, 100))
    _assert_user_message(error, "damaged")


@pytest.mark.parametrize("fmt", ["ICO", "PPM"])
def test_unsupported_image_format_is_refused(fmt):
    data = _encode(_red_and_blue(), fmt)
    assert Image.open(io.BytesIO(data)).format == fmt  # Pillow could read it, yet we refuse
    with pytest.raises(MediaError) as error:
        decode_image(data)
    _assert_user_message(error, f"{fmt} images are not supported", "PNG")


# --- videos -----------------------------------------------------------------------------

WIDTH, HEIGHT, FPS, FRAMES = 64, 48, 25, 30
CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG", ".mov": "mp4v", ".webm": "VP80"}


def _index_frame(index: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A BGR frame: column block k (of 8) is white when bit k of index is set."""
    frame = np.zeros((height, width, 3), np.uint8)
    block = width // 8
    for bit in range(8):
        if index >> bit & 1:
            frame[:, bit * block : (bit + 1) * block] = 255
    return frame


def _read_index(rgb: np.ndarray) -> int:
    block = rgb.shape[1] // 8
    means = [rgb[:, bit * block : (bit + 1) * block].mean() for bit in range(8)]
    return sum(1 << bit for bit, mean in enumerate(means) if mean > 128)


def _write_clip(path: Path, frames: int = FRAMES, size: tuple[int, int] = (WIDTH, HEIGHT)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*CODECS[path.suffix]), FPS, size)
    if not writer.isOpened():
        pytest.skip(f"this OpenCV build cannot write {path.suffix} with {CODECS[path.suffix]}")
    for index in range(frames):
        writer.write(_index_frame(index, *size))
    writer.release()
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """One 30-frame clip per container, written once for the module."""
    folder = tmp_path_factory.mktemp("clips")
    made = {}
    for suffix, fourcc in CODECS.items():
        path = folder / f"clip{suffix}"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (WIDTH, HEIGHT))
        if writer.isOpened():
            for index in range(FRAMES):
                writer.write(_index_frame(index))
            writer.release()
            made[suffix] = path
    return made


def _clip(clips: dict[str, Path], suffix: str) -> Path:
    if suffix not in clips:
        pytest.skip(f"this OpenCV build cannot write {suffix} with {CODECS[suffix]}")
    return clips[suffix]


@pytest.mark.parametrize("suffix", list(CODECS))
def test_probe_reports_fps_frames_and_size(clips, suffix):
    info = probe_video(_clip(clips, suffix))
    assert info == VideoInfo(fps=25.0, frame_count=30, width=64, height=48)
    assert info.duration_s == pytest.approx(1.2)


@pytest.mark.parametrize("suffix", list(CODECS))
def test_frames_come_back_in_order_as_rgb(clips, suffix):
    frames = list(iter_frames(_clip(clips, suffix)))
    assert [index for index, _ in frames] == list(range(FRAMES))
    assert [_read_index(rgb) for _, rgb in frames] == list(range(FRAMES))
    assert all(rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8 for _, rgb in frames)


def test_frames_are_rgb_not_bgr(tmp_path):
    path = tmp_path / "red.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    writer.write(np.full((HEIGHT, WIDTH, 3), (0, 0, 255), np.uint8))  # red, in OpenCV's BGR
    writer.release()
    [(_, rgb)] = list(iter_frames(path))
    assert _close(rgb[24, 32], RED)


def test_start_stop_and_step_pick_frames_like_range(clips):
    frames = iter_frames(clips[".avi"], start=3, stop=20, step=5)
    picked = [(index, _read_index(rgb)) for index, rgb in frames]
    assert picked == [(3, 3), (8, 8), (13, 13), (18, 18)]


def test_stop_past_the_end_and_start_past_the_end(clips):
    assert len(list(iter_frames(clips[".avi"], stop=1000))) == FRAMES
    assert list(iter_frames(clips[".avi"], start=FRAMES + 5)) == []


def test_max_side_shrinks_the_longer_side(clips):
    _, small = next(iter_frames(clips[".avi"], start=5, max_side=32))
    assert small.shape == (24, 32, 3)
    assert _read_index(small) == 5
    _, same = next(iter_frames(clips[".avi"], max_side=1000))
    assert same.shape == (48, 64, 3)  # never enlarged


@pytest.mark.parametrize(
    "arguments", [{"start": -1}, {"step": 0}, {"stop": -2}, {"max_side": 0}], ids=lambda a: str(a)
)
def test_bad_frame_range_is_refused_at_call(clips, arguments):
    with pytest.raises(InputError) as error:
        iter_frames(clips[".avi"], **arguments)  # no next(): refused before streaming starts
    _assert_user_message(error)


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_video_without_frames_is_refused(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*CODECS[suffix]), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened()
    writer.release()
    assert path.stat().st_size > 0
    with pytest.raises(MediaError) as error:
        probe_video(path)
    # Both say they have no frames: an MP4 without frames does not open in FFmpeg, but it is well formed.
    _assert_user_message(error, "no frames")
    with pytest.raises(MediaError) as error:
        list(iter_frames(path))
    _assert_user_message(error, path.name)


@pytest.mark.parametrize("suffix", list(CODECS))
def test_truncated_video_streams_fewer_frames_or_is_refused(clips, tmp_path, suffix):
    data = _clip(clips, suffix).read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: int(len(data) * 0.6)])
    try:
        frames = [(index, _read_index(rgb)) for index, rgb in iter_frames(path)]
    except MediaError as error:
        assert path.name in str(error)
        return
    assert 0 < len(frames) < FRAMES
    assert frames == [(index, index) for index in range(len(frames))]  # the good part, in order


def test_truncated_avi_streams_its_good_frames(clips, tmp_path):
    data = clips[".avi"].read_bytes()
    path = tmp_path / "cut.avi"
    path.write_bytes(data[: int(len(data) * 0.6)])
    frames = list(iter_frames(path))
    assert 0 < len(frames) < FRAMES


def test_text_file_named_mp4_is_refused(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("Participant 12 smiled at 00:14.\n" * 40)
    with pytest.raises(MediaError) as error:
        probe_video(path)
    _assert_user_message(error, "notes.mp4", "cannot be opened as a video")
    with pytest.raises(MediaError):
        list(iter_frames(path))


@pytest.mark.parametrize("name", ["clip.flv", "clip"])
def test_unknown_suffix_is_refused_naming_supported_ones(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\0" * 100)
    with pytest.raises(MediaError) as error:
        probe_video(path)
    _assert_user_message(error, "not supported", "MP4, AVI, MOV, WebM or MKV")
    with pytest.raises(MediaError):
        iter_frames(path)


def test_uppercase_suffix_is_accepted(clips, tmp_path):
    path = tmp_path / "CLIP.AVI"
    path.write_bytes(clips[".avi"].read_bytes())
    assert probe_video(path).frame_count == FRAMES


def test_missing_and_empty_video_files_are_refused(tmp_path):
    with pytest.raises(MediaError) as error:
        probe_video(tmp_path / "gone.mp4")
    _assert_user_message(error, "gone.mp4", "not found")
    (tmp_path / "blank.mp4").write_bytes(b"")
    with pytest.raises(MediaError) as error:
        probe_video(tmp_path / "blank.mp4")
    _assert_user_message(error, "blank.mp4", "empty")


def test_too_large_video_is_refused_naming_the_limit(clips):
    with pytest.raises(MediaError) as error:
        probe_video(clips[".avi"], max_bytes=1000)
    _assert_user_message(error, "up to 1 KB")
    with pytest.raises(MediaError):
        iter_frames(clips[".avi"], max_bytes=1000)
    with pytest.raises(MediaError) as error:
        probe_video(clips[".avi"], max_bytes=100)
    _assert_user_message(error, "up to 100 bytes")


_REAL_CAPTURE = cv2.VideoCapture


class _LyingCapture:
    """A real capture whose header values are overridden, for what real files rarely do."""

    def __init__(self, lies: dict[int, float], *args):
        self._capture = _REAL_CAPTURE(*args)
        self._lies = lies

    def get(self, prop: int) -> float:
        return self._lies.get(prop, self._capture.get(prop))

    def __getattr__(self, name: str):
        return getattr(self._capture, name)


def _lie(monkeypatch, lies: dict[int, float]) -> None:
    monkeypatch.setattr(media.cv2, "VideoCapture", lambda *args: _LyingCapture(lies, *args))


@pytest.mark.parametrize("fps", [0.0, float("nan"), -1.0])
def test_missing_frame_rate_is_refused(clips, monkeypatch, fps):
    _lie(monkeypatch, {cv2.CAP_PROP_FPS: fps})
    with pytest.raises(MediaError) as error:
        probe_video(clips[".avi"])
    _assert_user_message(error, "frame rate")


def test_implausible_frame_rate_is_refused(clips, monkeypatch):
    _lie(monkeypatch, {cv2.CAP_PROP_FPS: 90000.0})  # a time base mistaken for a rate
    with pytest.raises(MediaError) as error:
        probe_video(clips[".avi"])
    _assert_user_message(error, "90000 frames per second", "not plausible")


@pytest.mark.parametrize("reported", [0.0, -1.0])
def test_frames_are_counted_when_the_container_does_not_say(clips, monkeypatch, reported):
    _lie(monkeypatch, {cv2.CAP_PROP_FRAME_COUNT: reported})
    assert probe_video(clips[".mkv"]).frame_count == FRAMES


def test_huge_frames_are_refused_before_decoding(clips, monkeypatch):
    _lie(monkeypatch, {cv2.CAP_PROP_FRAME_WIDTH: 8192.0, cv2.CAP_PROP_FRAME_HEIGHT: 8192.0})
    with pytest.raises(MediaError) as error:
        probe_video(clips[".avi"])
    _assert_user_message(error, "8192 x 8192 pixels", "4096 x 4096")
    with pytest.raises(MediaError):
        next(iter_frames(clips[".avi"]))


def test_streaming_a_long_clip_keeps_memory_flat(tmp_path):
    path = _write_clip(tmp_path / "long.avi", frames=600, size=(320, 240))
    frame_bytes = 320 * 240 * 3  # 230 KB; the whole clip decoded would be 138 MB
    tracemalloc.start()
    try:
        count, last = 0, -1
        for index, rgb in iter_frames(path):
            assert rgb.nbytes == frame_bytes
            count, last = count + 1, index
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 600 and last == 599
    assert peak < 10 * frame_bytes, f"peak {peak / 1e6:.1f} MB while streaming"


def test_a_valid_mp4_without_frames_is_called_empty_not_damaged(tmp_path):
    import cv2

    from core.media import probe_video

    path = tmp_path / "zero.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (320, 240))
    writer.release()
    with pytest.raises(MediaError, match="contains no frames"):
        probe_video(path)
    (tmp_path / "cut.mp4").write_bytes(path.read_bytes()[:60])  # the same file cut short: damaged
    with pytest.raises(MediaError, match="may be damaged"):
        probe_video(tmp_path / "cut.mp4")
