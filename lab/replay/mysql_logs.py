"""SQL statements out of a MariaDB/MySQL general query log or slow query log.

General log: `Time Id Command Argument` lines — a `Connect` names the session's user and
database, `Init DB` changes the database, `Query` and `Execute` carry statements (a
statement's further lines follow without a prefix). Slow log: records of `# Time:`,
`# User@Host:`, `# Thread_id: … Schema:` / `Id:`, `# Query_time:` lines, then `use db;`,
`SET timestamp=…;` and the statement."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from lab.replay import reading
from lab.replay.entries import Entry, Malformed

GENERAL_RE = re.compile(
    r"^(?:(?:\d{6}\s+\d{1,2}:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+)\s+|\t\t)\s*"
    r"(?P<id>\d+) (?P<command>[A-Z][A-Za-z ]*?)\t(?P<arg>.*)$"
)
CONNECT_RE = re.compile(r"^(?P<user>[^@\s]*)@\S* on (?P<db>\S*)")
HEADER_RE = re.compile(r"^(?:\S+, Version: |Tcp port: |Time\s+Id\s+Command\s+Argument)")
STATEMENT_COMMANDS = ("Query", "Execute")


def general_log(
    lines: Iterable[tuple[int, str]], database: str | None, user: str | None
) -> Iterator[Entry | Malformed]:
    """Statements of a general query log.

    >>> log = ["241203 14:05:01\\t     5 Connect\\tshop@localhost on shop using Socket",
    ...        "\\t\\t     5 Query\\tSELECT name", "FROM items"]
    >>> entry = next(general_log(enumerate(log, 1), None, None))
    >>> entry.request["statement"], entry.request["database"], entry.session
    ('SELECT name\\nFROM items', 'shop', '5')
    """
    sessions: dict[str, tuple[str, str]] = {}  # thread id -> (user, database)
    current: Entry | None = None
    for number, text in lines:
        if isinstance(text, reading.Unreadable):
            yield Malformed(number, text)
            continue
        found = GENERAL_RE.match(text)
        if not found:
            if current is not None:
                current.request["statement"] += "\n" + text
            elif text.strip() and not HEADER_RE.match(text):
                yield Malformed(number, "not a line of a general query log")
            continue
        if current is not None:
            yield current
            current = None
        thread, command, arg = found.group("id"), found.group("command").strip(), found.group("arg")
        known_user, known_db = sessions.get(thread, (user or "", database or ""))
        if command == "Connect":
            connect = CONNECT_RE.match(arg)
            if connect:
                sessions[thread] = (connect.group("user") or known_user, connect.group("db") or known_db)
        elif command == "Init DB":
            sessions[thread] = (known_user, arg.strip())
        elif command == "Quit":
            sessions.pop(thread, None)
        elif command in STATEMENT_COMMANDS:
            current = Entry("sql", number, {"statement": arg, "database": known_db, "user": known_user}, session=thread)
    if current is not None:
        yield current


SLOW_TIME_RE = re.compile(r"^# Time: ")
USER_HOST_RE = re.compile(r"^# User@Host: (?P<user>[^\[\s]*)\[[^\]]*\] @ .*?(?:Id:\s*(?P<id>\d+))?\s*$")
THREAD_RE = re.compile(r"^# Thread_id: (?P<id>\d+)(?:\s+Schema: (?P<db>\S*))?")
QUERY_TIME_RE = re.compile(r"^# Query_time: (?P<s>[\d.]+)")
USE_RE = re.compile(r"^use (?P<db>[^;]+);$", re.IGNORECASE)
SET_TIMESTAMP_RE = re.compile(r"^SET timestamp=\d+;$", re.IGNORECASE)


def slow_log(lines: Iterable[tuple[int, str]], database: str | None, user: str | None) -> Iterator[Entry | Malformed]:
    """Statements of a slow query log, timed as production ran them.

    >>> log = ["# Time: 241203 14:05:01", "# User@Host: shop[shop] @ localhost []",
    ...        "# Thread_id: 5  Schema: shop  QC_hit: No", "# Query_time: 0.250000  Lock_time: 0.000045",
    ...        "SET timestamp=1733234701;", "SELECT sleep(0.25);"]
    >>> entry = next(slow_log(enumerate(log, 1), None, None))
    >>> entry.request["statement"], entry.seconds, entry.session
    ('SELECT sleep(0.25)', 0.25, '5')
    """
    meta: dict[str, str] = {}
    seconds: float | None = None
    body: list[str] = []
    start = 0
    databases: dict[str, str] = {}  # a session's database stays until it changes

    def flush() -> Iterator[Entry]:
        statement = "\n".join(body).strip().rstrip(";").strip()
        session = meta.get("id", "")
        if "db" in meta:
            databases[session] = meta["db"]
        if statement:
            known = databases.get(session, database or "")
            request = {"statement": statement, "database": known, "user": meta.get("user") or user or ""}
            yield Entry("sql", start, request, session=session, seconds=seconds)

    for number, text in lines:
        if isinstance(text, reading.Unreadable):
            yield Malformed(number, text)
            continue
        if text.startswith("# "):
            if body:
                yield from flush()
                body, meta, seconds = [], {}, None
            if (found := USER_HOST_RE.match(text)) is not None:
                meta["user"] = found.group("user")
                if found.group("id"):
                    meta["id"] = found.group("id")
            elif (found := THREAD_RE.match(text)) is not None:
                meta["id"] = found.group("id")
                if found.group("db"):
                    meta["db"] = found.group("db")
            elif (found := QUERY_TIME_RE.match(text)) is not None:
                seconds = float(found.group("s"))
            continue
        if HEADER_RE.match(text) or SLOW_TIME_RE.match(text):
            continue
        if (found := USE_RE.match(text.strip())) is not None and not body:
            meta["db"] = found.group("db").strip("`")
            continue
        if SET_TIMESTAMP_RE.match(text.strip()) and not body:
            continue
        if not body:
            start = number
        if text.strip() or body:
            body.append(text)
    if body:
        yield from flush()
