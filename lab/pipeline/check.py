"""The check stage of one copy: every check of the scenario against the copy, as data.

The declarative checks first (several at a time), then the replay of the client's
traffic (in log order); then the tests, whose pytest process
started with the copy and has imported and collected meanwhile; then, on the baseline, the
declarative checks a second time, more than a second after the first (the tests fill that
time), so that noise (timestamps, generated ids) is learned from two observations. What
the copy runs (image ids, OS, package versions) is found beside this work.

A check that fails, a probe that does not start, an inventory that cannot be read: each
is recorded, never raised; only the token's error (a stopped run) ends the stage.
"""

from __future__ import annotations

from concurrent.futures import Future

from lab import discover
from lab.checks import declarative, inventory, testfiles
from lab.errors import LabError, Stopped
from lab.pipeline import traffic
from lab.pipeline.context import CopyWork, RunContext
from lab.results import Observation, Outcome

SECOND_PASS_GAP = 1.1  # seconds between the baseline's two observations


def describe(ctx: RunContext, work: CopyWork) -> None:
    """Image ids, OS and package versions of the copy's services, found beside its work."""

    def each() -> None:
        for service, info in work.copy.services.items():
            try:
                info.image_id = work.engine.image_summary(info.image)["id"]
                info.os, info.packages = inventory.describe(work.engine, info.container, ctx.token)
            except Stopped:
                return
            except (LabError, OSError) as err:  # OSError: TimeoutError at its deadline
                _warn(ctx, f"{work.variant.name}: what {service} runs could not be read: {err}")

    work.describing = work.side.submit(each)


def check_copy(ctx: RunContext, work: CopyWork) -> None:
    copy, variant = work.copy, work.variant
    copy.stage = "checks"
    start = ctx.clock()
    probe = _probe(ctx, work)
    discovering = ctx.scenario.discovered(work.variant)
    has_declarative = bool(declarative.all_checks(ctx.scenario)) or bool(ctx.traffic) or bool(discovering)
    second = work.is_baseline and ctx.scenario.checks.noise.second_run
    discovered: Future[discover.Discovery] = Future()
    rediscovered = work.side.submit(_discover, ctx, work, probe, discovered, second) if discovering else None
    first = declarative.run_all(work.engine, ctx.scenario, work.containers, probe, ctx.token, work.users)
    first += traffic.observe(ctx, work, probe)
    first_done = ctx.clock()
    recorded = []
    if work.testing is not None:
        work.testing.go()
        results, output = work.testing.finish(ctx.scenario.timeouts.checks, ctx.token)
        folder = ctx.run_dir / "checks" / variant.name
        (folder / "pytest.log").write_text(output, encoding="utf-8")
        copy.checks += results
        recorded = testfiles.recorded(folder)
        ctx.token.check()
    first += discovered.result().observations if rediscovered is not None else []
    copy.observations = [recorded + first]
    if (has_declarative or recorded) and second:
        values = _recorded_again(ctx, work, recorded)  # the tests that kept values, run once more
        # Second-resolution timestamps in the answers must vary between the baseline's
        # two observations as they would between baseline and candidate.
        if ctx.token.wait(first_done + SECOND_PASS_GAP - ctx.clock()):
            ctx.token.check()
        # A check that writes would read its own write: its noise is learned from the twin only.
        again = declarative.run_all(
            work.engine, ctx.scenario, work.containers, probe, ctx.token, work.users, writes=False
        )
        again += traffic.observe(ctx, work, probe, writes=False)
        again += rediscovered.result() if rediscovered is not None else []
        copy.observations.append(values + again)
    if work.describing is not None:
        work.describing.result()
    copy.seconds["checks"] = round(ctx.clock() - start, 3)
    ctx.slowest("checks", copy.seconds["checks"])
    outcomes = copy.outcomes()
    passed = sum(1 for r in outcomes if r.outcome == Outcome.PASSED)
    ctx.log(f"{variant.name}: checks done, {passed}/{len(outcomes)} passed ({copy.seconds['checks']:.1f} s)")


def _discover(
    ctx: RunContext, work: CopyWork, probe: str | None, first: Future[discover.Discovery], again: bool
) -> list[Observation]:
    """The lab's own probes of the copy's services (lab.discover), beside its other checks:
    the first observation handed over (with what discovery said per service kept with the
    copy) as soon as it is done; with `again`, the second one, as long after it as the other
    checks' second observation is after theirs, returned."""
    stack = discover.Stack(
        ctx.scenario.discovered(work.variant), work.containers, probe, ctx.scenario.folder, work.copy.configs
    )
    try:
        found = discover.observe(work.engine, stack, ctx.token, work.is_baseline)
    except BaseException as err:
        first.set_exception(err)
        raise
    work.copy.discovered = found.notes
    first.set_result(found)
    if not again:
        return []
    if ctx.token.wait(SECOND_PASS_GAP):
        ctx.token.check()
    return discover.observe(work.engine, stack, ctx.token, before=found).observations


def _recorded_again(ctx: RunContext, work: CopyWork, recorded: list[Observation]) -> list[Observation]:
    """A second sample of the values the tests kept with `record()`: those tests, run again."""
    if not recorded:
        return []
    folder = ctx.run_dir / "checks" / work.variant.name / "again"
    tests = sorted({o.message for o in recorded})  # the node id of the test that kept each value
    again = testfiles.start(ctx.scenario, work.variant.name, work.containers, folder, work.engine.url, tests)
    try:
        again.go()
        _, output = again.finish(ctx.scenario.timeouts.checks, ctx.token)
    finally:
        again.close()
    (folder / "pytest.log").write_text(output, encoding="utf-8")
    ctx.token.check()
    return testfiles.recorded(folder)


def _probe(ctx: RunContext, work: CopyWork) -> str | None:
    """The copy's HTTP probe container, or None (said) when it did not start."""
    if work.probe is None:
        return None
    try:
        return work.probe.result()
    except Stopped:
        raise
    except LabError as err:
        _warn(ctx, f"{work.variant.name}: the HTTP probe did not start, so its HTTP checks could not run: {err}")
        return None


def _warn(ctx: RunContext, warning: str) -> None:
    ctx.log(f"warning: {warning}")
    with ctx.lock:
        ctx.result.warnings.append(warning)
