"""One cancel token per pilot, passed down to everything that blocks.

Ctrl-C, SIGTERM and SIGHUP (`handle_signals`, installed by the task layer whatever the
process inherited: a process started from a background job inherits SIGINT as ignored) and
the whole pilot's deadline (`Token.expire_after`) set the token in one place; they never
raise into an arbitrary frame. Every blocking call takes the token and returns within a
second of it being set: waits use `Token.wait`, loops call `Token.check`, and a stream that
blocks in the kernel is aborted by a callback (`Token.on_cancel`).

>>> token = Token()
>>> token.cancel(Interrupted("interrupted (SIGINT)"))
>>> token.cancelled, str(token.reason)
(True, 'interrupted (SIGINT)')
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

from lab.errors import DeadlinePassed, Interrupted, LabError, Stopped

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
POLL = 0.2  # seconds between looks at the token where a wait cannot be woken directly


class Token:
    """Set once, with the reason the work stops; the first reason wins."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.RLock()  # a signal handler may call cancel() while the main thread holds it
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next = 0
        self._timer: threading.Timer | None = None
        self.reason: LabError | None = None

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self, reason: LabError) -> None:
        """Stop everything that holds this token; safe from a signal handler or any thread."""
        with self._lock:
            if self.reason is None:
                self.reason = reason
            callbacks, self._callbacks = list(self._callbacks.values()), {}
        self._event.set()
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 — aborting a stream that is already gone
                pass

    def check(self) -> None:
        """Raise the reason the token was set for (Interrupted, DeadlinePassed), if it was."""
        if self._event.is_set():
            raise self.error()

    def error(self) -> Stopped:
        """What a blocking call raises once the token is set: a Stopped (Interrupted,
        DeadlinePassed), so that no one records the stop as a failure of their own; the
        original reason (an engine that went away) stays in `reason`."""
        reason = self.reason or Interrupted("stopped")
        if isinstance(reason, Stopped):
            return type(reason)(str(reason))
        return Stopped(f"stopped: {reason}")

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True as soon as the token is set."""
        return self._event.wait(max(seconds, 0.0))

    @contextlib.contextmanager
    def on_cancel(self, callback: Callable[[], None]) -> Iterator[None]:
        """Call `callback` if the token is set while the block runs (at once if it is set
        already): how a stream blocked in the kernel is aborted."""
        with self._lock:
            key = self._next
            self._next += 1
            already = self._event.is_set()
            if not already:
                self._callbacks[key] = callback
        if already:
            callback()
        try:
            yield
        finally:
            with self._lock:
                self._callbacks.pop(key, None)

    def expire_after(self, seconds: float, hint: str) -> None:
        """The whole pilot's deadline: the token is set with DeadlinePassed after `seconds`."""

        def expire() -> None:
            self.cancel(DeadlinePassed(f"the pilot did not finish within {seconds:g} s {hint}"))

        self._timer = threading.Timer(seconds, expire)
        self._timer.daemon = True
        self._timer.start()

    def stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


@contextlib.contextmanager
def handle_signals(token: Token) -> Iterator[list[int]]:
    """Ctrl-C, SIGTERM and SIGHUP set `token` (and are listed in what this yields) while the
    block runs, whatever handlers or ignore flags the process inherited. Outside the main
    thread, signals cannot be handled; the token is then set by its deadline only."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum: int, frame: object) -> None:
        caught.append(signum)
        token.cancel(Interrupted(f"interrupted ({signal.Signals(signum).name})"))

    before = {kind: signal.signal(kind, handler) for kind in SIGNALS}
    try:
        yield caught
    finally:
        for kind, previous in before.items():
            signal.signal(kind, previous)
