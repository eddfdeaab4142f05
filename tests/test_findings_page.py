"""The Findings page as a user meets it: cards, provenance, marks, edits, moves and board management."""

import io

from PIL import Image

from core.findings import FindingBoards
from core.models.zoo import read_manifest
from core.store import ResultStore
from tests.test_findings import _figure, _table
from tests.test_pages import as_shown, errors, run_page, texts


def _board_with(findings) -> FindingBoards:
    boards = FindingBoards(ResultStore())  # the test's FER_DASHBOARD_HOME (conftest)
    board = boards.board_or_create("My findings")
    for pinned in findings:
        boards.pin(board.id, pinned)
    return boards


def test_an_empty_board_says_how_to_pin():
    app = run_page("findings")
    assert not app.exception
    assert "No findings on this board yet" in texts(app)
    assert [b.label for b in app.get("download_button")][:3] == [
        ":material/download: Slide deck (.pptx)", ":material/download: Handout (.pdf)",
        ":material/download: Figure bundle (.zip)",
    ]  # fmt: skip


def test_cards_show_provenance_mark_a_retired_model_and_keep_markup_as_text():
    _board_with([_figure("Deconvolution *conv3*", caption="<b>not bold</b>"), _table("AU12 ranking"),
                 _figure("Old model", model="fan2019-retired")])  # fmt: skip
    app = run_page("findings")
    assert not app.exception
    titles = [t.value for t in app.text_input if t.label.startswith("Title of finding")]
    assert titles == ["Deconvolution *conv3*", "AU12 ranking", "Old model"]
    assert [t.value for t in app.text_area] == ["<b>not bold</b>", "", ""]
    shown = texts(app)
    assert "model breuer2017-fer2013 (sha256 aaaaaaaaaaaa)" in shown and "data CK+48 (fe8bf7263b8060d9)" in shown
    assert "Model fan2019-retired is retired; the stored figure is kept." in [as_shown(w.value) for w in app.warning]
    assert "3 findings" in shown


def test_editing_moving_and_removing_change_the_stored_board():
    boards = _board_with([_figure("one"), _figure("two", 1), _figure("three", 2)])
    board = boards.board_named("My findings")
    app = run_page("findings")
    app.text_area[0].input("AU12 lights this map").run()
    app.button(key=f"down-{boards.findings(board.id)[0].id}").click().run()
    assert not app.exception and not errors(app)
    assert [(f.title, f.caption) for f in boards.findings(board.id)] == [
        ("two", ""), ("one", "AU12 lights this map"), ("three", "")
    ]  # fmt: skip
    app.button(key=f"remove-{boards.findings(board.id)[2].id}").click().run()
    assert [f.title for f in boards.findings(board.id)] == ["two", "one"]
    assert [t.value for t in app.text_input if t.label.startswith("Title of finding")] == ["two", "one"]


def test_boards_are_created_renamed_and_deleted_from_the_page():
    _board_with([_figure("kept")])
    app = run_page("findings")
    app.text_input(key="new-board-name").input("Paper figures")
    app.button(key="create-board").click().run()
    assert not app.exception and app.selectbox(key="board-pick").value == "Paper figures"
    app.text_input(key="new-board-name").input("Paper figures")
    app.button(key="create-board").click().run()
    assert "A board named 'Paper figures' exists already; choose another name." in errors(app)
    app.text_input(key="rename-board-name").input("Figure 2")
    app.button(key="rename-board").click().run()
    assert app.selectbox(key="board-pick").value == "Figure 2"
    app.button(key="delete-board").click().run()
    assert not app.exception
    boards = FindingBoards(ResultStore())
    assert [(b.name, b.n_findings) for b in boards.boards()] == [("My findings", 1)]
    assert app.selectbox(key="board-pick").value == "My findings"


def test_pin_buttons_send_figures_and_tables_with_their_provenance():
    app = run_page("models", model="breuer2017-fer2013")
    app.button(key="confusion-pin").click().run()
    app.button(key="history-pin").click().run()
    assert not app.exception
    boards = FindingBoards(ResultStore())
    figure, table = boards.findings(boards.board_named("My findings").id)
    assert (figure.kind, figure.title, table.kind) == ("figure", "Breuer2017 fer2013 confusion", "table")
    assert figure.provenance.model == "breuer2017-fer2013"
    assert figure.provenance.model_sha256 == read_manifest()["breuer2017-fer2013"]["sha256"]
    assert figure.provenance.params["model"] == "breuer2017-fer2013" and "model=breuer2017-fer2013" in figure.view
    assert figure.svg.startswith("<svg") and Image.open(io.BytesIO(figure.png)).width >= 1500
    assert table.csv.decode().splitlines()[0].startswith("epoch,")
