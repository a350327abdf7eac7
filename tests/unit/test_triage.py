"""lab/compare/triage.py: every rule, on answers as the checks record them, diffed with the
noise taken out; each decision with the reason a reader sees."""

from __future__ import annotations

import pytest

from lab.compare import diff
from lab.compare.triage import Decision, triage
from lab.results import Triage


def command(stdout: str, stderr: str = "", code: int = 0) -> dict:
    return {"exit_code": code, "stdout": stdout, "stderr": stderr}


def http(status: int, body, headers: dict | None = None) -> dict:
    return {
        "status": status,
        "headers": headers or {},
        "body": {"json": body} if not isinstance(body, str) else {"text": body},
    }


def decide(baseline: dict, candidate: dict) -> Decision:
    found = diff.compare(baseline, [], candidate, diff.Rules())
    assert found.changed, "the answers do not differ"
    return triage(baseline, candidate, list(found.removed), list(found.added))


B, U, H = Triage.BREAKING, Triage.UNKNOWN, Triage.HARMLESS


@pytest.mark.parametrize(
    ("baseline", "candidate", "triaged", "why", "regression"),
    [
        (command("0\n"), command("ERR syntax error\n"), B, "an error appeared: 'stdout | ERR syntax error'", True),
        (
            command("ok\n"),
            command("ok\n", 'FATAL: role "shop" does not exist\n'),
            B,
            "an error appeared: 'stderr | FATAL: role \"shop\" does not exist'",
            True,
        ),
        (
            command("backup done\n"),
            command("backup exited with code 2\n"),
            B,
            "an error appeared: 'stdout | backup exited with code 2'",
            True,
        ),
        (http(200, {"ok": True}), http(503, {"ok": True}), B, "the HTTP status turned into an error: 200 → 503", True),
        (
            http(302, "", {"location": "/login"}),
            http(302, "", {"location": "/signin"}),
            B,
            "a redirect now points elsewhere: /login → /signin",
            False,
        ),
        (
            http(200, {"total": 12}),
            http(200, {"total": "12"}),
            B,
            "a JSON value changed type: $.total number → string",
            False,
        ),
        (
            http(200, {"placed": "2024-01-22", "id": 42}),
            http(200, {"placed": "Mon, 22 Jan 2024 00:00:00 GMT", "id": 42}),
            B,
            "a date changed its format: $.placed 2024-01-22 → Mon, 22 Jan 2024 00:00:00 GMT",
            False,
        ),
        (
            http(200, {"placed": "2024-01-22T09:51:26"}),
            http(200, {"placed": "2024-01-22T09:51:27"}),
            U,
            """a value changed: '$.placed: "2024-01-22T09:51:26"' → '$.placed: "2024-01-22T09:51:27"'""",
            False,
        ),
        (
            http(200, {"placed": "2024-01-22"}),
            http(200, {"placed": "2024-01-23"}),
            U,
            """a value changed: '$.placed: "2024-01-22"' → '$.placed: "2024-01-23"'""",
            False,
        ),
        (http(200, {"a": 1, "b": 2}), http(200, {"a": 1}), B, "members disappeared: '$.b: 2'", False),
        (
            http(200, {"meta": [], "id": 1}),
            http(200, {"meta": {"footnotes": ""}, "id": 1}),
            U,
            """a value changed: '$.meta: []' → '$.meta.footnotes: ""'""",
            False,
        ),  # an empty list that now has members: nothing of it disappeared
        (command("get\nset\nmonitor\n"), command("get\nset\n"), B, "members disappeared: 'stdout | monitor'", False),
        (
            command("ok\n"),
            command("ok\n", "DeprecationWarning: json_encoder is deprecated\n"),
            H,
            "only warnings or deprecation notices were added:"
            " 'stderr | DeprecationWarning: json_encoder is deprecated'",
            False,
        ),
        (http(200, {"a": 1}), http(200, {"a": 1, "b": 2}), H, "members were only added: '$.b: 2'", False),
        (command("a\nb\n"), command("b\na\n"), H, "only the order changed", False),
        (
            command("PostgreSQL 15.8 on x86_64\n"),
            command("PostgreSQL 17.2 on x86_64\n"),
            H,
            "only version-like tokens changed: 15.8 → 17.2",
            False,
        ),
        (
            command("café\n"),
            command("caf&eacute;\n"),
            H,
            "only the encoding changed: 'stdout | café' → 'stdout | caf&eacute;'",
            False,
        ),
        (
            http(200, {"total": 12}),
            http(200, {"total": 13}),
            U,
            "a value changed: '$.total: 12' → '$.total: 13'",
            False,
        ),
        (
            command("", "ERROR: relation a\n", 1),
            command("", "ERROR: relation b\n", 1),
            U,
            "a value changed: 'stderr | ERROR: relation a' → 'stderr | ERROR: relation b'",
            False,
        ),  # an error that was there already did not appear
    ],
)
def test_each_rule_with_its_reason(baseline, candidate, triaged, why, regression):
    decision = decide(baseline, candidate)
    assert (decision.triage, decision.why, decision.regression) == (triaged, why, regression)


def test_json_members_in_another_order_are_the_same_answer():
    found = diff.compare(http(200, {"a": 1, "b": [1, 2]}), [], http(200, {"b": [1, 2], "a": 1}), diff.Rules())
    assert not found.changed


def test_members_added_within_a_line_are_harmless():
    decision = decide(
        command("db0:keys=300,expires=0,avg_ttl=0\n"), command("db0:keys=300,expires=0,avg_ttl=0,subexpiry=0\n")
    )
    assert (decision.triage, decision.why) == (H, "members were only added: 'subexpiry=0'")
    changed = decide(command("db0:keys=300,expires=0\n"), command("db0:keys=299,expires=0,subexpiry=0\n"))
    assert changed.triage == U  # a member changed too
