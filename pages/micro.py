"""Micro-expressions: spot and classify brief expressions in a clip, on a timeline synced to the video."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.errors import InputError
from core.explain.figures import enlarge
from core.media import (
    EXCERPT_MARGIN_S,
    MAX_VIDEO_BYTES,
    VIDEO_SUFFIXES,
    excerpt_span,
    playable_video,
    write_excerpt,
)
from core.micro.cache import MAX_CACHE_BYTES, MAX_CACHED_CLIPS, ClipCache
from core.micro.figures import annotated_video
from core.micro.intervals import INTERVAL_COLUMNS, THRESHOLD, Interval
from core.micro.pipeline import FeatureCache, SpotResult, spot_video
from core.micro.spotters import TRAINING_FREE, default_micro_model, micro_models
from core.micro.synthetic import demo_clip, demo_clip_path
from core.micro.views import DIFFERENCE_GAIN, IntervalView, interval_view
from core.models.layers import layer_labels
from core.models.zoo import ModelError, model_card, weights_dir
from core.paths import confine
from core.store import home_dir
from dashboard.charts import micro_timeline_chart, micro_timeline_selections
from dashboard.export import download_chart, download_table
from dashboard.widgets import (
    cached_model,
    count,
    face_analyzer,
    pick_layer,
    progress_bar,
    query_choice,
    query_int,
    result_store,
    show_error,
)

SOURCES = {"demo": "Demo clip (synthetic)", "upload": "Upload a clip", "file": "A clip on this server"}
CROP_SCALE = 5
TOP_MAPS = 4
TIMELINE_KEY = "micro-timeline"
CHOSEN_KEY = "micro-interval-chosen"  # the user chose an interval in this session: its excerpt starts playing
PLAY_MARGIN_S = 0.5  # played past an interval's offset, so the face is seen settling back


def cache_dir() -> Path:
    return home_dir() / "cache"


@st.cache_resource
def _clip_cache(folder: str) -> ClipCache:
    return ClipCache(Path(folder))


def clip_cache() -> ClipCache:
    """One cache object per folder for the whole server: it remembers which uploads it has verified."""
    return _clip_cache(str(cache_dir()))


@st.cache_resource
def feature_cache() -> FeatureCache:
    """The last clips' tracked features, for the whole server: switching spotters does not track again."""
    return FeatureCache(size=2)


def choose_clip() -> tuple[Path, str] | None:
    """The clip to analyse, and the name the user knows it by (uploads are kept under their checksum)."""
    keys = list(SOURCES)
    source = st.radio(
        "Clip", keys, index=query_choice("source", keys), format_func=SOURCES.get, horizontal=True
    )
    st.query_params["source"] = source
    if source == "demo":
        with st.spinner("Drawing the demo clip (once)…"):
            path = demo_clip_path()
        events = ", ".join(
            f"{e.kind} {e.label} at {e.onset_frame / demo_clip().fps:.1f} s" for e in demo_clip().events
        )
        st.caption(
            f"A face drawn by the project, still but for small head motion and sensor noise, with brief "
            f"movements of about 3 pixels warped along its landmarks: {events}."
        )
        return path, path.name
    if source == "file":
        return clip_file()
    upload = st.file_uploader(
        f"A clip with one face ({', '.join(s.lstrip('.') for s in VIDEO_SUFFIXES)}; up to {MAX_VIDEO_BYTES // 1_000_000} MB)",
        type=[s.lstrip(".") for s in VIDEO_SUFFIXES],
        key="clip-upload",
    )
    st.caption(
        f"Uploaded clips are kept on this server, the {MAX_CACHED_CLIPS} most recently used (at most "
        f"{MAX_CACHE_BYTES // 1_000_000_000} GB with their playable copies), so a clip opens again at once; "
        "older ones are deleted. Spotting results stay in the results store."
    )
    if upload is None:
        return None
    if upload.size > MAX_VIDEO_BYTES:
        show_error(InputError(f"The clip is larger than {MAX_VIDEO_BYTES // 1_000_000} MB."))
        return None
    # Written once under its checksum (the player, the crops and the annotated copy read it again), and
    # once per upload: a rerun (every click on the timeline) neither hashes nor writes it again.
    stored = st.session_state.setdefault("micro-uploads", {})
    if upload.file_id not in stored or not stored[upload.file_id].is_file():
        stored[upload.file_id] = clip_cache().store_upload(upload.getvalue(), Path(upload.name).suffix)
    return stored[upload.file_id], upload.name


