"""SQL statements out of a PostgreSQL server log — the stderr format under any
`log_line_prefix`, or csvlog — written with `log_statement = 'all'` (or 'mod', 'ddl') or
`log_min_duration_statement`. Statements sent with the extended protocol (`execute …`)
get their logged parameters back in place of $1, $2, … Each statement keeps its session
(%c, else the backend's pid), database (%d) and user (%u)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lab.replay import reading
from lab.replay.entries import Entry, Malformed

DEBIAN_PREFIX = "%m [%p] %q%u@%d "  # Debian's and Ubuntu's default log_line_prefix
PREFIXES = (
    DEBIAN_PREFIX,
    "%m [%p] ",  # PostgreSQL's own default
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",  # what pgBadger's documentation proposes
    "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
    "%t [%p-%l] %q%u@%d ",
    "%m [%p] %q[%u@%d] ",
)
# what each escape of log_line_prefix can print
ESCAPES = {
    "a": r"(?P<a>.*?)",
    "u": r"(?P<u>\S*?)",
    "d": r"(?P<d>\S*?)",
    "r": r"\S*?",
    "h": r"\S*?",
    "b": r".*?",
    "p": r"(?P<p>\d+)",
    "P": r"\d*",
    "t": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: \S+)?",
    "m": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+(?: \S+)?",
    "n": r"[\d.]+",
    "i": r".*?",
    "e": r"\w{5}",
    "c": r"(?P<c>[0-9a-f]+\.[0-9a-f]+)",
    "l": r"\d+",
    "s": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: \S+)?",
    "v": r"\S*?",
    "x": r"\d+",
    "Q": r"-?\d+",
}
LEVELS = "DEBUG[1-5]|LOG|INFO|NOTICE|WARNING|ERROR|FATAL|PANIC|DETAIL|HINT|CONTEXT|STATEMENT|QUERY|LOCATION"
STATEMENT_RE = re.compile(
    r"^(?:duration: (?P<ms>[\d.]+) ms  )?(?:(?P<kind>statement|execute [^:]*|bind [^:]*|parse [^:]*): )(?P<sql>.*)$",
    re.DOTALL,
)
PARAMETERS = "parameters: "
PARAM_RE = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")
PLACEHOLDER_RE = re.compile(r"\$(\d+)(?!\d)")


def prefix_regex(prefix: str) -> re.Pattern[str]:
    """The regex of a log line under `prefix`, up to and with the message level.

    >>> line = "2026-12-03 14:05:01.123 UTC [812] shop@shop LOG:  statement: SELECT 1"
    >>> found = prefix_regex(DEBIAN_PREFIX).match(line)
    >>> found.group("p"), found.group("u"), found.group("d"), found.group("msg")
    ('812', 'shop', 'shop', 'statement: SELECT 1')
    """
    out, optional, i = [], False, 0
    while i < len(prefix):
        ch = prefix[i]
        if ch == "%" and i + 1 < len(prefix):
            esc = prefix[i + 1]
            i += 2
            if esc == "q":  # what follows is printed by session processes only
                out.append("(?:")
                optional = True
            elif esc == "%":
                out.append("%")
            else:
                out.append(ESCAPES.get(esc, r".*?"))
            continue
        out.append(re.escape(ch))
        i += 1
    body = "".join(out) + (")?" if optional else "")
    return re.compile(rf"^{body}(?P<level>{LEVELS}):  (?P<msg>.*)$")


@dataclass
class _Record:
    line: int
    level: str
    msg: str
    session: str
    database: str
    user: str


def stderr_log(
    lines: Iterable[tuple[int, str]], prefix: str | None, database: str | None, user: str | None
) -> Iterator[Entry | Malformed]:
    """Statements of a stderr-format log; `prefix` None recognises the usual prefixes.

    >>> log = ["2026-12-03 14:05:01.123 UTC [812] shop@shop LOG:  statement: SELECT *",
    ...        "\\tFROM orders WHERE id = 42"]
    >>> entry = next(stderr_log(enumerate(log, 1), None, None, None))
    >>> entry.request["statement"], entry.session, entry.request["user"]
    ('SELECT *\\nFROM orders WHERE id = 42', '812', 'shop')
    """
    lines = iter(lines)
    pattern: re.Pattern[str] | None = prefix_regex(prefix) if prefix else None
    waiting: list[tuple[int, str]] = []  # lines before the prefix is recognised
    if pattern is None:
        for item in lines:
            waiting.append(item)
            if len(waiting) >= 200:
                break
        pattern = _recognise([t for _, t in waiting if not isinstance(t, reading.Unreadable)])
    records = _records(_chain(waiting, lines), pattern, database or "", user or "")
    yield from _statements(records)


def _chain(first: list[tuple[int, str]], rest: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    yield from first
    yield from rest


def _recognise(sample: list[str]) -> re.Pattern[str]:
    """The usual prefix that reads most lines of the sample (with a user and database first)."""
    scored = []
    for candidate in PREFIXES:
        regex = prefix_regex(candidate)
        hits = [regex.match(t) for t in sample]
        scored.append((sum(1 for h in hits if h), sum(1 for h in hits if h and h.groupdict().get("d")), regex))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    return scored[0][2]


def _records(
    lines: Iterable[tuple[int, str]], pattern: re.Pattern[str], database: str, user: str
) -> Iterator[_Record | Malformed]:
    """Log records, continuation lines (a tab first) joined to the record they continue."""
    current: _Record | None = None
    for number, text in lines:
        if isinstance(text, reading.Unreadable):
            if current is not None:
                yield current
                current = None
            yield Malformed(number, text)
            continue
        if text.startswith("\t") and current is not None:
            current.msg += "\n" + text[1:]
            continue
        found = pattern.match(text)
        if current is not None:
            yield current
            current = None
        if not found:
            if text.strip():
                yield Malformed(number, "not a line of this log_line_prefix (set log_line_prefix: in the scenario)")
            continue
        groups = found.groupdict()
        current = _Record(
            number,
            found.group("level"),
            found.group("msg"),
            groups.get("c") or groups.get("p") or "",
            groups.get("d") or database,
            groups.get("u") or user,
        )
    if current is not None:
        yield current


def _statements(records: Iterable[_Record | Malformed]) -> Iterator[Entry | Malformed]:
    """Entries out of records: `statement:` and `execute` messages (with the DETAIL line of
    their parameters), timed where the log has a duration."""
    pending: Entry | None = None  # an `execute` whose parameters may follow
    for record in records:
        if isinstance(record, Malformed):
            yield record
            continue
        if pending is not None:
            # "parameters:" up to PostgreSQL 16, "Parameters:" from 17
            if (
                record.level == "DETAIL"
                and record.msg.lower().startswith(PARAMETERS)
                and record.session == pending.session
            ):
                pending.request["statement"] = _bind(pending.request["statement"], record.msg[len(PARAMETERS) :])
                yield pending
                pending = None
                continue
            yield pending
            pending = None
        if record.level != "LOG":
            continue
        found = STATEMENT_RE.match(record.msg)
        if not found:
            continue
        kind = found.group("kind")
        if kind.startswith(("bind", "parse")):
            continue
        entry = Entry(
            "sql",
            record.line,
            {"statement": found.group("sql").strip(), "database": record.database, "user": record.user},
            session=record.session,
            seconds=float(found.group("ms")) / 1000 if found.group("ms") else None,
        )
        if kind.startswith("execute"):
            pending = entry
        else:
            yield entry
    if pending is not None:
        yield pending


def _bind(statement: str, parameters: str) -> str:
    """$n replaced by the logged values.

    >>> _bind("SELECT * FROM t WHERE a = $1 AND b = $2", "$1 = '42', $2 = 'O''Brien'")
    "SELECT * FROM t WHERE a = '42' AND b = 'O''Brien'"
    """
    values = {m.group(1): m.group(2) for m in PARAM_RE.finditer(parameters)}
    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), statement)


def csv_log(text: Iterable[str], database: str | None, user: str | None) -> Iterator[Entry | Malformed]:
    """Statements of a csvlog file (log_destination = 'csvlog'), multi-line values and all.

    Columns: log_time, user_name, database_name, process_id, connection_from, session_id,
    session_line_num, command_tag, session_start_time, virtual_transaction_id,
    transaction_id, error_severity, sql_state_code, message, detail, …
    """
    reader = csv.reader(text)
    line = 1

    def each() -> Iterator[_Record | Malformed]:
        nonlocal line
        while True:
            start = line
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                line = reader.line_num + 1
                yield Malformed(start, f"not a csvlog record: {err}")
                continue
            line = reader.line_num + 1
            if len(row) < 15:
                if any(row):
                    yield Malformed(start, f"not a csvlog record ({len(row)} columns, at least 15 expected)")
                continue
            yield _Record(start, row[11], row[13], row[5] or row[3], row[2] or database or "", row[1] or user or "")
            if row[14]:
                yield _Record(start, "DETAIL", row[14], row[5] or row[3], "", "")

    yield from _statements(each())
