"""Verify a restore: every declared property of a good restore (`verify:` in the scenario:
row counts, a query with a known answer, a checksum manifest of files) checked in one copy,
through the copy's shell sessions. A property that does not hold is a finding."""

from __future__ import annotations

import time
from pathlib import Path

from lab.checks.commands import Runner, bounded
from lab.engine.session import ShellPool
from lab.engine.types import EngineLike
from lab.errors import LabError, Stopped
from lab.pipeline.context import RunContext
from lab.results import CheckResult, Kind, Outcome
from lab.scenario.model import Verify
from lab.users import Users


def verified(ctx: RunContext, containers: dict[str, str], engine: EngineLike, users: Users) -> list[CheckResult]:
    """The scenario's verifications, against the copy made of `containers` on `engine`."""
    shells = ShellPool(engine, ctx.token)
    try:
        return verify(shells, containers, list(ctx.scenario.verify), ctx.scenario.folder, users)
    finally:
        shells.close()


def verify(
    run: Runner, containers: dict[str, str], checks: list[Verify], folder: Path, users: Users | None = None
) -> list[CheckResult]:
    """Check every declared property of a good restore in one copy (as the OS users
    lab.users says; without `users`, the containers' own)."""
    return [_verify_one(run, containers[check.service], check, folder, users) for check in checks]


def _verify_one(run: Runner, container: str, check: Verify, folder: Path, users: Users | None) -> CheckResult:
    check_id = f"verify:{check.name}"
    start = time.perf_counter()
    try:
        if check.manifest is not None:
            manifest = (folder / check.manifest).read_text(encoding="utf-8")
            result = run(
                container,
                bounded(["sh", "-c", 'printf "%s" "$LAB_MANIFEST" | sha256sum -c --quiet -'], check.timeout),
                {"LAB_MANIFEST": manifest},
                users.command(check.service) if users else None,
                check.timeout,
            )
            ok, found = result.exit_code == 0, (result.stdout + result.stderr).strip()
            message = "" if ok else f"files differ from the manifest: {found.splitlines()[0] if found else ''}"
            return _verified(check_id, ok, message, found, start)
        query, expected = _verify_query(check)
        os_user = users.database(check.service, check.dialect) if users else None
        result = run(container, bounded(_query_argv(check, query), check.timeout), None, os_user, check.timeout)
        if result.exit_code != 0:
            said = result.stderr.strip() or result.stdout.strip()
            return _verified(
                check_id, False, f"the verification query failed: {said.splitlines()[-1] if said else ''}", said, start
            )
        answer = result.stdout.strip()
        ok = answer == expected
        message = "" if ok else f"expected {expected!r}, the restored copy answers {answer!r}"
        return _verified(check_id, ok, message, answer, start)
    except Stopped:
        raise
    except (LabError, OSError) as err:
        return CheckResult(id=check_id, kind=Kind.VERIFY, outcome=Outcome.ERROR, message=f"could not verify: {err}")


def _verify_query(check: Verify) -> tuple[str, str]:
    if check.row_counts:
        parts = [f"SELECT '{table}', count(*) FROM {table}" for table in check.row_counts]
        expected = "\n".join(
            f"{t}|{n}" if check.dialect != "mysql" else f"{t}\t{n}" for t, n in check.row_counts.items()
        )
        return " UNION ALL ".join(parts), expected
    return str(check.query), str(check.expect).strip()


def _query_argv(check: Verify, query: str) -> list[str]:
    db = check.database or ""
    if check.dialect == "postgresql":
        user = [f"--username={check.user}"] if check.user else []
        return ["psql", "--no-psqlrc", "--no-align", "--tuples-only", *user, f"--dbname={db}", f"--command={query}"]
    if check.dialect == "sqlite":
        return ["sqlite3", db, query]
    return [
        "sh",
        "-c",
        'c=$(command -v mariadb || command -v mysql); exec "$c" --batch --skip-column-names "$@"',
        "sh",
        f"--execute={query}",
        *([db] if db else []),
    ]


def _verified(check_id: str, ok: bool, message: str, detail: str, start: float) -> CheckResult:
    return CheckResult(
        id=check_id,
        kind=Kind.VERIFY,
        outcome=Outcome.PASSED if ok else Outcome.FAILED,
        message=message,
        detail=detail if not ok else "",
        seconds=round(time.perf_counter() - start, 3),
    )
