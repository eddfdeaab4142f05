"""A board for a talk: a slide deck (python-pptx), a PDF handout (fpdf2) and a zip bundle.

    deck = deck_pptx(board, findings, cards)       # bytes of a .pptx
    handout = handout_pdf(board, findings, cards)  # bytes of a .pdf
    bundle = bundle_zip(board, findings, cards)    # bytes of a .zip

`cards` are the zoo's model cards (`read_manifest()`): a finding whose model was retired, or
whose checksum changed since it was pinned, keeps its stored figure and says so. Pictures
go in at 300 dpi or better where they are shown: a small picture (a 48 px feature map) is
enlarged with sharp pixels, never smoothed. The handout uses fpdf2: pure Python, so nothing
is installed beside it, maintained, and it wraps text and breaks pages itself; its figures
are the PNGs (the SVGs travel in the bundle, which slides and papers take as they are).
"""

import csv
import importlib.util
import io
import json
import math
import re
import zipfile
from pathlib import Path

from PIL import Image

from core.findings.board import Board, Finding, Provenance, app_version, now_utc

PRINT_DPI = 300
SLIDE_W, SLIDE_H = 13.333, 7.5  # inches, 16:9
CAPTION_ON_SLIDE = 700  # characters; a longer caption is cut there and given whole in the notes
TABLE_ROWS_SHOWN = 12
CONTENTS_ON_COVER, CONTENTS_PER_PAGE = 32, 38  # lines of 6.5 mm on A4, with room to spare


# ---- shared -----------------------------------------------------------------------------------


def model_status(provenance: Provenance, cards: dict[str, dict]) -> str | None:
    """None while the finding's model ships as it was pinned; else what changed, for the user."""
    if not provenance.model:
        return None
    card = cards.get(provenance.model)
    if card is None:
        return f"model {provenance.model} is retired; the stored figure is kept"
    if provenance.model_sha256 and card.get("sha256") != provenance.model_sha256:
        return f"model {provenance.model} was retrained since; the figure shows the earlier weights"
    return None


def provenance_line(finding: Finding, cards: dict[str, dict]) -> str:
    """One line that traces a finding: model and checksum, data and fingerprint, time, version."""
    p = finding.provenance
    parts = []
    if p.model:
        parts.append(f"model {p.model}" + (f" (sha256 {p.model_sha256[:12]})" if p.model_sha256 else ""))
    if p.dataset:
        parts.append(f"data {p.dataset}" + (f" ({p.dataset_fingerprint})" if p.dataset_fingerprint else ""))
    parts += [f"pinned {p.time}" if p.time else "", f"app {p.app_version}" if p.app_version else ""]
    status = model_status(p, cards)
    if status:
        parts.append(status.upper())
    return " · ".join(part for part in parts if part)


def print_png(png: bytes, width_in: float, height_in: float) -> tuple[bytes, float, float]:
    """The picture fitted into a box of inches, with at least PRINT_DPI pixels per inch there:
    (PNG bytes, width, height in inches). A small picture is enlarged with sharp pixels."""
    image = Image.open(io.BytesIO(png))
    image.load()
    scale = min(width_in / image.width, height_in / image.height)
    w_in, h_in = image.width * scale, image.height * scale
    factor = math.ceil(PRINT_DPI * w_in / image.width)
    if factor > 1:
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGBA")
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(PRINT_DPI, PRINT_DPI))
    return out.getvalue(), w_in, h_in


def table_rows(finding: Finding) -> list[list[str]]:
    """The table's rows, header first, as text."""
    return list(csv.reader(io.StringIO((finding.csv or b"").decode("utf-8", "replace"))))


# ---- the deck ---------------------------------------------------------------------------------


