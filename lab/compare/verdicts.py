"""Compare each check's outcome on the baseline with its outcome on each candidate, and
reduce the comparisons to a verdict and an exit code. Pure functions on plain data.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from lab.compare import diff
from lab.compare.diff import Rules
from lab.compare.triage import inventory, triage
from lab.errors import EXIT_COULD_NOT_RUN, EXIT_PASS, EXIT_REGRESSION
from lab.results import (
    CandidateVerdict,
    CheckResult,
    Comparison,
    CopyResult,
    Kind,
    Outcome,
    OutputComparison,
    Status,
    Triage,
    Verdict,
)
from lab.scenario.model import Slowdown

DEFAULT_SLOWDOWN = Slowdown()
# The data's way into and out of a copy: judged on each copy (a failure is FAIL), not compared.
BAD = (Outcome.FAILED, Outcome.ERROR, Outcome.NOT_RUN)


def classify(baseline: Outcome, candidate: Outcome) -> Status:
    """The status of one check from its two outcomes.

    >>> classify(Outcome.PASSED, Outcome.FAILED).value
    'regression'
    >>> classify(Outcome.FAILED, Outcome.FAILED).value
    'failing'
    """
    if baseline == Outcome.PASSED and candidate == Outcome.SKIPPED:
        return Status.ERROR  # proven on the baseline, not on the candidate: not comparable
    if baseline == Outcome.SKIPPED and candidate in (Outcome.FAILED, Outcome.ERROR):
        return Status.ERROR  # a failure the baseline cannot vouch for: a person looks
    if Outcome.SKIPPED in (baseline, candidate):
        return Status.SKIPPED
    if baseline == Outcome.PASSED:
        return Status.PASSED if candidate == Outcome.PASSED else Status.REGRESSION
    if candidate == Outcome.PASSED:
        return Status.FIXED if baseline in (Outcome.FAILED, Outcome.ERROR) else Status.ERROR
    if baseline == candidate == Outcome.FAILED:
        return Status.FAILING
    return Status.ERROR


def compare(baseline: list[CheckResult], candidate: list[CheckResult]) -> list[Comparison]:
    """One comparison per check id found on either side, in the baseline's order."""
    base = {c.id: c for c in baseline}
    cand = {c.id: c for c in candidate}
    ids = list(base) + [i for i in cand if i not in base]
    out = []
    for check_id in ids:
        b = base.get(check_id)
        c = cand.get(check_id)
        b_out = b.outcome if b else Outcome.NOT_RUN
        c_out = c.outcome if c else Outcome.NOT_RUN
        status = classify(b_out, c_out)
        changed = status == Status.FAILING and b and c and failure_text(b.message) != failure_text(c.message)
        if changed:
            status = Status.CHANGED_FAILURE
        shown = c if c and c.outcome in BAD else b if b and b.outcome in BAD else None
        message = shown.message if shown else ""
        if c is None:
            message = "not run on the candidate"
        elif b is None:
            message = "not run on the baseline"
        out.append(
            Comparison(
                id=check_id,
                status=status,
                baseline=b_out,
                candidate=c_out,
                message=message,
                detail=shown.detail if shown else "",
                baseline_message=b.message if changed and b else "",
            )
        )
    return out


ADDRESS_RE = re.compile(r"\b0x[0-9a-f]{6,}\b")
CONTAINER_RE = re.compile(r"\blab-\d{8}-\d{6}-[0-9a-f]{4}-[a-z0-9.-]+")


def failure_text(message: str) -> str:
    """A failure's message without what differs between any two copies (object addresses,
    container names), so that two failures compare by what they say.

    >>> failure_text("<Backend object at 0x7fd3d821b690> in lab-20261204-001221-766a-next-db")
    '<Backend object at 0x…> in <container>'
    """
    return CONTAINER_RE.sub("<container>", ADDRESS_RE.sub("0x…", message.strip()))


@dataclass(frozen=True)
class ProbeRule:
    """How a declarative check's output is compared."""

    rules: Rules
    compare: bool = True
    writes: bool = False  # learn noise from the twin copy only, not from the same copy again


