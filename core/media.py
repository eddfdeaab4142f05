"""Safe decoding of user files: images decoded whole, videos streamed frame by frame.

Everything a user can upload passes through here. Limits are checked before pixels are
decoded, so a decompression bomb is refused rather than expanded in memory. Every refusal
is a `MediaError` whose message is one sentence meant for the user.

Photos come out upright (their EXIF orientation applied) and at most MAX_LOADED_PIXELS:
a large JPEG is decoded reduced (libjpeg's DCT scaling, 1/2 to 1/8 per side), so a
48- or 200-megapixel phone photo never expands to full size in memory.

Videos are read from paths only (the app writes an upload to a temporary file first), with
OpenCV's FFmpeg backend. Frames come out one at a time, so memory stays flat whatever the
length of the clip, and upright: a clip's rotation metadata (phones film portrait clips as
landscape frames plus "rotate 90") is applied here, whatever the OpenCV build's default.
"""

import hashlib
import io
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from core.errors import InputError, MediaError
from core.paths import atomic_path
from core.progress import Progress, no_progress

MAX_IMAGE_BYTES = 60_000_000  # a 200-megapixel phone JPEG is 20 to 60 MB
MAX_IMAGE_PIXELS = 40_000_000  # declared size of images decoded whole (PNG, TIFF, ...): 7,300 x 5,500
MAX_JPEG_PIXELS = 250_000_000  # declared size of JPEGs, decoded reduced: 200-megapixel sensors pass
MAX_LOADED_PIXELS = 8_000_000  # larger pictures are scaled down to this: 3,266 x 2,449 for 4:3
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "TIFF", "GIF", "MPO")  # MPO: JPEG from some cameras
_IMAGE_NAMES = "JPEG, PNG, BMP, WebP, TIFF or GIF"

MAX_VIDEO_BYTES = 500_000_000
MAX_VIDEO_SIDE = 4096
MAX_VIDEO_PIXELS = MAX_VIDEO_SIDE * MAX_VIDEO_SIDE  # per frame: 4K UHD passes, 8K does not
MAX_VIDEO_FPS = 1000.0  # high-speed cameras for micro-expressions film at 100-200 fps
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".webm", ".mkv")
_VIDEO_NAMES = "MP4, AVI, MOV, WebM or MKV"


# --- images ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded picture and what was done to it on the way: EXIF rotation, scaling down."""

    image: np.ndarray  # RGB uint8, height x width x 3, upright
    original_size: tuple[int, int]  # width, height as stored in the file (before rotation)
    exif_orientation: int = 1  # the file's EXIF Orientation tag: 1 = stored upright

    @property
    def size(self) -> tuple[int, int]:
        """Width and height of `image`."""
        return self.image.shape[1], self.image.shape[0]

    @property
    def rotated(self) -> bool:
        """Whether the EXIF orientation turned (or mirrored) the stored picture."""
        return self.exif_orientation not in (0, 1)

    @property
    def scaled(self) -> bool:
        """Whether the picture was scaled down to at most MAX_LOADED_PIXELS."""
        width, height = self.original_size
        return self.image.shape[0] * self.image.shape[1] < width * height

    @property
    def note(self) -> str | None:
        """One sentence for the user when the picture was scaled down, else None."""
        if not self.scaled:
            return None
        (width, height), (new_w, new_h) = self.original_size, self.size
        return (
            f"The {width} x {height} pixel picture ({width * height / 1e6:.0f} megapixels) was scaled "
            f"down to {new_w} x {new_h} pixels for analysis."
        )


def decode_image(data: bytes, **limits: int) -> np.ndarray:
    """Decode image bytes to RGB uint8 (height x width x 3), or raise MediaError.

    Grayscale, palette, RGBA (composited on white), CMYK and 16-bit images are all
    converted; a GIF gives its first frame; EXIF rotation is applied; pictures over
    MAX_LOADED_PIXELS are scaled down. `limits` are those of `decode_image_info`, which
    also says whether the picture was scaled.
    """
    return decode_image_info(data, **limits).image