def deck_pptx(board: Board, findings: list[Finding], cards: dict[str, dict]) -> bytes:
    """A title slide, then one slide per finding: the figure as large as the slide allows, its
    title and caption, and a footer with its provenance and the link back to its view."""
    from pptx import Presentation
    from pptx.util import Inches, Pt

    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(SLIDE_W), Inches(SLIDE_H)
    cover = deck.slides.add_slide(deck.slide_layouts[0])
    cover.shapes.title.text = board.name
    cover.placeholders[1].text = (
        f"{now_utc()[:10]} · {len(findings)} finding{'s' * (len(findings) != 1)} · FER model explorer {app_version()}"
    )
    if not findings:
        slide = deck.slides.add_slide(deck.slide_layouts[6])
        _text(slide, "This board has no findings yet.", 0.6, 2.8, SLIDE_W - 1.2, 0.8, Pt(28), bold=True)
        _text(slide, "Pin a figure or table with the Pin button beside its download, then export again.",
              0.6, 3.7, SLIDE_W - 1.2, 0.8, Pt(18))  # fmt: skip
    for finding in findings:
        _finding_slide(deck, finding, cards)
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def _finding_slide(deck, finding: Finding, cards: dict[str, dict]) -> None:
    from pptx.util import Inches, Pt

    slide = deck.slides.add_slide(deck.slide_layouts[6])  # blank
    margin, top = 0.4, 1.05
    title_size = Pt(28 if len(finding.title) <= 60 else 20 if len(finding.title) <= 120 else 14)
    _text(slide, finding.title, margin, 0.2, SLIDE_W - 2 * margin, 0.8, title_size, bold=True)
    caption = finding.caption.strip()
    caption_h = 0.0 if not caption else 0.7 if len(caption) <= 200 else 1.3
    area_w, area_h = SLIDE_W - 2 * margin, SLIDE_H - top - caption_h - 0.55
    if finding.kind == "figure" and finding.png:
        png, w_in, h_in = print_png(finding.png, area_w, area_h)
        slide.shapes.add_picture(io.BytesIO(png), Inches(margin + (area_w - w_in) / 2), Inches(top),
                                 Inches(w_in), Inches(h_in))  # fmt: skip
    else:
        _table(slide, table_rows(finding), margin, top, area_w, area_h)
    if caption:
        shown = caption if len(caption) <= CAPTION_ON_SLIDE else caption[:CAPTION_ON_SLIDE].rstrip() + "… (full caption in the notes)"
        size = Pt(16 if len(shown) <= 200 else 12 if len(shown) <= 450 else 10)
        _text(slide, shown, margin, SLIDE_H - 0.5 - caption_h, SLIDE_W - 2 * margin, caption_h, size)
    footer = _text(slide, provenance_line(finding, cards), margin, SLIDE_H - 0.45, SLIDE_W - 2 * margin, 0.4,
                   Pt(8), grey=True)  # fmt: skip
    link = footer.text_frame.paragraphs[0].add_run()
    link.text = f" · reopen the view: {finding.view}"
    link.font.size = Pt(8)
    if finding.view.startswith(("http://", "https://")):
        link.hyperlink.address = finding.view
    slide.notes_slide.notes_text_frame.text = f"{finding.title}\n\n{caption}\n\n{provenance_line(finding, cards)}\n{finding.view}"


def _text(slide, text: str, x: float, y: float, w: float, h: float, size, bold: bool = False, grey: bool = False):
    from pptx.dml.color import RGBColor
    from pptx.util import Inches

    box = slide.shapes.add_textbox(Inches(x), Inches(y), Inches(w), Inches(h))
    frame = box.text_frame
    frame.word_wrap = True
    run = frame.paragraphs[0].add_run()
    run.text = _printable(text)
    run.font.size, run.font.bold = size, bold
    if grey:
        run.font.color.rgb = RGBColor(0x66, 0x66, 0x66)
    return box


