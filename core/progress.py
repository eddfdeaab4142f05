"""Progress of long work. Core functions take `progress(fraction, message)`; a page turns it
into `st.progress`, the CLI into a tqdm bar."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str) -> None:
    """The default: report nothing."""


@contextmanager
def tqdm_progress(description: str) -> Iterator[Progress]:
    """A `progress` callback drawing a tqdm bar on stderr (for the CLI)."""
    from tqdm import tqdm

    with tqdm(total=1000, desc=description, unit="‰", leave=True) as bar:

        def report(fraction: float, message: str) -> None:
            bar.n = round(min(max(fraction, 0.0), 1.0) * 1000)
            bar.set_postfix_str(message, refresh=False)
            bar.refresh()

        yield report


def sub_progress(progress: Progress, start: float, end: float) -> Progress:
    """The progress of a sub-task that fills [start, end] of the caller's bar."""
    return lambda fraction, message: progress(start + (end - start) * fraction, message)
