"""The compare stage: every candidate's checks against the baseline's, into a verdict per
candidate and one for the pilot (the comparison itself is `lab.compare`, on plain data)."""

from __future__ import annotations

from lab.checks import declarative
from lab.compare import verdicts
from lab.compare.diff import Rules
from lab.errors import LabError
from lab.pipeline import traffic
from lab.pipeline.context import RunContext
from lab.results import CopyResult, Kind
from lab.scenario import TWIN


def judge(ctx: RunContext) -> None:
    """Compare; a baseline that did not start, or whose checks prove nothing, is an error
    (the pilot could not run), not a verdict."""
    if ctx.result.baseline_reused_from:  # recorded redacted: compare like with like
        ctx.copies = {n: CopyResult.model_validate_json(ctx.redact(c.model_dump_json())) for n, c in ctx.copies.items()}
    baseline = ctx.baseline
    if not baseline.ready:
        raise LabError(f"the baseline did not start, so nothing can be compared:\n{baseline.error}")
    useless = verdicts.baseline_evidence(baseline)
    if useless:
        raise LabError(f"{useless} (see {ctx.run_dir / 'checks' / baseline.variant / 'pytest.log'})")
    scenario = ctx.scenario
    rules = {
        check_id: verdicts.ProbeRule(
            Rules.of(check.ignore, scenario.checks.ignore, ordered=getattr(check, "ordered", True)),
            check.compare,
            check.writes,
        )
        for check_id, check in declarative.all_checks(scenario)
    } | traffic.rules(ctx)
    shared = verdicts.ProbeRule(Rules.of(scenario.checks.ignore))  # the lab's own probes: the scenario's ignore rules
    rules |= {o.id: shared for o in baseline.first_pass if o.kind == Kind.DISCOVERED}
    ctx.result.candidates = [
        verdicts.judge(baseline, ctx.copies[c.name], ctx.copies.get(TWIN), rules, scenario.checks.slowdown)
        for c in scenario.candidates
    ]
    ctx.result.verdict, ctx.result.exit_code, ctx.result.reason = verdicts.overall(ctx.result.candidates)
