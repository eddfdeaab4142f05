"""A study run: every clip spotted on Ray, one task per clip, resumable, summarised at the end.

    result = run_study(read_study("study.csv"), Path("out"), address=None, workers=4, model=None, progress=p)
    result.summary, result.files, result.tables.conditions
    study_status(result.study_id)                     # what a page reloading mid-run shows

The one call of the `study run` verb (and of a page). What it does, in order:
1. Each clip is hashed and looked up in the results store under the key `spot` uses (the clip's
   sha256, the spotter's and the CNN's checksums, the parameters). A clip found there is done
   without a task, so a second run of a study, or one stopped half-way, submits only what is left.
   So is a clip the pipeline refused before (kept as "spot-refused" under the same key): the same
   bytes are refused again on every run.
2. The rest go to Ray, at most `workers` clips at a time (a clip longer than PART_S as parts
   tracked on several workers, then joined and spotted; the same result as in one piece): with no address a local Ray of `workers` CPUs
   is started for the run and shut down after it; with one (`auto`, `HOST:PORT`) the driver
   connects to that cluster (every node needs this checkout and the weights at the same paths,
   and the results store's file on a file system they share). A driver that is already connected
   (a page's process, a test) uses its connection. Tasks ask for a GPU only when the cluster has
   one and torch in a worker given one can use CUDA.
3. A worker that dies is retried by Ray (MAX_RETRIES); each attempt counts itself in the study's
   status table (`core.study.status`), so a retried clip shows attempts = 2. A clip the pipeline
   refuses fails with its one-line message; the study goes on.
4. The tables (`core.study.summary`) are written once, at the end, each under a temporary name
   renamed when whole; the run's tables and counts go into the store too (kind "study").
"""

import json
import logging
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from core.media import probe_video, sha256_file
from core.micro.pipeline import part_ranges, spot_key, stored_run
from core.micro.spotters import Spotter, load_spotter
from core.models.zoo import model_card
from core.progress import Progress, no_progress
from core.store import ResultStore, key_hash
from core.study.manifest import Clip, Study
from core.study.outputs import write_outputs
from core.study.status import ClipState, StudyStatus
from core.study.summary import N_BOOT, SEED, ClipOutcome, StudyTables, study_tables
from core.study.worker import (
    Spotted,
    cuda_usable,
    one_line,
    spot_clip,
    spot_clip_parts,
    track_clip_part,
    worker_env,
)

_VERSION = 1  # bump when the study's tables change, so stored studies are not taken for current ones
MAX_RETRIES = 2  # a clip whose worker dies is tried at most 3 times
PART_S = 300.0  # a longer clip is tracked in parts of about this length, in parallel, then joined
CONNECT_S = 10.0  # an address where nothing answers within this is refused
GPU_PROBE_S = 120.0  # a worker given a GPU answers whether torch sees CUDA within this, or CPUs are used
REUSED = "already in the results store"
# A clip the pipeline refused (damaged, no face), kept under `spot`'s key with the file's name as NAME
# (the same bytes may come back under another name).
REFUSED_KIND = "spot-refused"
NAME = "{clip}"


@dataclass(frozen=True)
class StudyResult:
    """A study run: each clip's outcome, the tables, the counts of summary.json and the files written."""

    study_id: str
    study: Study
    model: str
    outcomes: tuple[ClipOutcome, ...]
    tables: StudyTables
    summary: dict
    files: dict[str, Path]


@dataclass(frozen=True)
class _Run:
    """What every step of one run needs: where results and statuses go, the run's id, the spotter."""

    store: ResultStore
    status: StudyStatus
    study_id: str
    model: str
    part_s: float


@dataclass(frozen=True)
class _Pending:
    clip: Clip
    sha256: str
    key: dict  # `spot`'s ResultStore key of the clip's run


