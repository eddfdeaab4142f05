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

    bars = []  # made at the first report: bad input refused before any work prints no bar, only its line

    def report(fraction: float, message: str) -> None:
        if not bars:
            bars.append(tqdm(total=1000, desc=description, unit="‰", leave=True))
        bars[0].n = round(min(max(fraction, 0.0), 1.0) * 1000)
        bars[0].set_postfix_str(message, refresh=False)
        bars[0].refresh()

    try:
        yield report
    finally:
        for bar in bars:
            bar.close()


def sub_progress(progress: Progress, start: float, end: float) -> Progress:
    """The progress of a sub-task that fills [start, end] of the caller's bar."""
    return lambda fraction, message: progress(start + (end - start) * fraction, message)
