"""lab/checks/declarative.py: building and parsing the clients' invocations, on recorded outputs."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from lab.checks import declarative, sql
from lab.checks.commands import SHELL, argv_of
from lab.engine.types import ExecResult
from lab.results import Outcome
from lab.scenario.model import CommandCheck, SqlCheck

# Recorded from psql 15 running sql_script(..., repeat=3) against the demo database.
PSQL = (
    "Column,Type\ncity,text\nn,bigint\nnothing,text\ntricky,text\n@@lab-rows@@\n"
    'city,n,nothing,tricky\nBerlin,3,<NULL>,"a,b"\nCologne,3,<NULL>,"a,b"\n'
    "Time: 0.595 ms\nTime: 0.506 ms\nTime: 0.172 ms\n"
)


def test_parse_psql_columns_rows_nulls_and_timings():
    columns, rows, times = sql.parse_psql(PSQL, 3)
    assert columns == [
        {"name": "city", "type": "text"},
        {"name": "n", "type": "bigint"},
        {"name": "nothing", "type": "text"},
        {"name": "tricky", "type": "text"},
    ]
    assert rows == [["Berlin", "3", None, "a,b"], ["Cologne", "3", None, "a,b"]]
    assert times == pytest.approx([0.000595, 0.000506, 0.000172])


def test_sql_script_repeats_without_printing_again():
    script = sql.sql_script("SELECT 1 -- the answer;", 3)
    assert script.count("SELECT 1 -- the answer") == 2  # described, then run; repeated by \\g
    assert "SELECT 1 -- the answer\n\\gdesc\n" in script and script.endswith("\\o /dev/null\n\\g\n\\g\n")


class Recorded:
    """A runner that answers from a list, recording what it was asked."""

    def __init__(self, *answers: ExecResult):
        self.answers = list(answers)
        self.asked: list[tuple[list[str], dict | None, str | None]] = []

    def __call__(self, container, argv, env=None, user=None, timeout=30.0):
        self.asked.append((argv, env, user))
        return self.answers.pop(0)


def test_sql_error_is_a_failed_observation_with_the_message():
    engine = Recorded(ExecResult(3, "", 'psql:<stdin>:4: ERROR:  column "nope" does not exist\nLINE 1: ...', 0.01))
    check = SqlCheck(name="q", service="db", query="SELECT nope", database="shop", user="postgres")
    obs = declarative.observe(engine, "sql:q", check, {"db": "c-db"}, None)
    assert obs.outcome == Outcome.FAILED
    assert obs.message == 'ERROR:  column "nope" does not exist'
    argv, env, _ = engine.asked[0]
    assert argv[:4] == ["timeout", "-s", "KILL", "30"]
    assert "--dbname=shop" in argv[-1] and "--username=postgres" in argv[-1]
    assert "SELECT nope\n\\gdesc" in env["LAB_SQL"] and env["LC_ALL"] == "C.UTF-8"


def test_command_runs_repeat_times_and_compares_the_first_answer():
    engine = Recorded(*(ExecResult(1, "out\n", "bad thing\n", 0.02 * n) for n in (1, 2, 3)))
    check = CommandCheck(name="c", service="app", run="job --now", repeat=3, run_as="www")
    obs = declarative.observe(engine, "command:c", check, {"app": "c-app"}, None)
    assert obs.outcome == Outcome.FAILED and obs.message == "exit code 1 (expected 0): bad thing"
    assert obs.output == {"exit_code": 1, "stdout": "out\n", "stderr": "bad thing\n"}
    assert obs.seconds == [0.02, 0.04, 0.06]
    assert engine.asked[0][0][-5:] == ["sh", "-c", SHELL, "sh", "job --now"] and engine.asked[0][2] == "www"


@pytest.mark.parametrize(("shells", "code"), [(("bash", "sh"), 1), (("sh",), 0)])
def test_a_string_command_fails_with_a_failing_program_in_its_pipeline_where_there_is_bash(tmp_path, shells, code):
    for name in (*shells, "false", "true"):
        (tmp_path / name).symlink_to(shutil.which(name) or f"/bin/{name}")
    done = subprocess.run(argv_of("false | true"), env={"PATH": str(tmp_path)}, capture_output=True, check=False)
    assert done.returncode == code, done.stderr


def test_a_check_past_its_deadline_is_an_error():
    engine = Recorded(ExecResult(137, "", "", 5.0))
    obs = declarative.observe(
        engine, "command:c", CommandCheck(name="c", service="app", run="sleep 99", timeout=5), {"app": "c-app"}, None
    )
    assert obs.outcome == Outcome.ERROR and obs.message == "stopped at its deadline (5 s)"
