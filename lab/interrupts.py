"""How a pilot meets signals and its own deadline.

While the stages run, Ctrl-C, SIGTERM and SIGHUP raise (KeyboardInterrupt, from the task
layer's handlers) wherever the main thread is, and the pilot tears down. While the run
folder is written, they are noted and acted on once it is complete. The whole pilot's
deadline is a timer signal that raises DeadlinePassed the same way.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from lab.errors import DeadlinePassed


@contextlib.contextmanager
def deferred_signals() -> Iterator[list[int]]:
    """Let the cleanup finish: Ctrl-C, SIGTERM and SIGHUP that arrive while it runs are
    noted in the list it yields, and acted on once it is done."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    kinds = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {kind: signal.signal(kind, lambda signum, frame: caught.append(signum)) for kind in kinds}
    try:
        yield caught
    finally:
        for kind, handler in before.items():
            signal.signal(kind, handler)


@contextlib.contextmanager
def pilot_deadline(seconds: float) -> Iterator[None]:
    """The whole pilot's deadline (timeouts.pilot): once it passes, DeadlinePassed is raised
    in the main thread wherever it is, and the pilot stops and tears down as on Ctrl-C.
    (A pilot run outside the main thread has only the deadlines of its stages.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise DeadlinePassed(
            f"the pilot did not finish within {seconds:g} s (timeouts.pilot) — raise timeouts.pilot in the"
            " scenario if it needs longer, or look for what hangs in the stage named below"
        )

    before = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
