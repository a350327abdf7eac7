"""Rehearse the upgrade procedure itself: every step of the scenario's `upgrade` (and
`rollback`) run for real against the copies, in order, timed. The total time of the
upgrade steps is the pilot's downtime estimate. A step that fails stops the procedure for
that candidate, with its output as the finding; the steps after it are not run.

A step runs a command in one service of the baseline or of the candidate. With `into`,
its output is streamed through the lab into a command of another service (a dump on the
baseline loaded into the candidate): nothing is shared between the copies but that stream.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping

from lab.cancel import Token
from lab.checks.commands import argv_of, bounded
from lab.compare import verdicts
from lab.engine import session, streams
from lab.engine.types import EngineLike
from lab.errors import LabError, Stopped
from lab.pipeline import verify
from lab.pipeline.context import CopyWork, RunContext
from lab.results import CheckResult, Kind, Outcome, StepRecord
from lab.scenario.model import Step
from lab.users import Users

OUTPUT_LINES = 30
Containers = dict[str, dict[str, str]]  # side ("baseline", "candidate") -> service -> container


def run_steps(
    engines: Mapping[str, EngineLike],
    steps: list[Step],
    containers: Containers,
    token: Token,
    users: Mapping[str, Users] | None = None,
) -> list[StepRecord]:
    """Run the steps in order. A step that fails stops the chain of its services: a later
    step that concerns one of them is recorded as not run, the others still run (a failing
    PostgreSQL step does not hide the Redis one). `engines` and `containers` are by side
    (baseline, candidate): the two copies may run on different engines, and a step streams
    from one into the other through both APIs."""
    records: list[StepRecord] = []
    broken: dict[str, str] = {}  # service -> the step that failed on it
    for step in steps:
        services = services_of(step)
        stopped_by = next((broken[s] for s in services if s in broken), None)
        if stopped_by is not None:
            records.append(skipped(step, f"the earlier step '{stopped_by}' on the same service failed"))
        else:
            records.append(run_step(engines, step, containers, token, users))
        if not records[-1].ok:
            broken.update({s: stopped_by or step.name for s in services})
    return records


def services_of(step: Step) -> set[str]:
    """The services a step concerns: where it runs and where its output goes.

    >>> sorted(services_of(Step(name="s", service="db", run="pg_dump", into={"service": "db2", "run": "psql"})))
    ['db', 'db2']
    """
    return {step.service} | ({step.into.service} if step.into else set())


def _both(first: str, second: str) -> str:
    r"""The last lines of two output streams, each kept (a step's stdout and its stderr).

    >>> _both("created\n", "WARNING: x\n")
    'created\nWARNING: x'
    """
    return "\n".join("\n".join(part.strip().splitlines()[-OUTPUT_LINES:]) for part in (first, second) if part.strip())


def skipped(step: Step, why: str) -> StepRecord:
    """A step that was not run, and why."""
    return StepRecord(
        name=step.name, side=step.side, service=step.service, ok=False, skipped=True, message=f"not run: {why}"
    )


def run_step(
    engines: Mapping[str, EngineLike],
    step: Step,
    containers: Containers,
    token: Token,
    users: Mapping[str, Users] | None = None,
) -> StepRecord:
    """One step, bounded by its timeout and by the token (whose error it raises), run as
    the OS users lab.users says (without `users`, as the steps say)."""
    start = time.perf_counter()
    run_as = users[step.side].command(step.service, step.run_as) if users else step.run_as
    source = containers[step.side][step.service]
    engine = engines[step.side]
    try:
        argv = bounded(argv_of(step.run), step.timeout)
        if step.into is None:
            code, out, err = session.feed(engine, source, argv, io.BytesIO(b""), step.timeout + 5, token, run_as)
            codes = [code]
            said, moved = _both(out, err), 0
        else:
            stream, exec_id = engine.attach(source, argv, run_as)
            target = containers[step.into.side][step.into.service]
            receiver = engines[step.into.side]
            into_as = users[step.into.side].command(step.into.service, step.into.run_as) if users else step.into.run_as
            try:
                into, into_id = receiver.attach(target, bounded(argv_of(step.into.run), step.timeout), into_as)
            except BaseException:
                stream.close()  # the source must not go on reading the baseline
                raise
            try:
                src_err, out, err, moved = streams.relay(stream, into, step.timeout + 5, token)
            finally:
                stream.close()
                into.close()
            codes = [
                streams.exit_code_of(lambda: engine.exit_code(exec_id), token, f"step '{step.name}'"),
                streams.exit_code_of(lambda: receiver.exit_code(into_id), token, f"step '{step.name}' (into)"),
            ]
            said = _both(src_err, _both(out, err))
    except Stopped:
        raise
    except TimeoutError:
        return _record(step, start, False, f"did not finish within {step.timeout:g} s")
    except (LabError, OSError) as failure:
        return _record(step, start, False, f"could not run: {failure}")
    tail = said
    if any(code in (124, 137) for code in codes):
        return _record(step, start, False, f"did not finish within {step.timeout:g} s", tail, moved)
    failed = [code for code in codes if code != 0]
    if failed:
        which = "" if len(codes) == 1 else (" (the sending side)" if codes[0] != 0 else " (the receiving side)")
        return _record(step, start, False, f"failed with exit code {failed[0]}{which}", tail, moved)
    return _record(step, start, True, "done", tail, moved)


def _record(step: Step, start: float, ok: bool, message: str, output: str = "", moved: int = 0) -> StepRecord:
    return StepRecord(
        name=step.name,
        side=step.side,
        service=step.service,
        ok=ok,
        message=message,
        output=output,
        bytes_moved=moved,
        seconds=round(time.perf_counter() - start, 3),
    )


def as_checks(records: list[StepRecord], kind: Kind) -> list[CheckResult]:
    """Steps as checks ("upgrade:<name>", "rollback:<name>"), judged like a restore."""
    return [
        CheckResult(
            id=f"{kind.value}:{r.name}",
            kind=kind,
            seconds=r.seconds,
            message="" if r.ok else r.message,
            detail=r.output if not r.ok else "",
            outcome=Outcome.PASSED if r.ok else Outcome.NOT_RUN if r.skipped else Outcome.FAILED,
        )
        for r in records
    ]


# the rehearse stage of one candidate -----------------------------------------------------
def upgrade(ctx: RunContext, work: CopyWork) -> None:
    """Bring the candidate its data the way production would move: the upgrade steps, from
    the restored baseline (read under the guard), timed; their total is the downtime estimate."""
    copy = work.copy
    copy.stage = "upgrade"
    with ctx.guard.reading(work.variant.name):
        baseline = ctx.baseline
        if not baseline.ready or verdicts.data_failures(baseline) or not baseline.restores:
            copy.upgrade = [
                skipped(s, "the baseline holds no restored data to upgrade from") for s in ctx.scenario.upgrade.steps
            ]
        else:
            steps = ctx.scenario.upgrade.steps
            copy.upgrade = run_steps(_engines(ctx, work), steps, _sides(ctx, work), ctx.token, _users(ctx, work))
    _stepped(ctx, work, Kind.UPGRADE, copy.upgrade, "downtime")


def roll_back(ctx: RunContext, work: CopyWork) -> None:
    """The way back, rehearsed after the checks and written into the baseline under the
    guard; verified where the data went back to."""
    rollback = ctx.scenario.upgrade.rollback
    copy = work.copy
    with ctx.guard.writing(work.variant.name):
        users = _users(ctx, work)
        copy.rollback = run_steps(_engines(ctx, work), rollback, _sides(ctx, work), ctx.token, users)
        last = rollback[-1]
        side = last.into.side if last.into else last.side
        if all(r.ok for r in copy.rollback):
            found = verify.verified(ctx, _sides(ctx, work)[side], _engines(ctx, work)[side], users[side])
    _stepped(ctx, work, Kind.ROLLBACK, copy.rollback, "rollback")
    if all(r.ok for r in copy.rollback):
        copy.checks += [c.model_copy(update={"id": f"rollback:{side} {c.id}", "kind": Kind.ROLLBACK}) for c in found]


def _stepped(ctx: RunContext, work: CopyWork, kind: Kind, records: list[StepRecord], timed: str) -> None:
    """Say and keep what the steps of an upgrade or a rollback did; their total time."""
    for record in records:
        ctx.log(f"{work.variant.name}: {kind.value} step '{record.name}': {record.message} ({record.seconds:.1f} s)")
    work.copy.seconds[timed] = round(sum(r.seconds for r in records), 3)
    work.copy.checks += as_checks(records, kind)


def _engines(ctx: RunContext, work: CopyWork) -> dict[str, EngineLike]:
    """The engine of each side of a step: the baseline's and this copy's."""
    return {"baseline": ctx.placement[ctx.scenario.baseline.name], "candidate": work.engine}


def _users(ctx: RunContext, work: CopyWork) -> dict[str, Users]:
    """The OS users of each side of a step: the baseline's and this copy's."""
    return {"baseline": ctx.users_of(ctx.scenario.baseline, _sides(ctx, work)["baseline"]), "candidate": work.users}


def _sides(ctx: RunContext, work: CopyWork) -> Containers:
    baseline = {s: i.container for s, i in ctx.baseline.services.items()}
    return {"baseline": baseline, "candidate": work.containers}
