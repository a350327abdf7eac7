"""Declarative checks (sql, http, command): run them against one copy, record what they
answered as plain, comparable data (lab.results.Observation).

- sql runs the query with the service's own client (psql, mariadb/mysql, sqlite3) in the
  service's container; PostgreSQL also reports column types and times each run itself.
- http runs in the copy's probe container (lab/checks/probe), which sends the request to the
  service by name on the copy's own network and times each response itself.
- command runs in the service's container; exit code, stdout and stderr are kept.

Commands reach the containers through long-lived shell sessions (lab.engine.session), not a
`docker exec` each. Checks of one copy run concurrently. Each run is bounded by the check's timeout
(`timeout` inside the container), so a hanging query or command cannot hang the pilot.
"""

from __future__ import annotations

import csv
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lab.cancel import Token
from lab.checks import sql
from lab.checks.commands import Runner, argv_of, bounded, deadline_passed, timed_out
from lab.engine.session import ShellPool
from lab.engine.types import EngineLike, ExecResult
from lab.errors import LabError, Stopped
from lab.results import Kind, Observation, Outcome
from lab.scenario import Scenario
from lab.scenario.model import CommandCheck, HttpCheck, Probe, SqlCheck
from lab.users import Users

PARALLEL = 4
KINDS: dict[type[Probe], Kind] = {SqlCheck: Kind.SQL, HttpCheck: Kind.HTTP, CommandCheck: Kind.COMMAND}


def all_checks(scenario: Scenario) -> list[tuple[str, Probe]]:
    """(id, check) of every declarative check, e.g. ("sql:open invoices", SqlCheck(...))."""
    checks = scenario.checks
    return [
        (f"{kind}:{c.name}", c)
        for kind, items in (("sql", checks.sql), ("http", checks.http), ("command", checks.command))
        for c in items
    ]


def run_all(
    engine: EngineLike,
    scenario: Scenario,
    containers: dict[str, str],
    probe: str | None,
    token: Token,
    users: Users,
    writes: bool = True,
) -> list[Observation]:
    """Observe every declarative check once (without `writes`, only those that read),
    several at a time, through shell sessions; raises the token's error within a second of
    it being set."""
    checks = [(i, c) for i, c in all_checks(scenario) if writes or not c.writes]
    shells = ShellPool(engine, token)
    try:
        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="probe") as pool:
            return list(pool.map(lambda item: observe(shells, item[0], item[1], containers, probe, users), checks))
    finally:
        shells.close()


def observe(
    run: Runner, check_id: str, check: Probe, containers: dict[str, str], probe: str | None, users: Users | None = None
) -> Observation:
    """Run one check against one copy (as the OS user lab.users says; without `users`, the
    container's own); a failure to run is an observation too."""
    container = containers[check.service]
    try:
        if isinstance(check, SqlCheck):
            found = sql.observe(
                run, check_id, check, container, users.database(check.service, check.dialect) if users else None
            )
        elif isinstance(check, HttpCheck):
            if probe is None:
                raise LabError("no probe container for HTTP checks")
            found = _http(run, check_id, check, probe)
        else:
            assert isinstance(check, CommandCheck)
            found = _command(
                run, check_id, check, container, users.command(check.service, check.run_as) if users else check.run_as
            )
    except Stopped:
        raise
    except (LabError, csv.Error, ValueError) as err:
        found = Observation(
            id=check_id,
            service=check.service,
            outcome=Outcome.ERROR,
            message=f"could not run: {err}",
            output={"error": str(err)},
        )
    found.kind = KINDS[type(check)]
    return found


# http ---------------------------------------------------------------------------------
def http_request(check: HttpCheck) -> dict[str, Any]:
    """What the probe is asked to send (lab/checks/probe/http_probe.py); a body file's bytes
    go as they are (as latin-1 text when they are not UTF-8)."""
    body, binary = check.body, False
    if check.body_file is not None:
        data = Path(check.body_file).read_bytes()
        try:
            body = data.decode("utf-8")
        except UnicodeDecodeError:
            body, binary = data.decode("latin-1"), True
    return {
        "host": check.service,
        "port": check.port,
        "scheme": check.scheme,
        "method": check.method.upper(),
        "path": check.path,
        "host_header": check.host,
        "headers": [list(pair) for pair in check.headers],
        "body": body,
        "binary": binary,
        "repeat": check.repeat,
        "timeout": check.timeout,
    } | ({"http2": True} if check.http_version == "2" else {})


def _http(run: Runner, check_id: str, check: HttpCheck, probe: str) -> Observation:
    deadline = check.timeout * check.repeat + 5
    result = run(
        probe,
        bounded(["python3", "/usr/local/bin/http-probe"], deadline),
        {"LAB_REQUEST": json.dumps(http_request(check))},
        None,
        deadline,
    )
    if timed_out(result):
        return deadline_passed(check_id, check)
    try:
        answer = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise LabError(f"the HTTP probe failed: {result.stderr.strip()[-500:]}") from None
    return http_observation(check_id, check, answer)


def http_observation(check_id: str, check: HttpCheck, answer: dict[str, Any], fails_from: int = 400) -> Observation:
    """The probe's answer to a check's request, as the check's observation: without an
    expected status, one from `fails_from` up fails."""
    if answer["error"]:
        where = f"{check.method} http://{check.service}:{check.port}{check.path}"
        return Observation(
            id=check_id,
            service=check.service,
            outcome=Outcome.FAILED,
            message=f"{where}: {answer['error']}",
            output={"error": answer["error"]},
        )
    status = answer["status"]
    passed = status == check.expect_status if check.expect_status is not None else status < fails_from
    wanted = {h.lower() for h in check.compare_headers}
    output = {
        "status": status,
        "headers": {k: v for k, v in answer["headers"].items() if k in wanted},
        "body": json_or_text(answer["body"], answer["binary"]),
    } | {key: answer[key] for key in ("tls", "protocol") if answer.get(key)}
    message = "" if passed else f"HTTP {status} (expected {check.expect_status or f'a status below {fails_from}'})"
    return Observation(
        id=check_id,
        service=check.service,
        outcome=Outcome.PASSED if passed else Outcome.FAILED,
        message=message,
        output=output,
        seconds=answer["seconds"],
    )


def json_or_text(body: str, binary: bool) -> Any:
    if binary:
        return {"binary (base64)": body}
    try:
        return {"json": json.loads(body)}
    except ValueError:
        return {"text": body}


# command ------------------------------------------------------------------------------
def _command(run: Runner, check_id: str, check: CommandCheck, container: str, os_user: str | None) -> Observation:
    argv = argv_of(check.run)
    times: list[float] = []
    first: ExecResult | None = None
    for _ in range(check.repeat):
        result = run(container, bounded(argv, check.timeout), None, os_user, check.timeout)
        if timed_out(result):
            return deadline_passed(check_id, check)
        first = first or result
        times.append(result.seconds)
    assert first is not None
    passed = first.exit_code == check.expect_exit
    message = ""
    if not passed:
        said = (first.stderr.strip() or first.stdout.strip()).splitlines()
        message = f"exit code {first.exit_code} (expected {check.expect_exit})" + (f": {said[-1]}" if said else "")
    return Observation(
        id=check_id,
        service=check.service,
        outcome=Outcome.PASSED if passed else Outcome.FAILED,
        message=message,
        output={"exit_code": first.exit_code, "stdout": first.stdout, "stderr": first.stderr},
        seconds=times,
    )