def clip_file() -> tuple[Path, str] | None:
    """A clip on this server, named in the URL's `clip` (a study's recording, linked from the Study page);
    only under the folders the server may read (FER_DATA_ROOTS)."""
    named = st.text_input(
        "Clip file on this server", value=st.query_params.get("clip", ""), key="clip-file",
        placeholder="/data/study/P01_rest.mp4",
    )  # fmt: skip
    if not named.strip():
        st.query_params.pop("clip", None)
        return None
    st.query_params["clip"] = named.strip()
    try:
        path = confine(named, "clip")
        if path.suffix.lower() not in VIDEO_SUFFIXES or not path.is_file():
            kinds = ", ".join(s.lstrip(".") for s in VIDEO_SUFFIXES)
            raise InputError(f"The clip {named.strip()} is not a video file ({kinds}) on this server.")
    except InputError as error:
        show_error(error)
        st.stop()  # the message is the answer: no "name a clip" hint under it
    return path, path.name


def choose_model() -> str:
    models = micro_models()
    labels = {TRAINING_FREE: "Training-free spotter (no classes)"}
    name = st.selectbox(
        "Spotter",
        models,
        index=query_choice("model", models, default_micro_model()),
        format_func=lambda m: labels.get(m, f"MicroLSTM: {m}"),
        key="micro-model",
    )
    st.query_params["model"] = name
    return name


def run(path: Path, name: str, model: str):
    """The spotting run, from this session's memory, the results store, or computed with a progress bar."""
    runs = st.session_state.setdefault("micro-runs", {})
    key = (str(path), name, model, str(weights_dir()))  # kept under its checksum: one path, one content
    if key not in runs:
        with progress_bar("Reading the clip…") as progress:
            runs[key] = spot_video(path, model, progress, result_store(), face_analyzer(), display_name=name,
                                   features=feature_cache(), sha256=clip_cache().checksum(path))  # fmt: skip
    return runs[key]


def chosen_time(result) -> float | None:
    """The time chosen on the timeline (the URL's `t`, in seconds), or None: then the interval's onset."""
    try:
        value = float(st.query_params.get("t", ""))
    except ValueError:
        return None
    return value if 0 <= value <= result.frames / result.fps else None


def interval_at(result, time: float) -> int | None:
    """The 1-based number of the spotted interval that holds `time`, or None."""
    for number, interval in enumerate(result.intervals, 1):
        if interval.onset_s <= time <= interval.offset_s:
            return number
    return None


def apply_timeline_click(result) -> None:
    """A new click on the timeline (kept by Streamlit under the chart's key) goes into the URL: an
    interval plays as its excerpt; a time plays from there and picks the interval that holds it. An
    old click is not applied again, so the interval box stays free to change."""
    selection = (st.session_state.get(TIMELINE_KEY) or {}).get("selection", {})
    applied = st.session_state.setdefault("micro-clicks", {})
    # A click elsewhere leaves the other selection holding an empty point ({}): not a choice.
    clicks = {
        name: [point for point in selection.get(name) or [] if field in point]
        for name, field in (("interval", "interval"), ("time", "time_s"))
    }
    new = {name: points for name, points in clicks.items() if points and points != applied.get(name)}
    applied.update(clicks)
    if "interval" in new:
        st.session_state[CHOSEN_KEY] = True
        st.query_params["interval"] = str(int(new["interval"][0]["interval"]))
        st.query_params.pop("t", None)
    elif "time" in new:
        time = float(new["time"][0]["time_s"])
        st.query_params["t"] = f"{time:.2f}"
        if (number := interval_at(result, time)) is not None:
            st.query_params["interval"] = str(number)