def decode_image_info(
    data: bytes,
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_jpeg_pixels: int = MAX_JPEG_PIXELS,
    max_loaded_pixels: int = MAX_LOADED_PIXELS,
) -> LoadedImage:
    """Decode image bytes like `decode_image`, and say what was done (`LoadedImage`).

    Limits on the declared size, checked from the header before any pixel is decoded:
    `max_jpeg_pixels` for JPEG, which libjpeg decodes reduced (1/2, 1/4 or 1/8 per side)
    so that it never expands to full size, and `max_pixels` for every other format,
    which is decoded whole. The decoded picture is then scaled down (area averaging) to
    at most `max_loaded_pixels`.
    """
    if not data:
        raise MediaError("The file is empty.")
    if len(data) > max_bytes:
        raise MediaError(f"The file is {_size(len(data))}; images up to {_size(max_bytes)} are accepted.")
    try:
        # Opening reads only the header: format and size are known before any pixel is decoded.
        # JPEGs are opened by their own plugin, which skips Pillow's decompression-bomb check
        # (it refuses above 179 megapixels): they are checked against max_jpeg_pixels below.
        # An MPO (several JPEGs) is read as its first picture.
        if data[:3] == b"\xff\xd8\xff":
            image = JpegImagePlugin.JpegImageFile(io.BytesIO(data))
        else:
            image = Image.open(io.BytesIO(data))
        if image.format not in IMAGE_FORMATS:
            raise MediaError(f"{image.format} images are not supported; use {_IMAGE_NAMES}.")
        width, height = image.size
        if image.format == "JPEG":
            if width * height > max_jpeg_pixels:
                raise MediaError(
                    f"The image is {width} x {height} pixels; "
                    f"at most {max_jpeg_pixels / 1e6:.0f} megapixels are accepted."
                )
            if width * height > max_loaded_pixels:
                # libjpeg picks the strongest reduction that still gives at least this size.
                image.draft(None, _fit(width, height, max_loaded_pixels))
        decoded_whole = image.format != "JPEG" or image.size == (width, height)
        if decoded_whole and width * height > max_pixels:  # then the full size must be acceptable
            raise MediaError(
                f"The image is {width} x {height} pixels; {image.format} images of at most "
                f"{max_pixels / 1e6:.0f} megapixels are accepted (JPEG photos up to "
                f"{max_jpeg_pixels / 1e6:.0f})."
            )
        image.seek(0)  # the first frame of a GIF, WebP or TIFF with several
        image.load()
        orientation = int(image.getexif().get(0x0112, 1) or 1)
        ImageOps.exif_transpose(image, in_place=True)
        rgb = _to_rgb(image)
    except MediaError:
        raise
    except Image.DecompressionBombError:
        # Pillow's own guard fires inside Image.open, above twice its pixel limit.
        raise MediaError(
            f"The image declares far more pixels than a photo; "
            f"at most {max_pixels / 1e6:.0f} megapixels are accepted."
        ) from None
    except UnidentifiedImageError:
        raise MediaError(f"This file is not an image that can be read ({_IMAGE_NAMES}).") from None
    except Exception as error:
        # Damaged files make decoders fail in many ways (OSError, SyntaxError, struct.error...);
        # the user only needs to know that this file cannot be used.
        raise MediaError("The image is damaged or truncated and cannot be decoded.") from error
    if rgb.shape[0] * rgb.shape[1] > max_loaded_pixels:
        new_w, new_h = _fit(rgb.shape[1], rgb.shape[0], max_loaded_pixels)
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)  # INTER_AREA: no aliasing
    return LoadedImage(image=rgb, original_size=(width, height), exif_orientation=orientation)


