"""SQL checks: a query run with the service's own client in its container — psql (with
column types from `\\gdesc` and psql's own timing of each run), mariadb/mysql, sqlite3 —
its answer read into plain rows that the comparison diffs."""

from __future__ import annotations

import csv
import io
import re
import shlex

from lab.checks.commands import Runner, bounded, deadline_passed, timed_out
from lab.engine.types import ExecResult
from lab.errors import LabError
from lab.results import Observation, Outcome
from lab.scenario.model import SqlCheck

NULL = "<NULL>"
ROWS_MARK = "@@lab-rows@@"
TIME_RE = re.compile(r"^Time: ([\d.]+) ms( \(.*\))?$")
csv.field_size_limit(1 << 30)  # a large text or JSON value is an answer, not an error
PSQL_PREFIX_RE = re.compile(r"^psql:<stdin>:\d+: ", re.MULTILINE)


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


def observe(run: Runner, check_id: str, check: SqlCheck, container: str, os_user: str | None = None) -> Observation:
    """The query's answer, its client run as `os_user` (lab.users)."""
    if check.dialect == "postgresql":
        argv = ["psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--file=-"]
        argv += [f"--username={check.user}"] if check.user else []
        argv += [f"--dbname={check.database}"] if check.database else []
        shell = 'printf "%s" "$LAB_SQL" | ' + shlex.join(argv)
        result = run(
            container,
            bounded(["sh", "-c", shell], check.timeout),
            {"LAB_SQL": sql_script(check.query, check.repeat), "LC_ALL": "C.UTF-8"},  # "Time:", not "Zeit:"
            os_user,
            check.timeout,
        )
        if timed_out(result):
            return deadline_passed(check_id, check)
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
    return _sql_simple(run, check_id, check, container, os_user)


def _sql_simple(run: Runner, check_id: str, check: SqlCheck, container: str, os_user: str | None) -> Observation:
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
        result = run(container, bounded(argv, check.timeout), None, os_user, check.timeout)
        if timed_out(result):
            return deadline_passed(check_id, check)
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