def chosen_interval(result) -> int | None:
    """The 0-based index of the interval to look at: the URL's 1-based `interval`, else the first."""
    if not result.intervals:
        return None
    wanted = query_int("interval")
    return wanted - 1 if wanted is not None and 1 <= wanted <= len(result.intervals) else 0


def interval_table(result: SpotResult) -> pd.DataFrame:
    return pd.DataFrame([interval.to_json() for interval in result.intervals], columns=list(INTERVAL_COLUMNS))


def timeline_section(result, time: float | None, index: int | None) -> None:
    timeline = pd.DataFrame(result.timeline)
    intervals = interval_table(result)
    if time is None and index is not None:
        time = float(intervals["onset_s"][index])
    chart = micro_timeline_chart(
        timeline, intervals, result.classes, THRESHOLD, f"{result.video}: {result.model}", time, index
    )
    # A quiet clip has no interval to click: asking for that selection would fail.
    selections = micro_timeline_selections(intervals)
    st.altair_chart(chart, on_select="rerun", selection_mode=selections, key=TIMELINE_KEY)
    st.caption(
        "Top: how far the face departs from its own sliding baseline (landmark motion and CNN activity, in units "
        f"of the clip's typical fluctuation); the dashed line is the threshold ({THRESHOLD:g}). Shaded: the spotted "
        "intervals (red micro, up to 0.5 s; blue macro), the chosen one outlined. Bottom: the same per AU region. "
        "Click an interval to play it, or any other time to play from there; the black rule marks the time played."
    )
    download_chart(chart, f"timeline-{Path(result.video).stem}", key="timeline")


def intervals_section(result, index: int | None) -> None:
    st.subheader("Spotted intervals")
    table = interval_table(result).rename(
        columns={"label": "class", "score": "confidence"}
    )
    if index is None:
        st.info("Nothing was spotted in this clip: no movement stood out from its own baseline.")
        return
    table.insert(0, "interval", range(1, len(table) + 1))
    st.dataframe(table, hide_index=True)
    left, right = st.columns(2)
    with left:
        download_table(table, f"intervals-{Path(result.video).stem}", key="intervals")
    right.download_button(
        ":material/download: JSON",
        json.dumps(result.contract(), indent=2),
        f"intervals-{Path(result.video).stem}.json",
        "application/json",
        key="intervals-json",
        on_click="ignore",
        width="stretch",
    )
    numbers = list(range(1, len(table) + 1))
    # The URL decides, and the box is keyed by its choice: a click on the timeline makes a new box showing the
    # clicked interval. (Writing the box's value into session_state instead races with interrupted reruns:
    # the browser's stale value then looks like a change and undoes the click.)
    key = f"interval-{index + 1}"
    st.selectbox(
        "Interval to look at",
        numbers,
        index=index,
        format_func=lambda n: (
            f"{n}: {table['kind'][n - 1]} {table['class'][n - 1]} at {table['onset_s'][n - 1]:.2f} s"
        ),
        key=key,
        on_change=interval_picked,
        args=(key,),
    )
    st.query_params["interval"] = str(index + 1)


def interval_picked(key: str) -> None:
    """The interval box changed: it goes into the URL and its excerpt plays (a clicked time is dropped)."""
    st.query_params["interval"] = str(st.session_state[key])
    st.query_params.pop("t", None)
    st.session_state[CHOSEN_KEY] = True


@st.cache_data(show_spinner="Reading the onset and apex frames, and what changed…", max_entries=32)
def cached_interval_view(
    path: str, _result: SpotResult, run_key: str, index: int, _model, model_id: str, layer: str
) -> IntervalView:
    return interval_view(path, _result, index, _model, layer, TOP_MAPS)