def _fit(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The largest size of the same shape with at most `max_pixels` pixels (at least 1 x 1)."""
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    new_w, new_h = max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
    return new_w, new_h


def load_image(path: str | Path, **limits: int) -> np.ndarray:
    """Read and decode an image file to RGB uint8, or raise MediaError.

    `limits` are passed to `decode_image_info` (max_bytes, max_pixels, max_jpeg_pixels,
    max_loaded_pixels); `load_image_info` also says whether the picture was scaled.
    """
    return load_image_info(path, **limits).image


def load_image_info(path: str | Path, **limits: int) -> LoadedImage:
    """Read and decode an image file like `load_image`, and say what was done (`LoadedImage`)."""
    path = Path(path)
    max_bytes = limits.get("max_bytes", MAX_IMAGE_BYTES)
    try:
        # Check the size on disk first, so a huge file is never read into memory.
        size = path.stat().st_size
        if size > max_bytes:
            raise MediaError(f"{path.name} is {_size(size)}; images up to {_size(max_bytes)} are accepted.")
        if not path.is_file():
            raise MediaError(f"{path.name} is not a file.")
        data = path.read_bytes()
    except OSError as error:
        raise MediaError(_unreadable(path, error)) from None
    return decode_image_info(data, **limits)


def stretch_to_uint8(values: np.ndarray) -> np.ndarray:
    """Gray values of any depth (16-bit, 32-bit, float) to uint8 by the range actually used.

    The darkest value becomes 0 and the brightest 255, so a 12-bit lab camera's 0..4095 in a
    16-bit file fills the 8 bits rather than coming out nearly black (or, clipped, white).
    A flat picture becomes black.
    """
    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return scaled.round().astype(np.uint8)


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit, 32-bit and float grayscale: stretch the range actually used to 8 bits.
        gray = stretch_to_uint8(np.asarray(image))
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        # Transparent pixels would otherwise show whatever colour they happen to store.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


# --- videos ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds: frames per second, number of frames and frame size in pixels.

    The size is that of the frames `iter_frames` gives: upright, after `rotation` (degrees
    clockwise, from the clip's rotation metadata: 0, 90, 180 or 270) was applied.
    """

    fps: float
    frame_count: int
    width: int
    height: int
    rotation: int = 0

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps


def probe_video(path: str | Path, *, max_bytes: int = MAX_VIDEO_BYTES) -> VideoInfo:
    """Check that a video can be used and say its frame rate, frame count and size.

    Raises MediaError for a missing, empty, too large or unsupported file, a video that
    cannot be decoded or has no frames, frames over MAX_VIDEO_PIXELS, and a frame rate
    that is missing (0 or NaN: then no frame time can be computed, so the video is refused
    rather than given a guessed rate) or over MAX_VIDEO_FPS.

    The frame count is the container's. Some containers (often WebM and MKV) do not store
    it and report 0 or less; then the frames are counted by grabbing them (decoding
    without colour conversion: a few seconds for a long clip). A damaged file may still
    hold fewer frames than its container says: `iter_frames` then stops early.
    """
    path = _checked_video_path(path, max_bytes)
    capture = _open_video(path)
    try:
        rotation = video_rotation(capture)
        fps = capture.get(cv2.CAP_PROP_FPS)
        if not math.isfinite(fps) or fps <= 0:
            raise MediaError("The video does not say its frame rate, so frame times cannot be computed.")
        if fps > MAX_VIDEO_FPS:
            raise MediaError(
                f"The video claims {fps:.0f} frames per second, which is not plausible; "
                f"at most {MAX_VIDEO_FPS:.0f} are accepted."
            )
        # The first frame proves the codec works and gives the true size (after any rotation).
        ok, frame = capture.read()
        if not ok or frame is None:
            reported = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            if reported <= 0:
                raise MediaError(f"The video {path.name} contains no frames.")
            raise MediaError(_undecodable(path))
        height, width = turn_clockwise(frame, rotation).shape[:2]
        _check_frame_size(width, height)
        frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if frame_count <= 0:
            frame_count = 1 + _count_remaining(capture)
        return VideoInfo(
            fps=float(fps), frame_count=frame_count, width=width, height=height, rotation=rotation
        )
    finally:
        capture.release()


def iter_frames(
    path: str | Path,
    *,
    start: int = 0,
    stop: int | None = None,
    step: int = 1,
    max_side: int | None = None,
    max_bytes: int = MAX_VIDEO_BYTES,
) -> Iterator[tuple[int, np.ndarray]]:
    """Stream (frame_index, RGB uint8 frame) pairs, one frame in memory at a time.

    Frames `start, start + step, ...` before `stop` (exclusive, None: to the end), like
    `range`; indices are 0-based in the whole clip. Frames are upright: the clip's rotation
    metadata is applied (see `video_rotation`). With `max_side`, frames are shrunk so
    their longer side is at most that many pixels. A file that breaks off mid-stream ends
    the iteration at the last good frame; a file from which no frame at all can be
    decoded raises MediaError. A `start` past the end yields nothing.

    The file and the arguments are checked when this is called; the video is opened at
    the first frame asked for and closed when the iteration ends or is abandoned.
    """
    if start < 0 or step < 1 or (stop is not None and stop < 0):
        raise InputError("Frame ranges need start and stop of 0 or more and a step of 1 or more.")
    if max_side is not None and max_side < 1:
        raise InputError("The largest frame side must be at least 1 pixel.")
    path = _checked_video_path(path, max_bytes)
    return _stream(path, start, stop, step, max_side)


def _stream(
    path: Path, start: int, stop: int | None, step: int, max_side: int | None
) -> Iterator[tuple[int, np.ndarray]]:
    capture = _open_video(path)
    try:
        rotation = video_rotation(capture)
        index = 0
        while stop is None or index < stop:
            # grab() decodes without the colour conversion; skipped frames cost only that.
            # Seeking with CAP_PROP_POS_FRAMES is avoided: it can land on the wrong frame.
            if not _grab(capture):
                if index == 0:
                    raise MediaError(_undecodable(path))
                return  # the end of the clip, or where a damaged file breaks off
            if index >= start and (index - start) % step == 0:
                ok, frame = capture.retrieve()
                if not ok or frame is None:
                    return
                _check_frame_size(frame.shape[1], frame.shape[0])  # in case the header said 0 x 0
                yield index, turn_clockwise(_to_rgb_frame(frame, max_side), rotation)
            index += 1
    finally:
        capture.release()


def _checked_video_path(path: str | Path, max_bytes: int) -> Path:
    """Refuse, without opening it, a video file that is unsupported, missing, empty or too large."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        kind = f"'{path.suffix}' files" if path.suffix else "Files without an extension"
        raise MediaError(f"{kind} are not supported as videos; use {_VIDEO_NAMES}.")
    try:
        size = path.stat().st_size
    except OSError as error:
        raise MediaError(_unreadable(path, error)) from None
    if not path.is_file():
        raise MediaError(f"{path.name} is not a file.")
    if size == 0:
        raise MediaError(f"The file {path.name} is empty.")
    if size > max_bytes:
        raise MediaError(f"The video is {_size(size)}; videos up to {_size(max_bytes)} are accepted.")
    return path


def _open_video(path: Path) -> cv2.VideoCapture:
    # FFmpeg only: the default backend list would also try image-sequence readers.
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        if _is_empty_mp4(path):
            raise MediaError(f"The video {path.name} contains no frames.")
        raise MediaError(
            f"{path.name} cannot be opened as a video; "
            "it may be damaged or use a codec that is not supported."
        )
    # The header's frame size is checked before any frame is decoded.
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    try:
        _check_frame_size(width, height)
    except MediaError:
        capture.release()
        raise
    return capture


def _is_empty_mp4(path: Path) -> bool:
    """A well-formed MP4/MOV (an `ftyp` box and a complete `moov` box) with no track, or a track of no
    samples: FFmpeg will not open it, but it is not damaged, it is empty."""
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    moov = head.find(b"moov")
    if head[4:8] != b"ftyp" or moov < 4 or moov - 4 + int.from_bytes(head[moov - 4 : moov], "big") > len(head):
        return False
    at = head.find(b"stsz", moov)  # sample sizes: version and flags, a common size, then the sample count
    if b"trak" not in head[moov:]:
        return True
    return at > 0 and len(head) >= at + 16 and int.from_bytes(head[at + 12 : at + 16], "big") == 0


def video_rotation(capture: cv2.VideoCapture) -> int:
    """Degrees (0, 90, 180 or 270) to turn an opened clip's frames clockwise to show them upright.

    From the container's rotation metadata (MP4/MOV display matrix, as phones write for
    portrait clips), which OpenCV reports as CAP_PROP_ORIENTATION_META. OpenCV's own
    rotation (CAP_PROP_ORIENTATION_AUTO) is turned off, so frames always come out as stored
    and are turned here by `turn_clockwise`: the same on every build. (OpenCV 4.11's FFmpeg
    backend leaves it off unless asked; other builds turn it on, which would turn twice.)
    """
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
    return _right_angle(capture.get(cv2.CAP_PROP_ORIENTATION_META))


def _right_angle(degrees: float) -> int:
    """The nearest of 0, 90, 180, 270 (a missing or odd value: 0)."""
    if not math.isfinite(degrees):
        return 0
    return int(round(degrees / 90.0)) % 4 * 90


def turn_clockwise(image: np.ndarray, degrees: int) -> np.ndarray:
    """The picture (any channels) turned clockwise by 0, 90, 180 or 270 degrees."""
    turns = {0: None, 90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
    if degrees not in turns:
        raise ValueError(f"degrees must be 0, 90, 180 or 270, not {degrees!r}")
    return image if turns[degrees] is None else cv2.rotate(image, turns[degrees])


def _check_frame_size(width: int, height: int) -> None:
    if width * height > MAX_VIDEO_PIXELS:
        raise MediaError(
            f"The video frames are {width} x {height} pixels; "
            f"at most {MAX_VIDEO_SIDE} x {MAX_VIDEO_SIDE} pixels per frame are accepted."
        )


def _grab(capture: cv2.VideoCapture) -> bool:
    try:
        return bool(capture.grab())
    except cv2.error:
        return False  # a damaged packet: treated as the end of the readable part


def _count_remaining(capture: cv2.VideoCapture) -> int:
    count = 0
    while _grab(capture):
        count += 1
    return count


def _to_rgb_frame(frame: np.ndarray, max_side: int | None) -> np.ndarray:
    height, width = frame.shape[:2]
    if max_side is not None and max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)  # INTER_AREA: no aliasing
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def _undecodable(path: Path) -> str:
    return f"No frame of {path.name} can be decoded; it may be damaged or use a codec that is not supported."


# --- messages -------------------------------------------------------------------------


def _size(n_bytes: int) -> str:
    """A file size in the units a user reads: bytes, KB or MB (powers of 1000)."""
    if n_bytes < 1000:
        return f"{n_bytes} bytes"
    if n_bytes < 1_000_000:
        return f"{n_bytes / 1000:.0f} KB"
    return f"{n_bytes / 1e6:.1f} MB".replace(".0 MB", " MB")


def _unreadable(path: Path, error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return f"The file {path.name} was not found."
    return f"Cannot read {path.name}: {(error.strerror or str(error)).lower()}."


def sha256_file(path: Path) -> str:
    """The file's sha256, read in 1 MB blocks (clips and checkpoints are large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- clips for browsers: playable copies and excerpts, written atomically -------------------

