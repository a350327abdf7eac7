"""Replay the client's traffic against one copy: every step of every log, in log order,
each distinct entry observed as a check (lab.results.Observation, kind replay).

- HTTP requests and Redis commands go through one long-running probe process in the
  copy's network (`http-probe --serve`): one JSON line per request each way, connections
  kept open between requests.
- SQL statements go to the logged database as the logged user, through one psql process
  per logged session, opened at the session's first statement and closed after its last:
  a session's statements (and its BEGIN, SET ROLE, COMMIT) stay in one session, in order,
  and sessions interleave as the log has them.

Each step is bounded by the log's `timeout`; the token stops a replay within a second.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from collections.abc import Iterable
from typing import Any

from lab.cancel import Token
from lab.checks.declarative import json_or_text
from lab.engine.session import GRACE, Conversation
from lab.engine.types import EngineLike
from lab.errors import LabError, Stopped
from lab.replay import shapes
from lab.replay.select import Step, Traffic
from lab.results import Kind, Observation, Outcome

PROBE_ARGV = ["python3", "/usr/local/bin/http-probe", "--serve"]
LINE_END = re.compile(rb"\n")
STEP_END = re.compile(rb"@@lab-end@@\n")
TIME_RE = re.compile(r"^Time: ([\d.]+) ms(?: \(.*\))?$")
ERROR_MARK = "@@lab-error@@ "
COUNT_MARK = "@@lab-count@@ "
NULL = "<NULL>"
PSQL_SETUP = "\\pset format csv\n\\pset null '<NULL>'\n\\pset pager off\n\\timing on\n"


def replay(
    engine: EngineLike,
    traffic: Iterable[Traffic],
    containers: dict[str, str],
    probe: str | None,
    token: Token,
    writes: bool = True,
) -> list[Observation]:
    """Observe every distinct entry of every log once (without `writes`, only those that
    read); files one after another, so that every copy sees the same order."""
    found: list[Observation] = []
    talk = _Talk(engine, containers, probe, token)
    try:
        for log in traffic:
            steps = [s for s in log.steps if writes or not s.writes or not s.id]
            found += _sql(talk, log, steps) if log.protocol == "sql" else _probed(talk, log, steps)
    finally:
        talk.close()
    return found


class _Talk:
    """The copy's conversations: the probe's, and psql's per logged session."""

    def __init__(self, engine: EngineLike, containers: dict[str, str], probe: str | None, token: Token):
        self.engine, self.containers, self.probe_name, self.token = engine, containers, probe, token
        self.probe: Conversation | None = None
        self.sessions: dict[str, Conversation] = {}

    def probe_ask(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        if self.probe_name is None:
            raise LabError("no probe container in this copy")
        if self.probe is None or self.probe.broken:
            self.probe = Conversation(self.engine, self.probe_name, PROBE_ARGV, self.token)
        said, _ = self.probe.ask(json.dumps(request).encode() + b"\n", LINE_END, deadline)
        answer: dict[str, Any] = json.loads(said)
        return answer

    def close(self) -> None:
        for conversation in [self.probe, *self.sessions.values()]:
            if conversation is not None:
                conversation.close()
        self.sessions.clear()


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


# http and redis, through the probe ------------------------------------------------------
def _probed(talk: _Talk, log: Traffic, steps: list[Step]) -> list[Observation]:
    found = []
    spec = log.spec
    for step in steps:
        talk.token.check()
        runs = step.runs(spec.repeat)
        service, port = step.target
        request: dict[str, Any] = {"host": service, "port": port, "repeat": runs, "timeout": spec.timeout}
        if log.protocol == "redis":
            request |= {"type": "redis", "db": step.entry.request["db"], "args": step.entry.request["args"]}
        else:
            logged = step.entry.request
            request |= {
                "type": "http",
                "method": logged["method"],
                "path": logged["url"],
                "host_header": logged["host"] or None,
                "headers": logged["headers"],
                "body": logged["body"],
                "binary": logged.get("binary", False),
            }
        try:
            answer = talk.probe_ask(request, spec.timeout * runs + GRACE)
        except Stopped:
            raise
        except (LabError, ValueError) as err:
            found.append(_could_not(step, err))
            continue
        found.append(_redis(step, answer) if log.protocol == "redis" else _http(step, answer))
    return found


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


# sql, through psql ----------------------------------------------------------------------
def _sql(talk: _Talk, log: Traffic, steps: list[Step]) -> list[Observation]:
    spec = log.spec
    last = {step.entry.session: index for index, step in enumerate(steps)}
    found = []
    for index, step in enumerate(steps):
        talk.token.check()
        session = step.entry.session
        try:
            conversation = talk.sessions.get(session)
            if conversation is None:
                conversation = _psql(talk, step, spec.timeout)
                talk.sessions[session] = conversation
            runs = step.runs(spec.repeat)
            said, _ = conversation.ask(
                _psql_step(step.entry.request["statement"], runs), STEP_END, spec.timeout * runs + GRACE
            )
        except Stopped:
            raise
        except LabError as err:
            if step.id:
                found.append(_could_not(step, err))
            continue
        finally:
            if last[session] == index and session in talk.sessions:
                talk.sessions.pop(session).close()
        if step.id:
            found.append(_psql_answer(step, said.decode("utf-8", "backslashreplace")))
    return found


def _psql(talk: _Talk, step: Step, timeout: float) -> Conversation:
    request = step.entry.request
    argv = [
        "env",
        f"PGOPTIONS=-c statement_timeout={int(timeout * 1000)}",
        "LC_ALL=C.UTF-8",  # "Time:", not "Zeit:"
        "psql",
        "--no-psqlrc",
        "--quiet",
        f"--username={request['user']}",
        f"--dbname={request['database']}",
        "--file=-",
    ]
    conversation = Conversation(talk.engine, talk.containers[step.target[0]], argv, talk.token)
    conversation.stream.send(PSQL_SETUP.encode())
    conversation.name = f"psql as {request['user']} on {request['database']} ({shlex.quote(step.entry.session)})"
    return conversation


def _psql_step(statement: str, runs: int) -> bytes:
    """The statement on lines of its own (a trailing `-- comment` ends there), its repeats
    (`\\g` into /dev/null), then its error, its row count and the end marker."""
    lines = [statement.strip().rstrip(";"), ";"]
    if runs > 1:
        lines += ["\\o /dev/null", *["\\g"] * (runs - 1), "\\o"]
    lines += [
        "\\if :ERROR",
        f"\\echo {ERROR_MARK.strip()} :'LAST_ERROR_MESSAGE'",
        "\\endif",
        f"\\echo {COUNT_MARK.strip()} :ROW_COUNT",
        "\\echo @@lab-end@@",
    ]
    return ("\n".join(lines) + "\n").encode()


def _psql_answer(step: Step, said: str) -> Observation:
    """Rows (CSV), timings, error and row count out of one step's output."""
    error_at = said.find(ERROR_MARK)
    count_at = said.rfind(COUNT_MARK)
    count = said[count_at + len(COUNT_MARK) :].strip() if count_at >= 0 else ""
    body = said[: error_at if error_at >= 0 else count_at if count_at >= 0 else len(said)]
    times, table = [], []
    for line in body.splitlines(keepends=True):
        found = TIME_RE.match(line.strip())
        if found:
            times.append(float(found.group(1)) / 1000)
        else:
            table.append(line)
    if error_at >= 0:
        message = said[error_at + len(ERROR_MARK) : count_at if count_at >= 0 else len(said)].strip()
        message = message[1:-1].replace("''", "'") if message.startswith("'") and message.endswith("'") else message
        return _observation(step, Outcome.FAILED, f"ERROR: {message}", {"error": f"ERROR: {message}"}, times[:1])
    rows = list(csv.reader(io.StringIO("".join(table))))
    if rows:
        columns, values = rows[0], rows[1:]
    else:  # a statement without rows: what it did is its row count
        columns, values = ["rows affected"], [[count]]
    output = {
        "columns": [{"name": c, "type": ""} for c in columns],
        "rows": [[None if v == NULL else v for v in row] for row in values],
    }
    return _observation(step, Outcome.PASSED, "", output, times)