def study_key(study: Study, spotter: Spotter, cnn_sha: str) -> dict:
    """The ResultStore key of a study run: what the manifest says and the models' checksums."""
    return {"manifest": study.fingerprint, "model": spotter.name, "model_sha256": spotter.checksum,
            "features_sha256": cnn_sha, "n_boot": N_BOOT, "seed": SEED, "version": _VERSION}  # fmt: skip


def study_id(study: Study, model: str | None = None) -> str:
    """The id under which a study's run with this spotter keeps its status and result."""
    spotter = load_spotter(model)
    return key_hash(study_key(study, spotter, model_card(spotter.feature_model)["sha256"]))


def study_status(study_id: str, store: ResultStore | None = None) -> list[ClipState]:
    """Each clip's state (queued, running, done, failed), message and attempts, for a page to show."""
    return StudyStatus(store or ResultStore()).clips(study_id)


def run_study(
    study: Study,
    out: Path,
    address: str | None = None,
    workers: int = 2,
    model: str | None = None,
    progress: Progress = no_progress,
    store: ResultStore | None = None,
    part_s: float = PART_S,
) -> StudyResult:
    """Spot every clip of `study` on Ray and write its tables into `out` (module docstring). A clip
    longer than `part_s` seconds is tracked in parts on several workers, then joined and spotted
    (`core.micro.pipeline.spot_parts`: the same result as one worker's run)."""
    if workers < 1:
        raise InputError(f"--workers must be at least 1, not {workers}.")
    began, store = time.monotonic(), store or ResultStore()
    spotter = load_spotter(model)  # an unknown spotter is refused before any work
    cnn_sha = model_card(spotter.feature_model)["sha256"]
    key = study_key(study, spotter, cnn_sha)
    sid, status = key_hash(key), StudyStatus(store)
    Path(out).mkdir(parents=True, exist_ok=True)  # a folder that cannot be made fails now, not after the work
    done, pending = _look_up(study, spotter, cnn_sha, store, progress)
    status.start(
        sid, str(study.source), spotter.name, [_status_row(clip, done.get(clip.path)) for clip in study.clips]
    )
    ray_info: dict = {"ray": "not needed", "ray_startup_s": 0.0, "resources": None}
    if pending:
        run = _Run(store, status, sid, spotter.name, part_s)
        ray_info, spotted = _on_ray(run, pending, address, workers, progress, len(done))
        done.update(spotted)
    outcomes = [done[clip.path] for clip in study.clips]
    tables = study_tables(study, outcomes)
    summary = _summary(study, sid, spotter, outcomes, len(pending), ray_info, time.monotonic() - began)
    files = write_outputs(Path(out), tables, summary)
    kept = {name: _records(getattr(tables, name)) for name in ("clips", "participants", "conditions")}
    store.put_result("study", key, {"summary": summary, **kept})
    status.finished(sid)
    progress(1.0, f"{summary['done']} of {len(outcomes)} clips done, {summary['failed']} failed")
    return StudyResult(sid, study, spotter.name, tuple(outcomes), tables, summary, files)


def _look_up(
    study: Study, spotter: Spotter, cnn_sha: str, store: ResultStore, progress: Progress
) -> tuple[dict[Path, ClipOutcome], list[_Pending]]:
    """Clips settled before the run (spotted or refused before, unreadable) and those left for Ray."""
    done: dict[Path, ClipOutcome] = {}
    pending: list[_Pending] = []
    for i, clip in enumerate(study.clips):
        progress(0.05 * i / len(study.clips), f"checking {clip.shown}")
        try:
            sha = sha256_file(clip.path)
        except OSError as error:
            done[clip.path] = ClipOutcome(
                clip, "failed", f"{clip.shown} cannot be read: {error.strerror or error}.", 0, False
            )
            continue
        key = spot_key(sha, spotter.name, spotter.checksum, cnn_sha)
        stored = _stored(store, key, clip)
        if stored is not None:
            done[clip.path] = _outcome(clip, sha, stored, 0, reused=True)
        else:
            pending.append(_Pending(clip, sha, key))
    return done, pending


