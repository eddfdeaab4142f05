"""Study: every recording of a study spotted on Ray in the background, summarised per participant and condition."""

from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from core.errors import InputError
from core.micro.spotters import TRAINING_FREE, default_micro_model, micro_models
from core.paths import confine
from core.store import home_dir
from core.study.manifest import Study, read_study
from core.study.run import run_study, study_id, study_status
from core.study.status import StudyRun, StudyStatus
from core.study.stored import StoredStudy, stored_study
from core.study.upload import MAX_MANIFEST_BYTES, place_manifest
from dashboard.charts import RATE_NAMES, condition_rate_chart
from dashboard.export import download_chart, download_table
from dashboard.jobs import Job, Jobs
from dashboard.widgets import count, plain, query_choice, query_int, result_store, show_error

SOURCES = {"path": "A manifest or a folder on this server", "upload": "Upload a manifest"}
RECENT_STATE = "study.recent"  # the manifests and folders opened here, newest first
MAX_RECENT = 8
MAX_WORKERS = 256
REFRESH_S = 2.0
PATH_KEY, SOURCE_KEY, UPLOAD_KEY = "study-path", "study-source", "study-upload"
MESSAGE_KEY = "study-message"  # an upload's one-line refusal, shown on the next run
STATE_COLUMNS = ["path", "participant", "condition", "state", "attempts", "message"]


@st.cache_resource
def _jobs_at(home: str) -> Jobs:
    return Jobs()


def study_jobs() -> Jobs:
    """The studies running in this server process, by study id: a reload finds its run here."""
    return _jobs_at(str(home_dir()))


def recent_studies() -> list[str]:
    return list(result_store().load_state(RECENT_STATE, []))


def remember(source: Path) -> None:
    known = recent_studies()
    if known[:1] != [str(source)]:  # written when it changes, not on every rerun
        result_store().save_state(
            RECENT_STATE, [str(source), *(p for p in known if p != str(source))][:MAX_RECENT]
        )


def kept_run(sid: str | None) -> StudyRun | None:
    """The run of this study kept in the status table (its source, model, and whether it finished)."""
    return next((run for run in StudyStatus(result_store()).runs() if run.id == sid), None) if sid else None


def _recent_picked() -> None:
    if st.session_state.get("study-recent"):
        st.session_state[PATH_KEY] = st.session_state["study-recent"]


def _uploaded() -> None:
    """The upload goes beside its clips and is named in the path box from then on (and in the URL)."""
    upload = st.session_state.get(UPLOAD_KEY)
    if upload is None:
        return
    try:
        folder = confine(st.session_state.get("study-clips", ""), "clips folder")
        placed = place_manifest(upload.getvalue(), upload.name, folder)
    except InputError as error:
        st.session_state[MESSAGE_KEY] = str(error)
        return
    st.session_state[SOURCE_KEY], st.session_state[PATH_KEY] = "path", str(placed)
    st.query_params["source"], st.query_params["manifest"] = "path", str(placed)