def _table(slide, rows: list[list[str]], x: float, y: float, w: float, h: float) -> None:
    from pptx.util import Inches, Pt

    if not rows:
        return
    header, body = rows[0][:8], [row[:8] for row in rows[1 : TABLE_ROWS_SHOWN + 1]]
    shape = slide.shapes.add_table(len(body) + 1, len(header), Inches(x), Inches(y), Inches(w),
                                   Inches(min(h, 0.32 * (len(body) + 1))))  # fmt: skip
    for r, row in enumerate([header, *body]):
        for c in range(len(header)):
            cell = shape.table.cell(r, c)
            cell.text = _printable(row[c] if c < len(row) else "")[:60]
            cell.text_frame.paragraphs[0].runs[0].font.size = Pt(11)
    more = len(rows) - 1 - len(body)
    if more > 0 or len(rows[0]) > len(header):
        note = f"First {len(body)} of {len(rows) - 1} rows, {len(header)} of {len(rows[0])} columns: the whole table is in the bundle."
        _text(slide, note, x, y + min(h, 0.32 * (len(body) + 1)) + 0.05, w, 0.3, Pt(10), grey=True)


def _printable(text: str) -> str:
    # XML 1.0 has no place for control characters; python-pptx refuses them.
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", text)


# ---- the handout ------------------------------------------------------------------------------


