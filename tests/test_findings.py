"""Findings boards in the SQLite store, and their exports read back by the real readers:
python-pptx for the deck, poppler's pdftoppm for the handout, zipfile and json for the bundle."""

import io
import json
import os
import shutil
import subprocess
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.__main__ import main
from core.errors import InputError
from core.findings import (
    FindingBoards,
    Pinned,
    Provenance,
    StaleEdit,
    bundle_zip,
    deck_pptx,
    handout_pdf,
    model_status,
)
from core.store import ResultStore

CARDS = {"breuer2017-fer2013": {"sha256": "a" * 64}}


def _require_poppler() -> None:
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        if os.environ.get("CI"):
            pytest.fail("poppler-utils is not installed; CI must render the handout (make test installs it).")
        pytest.skip("Debian's poppler-utils is not installed (apt-get install poppler-utils)")


def _png(seed: int, size: int = 48) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _figure(title: str, seed: int = 0, model: str = "breuer2017-fer2013", sha: str = "a" * 64, caption: str = ""):
    provenance = Provenance(model=model, model_sha256=sha, dataset="CK+48", dataset_fingerprint="fe8bf7263b8060d9",
                            params={"layer": "conv3", "channel": "7"}, time="2026-12-02T10:00:00Z", app_version="test")
    return Pinned("figure", title, f"http://127.0.0.1:8501/explore?layer=conv3&seed={seed}", provenance,
                  png=_png(seed), svg="<svg xmlns='http://www.w3.org/2000/svg'/>", caption=caption)  # fmt: skip


def _table(title: str) -> Pinned:
    return Pinned("table", title, "/au?au=12", Provenance(model="breuer2017-fer2013", model_sha256="a" * 64),
                  csv=b"layer,channel,au,score\nconv3,7,AU12,0.8\nconv3,2,AU12,0.5\n")  # fmt: skip


@pytest.fixture
def store(tmp_path) -> ResultStore:
    return ResultStore(tmp_path / "results.sqlite")


@pytest.fixture
def boards(store) -> FindingBoards:
    return FindingBoards(store)


def test_boards_are_made_renamed_deleted_and_survive_a_restart(store, boards):
    talk = boards.create("Lab meeting")
    boards.pin(talk.id, _figure("Deconvolution conv3/7"))
    other = boards.create("Paper figures")
    with pytest.raises(InputError, match="exists already"):
        boards.create("Lab meeting")
    with pytest.raises(InputError, match="exists already"):
        boards.rename(other.id, "Lab meeting")
    boards.rename(other.id, "Paper, figure 2")
    again = FindingBoards(ResultStore(store.path))  # a restart: a new process opens the same file
    assert [(b.name, b.n_findings) for b in again.boards()] == [("Lab meeting", 1), ("Paper, figure 2", 0)]
    assert again.findings(talk.id)[0].png == _figure("x").png
    again.delete_board(talk.id)
    assert [b.name for b in again.boards()] == ["Paper, figure 2"]
    with pytest.raises(InputError, match="No findings board is named 'Lab meeting'"):
        again.board_named("Lab meeting")


def test_moves_edits_and_deletes_touch_only_their_finding(boards):
    board = boards.create("Talk")
    first, second, third = (boards.pin(board.id, _figure(t, i)) for i, t in enumerate(("one", "two", "three")))
    boards.move(third.id, -1)
    assert [f.title for f in boards.findings(board.id)] == ["one", "three", "two"]
    boards.move(first.id, -5)  # already first: stays
    boards.move(first.id, 1)
    assert [f.title for f in boards.findings(board.id)] == ["three", "one", "two"]
    boards.edit(second.id, second.revision, caption="AU12 lights conv3/7")
    boards.delete(first.id)
    kept = boards.findings(board.id)
    assert [(f.title, f.position, f.caption) for f in kept] == [("three", 1, ""), ("two", 2, "AU12 lights conv3/7")]