def choose_study(reopened: StudyRun | None) -> Study | None:
    """The study named in the URL, the path box or an upload, read and checked; None (with a message) otherwise."""
    keys = list(SOURCES)
    if SOURCE_KEY not in st.session_state:
        st.session_state[SOURCE_KEY] = keys[query_choice("source", keys)]
    source = st.radio("Study from", keys, format_func=SOURCES.get, horizontal=True, key=SOURCE_KEY)
    st.query_params["source"] = source
    if (message := st.session_state.pop(MESSAGE_KEY, None)) is not None:
        show_error(InputError(message))
    if source == "upload":
        st.text_input("Clips folder (the manifest's relative paths start here)", key="study-clips",
                      value=st.query_params.get("clips", ""), placeholder="/data/my-study")  # fmt: skip
        st.query_params["clips"] = st.session_state["study-clips"]
        st.file_uploader(
            f"A manifest: a CSV with a `path` column and optionally `participant`, `condition` and any others "
            f"(up to {MAX_MANIFEST_BYTES // 1_000_000} MB)",
            type=["csv"], key=UPLOAD_KEY, on_change=_uploaded,
        )  # fmt: skip
        st.caption(
            "The manifest is saved into the clips folder (under its own name, or with its checksum added where "
            "that name is taken), so the study can be reopened by its path and run from the command line."
        )
        return None
    recent = recent_studies()
    if recent:
        st.selectbox("Recently used", ["", *recent], format_func=lambda p: p or "choose one…", key="study-recent",
                     on_change=_recent_picked)  # fmt: skip
    if PATH_KEY not in st.session_state:
        st.session_state[PATH_KEY] = st.query_params.get("manifest") or (reopened.source if reopened else "")
    named = st.text_input(
        "Manifest (CSV) or folder of clips", key=PATH_KEY, placeholder="/data/my-study/study.csv"
    )
    if not named.strip():
        st.query_params.pop("manifest", None)
        return None
    st.query_params["manifest"] = named.strip()
    try:
        study = read_study(confine(named, "study"))
        for clip in study.clips:  # the manifest may name files anywhere: only those the server may read
            confine(clip.path, "clip")
    except InputError as error:
        show_error(error)
        return None
    remember(study.source)
    return study


def clips_table(study: Study) -> pd.DataFrame:
    rows = [{"path": c.shown, "participant": c.participant, "condition": c.condition,
             **dict(zip(study.columns, c.extra, strict=True))} for c in study.clips]  # fmt: skip
    return pd.DataFrame(rows, columns=["path", "participant", "condition", *study.columns])


def choose_settings(study: Study, reopened: StudyRun | None) -> tuple[int, str, str]:
    """(workers, spotter, output folder as typed: "" for the default)."""
    left, middle, right = st.columns(3)
    start = query_int("workers")
    workers = int(left.number_input(f"Workers (clips at a time, 1 to {MAX_WORKERS})", 1, MAX_WORKERS,
                                    start if start is not None and 1 <= start <= MAX_WORKERS else 2,
                                    key="study-workers"))  # fmt: skip
    st.query_params["workers"] = str(workers)
    models = micro_models()
    fallback = reopened.model if reopened else default_micro_model()
    model = middle.selectbox(
        "Spotter", models, index=query_choice("model", models, fallback), key="study-model",
        format_func=lambda m: "Training-free spotter (no classes)" if m == TRAINING_FREE else f"MicroLSTM: {m}",
    )  # fmt: skip
    st.query_params["model"] = model
    out = right.text_input("Output folder (empty: the dashboard's own)", value=st.query_params.get("out", ""),
                           key="study-out", placeholder=str(home_dir() / "studies" / "<study id>"))  # fmt: skip
    if out.strip():
        st.query_params["out"] = out.strip()
    else:
        st.query_params.pop("out", None)
    return workers, model, out.strip()


def output_folder(sid: str, typed: str) -> Path:
    if not typed:
        return home_dir() / "studies" / sid
    folder = confine(typed, "output folder")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"The output folder {typed} is a file; name a folder for the study's tables.")
    return folder


def start_run(sid: str, study: Study, out: Path, workers: int, model: str) -> Job:
    store = result_store()

    def work(progress):
        try:
            return run_study(study, out, workers=workers, model=model, progress=progress, store=store)
        except OSError as error:  # the output folder cannot be made or written
            raise InputError(
                f"The study's tables cannot be written into {out}: {error.strerror or error}."
            ) from None

    return study_jobs().start(sid, work)


def state_table(sid: str, study: Study) -> pd.DataFrame:
    shown = {str(clip.path): clip.shown for clip in study.clips}
    rows = [{"path": shown.get(s.clip, s.clip), "participant": s.participant, "condition": s.condition,
             "state": s.state, "attempts": s.attempts, "message": s.message}
            for s in study_status(sid, result_store())]  # fmt: skip
    return pd.DataFrame(rows, columns=STATE_COLUMNS)