BROWSER_FOURCCS = {"avc1", "h264", "x264", "vp80", "vp90", "av01"}
BROWSER_CONTAINERS = {".mp4", ".webm"}  # MOV, MKV and AVI are re-encoded even with these codecs
EXCERPT_MARGIN_S = 0.3  # shown either side of an interval: the face at rest before and after


def video_fourcc(path: Path) -> str:
    """The clip's codec as OpenCV reports it, lower case ('avc1', 'mjpg', ...)."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        code = int(capture.get(cv2.CAP_PROP_FOURCC))
    finally:
        capture.release()
    return "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).lower()


def playable_video(path: str | Path, cache: Path, progress: Progress = no_progress) -> Path:
    """The clip as browsers play it: itself when it is MP4 or WebM in H.264, VP8/9 or AV1, else a WebM
    (VP8) copy, made once into `cache` under the clip's checksum."""
    path = Path(path)
    if path.suffix.lower() in BROWSER_CONTAINERS and video_fourcc(path) in BROWSER_FOURCCS:
        return path
    target = cache / f"play_{sha256_file(path)[:16]}.webm"
    if not target.is_file():
        info = probe_video(path)
        write_webm(target, info, (f for _, f in iter_frames(path)), progress)
    return target


def excerpt_span(
    onset_frame: int, offset_frame: int, fps: float, frames: int, margin_s: float = EXCERPT_MARGIN_S
) -> tuple[int, int]:
    """The first and last frame (inclusive) of an interval's excerpt: `margin_s` either side of it,
    clamped to the clip's `frames`."""
    if frames < 1 or fps <= 0 or not 0 <= onset_frame <= offset_frame:
        raise InputError(f"No excerpt of frames {onset_frame} to {offset_frame} in a clip of {frames} frames.")
    margin = round(margin_s * fps)
    return max(0, onset_frame - margin), min(frames - 1, offset_frame + margin)


