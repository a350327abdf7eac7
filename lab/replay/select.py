"""From a log file to what is replayed: every entry read (streamed), each distinct entry
kept once with the real literals of its first occurrence and the count of its repeats,
in log order; a session's transaction and SET statements kept in place around them.
Entries the scenario leaves out (writes: skip, include/exclude, max_distinct, no route)
are counted with the reason. What looks like a credential is collected for redaction."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from lab.errors import ScenarioError
from lab.records import approval
from lab.replay import formats, shapes
from lab.replay.entries import Entry, Malformed, Protocol, Skip
from lab.results import TrafficLog
from lab.scenario.model import ReplayLog
from lab.scenario.secrets import looks_secret

DEFAULT_PORTS = {"http": 80, "redis": 6379}
PENDING = 20  # a session's SET statements kept for its next replayed statement
CREDENTIAL_HEADERS = {"authorization", "proxy-authorization", "cookie"}
PASSWORD_LITERAL_RE = re.compile(r"\b(?:PASSWORD|IDENTIFIED\s+BY)\s+'((?:[^']|'')*)'", re.IGNORECASE)
COPY_FROM_STDIN_RE = re.compile(r"^\s*COPY\b.*\bFROM\s+STDIN\b", re.IGNORECASE | re.DOTALL)
ID_LENGTH = 90


@dataclass
class Step:
    """One thing to send: a distinct entry (a check, `id` set) or a session's control
    statement (`id` empty: sent, not compared)."""

    id: str
    entry: Entry
    writes: bool
    source: str  # "traffic/access.log:17"
    target: tuple[str, int]  # (service, port) it goes to
    count: int = 1  # how often the log has it
    compare: bool = True  # whether its answer is compared (else only whether it succeeds)

    def runs(self, most: int) -> int:
        """How often it is sent: an entry the log repeats, up to `most` times for a median
        timing, unless it writes (a write happens once, as in production)."""
        return 1 if self.writes or not self.id else min(self.count, most)


@dataclass
class Traffic:
    """One log file, read: its coverage and the steps to replay, in log order."""

    spec: ReplayLog
    path: Path
    protocol: Protocol
    coverage: TrafficLog
    steps: list[Step] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)

    @property
    def checks(self) -> list[Step]:
        return [s for s in self.steps if s.id]


def read(spec: ReplayLog, path: Path, shown: str) -> Traffic:
    """Read the log at `path` (named `shown` in messages) into what is replayed."""
    name = formats.recognise(path, shown) if spec.format == "auto" else spec.format
    protocol = formats.PROTOCOLS[name]
    if protocol in ("sql", "redis") and not spec.service:
        raise ScenarioError(f"{shown}: a {name} log needs `service:` — the service its {protocol} goes to")
    coverage = TrafficLog(file=spec.file, size=path.stat().st_size, sha256_before=approval.sha256(path), format=name)
    traffic = Traffic(spec, path, protocol, coverage)
    _select(traffic, formats.read(spec, path, name))
    coverage.distinct = len(traffic.checks)
    if coverage.read == 0 and coverage.malformed:
        raise ScenarioError(
            f"{shown}: no entry could be read as {name} ({coverage.malformed} malformed; first:"
            f" {coverage.malformed_first[0]}) — is it the right file, or give its `format:`"
        )
    return traffic


def _select(traffic: Traffic, items: Iterable[Entry | Malformed | Skip]) -> None:
    spec, coverage = traffic.spec, traffic.coverage
    seen: dict[str, Step] = {}
    ids: set[str] = set()
    sessions: dict[str, _Session] = {}
    skipped = coverage.skipped
    for item in items:
        if isinstance(item, Malformed):
            coverage.bad(item.line, item.why)
            continue
        coverage.read += 1
        if isinstance(item, Skip):
            _count(skipped, item)
            continue
        traffic.secrets |= _credentials(item)
        shape = _shape(item)
        source = f"{spec.file}:{item.line}"
        if item.protocol == "sql" and shapes.sql_kind(shape) == "control":
            state = sessions.setdefault(item.session, _Session())
            traffic.steps += state.control(Step("", item, True, source, _route(traffic, item) or ("", 0)), shape)
            continue
        if shape in seen:
            seen[shape].count += 1
            continue
        target = _route(traffic, item)
        why = _left_out(traffic, item, shape, len(seen))
        if why is None and target is None:
            why = f"no route for host {item.request.get('host') or '(none)'} — add it to `to:`"
        if why is not None:
            _count(skipped, why)
            continue
        assert target is not None
        arbitrary = item.protocol == "redis" and item.request["args"][0].upper() in shapes.REDIS_ARBITRARY
        step = Step(
            _unique(_id(item.protocol, shape, traffic), ids),
            item,
            _writes(item, shape),
            source,
            target,
            compare=not arbitrary,
        )
        seen[shape] = step
        if item.session in sessions:
            traffic.steps += sessions[item.session].replayed()
        traffic.steps.append(step)


@dataclass
class _Session:
    """Where a logged SQL session's transaction and SET statements go: held until the
    session's next replayed statement (dropped with a transaction that had none), and a
    transaction's end sent where the log has it once the transaction had a replayed
    statement — so that a replayed transaction never holds its locks longer than in
    production."""

    held: list[Step] = field(default_factory=list)
    in_transaction: bool = False
    replaying: bool = False  # the open transaction has a replayed statement

    def control(self, step: Step, shape: str) -> list[Step]:
        first = shape.split(" ", 1)[0].upper()
        if first in shapes.TRANSACTION_START or (first == "START" and "TRANSACTION" in shape.upper()):
            self.in_transaction = True
            self.held.append(step)
        elif first in shapes.TRANSACTION_END and " TO " not in f" {shape.upper()} ":
            self.in_transaction = False
            if self.replaying:
                self.replaying = False
                return [step]
            self.held = [h for h in self.held if not _transactional(h)]
        else:
            self.held.append(step)
            del self.held[:-PENDING]
        return []

    def replayed(self) -> list[Step]:
        """The held statements, to send before the session's next replayed statement."""
        held, self.held = self.held, []
        self.replaying = self.in_transaction
        return held


