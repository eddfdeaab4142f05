"""The clip cache of the Micro-expressions page, kept bounded.

    removed = prune_clip_cache(home_dir() / "cache", keep=[clip_in_use])

The page writes each uploaded clip once under its checksum (`uploads/<key>.<ext>`, key = the
first 16 hex digits of its sha256) and, beside it, a WebM copy browsers can play
(`play_<key>.webm`), annotated copies (`annotated_<key>_<model>.webm`) and the excerpts of
spotted intervals (`excerpt_<key>_<first>_<last>.webm`). Those files of one key are one cached clip. Clips are removed whole, least recently used first (a clip's last
use is the newest modification time among its files; the page touches an upload it reads
again), until at most `max_clips` remain and they take at most `max_bytes`.

Never removed: the clips in `keep` (the one on screen, even when it alone is over budget), a
clip with a file written in the last GRACE_S seconds (an upload or an encode in progress,
perhaps in another session), and every file that is not a cached clip, such as the demo clip
(`demo_clip_*.webm`, from core.micro.synthetic). The results store lives outside this folder.
"""

import hashlib
import re
import time
from collections.abc import Iterable
from pathlib import Path

from core.media import sha256_file
from core.paths import write_atomically

MAX_CACHED_CLIPS = 8
MAX_CACHE_BYTES = 2_000_000_000  # four clips at the upload limit
GRACE_S = 60.0

_CACHED = re.compile(r"^(?:play_|annotated_|excerpt_)?([0-9a-f]{16})(?:[_.].*)?$")


def clip_key(path: Path) -> str | None:
    """The checksum key of a cached clip's file, or None for any other file."""
    match = _CACHED.match(path.name)
    return match.group(1) if match else None


def cached_clips(cache: Path) -> dict[str, list[Path]]:
    """The files of each cached clip (uploads and the copies made from them), by key."""
    clips: dict[str, list[Path]] = {}
    for folder in (cache, cache / "uploads"):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            key = clip_key(path)
            if key is not None and path.is_file():
                clips.setdefault(key, []).append(path)
    return clips


def prune_clip_cache(
    cache: Path,
    keep: Iterable[Path] = (),
    max_clips: int = MAX_CACHED_CLIPS,
    max_bytes: int = MAX_CACHE_BYTES,
    now: float | None = None,
) -> list[Path]:
    """Remove the least recently used cached clips until the cache is within its bounds; the removed files."""
    now = time.time() if now is None else now
    protected = {key for path in keep if (key := clip_key(Path(path))) is not None}
    clips = []  # (last use, key, files, bytes)
    for key, files in cached_clips(cache).items():
        stats = [path.stat() for path in files]
        clips.append((max(s.st_mtime for s in stats), key, files, sum(s.st_size for s in stats)))
    clips.sort(reverse=True)  # newest first
    count, total = len(clips), sum(size for *_, size in clips)
    removed: list[Path] = []
    for last_use, key, files, size in reversed(clips):  # oldest first
        if count <= max_clips and total <= max_bytes:
            break
        if key in protected or now - last_use < GRACE_S:
            continue
        for path in files:
            path.unlink(missing_ok=True)
            removed.append(path)
        count, total = count - 1, total - size
    return removed


class ClipCache:
    """The folder of cached clips; it alone names their files.

        cache = ClipCache(home_dir() / "cache")
        path = cache.store_upload(data, ".mp4")    # written atomically, verified before reuse
        target = cache.excerpt_path(sha256, first, last)
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._verified: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> sha256

    def upload_path(self, sha256: str, suffix: str) -> Path:
        return self.folder / "uploads" / f"{sha256[:16]}{suffix.lower()}"

    def excerpt_path(self, sha256: str, first: int, last: int) -> Path:
        return self.folder / f"excerpt_{sha256[:16]}_{first}_{last}.webm"

    def annotated_path(self, sha256: str, model: str) -> Path:
        return self.folder / f"annotated_{sha256[:16]}_{model}.webm"

    def store_upload(self, data: bytes, suffix: str) -> Path:
        """The upload's file under its checksum: reused only when its bytes check out, else written
        through a temporary file and an atomic rename, so a crash never leaves a truncated clip."""
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.upload_path(sha256, suffix)
        if path.is_file() and self.checksum(path) == sha256:
            path.touch()  # used again: the cache keeps the most recently used clips
        else:
            write_atomically(path, data)
        self._verified[self._stat_key(path)] = sha256  # known now: neither a reuse nor the pipeline hashes it again
        prune_clip_cache(self.folder, keep=[path])
        return path

    def checksum(self, path: Path) -> str:
        """The file's sha256, computed once per version of the file (path, size, modification time)."""
        key = self._stat_key(path)
        if key not in self._verified:
            self._verified[key] = sha256_file(path)
        return self._verified[key]

    @staticmethod
    def _stat_key(path: Path) -> tuple[str, int, int]:
        stat = path.stat()
        return str(path), stat.st_size, stat.st_mtime_ns