def test_two_windows_editing_one_board_keep_each_others_work(store, boards):
    board = boards.create("Shared")
    a, b = boards.pin(board.id, _figure("a")), boards.pin(board.id, _figure("b", 1))
    window_1, window_2 = FindingBoards(ResultStore(store.path)), FindingBoards(ResultStore(store.path))
    window_1.edit(a.id, a.revision, caption="from window 1")
    window_2.edit(b.id, b.revision, caption="from window 2")
    with pytest.raises(StaleEdit, match="changed in another window"):
        window_2.edit(a.id, a.revision, caption="window 2, on the old text")  # would overwrite window 1
    assert {f.title: f.caption for f in boards.findings(board.id)} == {"a": "from window 1", "b": "from window 2"}

    def pin_many(window: FindingBoards, tag: str) -> None:
        for i in range(15):
            window.pin(board.id, _figure(f"{tag}{i}", i))

    threads = [threading.Thread(target=pin_many, args=(w, t)) for w, t in ((window_1, "x"), (window_2, "y"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    findings = boards.findings(board.id)
    assert len(findings) == 32 and len({f.id for f in findings}) == 32
    assert [f.position for f in findings] == list(range(1, 33))


def test_a_finding_of_a_retired_or_retrained_model_is_kept_and_marked(boards):
    board = boards.create("History")
    retired = boards.pin(board.id, _figure("old", model="fan2019-old"))
    retrained = boards.pin(board.id, _figure("retrained", sha="b" * 64))
    current = boards.pin(board.id, _figure("current"))
    assert "retired" in model_status(retired.provenance, CARDS)
    assert "retrained" in model_status(retrained.provenance, CARDS)
    assert model_status(current.provenance, CARDS) is None
    bundle = json.loads(zipfile.ZipFile(io.BytesIO(bundle_zip(board, boards.findings(board.id), CARDS))).read("findings.json"))
    assert ["retired" in (f["model_status"] or "") for f in bundle["findings"]] == [True, False, False]


def test_the_deck_has_a_title_slide_then_one_slide_per_finding_in_order(boards):
    from pptx import Presentation
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    board = boards.create("Lab meeting")
    titles = ["Feature maps conv4", "Deconvolution conv3/7", "AU12 ranking", "Reliability"]
    for i, title in enumerate(titles):
        boards.pin(board.id, _table(title) if title == "AU12 ranking" else _figure(title, i, caption=f"caption {i}"))
    long_caption = "<b>bold?</b> *not markdown* " * 400  # 10,000 characters of markup
    last = boards.findings(board.id)[-1]
    boards.edit(last.id, last.revision, caption=long_caption)
    deck = Presentation(io.BytesIO(deck_pptx(boards.board(board.id), boards.findings(board.id), CARDS)))
    slides = list(deck.slides)
    assert len(slides) == 1 + len(titles) and slides[0].shapes.title.text == "Lab meeting"
    for slide, title in zip(slides[1:], titles, strict=True):
        texts = [shape.text_frame.text for shape in slide.shapes if shape.has_text_frame]
        assert texts[0] == title
        pictures = [shape for shape in slide.shapes if shape.shape_type == MSO_SHAPE_TYPE.PICTURE]
        if title == "AU12 ranking":
            assert [shape.has_table for shape in slide.shapes].count(True) == 1
            continue
        assert len(pictures) == 1
        picture = pictures[0]
        pixels = Image.open(io.BytesIO(picture.image.blob)).width
        assert pixels / (picture.width / 914400) >= 300  # dots per inch as shown on the slide
        assert picture.left >= 0 and picture.left + picture.width <= deck.slide_width
        assert picture.top + picture.height <= deck.slide_height
        assert any("sha256 aaaaaaaaaaaa" in t and "reopen the view: http://127.0.0.1:8501/explore" in t for t in texts)
    markup = [s.text_frame.text for s in slides[-1].shapes if s.has_text_frame and "<b>bold?</b>" in s.text_frame.text]
    assert markup and len(markup[0]) < 800 and markup[0].endswith("(full caption in the notes)")
    assert long_caption.strip() in slides[-1].notes_slide.notes_text_frame.text


def test_an_empty_board_exports_a_title_slide_and_a_note(boards):
    from pptx import Presentation

    board = boards.create("Nothing yet")
    slides = list(Presentation(io.BytesIO(deck_pptx(board, [], CARDS))).slides)
    assert slides[0].shapes.title.text == "Nothing yet"
    assert any("no findings yet" in s.text_frame.text for s in slides[1].shapes if s.has_text_frame)
    assert handout_pdf(board, [], CARDS).startswith(b"%PDF")
    assert json.loads(zipfile.ZipFile(io.BytesIO(bundle_zip(board, [], CARDS))).read("findings.json"))["findings"] == []


def test_the_handout_renders_figure_pages_that_are_not_blank(boards, tmp_path):
    _require_poppler()
    board = boards.create("Handout")
    for i in range(3):
        boards.pin(board.id, _figure(f"Figure {i} → ± ü", i, caption="Unicode and <markup> stay text " * 30))
    boards.pin(board.id, _table("A table"))
    (tmp_path / "handout.pdf").write_bytes(handout_pdf(board, boards.findings(board.id), CARDS))
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(tmp_path / "handout.pdf"), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 1 + 4  # the cover with the contents, then a page per finding
    for page in pages[1:4]:  # the figure pages: a picture, not a white page
        grey = np.asarray(Image.open(page).convert("L"), dtype=np.float32)
        assert (grey < 200).mean() > 0.1
    text = subprocess.run(["pdftotext", str(tmp_path / "handout.pdf"), "-"], capture_output=True, text=True).stdout
    assert "Contents" in text and "1. Figure 0 → ± ü" in text and "sha256 aaaaaaaaaaaa" in text


def test_the_bundle_holds_every_file_and_findings_json_matches_the_board(boards):
    board = boards.create("Bundle")
    boards.pin(board.id, _figure("Deconvolution", 0, caption="first"))
    boards.pin(board.id, _table("AU12 ranking"))
    findings = boards.findings(board.id)
    bundle = zipfile.ZipFile(io.BytesIO(bundle_zip(board, findings, CARDS)))
    manifest = json.loads(bundle.read("findings.json"))
    assert manifest["board"] == "Bundle"
    assert [(f["position"], f["title"], f["caption"], f["view"]) for f in manifest["findings"]] == [
        (f.position, f.title, f.caption, f.view) for f in findings
    ]
    assert manifest["findings"][0]["provenance"]["model_sha256"] == "a" * 64
    assert set(bundle.namelist()) == {
        "01-deconvolution.png", "01-deconvolution.svg", "02-au12-ranking.csv", "findings.json", "README.md"
    }  # fmt: skip
    assert bundle.read("02-au12-ranking.csv") == findings[1].csv
    assert bundle.read("README.md").decode().index("Deconvolution") < bundle.read("README.md").decode().index("AU12")


def test_the_cli_exports_a_board_and_refuses_an_unknown_one(boards, store, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FER_DASHBOARD_HOME", str(store.path.parent))
    board = boards.create("CLI talk")
    boards.pin(board.id, _figure("One"))
    out = tmp_path / "out"
    assert main(["findings", "export", "CLI talk", "--pptx", str(out / "talk.pptx"), "--pdf", str(out / "h.pdf"),
                 "--zip", str(out / "f.zip")]) == 0  # fmt: skip
    written = json.loads(capsys.readouterr().out)
    assert written["findings"] == 1 and set(written["written"]) == {"pptx", "pdf", "zip"}
    assert (out / "talk.pptx").read_bytes()[:2] == b"PK" and (out / "h.pdf").read_bytes()[:4] == b"%PDF"
    assert main(["findings", "export", "No such board", "--pptx", str(out / "x.pptx")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == ["error: No findings board is named 'No such board'; the boards are: 'CLI talk'."]
    assert main(["findings", "export", "CLI talk", "--pptx", str(out / "talk.pdf")]) == 2
    assert "--pptx must end in .pptx" in capsys.readouterr().err
    assert main(["findings", "list"]) == 0
    assert json.loads(capsys.readouterr().out) == {"boards": [{"name": "CLI talk", "findings": 1}]}


def test_a_long_board_has_contents_over_two_pages_with_the_right_page_numbers(boards, tmp_path):
    _require_poppler()
    board = boards.create("Long")
    for i in range(40):
        boards.pin(board.id, _figure(f"Figure {i}", i))
    (tmp_path / "long.pdf").write_bytes(handout_pdf(board, boards.findings(board.id), CARDS))
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "long.pdf"), "-"], capture_output=True, text=True).stdout
    pages = text.split("\f")
    assert len([p for p in pages if p.strip()]) == 2 + 40
    last_entry = [line for line in pages[1].splitlines() if "40. Figure 39" in line][0]
    assert last_entry.split()[-1] == "42" and "40. Figure 39" in pages[41]


def test_a_board_name_is_tidied_once_and_found_again(boards):
    first = boards.board_or_create("  Lab   meeting ")
    again = boards.board_or_create("Lab meeting")
    assert first.id == again.id and first.name == "Lab meeting" and len(boards.boards()) == 1
