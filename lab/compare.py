"""Compare each check's outcome on the baseline with its outcome on each candidate, and
reduce the comparisons to a verdict and an exit code. Pure functions on plain data.
"""

from __future__ import annotations

from collections import Counter

from lab.errors import EXIT_COULD_NOT_RUN, EXIT_PASS, EXIT_REGRESSION
from lab.results import CandidateVerdict, CheckResult, Comparison, CopyResult, Outcome, Status, Verdict

BAD = (Outcome.FAILED, Outcome.ERROR, Outcome.NOT_RUN)


def classify(baseline: Outcome, candidate: Outcome) -> Status:
    """The status of one check from its two outcomes.

    >>> classify(Outcome.PASSED, Outcome.FAILED).value
    'regression'
    >>> classify(Outcome.FAILED, Outcome.FAILED).value
    'failing'
    """
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
            )
        )
    return out


def judge(baseline: CopyResult, candidate: CopyResult) -> CandidateVerdict:
    """The verdict for one candidate against the baseline."""
    if not candidate.ready:
        return CandidateVerdict(
            candidate=candidate.variant,
            verdict=Verdict.FAIL,
            reason=f"the candidate copy did not start: {(candidate.error or 'unknown').splitlines()[0]}",
            counts={},
            comparisons=[],
        )
    comparisons = compare(baseline.checks, candidate.checks)
    counts = Counter(c.status.value for c in comparisons)
    regressions = counts.get(Status.REGRESSION.value, 0)
    if regressions:
        plural = "s" if regressions != 1 else ""
        verdict = Verdict.FAIL
        reason = f"{regressions} regression{plural}: passes on the baseline, fails on the candidate"
    else:
        verdict = Verdict.PASS
        reason = "no regression: every check that passes on the baseline passes on the candidate"
    return CandidateVerdict(
        candidate=candidate.variant,
        verdict=verdict,
        reason=reason,
        counts=dict(sorted(counts.items())),
        comparisons=comparisons,
    )


def overall(verdicts: list[CandidateVerdict]) -> tuple[Verdict, int, str]:
    """The pilot's verdict, exit code and reason, from the candidates' verdicts."""
    if not verdicts:
        return Verdict.ERROR, EXIT_COULD_NOT_RUN, "no candidate was compared"
    failing = [v for v in verdicts if v.verdict != Verdict.PASS]
    if failing:
        names = ", ".join(f"{v.candidate} ({v.reason})" for v in failing)
        return Verdict.FAIL, EXIT_REGRESSION, f"not safe to upgrade as tested: {names}"
    return Verdict.PASS, EXIT_PASS, "every candidate passes every check the baseline passes"