def _transactional(step: Step) -> bool:
    return step.entry.request["statement"].split(None, 1)[0].upper() in ("BEGIN", "START")


def _shape(entry: Entry) -> str:
    if entry.protocol == "http":
        host = entry.request.get("host") or ""
        return f"{host} {shapes.http(entry.request)}"
    if entry.protocol == "sql":
        return shapes.sql(entry.request["statement"])
    return f"{entry.request['db']} {shapes.redis(entry.request['args'])}"


def _writes(entry: Entry, shape: str) -> bool:
    if entry.protocol == "http":
        return entry.request["method"] not in shapes.HTTP_READS
    if entry.protocol == "sql":
        return shapes.sql_kind(shape) != "read"
    return shapes.redis_writes(entry.request["args"])


def _left_out(traffic: Traffic, entry: Entry, shape: str, distinct: int) -> str | None:
    spec = traffic.spec
    shown = shape.split(" ", 1)[1] if entry.protocol != "sql" else shape
    if spec.include and not any(re.search(p, shown) for p in spec.include):
        return "not matched by include"
    if any(re.search(p, shown) for p in spec.exclude):
        return "matched by exclude"
    if spec.writes == "skip" and _writes(entry, shape):
        return "writes (writes: skip)"
    if entry.protocol == "sql" and COPY_FROM_STDIN_RE.match(entry.request["statement"]):
        return "COPY … FROM STDIN: the log has no data to send"
    if entry.protocol == "sql" and not (entry.request["database"] and entry.request["user"]):
        return "the log does not name the database or user — give `database:` and `user:`"
    if distinct >= spec.max_distinct:
        return f"beyond max_distinct ({spec.max_distinct})"
    return None


def _count(skipped: dict[str, int], why: str) -> None:
    skipped[str(why)] = skipped.get(str(why), 0) + 1


def _route(traffic: Traffic, entry: Entry) -> tuple[str, int] | None:
    spec = traffic.spec
    default = DEFAULT_PORTS.get(entry.protocol, 0)
    if entry.protocol != "http":
        return (str(spec.service), spec.port or default)
    host = str(entry.request.get("host") or "")
    route = spec.to.get(host) or spec.to.get(host.split(":")[0]) or spec.to.get("*")
    if route is None:
        return (spec.service, spec.port or default) if spec.service else None
    service, _, port = route.partition(":")
    return (service, int(port) if port else default)


def _id(protocol: str, shape: str, traffic: Traffic) -> str:
    """A readable id: `replay:http GET /api/orders/{n}`, `replay:sql SELECT … FROM t`."""
    if protocol == "http":
        host, _, what = shape.partition(" ")
        routes = {k for k in traffic.spec.to if k != "*"}
        text = f"{what.split(' ', 1)[0]} {host}{what.split(' ', 1)[1]}" if routes and host else what
    elif protocol == "redis":
        db, _, text = shape.partition(" ")
        text = f"{text} (db {db})" if db != "0" else text
    else:
        text = _abbreviated(shape)
    return f"replay:{protocol} {text}"


def _abbreviated(shape: str) -> str:
    """A long SELECT's column list as `…`, and the rest cut at ID_LENGTH characters.

    >>> _abbreviated("SELECT checkpoints_timed, checkpoints_req, buffers_backend FROM pg_stat_bgwriter")
    'SELECT … FROM pg_stat_bgwriter'
    """
    if len(shape) > 60 and shape.startswith("SELECT ") and " FROM " in shape:
        shape = "SELECT … FROM " + shape.split(" FROM ", 1)[1]
    return shape if len(shape) <= ID_LENGTH else shape[: ID_LENGTH - 1].rstrip() + "…"


def _unique(check_id: str, ids: set[str]) -> str:
    n, found = 1, check_id
    while found in ids:
        n += 1
        found = f"{check_id} #{n}"
    ids.add(found)
    return found


def _credentials(entry: Entry) -> set[str]:
    """What the entry sends that must not appear in any artefact: credential headers and
    cookies, password-like form and JSON fields, `PASSWORD '…'` literals."""
    found: set[str] = set()
    request = entry.request
    if entry.protocol == "http":
        for name, value in request["headers"]:
            if name.lower() in CREDENTIAL_HEADERS or looks_secret(name):
                found.add(value)
                if name.lower() == "authorization" and " " in value:
                    found.add(value.split(" ", 1)[1])
                if name.lower() == "cookie":
                    found |= {c.partition("=")[2] for c in value.split(";")}
        body = request.get("body")
        if body and not request.get("binary"):
            found |= _body_secrets(body)
    elif entry.protocol == "sql":
        found |= {m.group(1).replace("''", "'") for m in PASSWORD_LITERAL_RE.finditer(request["statement"])}
    return {v.strip() for v in found if len(v.strip()) >= 4}


def _body_secrets(body: str) -> set[str]:
    try:
        data = json.loads(body)
    except ValueError:
        return {v for k, v in parse_qsl(body) if looks_secret(k)}
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if looks_secret(str(k)) and isinstance(v, (str, int)):
                    found.add(str(v))
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(data)
    return found
