"""What one Ray task does with one clip of a study: the one-clip pipeline, and the clip's status.

    spotted = spot_clip(path, model, store_path, study_id, env, sha256)

The task calls `core.micro.pipeline.spot_video` with a ResultStore on the driver's SQLite file, so
its run is stored under the same key as the `spot` verb's and the Micro-expressions page's: a clip
spotted by any of them is not spotted again. It counts its own attempt in the study's status before
it begins (a worker that dies is retried by Ray, and the retry counts itself again), and returns
only small things: the clip's numbers and intervals, never its per-frame timeline.

A clip the pipeline refuses (InputError: damaged, unsupported, no face) is a failed clip with its
one-line message, returned rather than raised: Ray retries dead workers, never a user's bad file.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from core.media import probe_video
from core.micro.intervals import Interval
from core.micro.pipeline import SpotResult, spot_parts, spot_video
from core.micro.spotters import load_spotter
from core.micro.track import TrackedPart, track_part
from core.models.zoo import load_model
from core.progress import Progress, no_progress
from core.store import ResultStore
from core.study.status import StudyStatus

# Tests only: the path of a file holding one clip's path; that clip's first attempt ends its worker
# process half-way (os._exit, as a crash or an out-of-memory kill would), to show Ray's retry.
CRASH_ONCE_ENV = "FER_STUDY_TEST_CRASH_ONCE"
# The settings a worker must share with the driver; a Ray worker may have been started before the
# driver set them (a cluster, or a local Ray that an earlier run started), so each task carries them.
FORWARDED_ENV = ("FER_WEIGHTS_DIR", "FER_DEVICE", CRASH_ONCE_ENV)
MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class Spotted:
    """A task's answer: a clip spotted (`done`) or refused (`failed`, with the pipeline's message)."""

    status: str
    message: str = ""
    fps: float | None = None
    frames: int | None = None
    face_frames: int | None = None
    intervals: tuple[Interval, ...] = ()
    from_store: bool = False
    refused: bool = False  # the pipeline refused the clip itself (InputError), not a worker or Ray

    @classmethod
    def of(cls, result: SpotResult) -> "Spotted":
        face_frames = int(result.timeline["found"].sum())
        return cls(
            "done", "", result.fps, result.frames, face_frames, tuple(result.intervals), result.from_store
        )


def worker_env() -> dict[str, str]:
    """The driver's values of FORWARDED_ENV, for `spot_clip` to set in its worker."""
    return {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}


def spot_clip(path: str, model: str | None, store_path: str, study_id: str, env: dict[str, str],
              sha256: str | None = None) -> Spotted:  # fmt: skip
    """Spot one clip of a study in this worker (the body of the study's Ray task)."""
    _use_env(env)
    store = ResultStore(store_path)
    StudyStatus(store).attempt(study_id, path)
    try:
        result = spot_video(path, model, _crash_hook(path), store, sha256=sha256)
    except InputError as error:
        return Spotted("failed", one_line(str(error)) or type(error).__name__, refused=True)
    return Spotted.of(result)


def track_clip_part(path: str, model: str | None, start: int, stop: int | None, env: dict[str, str]) -> TrackedPart:
    """Track frames [start, stop) of a long clip in this worker (`core.micro.track.track_part`)."""
    _use_env(env)
    spotter = load_spotter(model)
    return track_part(path, load_model(spotter.feature_model), start, stop, probe_video(path))


def spot_clip_parts(path: str, model: str | None, store_path: str, study_id: str, env: dict[str, str],
                    sha256: str, parts: list) -> Spotted:  # fmt: skip
    """Join a long clip's tracked parts (Ray references, fetched one at a time so that the clip is
    never in memory whole), spot it and store it under `spot`'s key (`core.micro.pipeline.spot_parts`)."""
    import ray

    _use_env(env)
    store = ResultStore(store_path)
    StudyStatus(store).attempt(study_id, path)
    try:
        result = spot_parts(path, (ray.get(part) for part in parts), model, store, sha256)
    except InputError as error:  # raised in a part's task too: Ray's error is then also the InputError
        message = str(getattr(error, "cause", None) or error)
        return Spotted("failed", one_line(message) or type(error).__name__, refused=True)
    return Spotted.of(result)


def _use_env(env: dict[str, str]) -> None:
    for name in FORWARDED_ENV:  # exactly the driver's: a reused worker keeps nothing of an earlier study
        if name in env:
            os.environ[name] = env[name]
        else:
            os.environ.pop(name, None)


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """A message's first line, cut to `limit` characters: a summary cell, not a traceback."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def cuda_usable() -> bool:
    """Whether torch in a worker given a GPU can use CUDA (a cluster may list GPUs its torch cannot use)."""
    import torch

    return torch.cuda.is_available()


def _crash_hook(path: str) -> Progress:
    marker = os.environ.get(CRASH_ONCE_ENV)
    if not marker:
        return no_progress

    def progress(fraction: float, message: str) -> None:
        if fraction >= 0.5 and _claim(Path(marker), path):
            os._exit(1)

    return progress


def _claim(marker: Path, path: str) -> bool:
    """True once: when the marker names this clip it is removed first, so the retry runs through."""
    try:
        if marker.read_text().strip() != path:
            return False
        marker.unlink()
    except OSError:
        return False
    return True
