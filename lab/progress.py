"""What a pilot says while it runs.

Not a terminal (CI logs, a file): plain lines, nothing else. A terminal: the same lines,
with a status line below them that says what each copy is doing, redrawn in place twice a
second and removed at the end.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Callable, Iterator
from typing import TextIO

CLEAR = "\r\x1b[2K"  # back to the start of the line, and erase it
TICK = 0.5


class Progress:
    def __init__(self, stream: TextIO, tty: bool | None = None):
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.lock = threading.Lock()
        self.status: Callable[[], str] | None = None
        self.drawn = False

    def say(self, text: str) -> None:
        """One line of the pilot's log."""
        with self.lock:
            if self.drawn:
                self.stream.write(CLEAR)
            self.stream.write(text + "\n")
            self._draw()
            self.stream.flush()

    @contextlib.contextmanager
    def showing(self, status: Callable[[], str]) -> Iterator[None]:
        """Show `status()` below the log lines while the block runs (on a terminal only)."""
        if not self.tty:
            yield
            return
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(TICK):
                with self.lock:
                    self._draw()
                    self.stream.flush()

        self.status = status
        ticker = threading.Thread(target=tick, name="progress", daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
            ticker.join()
            with self.lock:
                self.status = None
                if self.drawn:
                    self.stream.write(CLEAR)
                    self.drawn = False
                self.stream.flush()

    def _draw(self) -> None:
        if self.status is None:
            return
        try:
            text = self.status()
        except Exception:  # noqa: BLE001 — a status that cannot be said is not worth a crash
            return
        self.stream.write(CLEAR + text[: shutil.get_terminal_size().columns - 1])
        self.drawn = True
