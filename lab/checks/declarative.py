"""Declarative checks (sql, http, command): run them against one copy, record what they
answered as plain, comparable data (lab.results.Observation).

- sql runs the query with the service's own client (psql, mariadb/mysql, sqlite3) in the
  service's container; PostgreSQL also reports column types and times each run itself.
- http runs in the copy's probe container (lab/probe), which sends the request to the
  service by name on the copy's own network and times each response itself.
- command runs in the service's container; exit code, stdout and stderr are kept.

Commands reach the containers through long-lived shell sessions (lab.session), not a
`docker exec` each. Checks of one copy run concurrently. Each run is bounded by the check's timeout
(`timeout` inside the container), so a hanging query or command cannot hang the pilot.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lab.cancel import Token
from lab.engine.session import ShellPool
from lab.engine.types import EngineLike, ExecResult
from lab.errors import LabError, Stopped
from lab.results import Kind, Observation, Outcome
from lab.scenario.loading import Scenario
from lab.scenario.model import CommandCheck, HttpCheck, Probe, SqlCheck

NULL = "<NULL>"
ROWS_MARK = "@@lab-rows@@"
TIME_RE = re.compile(r"^Time: ([\d.]+) ms( \(.*\))?$")
csv.field_size_limit(1 << 30)  # a large text or JSON value is an answer, not an error
PSQL_PREFIX_RE = re.compile(r"^psql:<stdin>:\d+: ", re.MULTILINE)
PARALLEL = 4
KINDS: dict[type[Probe], Kind] = {SqlCheck: Kind.SQL, HttpCheck: Kind.HTTP, CommandCheck: Kind.COMMAND}
# How a check's command reaches a container: (container, argv, env, user, timeout).
Runner = Callable[[str, list[str], dict[str, str] | None, str | None, float], ExecResult]


def all_checks(scenario: Scenario) -> list[tuple[str, Probe]]:
    """(id, check) of every declarative check, e.g. ("sql:open invoices", SqlCheck(...))."""
    checks = scenario.checks
    return [
        (f"{kind}:{c.name}", c)
        for kind, items in (("sql", checks.sql), ("http", checks.http), ("command", checks.command))
        for c in items
    ]


def run_all(
    engine: EngineLike, scenario: Scenario, containers: dict[str, str], probe: str | None, token: Token
) -> list[Observation]:
    """Observe every declarative check once, several at a time, through shell sessions;
    raises the token's error within a second of it being set."""
    checks = all_checks(scenario)
    shells = ShellPool(engine, token)
    try:
        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="probe") as pool:
            return list(pool.map(lambda item: observe(shells, item[0], item[1], containers, probe), checks))
    finally:
        shells.close()


def observe(run: Runner, check_id: str, check: Probe, containers: dict[str, str], probe: str | None) -> Observation:
    """Run one check against one copy; a failure to run is an observation too."""
    container = containers[check.service]
    try:
        if isinstance(check, SqlCheck):
            found = _sql(run, check_id, check, container)
        elif isinstance(check, HttpCheck):
            if probe is None:
                raise LabError("no probe container for HTTP checks")
            found = _http(run, check_id, check, probe)
        else:
            assert isinstance(check, CommandCheck)
            found = _command(run, check_id, check, container)
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


def bounded(argv: list[str], seconds: float) -> list[str]:
    """`argv` stopped by coreutils' timeout after `seconds` (exit code 124 or 137)."""
    return ["timeout", "-s", "KILL", f"{seconds:g}", *argv]


def _timed_out(result: ExecResult) -> bool:
    return result.exit_code in (124, 137)


# sql ----------------------------------------------------------------------------------
def sql_script(query: str, repeat: int) -> str:
    """The psql script: column types (\\gdesc), a marker, the rows, then timed repeats
    (`\\g` runs the last query again, so a long query is not repeated in the script).
    The query stands on lines of its own, so that a trailing `-- comment` ends there."""
    q = query.strip().rstrip(";")
    lines = [
        "\\pset format csv",
        f"\\pset null '{NULL}'",
        "\\pset pager off",
        q,
        "\\gdesc",
        f"\\echo {ROWS_MARK}",
        "\\timing on",
        q,
        ";",
        "\\o /dev/null",
    ]
    lines += ["\\g"] * (repeat - 1)
    return "\n".join(lines) + "\n"


def parse_psql(stdout: str, repeat: int) -> tuple[list[dict[str, str]], list[list[str | None]], list[float]]:
    """Columns (name, type), rows and timings out of `sql_script`'s output."""
    head, _, rest = stdout.partition(ROWS_MARK + "\n")
    described = list(csv.reader(io.StringIO(head)))[1:]
    columns = [{"name": row[0], "type": row[1]} for row in described if len(row) >= 2]
    lines = rest.splitlines(keepends=True)
    times: list[float] = []
    while lines and TIME_RE.match(lines[-1]):
        times.insert(0, float(TIME_RE.match(lines.pop()).group(1)) / 1000)  # type: ignore[union-attr]
    rows = list(csv.reader(io.StringIO("".join(lines))))[1:] if columns else []
    return columns, [[None if v == NULL else v for v in row] for row in rows], times[:repeat]


