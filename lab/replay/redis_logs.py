"""Redis commands out of `redis-cli MONITOR` output: `<time> [<db> <client>] "CMD" "arg" …`,
arguments escaped as MONITOR escapes them (\\", \\\\, \\n, \\r, \\t, \\a, \\b, \\xHH)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from lab.replay import reading
from lab.replay.entries import Entry, Malformed, Skip

MONITOR_RE = re.compile(r"^(?P<time>\d+\.\d+) \[(?P<db>\d+) (?P<client>[^\]]*)\] (?P<args>.*)$")
ARG_RE = re.compile(r'"((?:[^"\\]|\\.)*)"(?: |$)')
ESCAPE_RE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)")
SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b"}
# Not replayed: the connection's own business, or what would block or end the replay.
NOT_REPLAYED = {
    "AUTH": "credentials",
    "HELLO": "the connection's own business",
    "SELECT": "the connection's own business (each command goes to its logged database)",
    "CLIENT": "the connection's own business",
    "QUIT": "the connection's own business",
    "RESET": "the connection's own business",
    "MULTI": "transactions are replayed command by command",
    "EXEC": "transactions are replayed command by command",
    "DISCARD": "transactions are replayed command by command",
    "WATCH": "transactions are replayed command by command",
    "UNWATCH": "transactions are replayed command by command",
    "MONITOR": "the capture itself",
    "SUBSCRIBE": "blocks",
    "PSUBSCRIBE": "blocks",
    "SSUBSCRIBE": "blocks",
    "BLPOP": "blocks",
    "BRPOP": "blocks",
    "BLMOVE": "blocks",
    "BRPOPLPUSH": "blocks",
    "BZPOPMIN": "blocks",
    "BZPOPMAX": "blocks",
    "BLMPOP": "blocks",
    "BZMPOP": "blocks",
    "XREAD": "blocks",
    "XREADGROUP": "blocks",
    "WAIT": "blocks",
    "SHUTDOWN": "ends the server",
    "DEBUG": "the server's own business",
    "SYNC": "replication",
    "PSYNC": "replication",
    "REPLCONF": "replication",
}


def unescape(text: str) -> str:
    """An argument as MONITOR printed it, back to its bytes (as latin-1 text).

    >>> unescape(r'caf\\xc3\\xa9 \\"x\\"')
    'cafÃ© "x"'
    """
    return ESCAPE_RE.sub(
        lambda m: chr(int(m.group(1)[1:], 16)) if len(m.group(1)) == 3 else SIMPLE.get(m.group(1), m.group(1)), text
    )


def monitor(lines: Iterable[tuple[int, str]]) -> Iterator[Entry | Malformed | Skip]:
    """Commands of a MONITOR capture.

    >>> line = '1733234701.123456 [0 172.18.0.5:43210] "HGETALL" "cart:17"'
    >>> entry = next(monitor([(1, line)]))
    >>> entry.request, entry.session
    ({'args': ['HGETALL', 'cart:17'], 'db': 0}, '172.18.0.5:43210')
    """
    for number, text in lines:
        if isinstance(text, reading.Unreadable):
            yield Malformed(number, text)
            continue
        if not text.strip() or text.strip() == "OK":
            continue
        found = MONITOR_RE.match(text)
        if not found:
            yield Malformed(number, 'not a MONITOR line (<time> [<db> <client>] "CMD" …)')
            continue
        raw = found.group("args")
        args = [unescape(a) for a in ARG_RE.findall(raw)]
        if not args or sum(len(a) + 3 for a in ARG_RE.findall(raw)) < len(raw):
            yield Malformed(number, "its arguments are not MONITOR's quoted strings (cut short?)")
            continue
        client = found.group("client")
        command = args[0].upper()
        if client == "lua":
            yield Skip("run by a script (its EVAL is replayed)")
        elif command in NOT_REPLAYED:
            yield Skip(f"{command}: {NOT_REPLAYED[command]}")
        else:
            yield Entry("redis", number, {"args": args, "db": int(found.group("db"))}, session=client)
