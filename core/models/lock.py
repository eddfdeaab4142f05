"""One lock per model object, for the whole server.

Streamlit shares one cached model between sessions (threads); hooks registered by one
session fire in another's forward pass, so hooked work, and any forward pass while hooks may
be on, holds the model's own lock.
"""

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

_locks: "weakref.WeakKeyDictionary[nn.Module, threading.RLock]" = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


@contextmanager
def model_lock(model: nn.Module) -> Iterator[None]:
    """Hold the model's own (re-entrant) lock."""
    with _locks_guard:
        lock = _locks.setdefault(model, threading.RLock())
    with lock:
        yield