def _stored(store: ResultStore, key: dict, clip: Clip) -> Spotted | None:
    """The clip's earlier run under `spot`'s key, or the pipeline's earlier refusal of the same bytes;
    None when it is still to be done."""
    run = stored_run(store, key)
    if run is not None:
        return Spotted.of(run)
    refused = store.get_result(REFUSED_KIND, key)
    if refused is not None:
        return Spotted("failed", refused["message"].replace(NAME, clip.path.name), refused=True)
    return None


def _outcome(clip: Clip, sha: str, spotted: Spotted, attempts: int, reused: bool = False) -> ClipOutcome:
    return ClipOutcome(clip, spotted.status, spotted.message, attempts, reused, sha, spotted.fps, spotted.frames,
                       spotted.face_frames, spotted.intervals)  # fmt: skip


def _status_row(clip: Clip, settled: ClipOutcome | None) -> tuple[str, str, str, str, str]:
    if settled is None:
        state, message = "queued", ""
    elif settled.reused:
        state, message = settled.status, REUSED + (f": {settled.message}" if settled.message else "")
    else:
        state, message = settled.status, settled.message
    return str(clip.path), clip.participant, clip.condition, state, message


def _on_ray(
    run: _Run, pending: list[_Pending], address: str | None, workers: int, progress: Progress, already: int
) -> tuple[dict, dict[Path, ClipOutcome]]:
    """Spot the pending clips on Ray, at most `workers` at a time; (how Ray was reached, each clip's outcome)."""
    import ray

    progress(0.05, f"connecting to Ray at {address}" if address else "starting Ray")
    started = time.monotonic()
    owned = _connect(ray, address, workers)
    reached = ("local" if not address else f"cluster {address}") if owned else "already connected"
    info = {"ray": reached, "ray_startup_s": round(time.monotonic() - started, 3)}
    try:
        info["resources"] = _task_resources(ray)
        options = {"max_retries": MAX_RETRIES, "retry_exceptions": False, **info["resources"]}
        tasks = _Tasks(*(ray.remote(f).options(**options) for f in (spot_clip, track_clip_part, spot_clip_parts)))
        env, total, waiting, running = worker_env(), already + len(pending), list(reversed(pending)), {}
        outcomes: dict[Path, ClipOutcome] = {}
        while waiting or running:
            while waiting and len(running) < workers:  # a shared cluster is not flooded with a whole study
                item = waiting.pop()
                running[_submit(run, item, tasks, env)] = item
            (ready,), _ = ray.wait(list(running), num_returns=1)
            item = running.pop(ready)
            outcome = outcomes[item.clip.path] = _settle(run, item, _result(ray, ready))
            count = already + len(outcomes)
            progress(
                0.05 + 0.9 * count / total, f"{count} of {total} clips: {item.clip.shown} {outcome.status}"
            )
    finally:
        if owned:
            ray.shutdown()
    return info, outcomes


@dataclass(frozen=True)
class _Tasks:
    spot: object  # the Ray remote functions of core.study.worker
    track: object
    join: object


def _submit(run: _Run, item: _Pending, tasks: _Tasks, env: dict[str, str]):
    """One task for a clip, or for a long one a task per part and one that joins them; the ref to wait on."""
    path, store = str(item.clip.path), str(run.store.path)
    try:
        ranges = part_ranges(probe_video(path), run.part_s)
    except InputError:  # the clip's own task says why, in its one line
        ranges = [(0, None)]
    if len(ranges) == 1:
        return tasks.spot.remote(path, run.model, store, run.study_id, env, item.sha256)
    parts = [tasks.track.remote(path, run.model, start, stop, env) for start, stop in ranges]
    return tasks.join.remote(path, run.model, store, run.study_id, env, item.sha256, parts)


