"""Which format a log file is in, recognised by its first lines, and each format's reader:
every reader turns the file into a stream of entries, malformed lines and skips."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import get_args

from lab.errors import ScenarioError
from lab.replay import http_logs, mysql_logs, reading, redis_logs, sql_logs
from lab.replay.entries import Entry, Malformed, Protocol, Skip
from lab.scenario.model import LogFormat, ReplayLog

Read = Iterator[Entry | Malformed | Skip]
PROTOCOLS: dict[str, Protocol] = {
    "access-log": "http",
    "har": "http",
    "postgresql": "sql",
    "postgresql-csv": "sql",
    "mysql-general": "sql",
    "mysql-slow": "sql",
    "redis-monitor": "redis",
}
NAMES = get_args(LogFormat)
# (format, what its lines look like): the first that fits most of the first lines wins
SIGNS: list[tuple[str, re.Pattern[str]]] = [
    ("redis-monitor", redis_logs.MONITOR_RE),
    ("postgresql-csv", re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \w+,"?[^,]*"?,"?[^,]*"?,\d+,')),
    ("mysql-slow", re.compile(r"^# (?:Time|User@Host|Query_time|Thread_id): ")),
    ("mysql-general", mysql_logs.GENERAL_RE),
    ("postgresql", re.compile(rf"^\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d.*?\b(?:{sql_logs.LEVELS}):  ")),
    ("access-log", http_logs.ACCESS_RE),
]


def recognise(path: Path, shown: str) -> str:
    """The format of the file at `path`, from its first lines; a clear error when none fits."""
    text = reading.head(path)
    if not text.strip():
        raise ScenarioError(f"{shown}: the file is empty — nothing to replay (copy the log again, or remove it)")
    if text.lstrip().startswith("{") and '"log"' in text[:4096]:
        return "har"
    sample = [line for line in text.splitlines()[:200] if line.strip()]
    best, hits = "", 0
    for name, sign in SIGNS:
        count = sum(1 for line in sample if sign.match(line))
        if count > hits:
            best, hits = name, count
    if not best:
        first = sample[0][:120] if sample else ""
        raise ScenarioError(
            f"{shown}: cannot tell what log this is (first line: {first!r}) — give its `format:`,"
            f" one of {', '.join(NAMES)}"
        )
    return best


def read(spec: ReplayLog, path: Path, name: str) -> Read:
    """The file read in format `name`: its entries, malformed lines and skips, streamed."""
    readers: dict[str, Callable[[], Read]] = {
        "access-log": lambda: http_logs.access_log(reading.lines(path)),
        "har": lambda: http_logs.har(path),
        "postgresql": lambda: sql_logs.stderr_log(reading.lines(path), spec.log_line_prefix, spec.database, spec.user),
        "postgresql-csv": lambda: _csv(path, spec),
        "mysql-general": lambda: mysql_logs.general_log(reading.lines(path), spec.database, spec.user),
        "mysql-slow": lambda: mysql_logs.slow_log(reading.lines(path), spec.database, spec.user),
        "redis-monitor": lambda: redis_logs.monitor(reading.lines(path)),
    }
    return readers[name]()


def _csv(path: Path, spec: ReplayLog) -> Read:
    with reading.text(path) as text:
        yield from sql_logs.csv_log(text, spec.database, spec.user)
