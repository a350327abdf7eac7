"""Replay the client's traffic against one copy: every step of every log, in log order,
each distinct entry observed as a check (lab.results.Observation, kind replay).

- HTTP requests and Redis commands go through one long-running probe process in the
  copy's network (`http-probe --serve`): one JSON line per request each way, connections
  kept open between requests, and reads to one server pipelined by the probe.
- SQL statements go to the logged database as the logged user, through one process of the
  server's own client per logged session (lab.replay.sql_clients), opened at the session's
  first statement and closed after its last:
  a session's statements (and its BEGIN, SET ROLE, COMMIT) stay in one session, in order,
  and sessions interleave as the log has them.

Requests are pipelined: a conversation gets the next request before the last is answered
(up to WINDOW bytes unanswered), as a batch would send them; across logged sessions, a write
(or a transaction's or session's statement) waits until every other session's earlier
requests are answered, and nothing is sent to a session while another has a write in
flight — so writes keep the log's order, and reads in different sessions overlap.

Each step is bounded by the log's `timeout`; the token stops a replay within a second.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lab.cancel import Token
from lab.checks.declarative import json_or_text
from lab.engine.session import GRACE, Conversation
from lab.engine.types import EngineLike
from lab.errors import LabError
from lab.replay import shapes, sql_clients
from lab.replay.select import Step, Traffic
from lab.results import Kind, Observation, Outcome
from lab.scenario.model import ReplayLog
from lab.users import Users

PROBE_ARGV = ["python3", "/usr/local/bin/http-probe", "--serve"]
LINE_END = re.compile(rb"\n")
STEP_END = re.compile(re.escape(sql_clients.END.encode()) + rb"\n")
WINDOW = 32 << 10  # bytes sent to a conversation and not yet answered
FLUSH = 8 << 10  # requests are sent in writes of about this size (a write each costs more than the request)


def replay(
    engine: EngineLike,
    traffic: Iterable[Traffic],
    containers: dict[str, str],
    probe: str | None,
    token: Token,
    writes: bool = True,
    users: Users | None = None,
) -> list[Observation]:
    """Observe every distinct entry of every log once (without `writes`, only those that
    read); files one after another, so that every copy sees the same order. SQL clients run
    as the OS user lab.users says (without `users`, the container's)."""
    found: list[Observation] = []
    replaying = _Replay(engine, containers, probe, token, users)
    try:
        for log in traffic:
            steps = [s for s in log.steps if writes or not s.writes or not s.id]
            found += replaying.sql(log, steps) if log.protocol == "sql" else replaying.probed(log, steps)
    finally:
        replaying.close()
    return found


@dataclass
class _Sent:
    """Something sent and not yet answered: a step's first run, a further run, a setup."""

    index: int
    step: Step | None
    first: bool
    deadline: float
    size: int
    barrier: bool
    sent_at: float = field(default_factory=time.perf_counter)


class _Lane:
    """One conversation and what was sent to it, in order, not yet answered."""

    def __init__(self, conversation: Conversation, end: re.Pattern[bytes]):
        self.conversation = conversation
        self.end = end
        self.waiting: deque[_Sent] = deque()
        self.bytes = 0
        self.barriers = 0  # writes (and control statements) among what is waiting
        self.last = time.perf_counter()  # when the last answer came
        self.closing = False  # the session's last step is sent: once answered, the client is free
        self.key = ("", "")  # (container, what the client is bound to), for reuse
        self.outgoing = bytearray()
        self.unsent: list[_Sent] = []
        self.fresh = True  # a new client process (not one reused for another session)

    def flush(self) -> None:
        if self.outgoing:
            data, self.outgoing = bytes(self.outgoing), bytearray()
            now = time.perf_counter()
            for sent in self.unsent:
                sent.sent_at = now
            self.unsent.clear()
            self.conversation.send(data)

    def send(self, sent: _Sent, data: bytes) -> None:
        self.outgoing += data
        self.unsent.append(sent)
        self.waiting.append(sent)
        if len(self.outgoing) >= FLUSH:
            self.flush()
        self.bytes += sent.size
        self.barriers += sent.barrier

    def receive(self) -> tuple[_Sent, bytes, float]:
        """The oldest answer, and how long it took (since it was sent, or since the answer
        before it, whichever came later: the server's time when requests queue). What is
        still to be sent goes when the other side is about to run out of requests."""
        if len(self.unsent) == len(self.waiting) or self.bytes - len(self.outgoing) < FLUSH:
            self.flush()
        sent = self.waiting[0]
        said, _ = self.conversation.receive(self.end, sent.deadline)
        self.waiting.popleft()
        self.bytes -= sent.size
        self.barriers -= sent.barrier
        now = time.perf_counter()
        took, self.last = now - max(sent.sent_at, self.last), now
        return sent, said, took


class _Replay:
    """The copy's conversations: the probe's, and one per logged SQL session."""

    def __init__(
        self, engine: EngineLike, containers: dict[str, str], probe: str | None, token: Token, users: Users | None
    ):
        self.engine, self.containers, self.probe_name, self.token = engine, containers, probe, token
        self.users = users
        self.probe: _Lane | None = None
        self.lanes: list[_Lane] = []
        self.idle: dict[tuple[str, str], list[_Lane]] = {}  # ended sessions' clients, to reuse
        self.unusable: dict[tuple[str, str], LabError] = {}  # clients that could not start: not tried again

    def close(self) -> None:
        for lane in self.lanes:
            lane.conversation.close()
        self.lanes.clear()

    def _open(self, container: str, argv: list[str], end: re.Pattern[bytes], user: str | None = None) -> _Lane:
        lane = _Lane(Conversation(self.engine, container, argv, self.token, user), end)
        self.lanes.append(lane)
        return lane

    # http and redis, through the probe -------------------------------------------------
    def probed(self, log: Traffic, steps: list[Step]) -> list[Observation]:
        found: dict[int, Observation] = {}
        for index, step in enumerate(steps):
            self.token.check()
            runs = step.runs(log.spec.repeat)
            data = json.dumps(_probe_request(log, step, runs)).encode() + b"\n"
            try:
                if self.probe_name is None:
                    raise LabError("no probe container in this copy")
                if self.probe is None or self.probe.conversation.broken:
                    self.probe = self._open(self.probe_name, PROBE_ARGV, LINE_END)
                while self.probe.bytes > WINDOW:
                    self._answer_probe(self.probe, log, found)
                self.probe.send(_Sent(index, step, True, log.spec.timeout * runs + GRACE, len(data), False), data)
            except LabError as err:
                found[index] = _could_not(step, err)
        while self.probe is not None and self.probe.waiting:
            self._answer_probe(self.probe, log, found)
        return [found[i] for i in sorted(found)]

    def _answer_probe(self, lane: _Lane, log: Traffic, found: dict[int, Observation]) -> None:
        try:
            sent, said, _ = lane.receive()
            assert sent.step is not None
            answer = json.loads(said)
            found[sent.index] = _redis(sent.step, answer) if log.protocol == "redis" else _http(sent.step, answer)
        except (LabError, ValueError) as err:
            for lost in lane.waiting:
                assert lost.step is not None
                found[lost.index] = _could_not(lost.step, err)
            lane.waiting.clear()
            lane.bytes = lane.barriers = 0

    # sql, through the database's own client ---------------------------------------------
    def sql(self, log: Traffic, steps: list[Step]) -> list[Observation]:
        spec = log.spec
        client = sql_clients.for_format(log.coverage.format)
        last = {step.entry.session: index for index, step in enumerate(steps)}
        sessions: dict[str, _Lane] = {}
        found: dict[int, Observation] = {}
        for index, step in enumerate(steps):
            self.token.check()
            session = step.entry.session
            barrier = step.writes or not step.id
            for other, lane in list(sessions.items()):
                if other != session and (barrier or lane.barriers):
                    self._drain(sessions, other, client, found)
            runs = step.runs(spec.repeat)
            statement = step.entry.request["statement"]
            try:
                lane = sessions.get(session) or self._session(sessions, step, client, spec, found)
                while lane.bytes > WINDOW and lane.waiting:
                    self._answer_sql(lane, client, found)
                for run in range(runs if client.repeats_alone else 1):
                    data = client.step(statement, 1 if client.repeats_alone else runs)
                    deadline = spec.timeout * (1 if client.repeats_alone else runs) + GRACE
                    lane.send(_Sent(index, step, run == 0, deadline, len(data), barrier), data)
            except LabError as err:
                if step.id:
                    found[index] = _could_not(step, err)
            if last[session] == index and session in sessions:
                sessions[session].closing = True
        for session in list(sessions):
            self._drain(sessions, session, client, found)
        return [found[i] for i in sorted(found)]

    def _session(
        self,
        sessions: dict[str, _Lane],
        step: Step,
        client: sql_clients.Client,
        spec: ReplayLog,
        found: dict[int, Observation],
    ) -> _Lane:
        """The client of a logged session: one whose session ended, connected anew (the
        answers of an ended session are awaited for that), or else a new one."""
        container = self.containers[step.target[0]]
        key = (container, client.pool_key(step, spec))
        if key in self.unusable:  # no such client in the image, or it cannot log in: so for every session
            raise self.unusable[key]
        if not self.idle.get(key):
            ended = next((name for name, lane in sessions.items() if lane.closing and lane.key == key), None)
            if ended is not None:
                self._drain(sessions, ended, client, found)
        idle = self.idle.get(key)
        if idle:
            lane = idle.pop()
            lane.fresh = False
            setup = client.reuse(step, spec)
        else:
            argv, setup = client.start(step, spec)
            os_user = self.users.database(step.target[0], client.dialect) if self.users else None
            lane = self._open(container, argv, STEP_END, os_user)
        lane.key = key
        lane.closing = False
        lane.conversation.name = f"{client.name} as {step.entry.request['user']} ({shlex.quote(step.entry.session)})"
        sessions[step.entry.session] = lane
        lane.send(_Sent(-1, None, False, spec.timeout + GRACE, len(setup), False), setup)
        return lane

    def _drain(
        self, sessions: dict[str, _Lane], session: str, client: sql_clients.Client, found: dict[int, Observation]
    ) -> None:
        lane = sessions[session]
        while lane.waiting:
            self._answer_sql(lane, client, found)
        if lane.closing:
            del sessions[session]
            if not lane.conversation.broken:
                self.idle.setdefault(lane.key, []).append(lane)

    def _answer_sql(self, lane: _Lane, client: sql_clients.Client, found: dict[int, Observation]) -> None:
        try:
            sent, said, took = lane.receive()
        except LabError as err:
            if lane.fresh and lane.waiting and lane.waiting[0].step is None:  # the client did not even start
                self.unusable[lane.key] = err
            for lost in lane.waiting:
                if lost.step is not None and lost.step.id and lost.first:
                    found[lost.index] = _could_not(lost.step, err)
            lane.waiting.clear()
            lane.bytes = lane.barriers = 0
            return
        step = sent.step
        if step is None or not step.id:
            return
        if not sent.first:  # a further run: its time only
            if sent.index in found and found[sent.index].outcome == Outcome.PASSED:
                found[sent.index].seconds.append(took)
            return
        got = client.answer(said.decode("utf-8", "backslashreplace"))
        found[sent.index] = _observation(step, got.outcome, got.message, got.output, got.seconds or [took])


def _probe_request(log: Traffic, step: Step, runs: int) -> dict[str, Any]:
    service, port = step.target
    request: dict[str, Any] = {"host": service, "port": port, "repeat": runs, "timeout": log.spec.timeout}
    logged = step.entry.request
    if log.protocol == "redis":
        return request | {"type": "redis", "db": logged["db"], "args": logged["args"]}
    return request | {
        "type": "http",
        "method": logged["method"],
        "path": logged["url"],
        "host_header": logged["host"] or None,
        "headers": logged["headers"],
        "body": logged["body"],
        "binary": logged.get("binary", False),
    }


def _observation(
    step: Step, outcome: Outcome, message: str, output: dict[str, Any], seconds: list[float]
) -> Observation:
    return Observation(
        id=step.id,
        service=step.target[0],
        outcome=outcome,
        kind=Kind.REPLAY,
        message=message,
        output=output,
        seconds=seconds,
        source=step.source,
    )


def _could_not(step: Step, err: Exception) -> Observation:
    return _observation(step, Outcome.ERROR, f"could not replay: {err}", {"error": str(err)}, [])


def _http(step: Step, answer: dict[str, Any]) -> Observation:
    if answer["error"]:
        return _observation(step, Outcome.FAILED, answer["error"], {"error": answer["error"]}, [])
    status = answer["status"]
    output = {
        "status": status,
        "headers": {k: v for k, v in answer["headers"].items() if k == "content-type"},
        "body": json_or_text(answer["body"], answer["binary"]),
    }
    outcome = Outcome.FAILED if status >= 500 else Outcome.PASSED
    return _observation(step, outcome, f"HTTP {status}" if status >= 500 else "", output, answer["seconds"])


def _redis(step: Step, answer: dict[str, Any]) -> Observation:
    if answer["error"]:
        return _observation(step, Outcome.FAILED, answer["error"], {"error": answer["error"]}, [])
    if answer["failed"] is not None:
        return _observation(step, Outcome.FAILED, answer["failed"], {"error": answer["failed"]}, answer["seconds"])
    reply = shapes.redis_reply(step.entry.request["args"], answer["reply"])
    return _observation(step, Outcome.PASSED, "", {"reply": reply}, answer["seconds"])