def handout_pdf(board: Board, findings: list[Finding], cards: dict[str, dict]) -> bytes:
    """A4: a cover with the contents, then each finding with its figure, caption and provenance."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    family = _unicode_font(pdf)
    pdf.add_page()
    pdf.set_font(family, "B", 22)
    pdf.multi_cell(0, 10, _pdf_text(board.name, family), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 11)
    pdf.cell(0, 8, f"{now_utc()[:10]} · {len(findings)} findings · FER model explorer {app_version()}",
             new_x="LMARGIN", new_y="NEXT")  # fmt: skip
    if not findings:
        pdf.ln(6)
        pdf.multi_cell(0, 7, "This board has no findings yet. Pin a figure or table with the Pin button beside "
                       "its download, then export again.")  # fmt: skip
    else:
        # The contents follow on the cover, filled in once the page numbers are known. Their pages are
        # reserved here (fpdf2 numbers pages wrongly when contents outgrow their reserve).
        pages = 1 + max(0, math.ceil((len(findings) - CONTENTS_ON_COVER) / CONTENTS_PER_PAGE))
        pdf.insert_toc_placeholder(_contents(family), pages=pages)
    for i, finding in enumerate(findings):
        if i:
            pdf.add_page()
        pdf.start_section(_pdf_text(f"{finding.position}. {finding.title}", family)[:200])
        pdf.set_font(family, "B", 15)
        pdf.multi_cell(0, 8, _pdf_text(f"{finding.position}. {finding.title}", family), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        if finding.kind == "figure" and finding.png:
            png, w_in, h_in = print_png(finding.png, (pdf.epw) / 25.4, 150 / 25.4)
            pdf.image(io.BytesIO(png), x=pdf.l_margin + (pdf.epw - w_in * 25.4) / 2, w=w_in * 25.4, h=h_in * 25.4)
        else:
            _pdf_table(pdf, family, table_rows(finding))
        pdf.ln(3)
        if finding.caption.strip():
            pdf.set_font(family, "", 11)
            pdf.multi_cell(0, 5.5, _pdf_text(finding.caption.strip(), family), align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        pdf.set_font(family, "", 8)
        pdf.set_text_color(100)
        pdf.multi_cell(0, 4, _pdf_text(provenance_line(finding, cards), family), align="L", new_x="LMARGIN", new_y="NEXT")
        link = finding.view if finding.view.startswith(("http://", "https://")) else ""
        pdf.multi_cell(0, 4, _pdf_text(f"Reopen the view: {finding.view}", family), link=link, align="L",
                       new_x="LMARGIN", new_y="NEXT")  # fmt: skip
        pdf.set_text_color(0)
    return bytes(pdf.output())


def _contents(family: str):
    def render(pdf, outline) -> None:
        pdf.set_font(family, "B", 14)
        pdf.cell(0, 10, "Contents", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, "", 10)
        for i, section in enumerate(outline):
            if i >= CONTENTS_ON_COVER and (i - CONTENTS_ON_COVER) % CONTENTS_PER_PAGE == 0:
                pdf.add_page()  # exactly the pages reserved for the contents
            link = pdf.add_link(page=section.page_number)
            pdf.cell(pdf.epw - 15, 6.5, section.name[:95], link=link)
            pdf.cell(15, 6.5, str(section.page_number), align="R", link=link, new_x="LMARGIN", new_y="NEXT")

    return render


def _pdf_table(pdf, family: str, rows: list[list[str]]) -> None:
    if not rows:
        return
    shown = [row[:8] for row in rows[: 25 + 1]]
    pdf.set_font(family, "", 7)
    with pdf.table(text_align="LEFT", line_height=4) as table:
        for row in shown:
            cells = table.row()
            for c in range(len(shown[0])):
                cells.cell(_pdf_text((row[c] if c < len(row) else "")[:40], family))
    if len(rows) > len(shown) or len(rows[0]) > len(shown[0]):
        pdf.set_font(family, "", 8)
        pdf.multi_cell(0, 4, f"First {len(shown) - 1} of {len(rows) - 1} rows, {len(shown[0])} of {len(rows[0])} "
                       "columns: the whole table is in the bundle.", new_x="LMARGIN", new_y="NEXT")  # fmt: skip


def _unicode_font(pdf) -> str:
    """DejaVu Sans (shipped inside matplotlib, which the app has) for any script; else Helvetica."""
    spec = importlib.util.find_spec("matplotlib")
    folder = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" if spec and spec.origin else None
    if folder and (folder / "DejaVuSans.ttf").exists() and (folder / "DejaVuSans-Bold.ttf").exists():
        pdf.add_font("DejaVu", "", str(folder / "DejaVuSans.ttf"))
        pdf.add_font("DejaVu", "B", str(folder / "DejaVuSans-Bold.ttf"))
        return "DejaVu"
    return "helvetica"


def _pdf_text(text: str, family: str) -> str:
    text = _printable(text)
    return text if family == "DejaVu" else text.encode("latin-1", "replace").decode("latin-1")


# ---- the bundle -------------------------------------------------------------------------------


def bundle_zip(board: Board, findings: list[Finding], cards: dict[str, dict]) -> bytes:
    """Every figure as SVG and PNG, every table as CSV, findings.json and a README, in board order."""
    out = io.BytesIO()
    entries, readme = [], [f"# {board.name}", "", f"Exported {now_utc()} by FER model explorer {app_version()}.", ""]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for finding in findings:
            stem = f"{finding.position:02d}-{_slug(finding.title)}"
            files = []
            if finding.png:
                files.append((f"{stem}.png", finding.png))
            if finding.svg:
                files.append((f"{stem}.svg", finding.svg.encode()))
            if finding.csv is not None:
                files.append((f"{stem}.csv", finding.csv))
            for name, data in files:
                bundle.writestr(name, data)
            status = model_status(finding.provenance, cards)
            entries.append({
                "position": finding.position, "id": finding.id, "kind": finding.kind, "title": finding.title,
                "caption": finding.caption, "view": finding.view, "provenance": finding.provenance.__dict__,
                "model_status": status, "files": [name for name, _ in files],
            })  # fmt: skip
            readme.append(f"{finding.position}. **{finding.title}** ({', '.join(n for n, _ in files)})")
            readme += [f"   {line}" for line in finding.caption.strip().splitlines()[:3]]
            readme.append(f"   {provenance_line(finding, cards)}; view: {finding.view}")
        if not findings:
            readme.append("This board has no findings yet.")
        manifest = {"board": board.name, "exported": now_utc(), "app_version": app_version(), "findings": entries}
        bundle.writestr("findings.json", json.dumps(manifest, indent=2, default=str))
        bundle.writestr("README.md", "\n".join(readme) + "\n")
    return out.getvalue()


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()[:60] or "finding"
