"""Findings: the figures and tables pinned from every page, captioned and ordered, exported for a talk."""

import io

import pandas as pd
import streamlit as st

from core.errors import InputError
from core.findings import Board, Finding, bundle_zip, deck_pptx, handout_pdf, model_status, provenance_line
from core.models.zoo import read_manifest
from dashboard import pinning
from dashboard.export import download_button, file_stem
from dashboard.pinning import DEFAULT_BOARD, current_board_name, finding_boards
from dashboard.widgets import count, plain, show_error

st.title("Findings")
st.markdown(
    "Every figure and table of the dashboard has a **Pin** button beside its downloads. Pinned findings "
    "gather here, on boards: give them titles and captions, put them in order, and export the board as "
    "a slide deck, a PDF handout or a bundle of every figure (SVG and PNG) and table (CSV). Each finding "
    "keeps the model, data and view it came from, and a link that reopens that view."
)

boards = finding_boards()


def _guarded(action, *args, **kwargs) -> None:
    """Run a board edit from a button; bad input (a taken name, a stale edit) is one message."""
    try:
        action(*args, **kwargs)
    except InputError as error:
        st.session_state["findings-message"] = str(error)


def choose_board(name: str) -> None:
    """Show `name` from the next run on: in the picker, the URL, and as where pins go."""
    st.session_state["board-pick"] = name
    st.query_params["board"] = name
    pinning.choose_board(name)


def _new_board() -> None:
    board = boards.create(st.session_state.get("new-board-name", ""))
    choose_board(board.name)


def _rename_board(board: Board) -> None:
    renamed = boards.rename(board.id, st.session_state.get("rename-board-name", ""))
    choose_board(renamed.name)


def _delete_board(board: Board) -> None:
    boards.delete_board(board.id)
    others = [b.name for b in boards.boards()]
    choose_board(others[0] if others else DEFAULT_BOARD)


def _save_text(finding: Finding, field: str) -> None:
    value = st.session_state.get(f"{field}-{finding.id}-{finding.revision}", "")
    boards.edit(finding.id, finding.revision, **{field: value})


def board_picker() -> Board:
    existing = boards.boards()
    if not existing:
        existing = [boards.board_or_create(current_board_name())]
    names = [b.name for b in existing]
    if st.session_state.get("board-pick") not in names:  # deleted or renamed in another window
        st.session_state.pop("board-pick", None)
    wanted = st.query_params.get("board") or current_board_name()
    left, new, rename, delete = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
    name = left.selectbox(
        "Board (new pins go here)", names,
        index=names.index(wanted) if wanted in names and "board-pick" not in st.session_state else 0,
        format_func=lambda n: f"{n} ({count(existing[names.index(n)].n_findings, 'finding')})", key="board-pick",
    )  # fmt: skip
    if name != current_board_name():
        pinning.choose_board(name)
    st.query_params["board"] = name
    board = existing[names.index(name)]
    with new.popover(":material/add: New board", width="stretch"):
        st.text_input("Name of the new board", key="new-board-name", max_chars=120)
        st.button("Create", key="create-board", on_click=_guarded, args=(_new_board,))
    with rename.popover(":material/edit: Rename", width="stretch"):
        st.text_input("New name", value=board.name, key="rename-board-name", max_chars=120)
        st.button("Rename", key="rename-board", on_click=_guarded, args=(_rename_board, board))
    with delete.popover(":material/delete: Delete", width="stretch"):
        st.warning(f"Delete '{plain(board.name)}' and its {count(board.n_findings, 'finding')}? This cannot be undone.")
        st.button("Delete the board", key="delete-board", type="primary", on_click=_guarded, args=(_delete_board, board))
    return board


def exports(board: Board, findings: list[Finding], cards: dict) -> None:
    formats = (
        ("Slide deck (.pptx)", deck_pptx, "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
        ("Handout (.pdf)", handout_pdf, "pdf", "application/pdf"),
        ("Figure bundle (.zip)", bundle_zip, "zip", "application/zip"),
    )  # fmt: skip
    for column, (label, make, suffix, mime) in zip(st.columns(3), formats, strict=True):
        download_button(column, label, lambda make=make: make(board, findings, cards),
                        f"{file_stem(board.name)}.{suffix}", mime, f"export-{suffix}")  # fmt: skip


def finding_card(finding: Finding, last: int, cards: dict) -> None:
    with st.container(border=True):
        picture, text = st.columns([3, 4])
        if finding.kind == "figure" and finding.png:
            picture.image(finding.png, width="stretch")
        else:
            picture.dataframe(pd.read_csv(io.BytesIO(finding.csv or b"")), hide_index=True, height=240)
        revision = finding.revision
        text.text_input(f"Title of finding {finding.position}", value=finding.title, key=f"title-{finding.id}-{revision}",
                        on_change=_guarded, args=(_save_text, finding, "title"), max_chars=300)  # fmt: skip
        text.text_area("Caption", value=finding.caption, key=f"caption-{finding.id}-{revision}", height=110,
                       on_change=_guarded, args=(_save_text, finding, "caption"),
                       placeholder="What this shows, for the slide and the handout")  # fmt: skip
        status = model_status(finding.provenance, cards)
        if status:
            text.warning(plain(status[:1].upper() + status[1:] + "."), icon=":material/history:")
        text.caption(plain(provenance_line(finding, cards)))
        if finding.view:
            text.markdown(f"[:material/open_in_new: Reopen this view]({finding.view})")
        up, down, remove = text.columns(3)
        up.button(":material/arrow_upward: Up", key=f"up-{finding.id}", disabled=finding.position == 1,
                  on_click=_guarded, args=(boards.move, finding.id, -1), width="stretch")  # fmt: skip
        down.button(":material/arrow_downward: Down", key=f"down-{finding.id}", disabled=finding.position == last,
                    on_click=_guarded, args=(boards.move, finding.id, 1), width="stretch")  # fmt: skip
        remove.button(":material/delete: Remove", key=f"remove-{finding.id}", on_click=_guarded,
                      args=(boards.delete, finding.id), width="stretch")  # fmt: skip


try:
    board = board_picker()
except InputError as error:
    show_error(error)
    st.stop()
message = st.session_state.pop("findings-message", None)
if message:
    show_error(InputError(message))
findings, cards = boards.findings(board.id), read_manifest()
st.subheader("Export")
exports(board, findings, cards)
st.subheader(f"{plain(board.name)}: {count(len(findings), 'finding')}")
if not findings:
    st.info("No findings on this board yet: open any page and press **Pin** beside a figure or table.",
            icon=":material/push_pin:")  # fmt: skip
for finding in findings:
    finding_card(finding, len(findings), cards)
