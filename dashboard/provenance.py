"""What the view on screen was made from, noted as a page draws it, for pinned findings.

The model and dataset pickers note their choice; a pin button takes a snapshot when it is
drawn, so a finding carries the model, data and URL of exactly the figure beside it.
"""

from typing import Any
from urllib.parse import urlencode, urlsplit

import streamlit as st

CONTEXT = "_view_provenance"


def start_page(url_path: str) -> None:
    """Forget the last page's choices: called before each page runs."""
    st.session_state[CONTEXT] = {"page": url_path}


def note_model(name: str, sha256: str) -> None:
    _context().update(model=name, model_sha256=sha256)


def note_dataset(name: str, samples: list | None = None, fingerprint: str | None = None) -> None:
    """The data the view shows: its samples (fingerprinted only if something is pinned: hashing
    28,709 names on every rerun is waste), or a fingerprint known already (a committed table)."""
    _context().update(dataset=name, samples=samples, dataset_fingerprint=fingerprint)


def snapshot() -> dict[str, Any]:
    """The view's model, dataset, parameters (its query) and the URL that reopens it."""
    context = dict(_context())
    params = st.query_params.to_dict()
    base = ""
    try:
        address = urlsplit(st.context.url or "")
        base = f"{address.scheme}://{address.netloc}" if address.netloc else ""
    except Exception:  # noqa: BLE001 - no browser context (a script run in tests): a relative link
        base = ""
    query = f"?{urlencode(params)}" if params else ""
    context.update(params=params, view=f"{base}/{context.get('page', '')}{query}")
    return context


def _context() -> dict[str, Any]:
    return st.session_state.setdefault(CONTEXT, {"page": ""})