def interval_section(path: Path, result: SpotResult, index: int, time: float | None) -> None:
    interval = result.intervals[index]
    video, faces = st.columns([3, 2])
    with video:
        if time is None:
            excerpt_player(path, result, index)
        else:
            clip_player(path, result, interval, time)
    if result.track is None:
        return
    try:
        card = model_card(result.feature_model)
        model = cached_model(result.feature_model, str(weights_dir()), card.get("sha256", ""))
    except ModelError as error:
        show_error(error)
        return
    with faces:
        layer = pick_layer(layer_labels(model), key="micro-layer")
    run_key = f"{result.sha256}:{result.model}"
    view = cached_interval_view(str(path), result, run_key, index, model, f"{result.feature_model}:{card.get('sha256')}", layer)
    if view.onset is None or view.apex is None:
        faces.info("The face was not found at this interval's onset or apex.")
        return
    with faces:
        left, right = st.columns(2)
        left.image(enlarge(view.onset, CROP_SCALE), caption=f"Onset, frame {interval.onset_frame}", width="stretch")
        right.image(enlarge(view.apex, CROP_SCALE), caption=f"Apex, frame {interval.apex_frame}", width="stretch")
        st.image(enlarge(view.difference, CROP_SCALE), caption=f"Apex minus onset (x{DIFFERENCE_GAIN}, gray = no change)",
                 width=160)  # fmt: skip
    changed_maps_section(result, view)


def excerpt_player(path: Path, result, index: int) -> None:
    """A chosen interval plays as an exact excerpt (frames, not whole seconds), looping; it can be downloaded."""
    interval = result.intervals[index]
    first, last = excerpt_span(interval.onset_frame, interval.offset_frame, result.fps, result.frames)
    # Kept under the clip's checksum beside its other copies, so the cache prunes it with them.
    target = clip_cache().excerpt_path(result.sha256, first, last)
    try:
        if not target.is_file():
            with st.spinner("Cutting the interval out of the clip (once)…"):
                write_excerpt(path, first, last, target)
    except InputError as error:
        show_error(error)
        return
    # An interval the user chose plays at once; the page opening (or a shared link) plays nothing unasked.
    autoplay = st.session_state.get(CHOSEN_KEY, False)
    st.video(str(target), format="video/webm", loop=True, autoplay=autoplay, muted=True)
    st.caption(excerpt_caption(interval, result, first, last))
    st.download_button(
        ":material/download: Download this interval (WebM)",
        target.read_bytes(),
        f"{Path(result.video).stem}-interval-{index + 1}.webm",
        "video/webm",
        key=f"excerpt-{index + 1}",
        on_click="ignore",
        help="The excerpt that plays here: the interval's frames with the margin either side, at the clip's frame rate",
    )


def excerpt_caption(interval: Interval, result, first: int, last: int) -> str:
    margin = round(EXCERPT_MARGIN_S * result.fps)
    ends = [end for end, short in (("start", interval.onset_frame - first < margin),
                                   ("end", last - interval.offset_frame < margin)) if short]  # fmt: skip
    cut = f" (cut short at the clip's {' and '.join(ends)})" if ends else ""
    return (
        f"Plays {first / result.fps:.2f} s to {(last + 1) / result.fps:.2f} s (frames {first} to {last}): the "
        f"interval ({interval.onset_s:.2f} s to {interval.offset_s:.2f} s) with {EXCERPT_MARGIN_S:g} s "
        f"either side{cut}, looping."
    )


def clip_player(path: Path, result, interval: Interval, time: float) -> None:
    """A time chosen on the timeline plays the whole clip from there, to whole seconds."""
    try:
        # Only clips browsers cannot play (MJPG, mp4v...) are re-encoded, once, as WebM.
        with progress_bar("Making a copy browsers can play (once)…") as progress:
            playable = playable_video(path, cache_dir(), progress)
    except InputError as error:
        show_error(error)
        return
    kind = "video/webm" if playable.suffix.lower() == ".webm" else "video/mp4"
    start, end = play_span(result, interval, time)
    st.video(str(playable), format=kind, start_time=start, end_time=end, loop=end is not None)
    st.caption(play_caption(interval, time, start, end))


