"""The pilot's output: plain lines without a terminal, a status line on one."""

from __future__ import annotations

import io
import threading

from lab.progress import CLEAR, Progress


def test_without_a_terminal_only_plain_lines():
    out = io.StringIO()
    progress = Progress(out)
    with progress.showing(lambda: "build 1.0s"):
        progress.say("[   0.1s] images: 2 to provide")
        progress.say("[   0.4s] baseline: db ready (0.3 s)")
    assert out.getvalue() == "[   0.1s] images: 2 to provide\n[   0.4s] baseline: db ready (0.3 s)\n"


def test_on_a_terminal_a_status_line_below_the_log_that_goes_away():
    out = io.StringIO()
    progress = Progress(out, tty=True)
    drawn = threading.Event()

    def status() -> str:
        drawn.set()
        return "copies — baseline: checks · next: restore"

    with progress.showing(status):
        progress.say("[   0.1s] images: 2 to provide")
        assert drawn.wait(5)  # redrawn by the ticker as well
        progress.say("[   0.4s] baseline: db ready (0.3 s)")
    text = out.getvalue()
    assert f"[   0.1s] images: 2 to provide\n{CLEAR}copies — baseline: checks · next: restore" in text
    assert f"{CLEAR}[   0.4s] baseline: db ready (0.3 s)\n" in text  # the status is erased before a line
    assert text.endswith(CLEAR)  # and at the end
    lines = text.replace(CLEAR, "\n").split("\n")
    assert [line for line in lines if line.startswith("[")] == [
        "[   0.1s] images: 2 to provide",
        "[   0.4s] baseline: db ready (0.3 s)",
    ]