def write_excerpt(path: str | Path, first_frame: int, last_frame: int, target: Path, progress: Progress = no_progress) -> Path:
    """A WebM (VP8) of frames `first_frame` to `last_frame` (inclusive) of a clip, at its frame rate,
    streamed: a frame at a time. A range past the clip's end stops at its last frame; a range that
    starts past it, or that is empty or negative, is refused with an InputError."""
    if first_frame < 0 or last_frame < first_frame:
        raise InputError(f"Frames {first_frame} to {last_frame} are not a range of a clip.")
    info = probe_video(path)
    frames = iter_frames(path, start=first_frame, stop=last_frame + 1)
    first = next(frames, None)
    if first is None:
        raise InputError(f"The clip {Path(path).name} ends before frame {first_frame}.")
    excerpt = VideoInfo(fps=info.fps, frame_count=last_frame - first_frame + 1, width=info.width, height=info.height)
    write_webm(Path(target), excerpt, (frame for _, frame in itertools.chain([first], frames)), progress)
    return Path(target)


def write_webm(target: Path, info: VideoInfo, frames, progress: Progress = no_progress) -> None:
    """Encode RGB frames (of `info`'s size and rate) as WebM (VP8), through `atomic_path`: a crash or a
    second writer never leaves half a file."""
    with atomic_path(target) as partial:
        writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"VP80"), info.fps, (info.width, info.height))
        if not writer.isOpened():
            raise MediaError("OpenCV cannot write WebM video on this machine.")
        try:
            for index, frame in enumerate(frames):
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                if index % 30 == 0:
                    progress(min(index / max(info.frame_count, 1), 0.99), f"encoding frame {index:,}")
        finally:
            writer.release()
    progress(1.0, "encoded")
