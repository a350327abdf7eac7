"""What a log file of the client's traffic becomes: entries to replay, entries that cannot
be replayed (skips) and malformed lines.
Plain data, shared by the parsers (lab.replay.formats), the selection of distinct entries
(lab.replay.select) and the replay itself (lab.replay.run)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Protocol = Literal["http", "sql", "redis"]


@dataclass
class Entry:
    """One request, statement or command as production made it.

    `line` is where it starts in the file; `session` groups what one connection sent (SQL:
    a backend's session or pid, a thread id; Redis: a client address); `request` holds what
    is sent, with the real literals of the log:
      http:  {"method", "url" (path and query), "host", "headers": [[name, value]], "body",
              "binary" (the body is bytes as latin-1 text)}
      sql:   {"statement", "database", "user"}
      redis: {"args": [str, ...], "db": int}
    """

    protocol: Protocol
    line: int
    request: dict[str, Any]
    session: str = ""
    seconds: float | None = None  # as the log timed it in production, where it says


class Skip(str):
    """An entry that is read but not replayable, and why (counted in the coverage)."""


@dataclass
class Malformed:
    """A line (or record) that could not be read as an entry, and why."""

    line: int
    why: str
