"""Findings for talks: figures and tables pinned from any page into boards, exported as a slide
deck, a PDF handout and a zip bundle that carry each finding's provenance."""

from core.findings.board import Board, Finding, FindingBoards, Pinned, Provenance, StaleEdit, app_version
from core.findings.export import bundle_zip, deck_pptx, handout_pdf, model_status, provenance_line

__all__ = [
    "Board", "Finding", "FindingBoards", "Pinned", "Provenance", "StaleEdit", "app_version",
    "bundle_zip", "deck_pptx", "handout_pdf", "model_status", "provenance_line",
]  # fmt: skip