def states_section(sid: str, study: Study, table: pd.DataFrame) -> None:
    states = table["state"].value_counts().to_dict()
    parts = [f"{states[name]} {name}" for name in ("done", "failed", "running", "queued") if states.get(name)]
    st.markdown(f"**{count(len(table), 'clip')}**: {', '.join(parts) or 'none yet'}.")
    st.dataframe(table, hide_index=True)
    download_table(table, f"study-{study.name}-progress", key="study-progress")


@st.fragment(run_every=REFRESH_S)
def live_progress(sid: str, study: Study) -> None:
    """The run's progress, redrawn every REFRESH_S seconds; the whole page once it has finished."""
    job = study_jobs().get(sid)
    if job is None or not job.running:
        st.rerun()
    st.progress(job.fraction, text=plain(job.message))
    table = state_table(sid, study)
    if len(table):  # the clips are listed once each has been looked up in the results store
        states_section(sid, study, table)
    st.caption(
        f"Running in the background since {pd.Timestamp(job.started, unit='s').strftime('%H:%M:%S')} UTC: you may "
        "leave or reload the page (the link keeps the study); clips already spotted are never spotted again."
    )


def summary_section(kept: StoredStudy, out: Path) -> None:
    s = kept.summary
    numbers = (("Clips", s.get("clips")), ("Done", s.get("done")), ("Failed", s.get("failed")),
               ("Intervals", s.get("intervals")), ("Participants", s.get("participants")),
               ("Conditions", s.get("conditions")))  # fmt: skip
    for column, (label, value) in zip(st.columns(len(numbers)), numbers, strict=True):
        column.metric(label, "–" if value is None else f"{value:,}")
    st.caption(
        f"Spotter {plain(str(s.get('model', '')))} on {plain(str(s.get('feature_model', '')))}'s features. "
        f"{count(s.get('skipped_already_done', 0), 'clip')} found in the results store, "
        f"{s.get('submitted', 0)} submitted to Ray ({plain(str(s.get('ray', '')))}), "
        f"{count(s.get('retried_clips', 0), 'clip')} retried after a worker died; {s.get('wall_s', 0):.1f} s. "
        f"Tables (intervals.csv and .parquet, clips, participants, conditions, summary.json) in {plain(str(out))}."
    )


def per_clip_section(kept: StoredStudy, study: Study, model: str) -> None:
    st.subheader("Clips")
    table = kept.clips
    paths = [clip.path for clip in study.clips]
    if len(paths) == len(table):  # the stored run is of these clips, in this order
        links = [
            f"micro?{urlencode({'source': 'file', 'clip': str(path), 'model': model})}" for path in paths
        ]
        shown = table.assign(timeline=[link if state == "done" else None
                                       for link, state in zip(links, table["status"], strict=True)])  # fmt: skip
        shown = shown[["timeline", *table.columns]]
    else:
        shown = table
    config = {"timeline": st.column_config.LinkColumn("Timeline", display_text="open on Micro-expressions")}
    st.dataframe(shown, hide_index=True, column_config=config)
    download_table(table, f"study-{study.name}-clips", key="study-clips-table")
    st.caption("Rates are per minute of recording; a failed clip says why and is left out of every summary.")