def _sql(run: Runner, check_id: str, check: SqlCheck, container: str) -> Observation:
    if check.dialect == "postgresql":
        argv = ["psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--file=-"]
        argv += [f"--username={check.user}"] if check.user else []
        argv += [f"--dbname={check.database}"] if check.database else []
        shell = 'printf "%s" "$LAB_SQL" | ' + shlex.join(argv)
        result = run(
            container,
            bounded(["sh", "-c", shell], check.timeout),
            {"LAB_SQL": sql_script(check.query, check.repeat), "LC_ALL": "C.UTF-8"},  # "Time:", not "Zeit:"
            None,
            check.timeout,
        )
        if _timed_out(result):
            return _deadline(check_id, check)
        if result.exit_code != 0:
            return _sql_error(check_id, check, PSQL_PREFIX_RE.sub("", result.stderr).strip(), result)
        columns, rows, times = parse_psql(result.stdout, check.repeat)
        return Observation(
            id=check_id,
            service=check.service,
            outcome=Outcome.PASSED,
            output={"columns": columns, "rows": rows},
            seconds=times or [result.seconds],
        )
    return _sql_simple(run, check_id, check, container)


def _sql_simple(run: Runner, check_id: str, check: SqlCheck, container: str) -> Observation:
    """MariaDB/MySQL and SQLite: values through the client's CSV/tab output, timed per run."""
    if check.dialect == "sqlite":
        argv = ["sqlite3", "-header", "-csv", "-nullvalue", NULL, check.database or ":memory:", check.query]
    else:
        client = 'c=$(command -v mariadb || command -v mysql) || { echo "no mariadb or mysql client" >&2; exit 127; }'
        args = ["--batch", f"--execute={check.query}"]  # batch mode escapes tabs and newlines
        args += [f"--user={check.user}"] if check.user else []
        args += [check.database] if check.database else []
        argv = ["sh", "-c", client + ' && exec "$c" "$@"', "sh", *args]
    times: list[float] = []
    first: ExecResult | None = None
    for _ in range(check.repeat):
        result = run(container, bounded(argv, check.timeout), None, None, check.timeout)
        if _timed_out(result):
            return _deadline(check_id, check)
        if result.exit_code != 0:
            return _sql_error(check_id, check, result.stderr.strip() or result.stdout.strip(), result)
        first = first or result
        times.append(result.seconds)
    assert first is not None
    if check.dialect == "sqlite":
        table = list(csv.reader(io.StringIO(first.stdout)))
    else:  # batch mode: tab-separated, tabs and newlines escaped, no quoting (but \r is raw)
        table = [[NULL if v == "NULL" else v for v in line.split("\t")] for line in first.stdout.split("\n") if line]
    header, rows = (table[0], table[1:]) if table else ([], [])
    if any(len(row) != len(header) for row in rows):
        raise LabError(f"the {check.dialect} client's answer could not be read: rows of another width than its header")
    return Observation(
        id=check_id,
        service=check.service,
        outcome=Outcome.PASSED,
        output={
            "columns": [{"name": h, "type": ""} for h in header],
            "rows": [[None if v == NULL else v for v in row] for row in rows],
        },
        seconds=times,
    )


def _sql_error(check_id: str, check: SqlCheck, message: str, result: ExecResult) -> Observation:
    if result.exit_code == 127:
        message = f"no {check.dialect} client in service '{check.service}': {message}"
    lines = message.splitlines()
    return Observation(
        id=check_id,
        service=check.service,
        outcome=Outcome.FAILED,
        message=next((line for line in lines if "ERROR" in line), lines[0] if lines else f"exit {result.exit_code}"),
        output={"error": message},
        seconds=[result.seconds],
    )


# http ---------------------------------------------------------------------------------
def _http(run: Runner, check_id: str, check: HttpCheck, probe: str) -> Observation:
    request = {
        "host": check.service,
        "port": check.port,
        "method": check.method.upper(),
        "path": check.path,
        "headers": check.headers,
        "body": check.body,
        "repeat": check.repeat,
        "timeout": check.timeout,
    }
    deadline = check.timeout * check.repeat + 5
    result = run(
        probe,
        bounded(["python3", "/usr/local/bin/http-probe"], deadline),
        {"LAB_REQUEST": json.dumps(request)},
        None,
        deadline,
    )
    if _timed_out(result):
        return _deadline(check_id, check)
    try:
        answer = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise LabError(f"the HTTP probe failed: {result.stderr.strip()[-500:]}") from None
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
    passed = status == check.expect_status if check.expect_status is not None else status < 400
    wanted = {h.lower() for h in check.compare_headers}
    output = {
        "status": status,
        "headers": {k: v for k, v in answer["headers"].items() if k in wanted},
        "body": _json_or_text(answer["body"], answer["binary"]),
    }
    message = "" if passed else f"HTTP {status} (expected {check.expect_status or 'a status below 400'})"
    return Observation(
        id=check_id,
        service=check.service,
        outcome=Outcome.PASSED if passed else Outcome.FAILED,
        message=message,
        output=output,
        seconds=answer["seconds"],
    )


def _json_or_text(body: str, binary: bool) -> Any:
    if binary:
        return {"binary (base64)": body}
    try:
        return {"json": json.loads(body)}
    except ValueError:
        return {"text": body}


# command ------------------------------------------------------------------------------
def _command(run: Runner, check_id: str, check: CommandCheck, container: str) -> Observation:
    argv = ["sh", "-c", check.run] if isinstance(check.run, str) else list(check.run)
    times: list[float] = []
    first: ExecResult | None = None
    for _ in range(check.repeat):
        result = run(container, bounded(argv, check.timeout), None, check.user, check.timeout)
        if _timed_out(result):
            return _deadline(check_id, check)
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


def _deadline(check_id: str, check: Probe) -> Observation:
    return Observation(
        id=check_id,
        service=check.service,
        outcome=Outcome.ERROR,
        message=f"stopped at its deadline ({check.timeout:g} s)",
        output={"error": "deadline"},
    )
