"""Long work started from a page and run in a background thread, so the page stays usable.

    jobs = Jobs()                                   # one per server process (a page keeps it in st.cache_resource)
    job = jobs.start(key, lambda progress: run_study(..., progress=progress))
    jobs.get(key).fraction, .message, .running, .result, .error

A job is found again by its key after a reload (same server process); a second start with the key of a
job still running returns that job. Jobs run one at a time: a study owns the process's Ray while it
runs (it starts and shuts down a local one), so two at once would pull it from under each other; the
next waits, and says so. A job that fails on bad input keeps its one-line message; any other failure
goes to the server's log with its traceback, and the page shows one line.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import InputError
from core.progress import Progress

log = logging.getLogger(__name__)
WAITING = "waiting for another run on this server to finish"


@dataclass
class Job:
    key: str
    fraction: float = 0.0
    message: str = WAITING
    result: Any = None
    error: str | None = None  # one line, for the page
    started: float = field(default_factory=time.time)
    finished: float | None = None
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.finished is None

    def progress(self, fraction: float, message: str) -> None:
        """core's `progress` callback: the newest report, for the page to draw."""
        self.fraction, self.message = min(max(float(fraction), 0.0), 1.0), message


class Jobs:
    """The background jobs of one server process, by key."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()  # guards _jobs
        self._one_at_a_time = threading.Lock()

    def get(self, key: str) -> Job | None:
        with self._lock:
            return self._jobs.get(key)

    def start(self, key: str, work: Callable[[Progress], Any]) -> Job:
        """Run `work(progress)` in a daemon thread under `key` (or return the job still running there)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.running:
                return job
            job = self._jobs[key] = Job(key)
            job.thread = threading.Thread(
                target=self._run, args=(job, work), name=f"job-{key[:12]}", daemon=True
            )
            job.thread.start()
        return job

    def _run(self, job: Job, work: Callable[[Progress], Any]) -> None:
        with self._one_at_a_time:
            job.progress(0.0, "starting")
            try:
                job.result = work(job.progress)
            except InputError as error:
                job.error = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            except Exception as error:  # noqa: BLE001 - the traceback goes to the log, one line to the page
                log.exception("background job %s failed", job.key)
                job.error = f"The run stopped on an unexpected error ({type(error).__name__}); the server's log has the details."
            finally:
                job.finished = time.time()