def _settle(run: _Run, item: _Pending, spotted: Spotted) -> ClipOutcome:
    """A clip's answer is in: its status, and a refusal remembered so that a rerun does not try the bytes again."""
    if spotted.refused:  # the pipeline's verdict on these bytes (damaged, no face): the same on every run
        run.store.put_result(
            REFUSED_KIND, item.key, {"message": spotted.message.replace(item.clip.path.name, NAME)}
        )
    run.status.finish(run.study_id, str(item.clip.path), spotted.status, spotted.message)
    return _outcome(item.clip, item.sha256, spotted, run.status.attempts(run.study_id, str(item.clip.path)))


def _connect(ray, address: str | None, workers: int) -> bool:
    """Connect to Ray (or start a local one); True when this call did, and must shut it down."""
    if ray.is_initialized():
        return False
    if address and address != "auto":
        _check_reachable(address)
    # Workers' own output stays in Ray's log files: forwarded, it would mix with the CLI's JSON on stdout.
    options = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, **options)
    except (ConnectionError, ValueError, RuntimeError) as error:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise InputError(f"Could not start or reach {where}: {one_line(str(error))}") from None
    return True


def _check_reachable(address: str) -> None:
    """Refuse at once an address where nothing listens: Ray itself keeps trying for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_S).close()
    except ValueError:
        raise InputError(
            f"--address takes auto or HOST:PORT (the Ray head's GCS port), not '{address}'."
        ) from None
    except OSError as error:
        raise InputError(
            f"No Ray cluster answers at {address}: {(error.strerror or str(error)).lower()}."
        ) from None


def _task_resources(ray) -> dict:
    """A GPU per task where the cluster lists GPUs and a worker given one sees CUDA; else a CPU."""
    if ray.cluster_resources().get("GPU", 0) < 1:
        return {"num_cpus": 1}
    probe = ray.remote(cuda_usable).options(num_cpus=1, num_gpus=1)
    try:
        usable = ray.get(probe.remote(), timeout=GPU_PROBE_S)
    except ray.exceptions.RayError:
        usable = False
    return {"num_cpus": 1, "num_gpus": 1} if usable else {"num_cpus": 1}


def _result(ray, ref) -> Spotted:
    """A task's answer, or a failed clip saying why Ray gave up on it (retries spent, an error in our code)."""
    try:
        return ray.get(ref)
    except ray.exceptions.WorkerCrashedError:
        return Spotted("failed", f"The worker process died on each of {MAX_RETRIES + 1} attempts.")
    except ray.exceptions.RayTaskError as error:
        cause = error.cause if getattr(error, "cause", None) is not None else error
        return Spotted("failed", one_line(f"{type(cause).__name__}: {cause}"))
    except ray.exceptions.RayError as error:
        return Spotted("failed", one_line(f"Ray: {type(error).__name__}: {error}"))


def _summary(
    study: Study,
    sid: str,
    spotter: Spotter,
    outcomes: list[ClipOutcome],
    submitted: int,
    ray_info: dict,
    wall_s: float,
) -> dict:
    """summary.json: what was done, what failed, what was retried, and how long it took."""
    done = [o for o in outcomes if o.status == "done"]
    return {
        "study": str(study.source), "study_id": sid, "fingerprint": study.fingerprint, "model": spotter.name,
        "feature_model": spotter.feature_model, "clips": len(outcomes), "done": len(done),
        "failed": len(outcomes) - len(done), "skipped_already_done": sum(o.reused for o in outcomes),
        "submitted": submitted, "retried_clips": sum(o.attempts > 1 for o in outcomes),
        "retried_attempts": sum(max(o.attempts - 1, 0) for o in outcomes),
        "intervals": sum(len(o.intervals) for o in done), "participants": len({o.clip.participant for o in outcomes}),
        "conditions": len({o.clip.condition for o in outcomes}), "bootstrap": {"resamples": N_BOOT, "seed": SEED},
        "wall_s": round(wall_s, 3), **ray_info,
    }  # fmt: skip


def _records(table) -> list[dict]:
    """A table as JSON rows: NaN and NA as null, numpy numbers as plain ones."""
    return json.loads(table.to_json(orient="records"))