def summaries_section(kept: StoredStudy, study: Study) -> None:
    st.subheader("Participants")
    st.dataframe(kept.participants, hide_index=True)
    download_table(kept.participants, f"study-{study.name}-participants", key="study-participants")
    st.caption(
        "A participant's rates pool their clips; the 95% CI resamples their clips (none with one clip)."
    )
    st.subheader("Conditions")
    st.dataframe(kept.conditions, hide_index=True)
    download_table(kept.conditions, f"study-{study.name}-conditions", key="study-conditions")
    if kept.conditions.empty:
        return
    metrics = list(RATE_NAMES)
    metric = st.selectbox("Rate", metrics, index=query_choice("rate", metrics), format_func=RATE_NAMES.get,
                          key="study-rate")  # fmt: skip
    st.query_params["rate"] = metric
    chart = condition_rate_chart(kept.conditions, metric)
    st.altair_chart(chart, width="content")
    download_chart(chart, f"study-{study.name}-{metric}", key="study-chart")
    st.caption(
        "Each bar is the mean over a condition's participants of each one's rate in it (their clips pooled), so "
        "a lively participant with many clips does not decide a condition alone; the whiskers are a 95% "
        "bootstrap CI resampling participants (none with fewer than two)."
    )


def runs_section() -> None:
    runs = StudyStatus(result_store()).runs()
    if not runs:
        return
    with st.expander(f"Studies run with this results store ({len(runs)})"):
        table = pd.DataFrame([{
            "open": f"study?{urlencode({'source': 'path', 'manifest': r.source, 'model': r.model, 'study': r.id})}",
            "study": r.source, "spotter": r.model, "clips": r.clips,
            "started": pd.Timestamp(r.started, unit="s").strftime("%Y-%m-%d %H:%M"),
            "finished": pd.Timestamp(r.finished, unit="s").strftime("%Y-%m-%d %H:%M") if r.finished else "",
            "id": r.id[:12],
        } for r in runs])  # fmt: skip
        st.dataframe(
            table,
            hide_index=True,
            column_config={"open": st.column_config.LinkColumn("Open", display_text="open")},
        )
        download_table(table.drop(columns="open"), "study-runs", key="study-runs")


st.title("Study")
st.caption(
    "Every recording of a study spotted for micro-expressions, one Ray task per clip, then summarised per "
    "participant and per condition. Name a manifest (a CSV: `path`, `participant`, `condition`, any other "
    "columns kept) or a folder of clips (participant = file name, no condition)."
)
reopened = kept_run(st.query_params.get("study"))
study = choose_study(reopened)
if study is None:
    if not st.query_params.get("manifest"):
        st.info("Name a study to begin: a manifest or a folder of clips on this server, or upload a manifest.",
                icon=":material/groups:")  # fmt: skip
    runs_section()
    st.stop()

st.subheader(f"{plain(study.name)}: {count(len(study.clips), 'clip')}")
preview = clips_table(study)
with st.expander("The study's clips", expanded=len(study.clips) <= 20):
    st.dataframe(preview, hide_index=True)
    download_table(preview, f"study-{study.name}-manifest", key="study-manifest")
workers, model, typed_out = choose_settings(study, reopened)
try:
    sid = study_id(study, model)
    out = output_folder(sid, typed_out)
except InputError as error:
    show_error(error)
    st.stop()
st.query_params["study"] = sid

job = study_jobs().get(sid)
st.button(":material/play_arrow: Run the study", type="primary", disabled=job is not None and job.running,
          on_click=start_run, args=(sid, study, out, workers, model),  # started before the page is drawn again
          help="Clips already spotted (by this page, the Micro-expressions page or the CLI) are not spotted again")  # fmt: skip
if job is not None and job.running:
    live_progress(sid, study)
    st.stop()
if job is not None and job.error:
    show_error(InputError(job.error))

run = kept_run(sid)
kept = stored_study(sid, result_store())
if run is not None and run.finished is None:
    st.warning(
        "This study's last run has not finished: it was stopped (the server restarted), or it runs elsewhere (the "
        "command line, another server). Run it again to finish it: the clips already spotted are not spotted again.",
        icon=":material/pause_circle:",
    )
    states_section(sid, study, state_table(sid, study))
if kept is None:
    if run is None:
        st.info(f"Not run yet with this spotter. Its tables will go into {plain(str(out))}.")
    runs_section()
    st.stop()
summary_section(kept, out)
per_clip_section(kept, study, model)
summaries_section(kept, study)
runs_section()
