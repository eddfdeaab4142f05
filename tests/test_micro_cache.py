"""The Micro-expressions page's clip cache stays bounded, oldest clips first, and never loses what it must keep."""

import hashlib
import os
import time

from core.micro.cache import GRACE_S, cached_clips, clip_key, prune_clip_cache

HOUR = 3600.0


def cached_clip(cache, key: str, age_h: float, upload_bytes: int = 1000, copies: bool = True) -> list:
    """An upload and (optionally) its playable and annotated copies, last used `age_h` hours ago."""
    files = [cache / "uploads" / f"{key}.avi"]
    if copies:
        files += [
            cache / f"play_{key}.webm",
            cache / f"annotated_{key}_training-free.webm",
            cache / f"excerpt_{key}_12_40.webm",
        ]
    stamp = time.time() - age_h * HOUR
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (upload_bytes if path.parent.name == "uploads" else 100))
        os.utime(path, (stamp, stamp))
    return files


def test_file_names_group_into_clips():
    key = "0123456789abcdef"
    from pathlib import Path

    assert {clip_key(Path(n)) for n in (f"{key}.mp4", f"play_{key}.webm", f"play_{key}.partial.webm",
                                          f"annotated_{key}_micro-lstm.webm", f"excerpt_{key}_12_40.webm",
                                          f"excerpt_{key}_0_9.1a2b3c4d.partial.webm")} == {key}  # fmt: skip
    for other in (
        "demo_clip_6212d5630934.webm",
        "results.sqlite",
        f"{key}0.mp4",
        "notes.txt",
        "excerpt_demo_1_2.webm",
    ):
        assert clip_key(Path(other)) is None, other


def test_the_oldest_clips_go_first_until_the_count_fits(tmp_path):
    ages = {f"{i:016x}": age for i, age in enumerate([5.0, 1.0, 3.0, 2.0, 4.0])}
    for key, age in ages.items():
        cached_clip(tmp_path, key, age)
    demo = tmp_path / "demo_clip_6212d5630934.webm"
    demo.write_bytes(b"demo")
    os.utime(demo, (0, 0))  # older than every clip, and still never removed
    removed = prune_clip_cache(tmp_path, max_clips=3, max_bytes=10**9)
    oldest = sorted(ages, key=ages.get)[3:]  # the two used longest ago
    assert {clip_key(path) for path in removed} == set(oldest)
    assert len(removed) == 2 * 4, "an upload goes with its playable and annotated copies and its excerpts"
    assert not any(path.exists() for path in removed)
    assert set(cached_clips(tmp_path)) == set(ages) - set(oldest)
    assert demo.exists()
    assert prune_clip_cache(tmp_path, max_clips=3, max_bytes=10**9) == [], "within bounds: nothing to do"


def test_the_byte_budget_and_what_is_always_kept(tmp_path):
    big, small, recent, in_use = "a" * 16, "b" * 16, "c" * 16, "d" * 16
    cached_clip(tmp_path, big, 10.0, upload_bytes=5000)
    cached_clip(tmp_path, small, 9.0, upload_bytes=500, copies=False)
    cached_clip(tmp_path, in_use, 20.0, upload_bytes=8000)  # the oldest, but on screen
    cached_clip(tmp_path, recent, GRACE_S / HOUR / 4, upload_bytes=4000)  # written moments ago
    (tmp_path / "uploads" / "readme.txt").write_text("not a clip")
    removed = prune_clip_cache(tmp_path, keep=[tmp_path / "uploads" / f"{in_use}.avi"], max_bytes=1000)
    # Over budget even after removing both removable clips: the clip in use and the fresh one stay.
    assert {clip_key(path) for path in removed} == {big, small}
    assert set(cached_clips(tmp_path)) == {in_use, recent}
    assert (tmp_path / "uploads" / "readme.txt").exists()
    # Within budget after removing the older clip only: the newer one stays.
    cached_clip(tmp_path, big, 10.0, upload_bytes=5000)
    cached_clip(tmp_path, small, 9.0, upload_bytes=500, copies=False)
    total = sum(path.stat().st_size for files in cached_clips(tmp_path).values() for path in files)
    removed = prune_clip_cache(tmp_path, keep=[tmp_path / f"play_{in_use}.webm"], max_bytes=total - 5000)
    assert {clip_key(path) for path in removed} == {big}


def test_a_missing_cache_folder_is_fine(tmp_path):
    assert prune_clip_cache(tmp_path / "nowhere") == []


def test_an_upload_is_written_atomically_and_verified_before_reuse(tmp_path):
    import hashlib

    from core.micro.cache import ClipCache

    data = os.urandom(200_000)
    cache = ClipCache(tmp_path)
    path = cache.store_upload(data, ".MP4")
    assert path.name == f"{hashlib.sha256(data).hexdigest()[:16]}.mp4" and path.read_bytes() == data
    assert not list(path.parent.glob("*.partial")), "no temporary file is left behind"
    # A crash mid-write of an older version left a truncated clip under the name: it is replaced, not reused.
    path.write_bytes(data[:5000])
    assert ClipCache(tmp_path).store_upload(data, ".mp4").read_bytes() == data
    # Changed in place with the same size: the checksum, not the size, decides.
    damaged = bytearray(data)
    damaged[100] ^= 0xFF
    path.write_bytes(bytes(damaged))
    assert ClipCache(tmp_path).store_upload(data, ".mp4").read_bytes() == data
    assert cache.excerpt_path(hashlib.sha256(data).hexdigest(), 3, 9).name.startswith(f"excerpt_{path.stem}_3_9")
    assert clip_key(cache.annotated_path(hashlib.sha256(data).hexdigest(), "m")) == path.stem


def test_a_stored_upload_is_not_hashed_again_when_it_is_reused(tmp_path, monkeypatch):
    from core.micro import cache as cache_module

    hashed = []
    monkeypatch.setattr(cache_module, "sha256_file", lambda path: hashed.append(path) or "x")
    cache = cache_module.ClipCache(tmp_path)
    data = os.urandom(10_000)
    path = cache.store_upload(data, ".mp4")
    assert cache.store_upload(data, ".mp4") == path and cache.store_upload(data, ".mp4") == path
    assert cache.checksum(path) == hashlib.sha256(data).hexdigest()
    assert hashed == [], "the digest of the bytes written is remembered, touches included"