def judge(
    baseline: CopyResult,
    candidate: CopyResult,
    twin: CopyResult | None = None,
    probes: dict[str, ProbeRule] | None = None,
    slow: Slowdown = DEFAULT_SLOWDOWN,
) -> CandidateVerdict:
    """The verdict for one candidate against the baseline (and the baseline's twin copy)."""
    if not candidate.ready:
        return CandidateVerdict(
            candidate=candidate.variant,
            verdict=Verdict.FAIL,
            reason=f"the candidate copy did not start: {(candidate.error or 'unknown').splitlines()[0]}",
            counts={},
            comparisons=[],
        )
    unusable = backup_failures(baseline)
    if unusable:  # nothing ran on the client's data: there is no upgrade to judge
        first = unusable[0]
        return CandidateVerdict(
            candidate=candidate.variant,
            verdict=Verdict.FAIL,
            reason=f"the client's backup is unusable: it does not restore on the baseline ({first.id}: {first.message})"
            " — fix the backup before judging the upgrade",
            counts={},
            comparisons=[],
            backup_unusable=True,
        )
    checked = not candidate.not_checked  # else its data did not restore and its checks were not run
    comparisons = (
        compare(
            [c for c in baseline.outcomes() if not c.kind.of_the_data],
            [c for c in candidate.outcomes() if not c.kind.of_the_data],
        )
        if checked
        else []
    )
    outputs = compare_outputs(baseline, twin, candidate, probes or {}, slow) if checked else []
    erroneous = {o.id: o.why for o in outputs if o.error_appeared}
    for comp in comparisons:  # the check "passed", but its answer turned into an error
        if comp.id in erroneous and comp.status == Status.PASSED:
            comp.status, comp.candidate, comp.message = Status.REGRESSION, Outcome.FAILED, erroneous[comp.id]
    counts = Counter(c.status.value for c in comparisons)
    regressions = counts.get(Status.REGRESSION.value, 0)
    failures = [(copy.variant, c) for copy in (baseline, candidate) for c in data_failures(copy)]
    unrestored = [f"{variant}: {c.id}: {c.message}" for variant, c in failures]
    changed = sum(1 for o in outputs if o.changed)
    slower = sum(1 for o in outputs if o.slower)
    uncompared = counts.get(Status.ERROR.value, 0)
    differently = counts.get(Status.CHANGED_FAILURE.value, 0)
    unstable = sum(1 for o in outputs if o.unstable)
    if unrestored:
        verdict = Verdict.FAIL
        what = (
            "the upgrade rehearsal failed" if failures[0][1].kind.one_sided else "the backup did not restore completely"
        )
        reason = f"{what}: {unrestored[0]}" + (f" (and {len(unrestored) - 1} more)" if len(unrestored) > 1 else "")
    elif regressions:
        verdict = Verdict.FAIL
        reason = f"{_n(regressions, 'regression')}: passes on the baseline, fails on the candidate"
    elif changed or slower or uncompared or differently or unstable:
        verdict = Verdict.REVIEW
        found = [f"{_n(changed, 'changed output')} ({_triaged(outputs)})"] if changed else []
        found += [_n(differently, "check") + " failing differently"] if differently else []
        found += [_n(unstable, "check") + " with unstable answers (cannot be compared)"] if unstable else []
        found += [_n(slower, "slowdown")] if slower else []
        found += [_n(uncompared, "check") + " that could not be compared"] if uncompared else []
        reason = f"{', '.join(found)}: a person should decide"
    else:
        verdict = Verdict.PASS
        reason = "no regression, no unexplained change: every check that passes on the baseline passes on the candidate"
    return CandidateVerdict(
        candidate=candidate.variant,
        verdict=verdict,
        reason=reason,
        counts=dict(sorted(counts.items())),
        comparisons=comparisons,
        outputs=outputs,
    )


