"""Reading a client's log file: streamed line by line (flat memory whatever its size),
gzip-compressed logs too, an over-long line counted rather than loaded, a binary file
refused with its name."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lab.errors import ScenarioError

LONGEST = 1 << 20  # a line longer than 1 MiB is counted as malformed, not read
HEAD = 64 << 10  # what format recognition looks at


class Unreadable(str):
    """What `lines` gives instead of a line's text when the line cannot be read (why)."""


TOO_LONG = Unreadable(f"a line longer than {LONGEST >> 20} MiB")


def open_log(path: Path) -> BinaryIO:
    """The file, decompressed when it is gzipped (a rotated `access.log.2.gz`)."""
    with path.open("rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else path.open("rb")  # type: ignore[return-value]


def head(path: Path) -> str:
    """The first lines of the file as text, for recognising its format; a file with NUL
    bytes is binary and refused."""
    try:
        with open_log(path) as f:
            data = f.read(HEAD)
    except (OSError, EOFError) as err:
        raise ScenarioError(f"{path}: cannot read it: {err}") from None
    if b"\x00" in data:
        raise ScenarioError(f"{path}: a binary file, not a log (it has NUL bytes) — name the text log instead")
    return data.decode("utf-8", "replace")


def lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text without its line end), streamed. A line longer than LONGEST
    (skipped, not read into memory) and a gzip stream cut short come as `Unreadable`."""
    with open_log(path) as f:
        number = 0
        try:
            while True:
                raw = f.readline(LONGEST + 1)
                if not raw:
                    return
                number += 1
                if len(raw) > LONGEST and not raw.endswith(b"\n"):
                    while raw and not raw.endswith(b"\n"):  # the rest of the line, chunk by chunk
                        raw = f.readline(LONGEST)
                    yield number, TOO_LONG
                    continue
                yield number, raw.decode("utf-8", "replace").rstrip("\r\n")
        except (EOFError, gzip.BadGzipFile, OSError) as err:
            yield number + 1, Unreadable(f"the file ends early (cut short?): {err}")


def text(path: Path) -> io.TextIOWrapper:
    """The whole file as a text stream (for formats read as a document: HAR, csvlog)."""
    return io.TextIOWrapper(open_log(path), encoding="utf-8", errors="replace", newline="")
