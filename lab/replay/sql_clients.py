"""How a replayed SQL session speaks to the database: the server's own client, one process
per logged session, fed one statement at a time, each followed by an end marker.

- psql (PostgreSQL): CSV rows, its own timing of each run (`\\timing`, repeats with `\\g`),
  the error message (`:LAST_ERROR_MESSAGE`) and the row count (`:ROW_COUNT`). With
  `connect_as`, the session opens as that (super)user and takes the logged user's
  identity (`SET SESSION AUTHORIZATION`): permissions are replayed without passwords.
- mariadb/mysql: batch mode with `--force` (errors do not end the session) and its error
  output in the same stream, the row count from `ROW_COUNT()`; repeats are timed as round
  trips. Connects as the logged user (or `connect_as`: MariaDB has no switch of identity).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from lab.replay.select import Step
from lab.results import Outcome
from lab.scenario.model import ReplayLog

END = "@@lab-end@@"
NULL = "<NULL>"
TIME_RE = re.compile(r"^Time: ([\d.]+) ms(?: \(.*\))?$")
ERROR_MARK = "@@lab-error@@ "
COUNT_MARK = "@@lab-count@@ "
MARIADB_ERROR_RE = re.compile(r"^ERROR(?: (\d+) \((\w+)\))?(?: at line \d+)?: (.*)$", re.MULTILINE)
MARIADB_ECHO_RE = re.compile(r"^-{14}\n.*?\n-{14}\n\n?", re.MULTILINE | re.DOTALL)  # --force echoes a failed query


@dataclass
class Answer:
    outcome: Outcome
    output: dict[str, Any]
    message: str = ""
    seconds: list[float] = field(default_factory=list)  # the client's own timings, where it has them


def _table(columns: list[str], rows: list[list[str]], count: str) -> Answer:
    if not columns:  # a statement without rows: what it did is its row count
        columns, rows = ["rows affected"], [[count]]
    output = {
        "columns": [{"name": c, "type": ""} for c in columns],
        "rows": [[None if v == NULL else v for v in row] for row in rows],
    }
    return Answer(Outcome.PASSED, output)


def _failed(message: str) -> Answer:
    return Answer(Outcome.FAILED, {"error": message}, message)


class Psql:
    name = "psql"
    dialect = "postgresql"  # which OS user its process runs as: lab.users
    repeats_alone = False  # psql times its own repeats (\g)

    @staticmethod
    def start(step: Step, spec: ReplayLog) -> tuple[list[str], bytes]:
        """The client's argv, and what sets the session up (answered by the end marker)."""
        request = step.entry.request
        login = spec.connect_as or request["user"]
        argv = [
            "env",
            f"PGOPTIONS=-c statement_timeout={int(spec.timeout * 1000)}",
            "LC_ALL=C.UTF-8",  # "Time:", not "Zeit:"
            "psql",
            "--no-psqlrc",
            "--quiet",
            f"--username={login}",
            f"--dbname={request['database']}",
            "--file=-",
        ]
        setup = f"\\pset format csv\n\\pset null '{NULL}'\n\\pset pager off\n\\timing on\n"
        return argv, (setup + Psql._identity(step, spec)).encode()

    @staticmethod
    def reuse(step: Step, spec: ReplayLog) -> bytes:
        """A new session in the same client: a new connection (`\\connect`: a new backend,
        a few milliseconds, where a new client process costs a `docker exec`)."""
        request = step.entry.request
        info = f"dbname={_conninfo(request['database'])} user={_conninfo(spec.connect_as or request['user'])}"
        return (f'\\connect "{info}"\n' + Psql._identity(step, spec)).encode()

    @staticmethod
    def pool_key(step: Step, spec: ReplayLog) -> str:
        return ""  # any psql can connect as anyone

    @staticmethod
    def _identity(step: Step, spec: ReplayLog) -> str:
        user = step.entry.request["user"]
        switch = f"SET SESSION AUTHORIZATION {_quoted(user)};\n" if (spec.connect_as or user) != user else ""
        return switch + f"\\echo {END}\n"

    @staticmethod
    def step(statement: str, runs: int) -> bytes:
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
            f"\\echo {END}",
        ]
        return ("\n".join(lines) + "\n").encode()

    @staticmethod
    def answer(said: str) -> Answer:
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
            if message.startswith("'") and message.endswith("'"):
                message = message[1:-1].replace("''", "'")
            answer = _failed(f"ERROR: {message}")
            answer.seconds = times[:1]
            return answer
        rows = list(csv.reader(io.StringIO("".join(table))))
        answer = _table(rows[0] if rows else [], rows[1:], count)
        answer.seconds = times
        return answer


class Mariadb:
    name = "mariadb"
    dialect = "mysql"
    repeats_alone = True  # batch mode has no timing of its own: each repeat is a round trip

    @staticmethod
    def start(step: Step, spec: ReplayLog) -> tuple[list[str], bytes]:
        request = step.entry.request
        client = 'c=$(command -v mariadb || command -v mysql) || { echo "no mariadb or mysql client"; exit 127; }'
        args = ["--batch", "--force", "--unbuffered", f"--user={spec.connect_as or request['user']}"]
        args += [request["database"]] if request["database"] else []
        argv = ["sh", "-c", client + ' && exec "$c" "$@" 2>&1', "sh", *args]  # errors in order with rows
        return argv, Mariadb._setup(spec)

    @staticmethod
    def reuse(step: Step, spec: ReplayLog) -> bytes:
        """A new session in the same client: `connect` opens a new connection (same user)."""
        database = step.entry.request["database"]
        return (f"connect {database}\n" if database else "connect\n").encode() + Mariadb._setup(spec)

    @staticmethod
    def pool_key(step: Step, spec: ReplayLog) -> str:
        return spec.connect_as or step.entry.request["user"]  # the client cannot change its user

    @staticmethod
    def _setup(spec: ReplayLog) -> bytes:
        return f"SET SESSION max_statement_time = {spec.timeout:g};\n\\! echo {END}\n".encode()

    @staticmethod
    def step(statement: str, runs: int) -> bytes:
        return f"{statement.strip().rstrip(';')}\n;\nSELECT ROW_COUNT() AS lab_count;\n\\! echo {END}\n".encode()

    @staticmethod
    def answer(said: str) -> Answer:
        lines = said.split("\n")
        while lines and not lines[-1]:
            lines.pop()
        count = lines[-1] if len(lines) >= 2 and lines[-2] == "lab_count" else ""
        body = "\n".join(lines[:-2] if count else lines)
        error = MARIADB_ERROR_RE.search(body)
        if error:
            code = f" {error.group(1)} ({error.group(2)})" if error.group(1) else ""
            return _failed(f"ERROR{code}: {error.group(3)}")
        table = [line.split("\t") for line in MARIADB_ECHO_RE.sub("", body).split("\n") if line]
        rows = [[NULL if v == "NULL" else v for v in row] for row in table[1:]]
        return _table(table[0] if table else [], rows, count)


Client = type[Psql] | type[Mariadb]


def for_format(name: str) -> Client:
    return Mariadb if name.startswith("mysql") else Psql


def _conninfo(value: str) -> str:
    """A value of a libpq connection string.

    >>> _conninfo("shop"), _conninfo("it's shop")
    ("'shop'", "'it\\\\'s shop'")
    """
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