def compare_outputs(
    baseline: CopyResult, twin: CopyResult | None, candidate: CopyResult, probes: dict[str, ProbeRule], slow: Slowdown
) -> list[OutputComparison]:
    """Diff every declarative check's output, noise taken out, and compare its timing."""
    base = {o.id: o for o in baseline.first_pass}
    twin_sources = twin.observations[:1] if twin and twin.ready else []
    again_sources = baseline.observations[1:] + twin_sources
    out = []
    for obs in candidate.first_pass:
        b = base.get(obs.id)
        rule = probes.get(obs.id, ProbeRule(Rules()))
        if b is None or b.outcome == Outcome.ERROR or obs.outcome == Outcome.ERROR:
            continue
        if obs.kind == Kind.DISCOVERED and b.outcome != obs.outcome:
            continue  # the lab's own probe passed on one side only: the outcome says it all
        # A second sample that failed differently says nothing about noise: it would make
        # every field look variable and hide real changes.
        sources = twin_sources if rule.writes else again_sources
        again = [
            o.output
            for source in sources
            for o in source
            if o.id == obs.id and o.outcome == b.outcome and "error" not in o.output
        ]
        result = OutputComparison(id=obs.id)
        if rule.compare:
            found = diff.compare(b.output, again, obs.output, rule.rules)
            result.changed, result.diff, result.noise = found.changed, found.diff, list(found.noise)
            result.unstable = list(found.unstable)
            if found.changed:
                removed, added = list(found.removed), list(found.added)
                decided = (b.mentions is not None and inventory(removed, added, b.mentions)) or triage(
                    b.output, obs.output, removed, added
                )
                result.triage, result.why, result.error_appeared = decided.triage, decided.why, decided.regression
                if b.mentions is not None:
                    result.diff = diff.inventory_changes(removed, added)
        if b.outcome == obs.outcome == Outcome.PASSED:
            result.slower, result.timing = diff.slowdown(b.seconds, obs.seconds, slow)
        out.append(result)
    return out


def _triaged(outputs: list[OutputComparison]) -> str:
    """How the changed answers were triaged, in words: "1 breaking, 2 harmless"."""
    counts = Counter((o.triage or Triage.UNKNOWN).value for o in outputs if o.changed)
    return ", ".join(f"{counts[t.value]} {t.value}" for t in Triage if counts[t.value])


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def data_failures(copy: CopyResult) -> list[CheckResult]:
    """What went wrong restoring, verifying or rehearsing with the client's data in a copy."""
    return [c for c in copy.checks if c.kind.of_the_data and c.outcome != Outcome.PASSED]


def backup_failures(copy: CopyResult) -> list[CheckResult]:
    """What says the client's backup did not restore into a copy (a restore or a verification
    that failed, not the rehearsal)."""
    return [c for c in data_failures(copy) if c.kind.of_the_backup]


def baseline_evidence(baseline: CopyResult) -> str:
    """Why the baseline's results prove nothing, or "" when they do. A backup that does
    not restore on the baseline is a finding (FAIL), not a pilot that could not run."""
    if data_failures(baseline):
        return ""
    outcomes = baseline.outcomes()
    broken = [c for c in outcomes if c.id == "(checks)"]
    if broken:
        return f"the checks could not run on the baseline: {broken[0].message}"
    if not any(c.outcome == Outcome.PASSED for c in outcomes):
        return "no check passed on the baseline, so a candidate cannot be compared with it — fix the checks first"
    return ""


def overall(verdicts: list[CandidateVerdict]) -> tuple[Verdict, int, str]:
    """The pilot's verdict, exit code and reason, from the candidates' verdicts."""
    if not verdicts:
        return Verdict.ERROR, EXIT_COULD_NOT_RUN, "no candidate was compared"
    for level, summary in (
        (Verdict.FAIL, "not safe to upgrade as tested"),
        (Verdict.REVIEW, "needs a person's review before upgrading"),
    ):
        hits = [v for v in verdicts if v.verdict == level]
        if hits:
            names = ", ".join(f"{v.candidate} ({v.reason})" for v in hits)
            return level, EXIT_REGRESSION, f"{summary}: {names}"
    return Verdict.PASS, EXIT_PASS, "every candidate passes every check the baseline passes, with no unexplained change"