def play_span(result, interval: Interval, time: float) -> tuple[int, int | None]:
    """Whole seconds (Streamlit's player seeks no finer) to play from a chosen time: to PLAY_MARGIN_S past
    the offset when that time lies in the interval, else to the end of the clip."""
    if not interval.onset_s - PLAY_MARGIN_S <= time <= interval.offset_s:
        return math.floor(time), None
    end = min(math.ceil(interval.offset_s + PLAY_MARGIN_S), math.ceil(result.frames / result.fps))
    return math.floor(time), max(end, math.floor(time) + 1)


def play_caption(interval: Interval, time: float, start: int, end: int | None) -> str:
    chosen = f"the time chosen on the timeline, {time:.2f} s"
    if end is None:
        return f"Plays the whole clip from {chosen}, from second {start} on."
    return (
        f"Plays the whole clip from {chosen}, looping seconds {start} to {end} (the offset is at "
        f"{interval.offset_s:.2f} s; the player seeks in whole seconds: choose the interval to play it exactly)."
    )


def changed_maps_section(result: SpotResult, view: IntervalView) -> None:
    st.subheader("What the network saw change")
    st.caption(
        f"The {len(view.changed)} feature maps of {result.feature_model}'s {view.layer.rsplit('.', 1)[-1]} whose "
        "strongest response changed most from onset to apex, each projected back to pixels (Zeiler & Fergus "
        "deconvolution) at onset and at apex: the pattern the map responds to."
    )
    for column, entry in zip(st.columns(max(len(view.changed), 1)), view.changed, strict=False):
        column.image(np.hstack([entry.onset.picture(3), entry.apex.picture(3)]), width="stretch")
        column.caption(
            f"Map {entry.map.channel}: {entry.map.onset_max:.2f} → {entry.map.apex_max:.2f} "
            f"({entry.map.change:+.2f}); left onset, right apex."
        )


def annotated_section(path: Path, result) -> None:
    if result.track is None:
        return
    target = clip_cache().annotated_path(result.sha256, result.model)

    def make() -> bytes:
        if not target.exists():
            annotated_video(path, result.track, result.timeline["score"], result.intervals, target)
        return target.read_bytes()

    st.download_button(
        ":material/download: Annotated video (WebM)",
        make,
        f"annotated-{Path(result.video).stem}.webm",
        "video/webm",
        key="annotated",
        on_click="ignore",
        help="The clip with the face box, the landmarks and the spotting state drawn on every frame",
    )


st.title("Micro-expressions")
st.caption(
    "Where brief expressions happen in a clip, what they were, and what the network saw. Micro-expressions last "
    "at most half a second (longer ones are macro-expressions); times use the clip's own frame rate."
)
chosen_clip = choose_clip()
model = choose_model()
if chosen_clip is None:
    st.info("Name a clip file on this server to begin." if st.query_params.get("source") == "file"
            else "Upload a clip to begin, or choose the demo clip.")  # fmt: skip
    st.stop()
clip, clip_name = chosen_clip
try:
    result = run(clip, clip_name, model)
except InputError as error:
    show_error(error)
    st.stop()

micro = sum(i.kind == "micro" for i in result.intervals)
st.markdown(
    f"**{count(len(result.intervals), 'interval')}** ({micro} micro, {len(result.intervals) - micro} macro) in "
    f"{count(result.frames, 'frame')} at {result.fps:g} fps ({result.frames / result.fps:.1f} s)."
    + (" From the results store." if result.from_store else "")
)
if result.other_faces:
    st.warning(
        f"{result.other_faces + 1} faces were seen; the largest is followed. Crop the clip to one face to analyse another.",
        icon=":material/groups:",
    )
with_face = int(result.timeline["found"].sum())
if with_face < result.frames:
    st.caption(
        f"No face was found in {count(result.frames - with_face, 'frame')}; they score 0."
    )
apply_timeline_click(result)
index, time = chosen_interval(result), chosen_time(result)
timeline_section(result, time, index)
intervals_section(result, index)
if index is not None:
    interval_section(clip, result, index, time)
annotated_section(clip, result)
