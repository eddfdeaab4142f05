"""The "Pin" button beside every download: the figure or table goes to the current findings board.

`dashboard.export` draws it next to each PNG/SVG/CSV button, so every figure has it.
"""

import re
from collections.abc import Callable

import streamlit as st

from core.datasets import fingerprint
from core.errors import InputError
from core.findings import FindingBoards, Pinned, Provenance, app_version
from core.findings.board import now_utc
from dashboard.provenance import snapshot
from dashboard.widgets import plain, result_store

DEFAULT_BOARD = "My findings"
BOARD_STATE = "findings.board"  # the board pins go to, remembered across restarts


def finding_boards() -> FindingBoards:
    return FindingBoards(result_store())


def current_board_name() -> str:
    """The board new pins go to: this session's choice, else the last one saved (read once)."""
    if not st.session_state.get(BOARD_STATE):
        st.session_state[BOARD_STATE] = result_store().load_state(BOARD_STATE, DEFAULT_BOARD)
    return st.session_state[BOARD_STATE]


def choose_board(name: str) -> None:
    st.session_state[BOARD_STATE] = name
    result_store().save_state(BOARD_STATE, name)


def pin_button(where, kind: str, name: str, key: str, make: Callable[[], tuple]) -> None:
    """A button that pins what `make()` returns: (png, svg) for a figure, (csv,) for a table."""
    where.button(
        ":material/push_pin: Pin", key=f"{key}-pin", on_click=_pin, args=(kind, name, make, snapshot()),
        help=f"Add to the findings board '{current_board_name()}' (Findings page: caption, order, export)",
        width="stretch",
    )  # fmt: skip


def title_from(name: str) -> str:
    """'au-ranking-AU12-conv3' -> 'Au ranking AU12 conv3': the file name made readable."""
    words = re.sub(r"[-_]+", " ", name).strip()
    return words[:1].upper() + words[1:] if words else "Untitled"


def _pin(kind: str, name: str, make: Callable[[], tuple], context: dict) -> None:
    try:
        made = make()
        png, svg = (made[0], made[1]) if kind == "figure" else (None, None)
        samples = context.get("samples")
        provenance = Provenance(
            model=context.get("model"), model_sha256=context.get("model_sha256"), dataset=context.get("dataset"),
            dataset_fingerprint=fingerprint(samples) if samples else context.get("dataset_fingerprint"), params=context.get("params", {}),
            time=now_utc(), app_version=app_version(),
        )  # fmt: skip
        boards = finding_boards()
        board = boards.board_or_create(current_board_name())
        pinned = Pinned(kind, title_from(name), context.get("view", ""), provenance, png=png, svg=svg,
                        csv=made[0] if kind == "table" else None)  # fmt: skip
        boards.pin(board.id, pinned)
    except InputError as error:
        st.toast(plain(str(error)), icon=":material/error:")
        return
    st.toast(f"Pinned to '{plain(board.name)}' ({board.n_findings + 1}): caption, order and export on the Findings page.",
             icon=":material/push_pin:")  # fmt: skip
