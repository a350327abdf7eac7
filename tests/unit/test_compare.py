"""lab/compare/verdicts.py: outcome classification, comparison across copies, verdicts."""

from __future__ import annotations

import pytest

from lab.compare.verdicts import baseline_evidence, classify, compare, judge, overall
from lab.results import CheckResult, CopyResult, Outcome, Status, Verdict

P, F, E, S, N = Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.SKIPPED, Outcome.NOT_RUN


@pytest.mark.parametrize(
    "baseline,candidate,status",
    [
        (P, P, Status.PASSED),
        (P, F, Status.REGRESSION),
        (P, E, Status.REGRESSION),
        (P, N, Status.REGRESSION),
        (F, P, Status.FIXED),
        (E, P, Status.FIXED),
        (F, F, Status.FAILING),
        (F, E, Status.ERROR),
        (E, E, Status.ERROR),
        (N, P, Status.ERROR),
        (S, P, Status.SKIPPED),
        (P, S, Status.ERROR),
        (S, S, Status.SKIPPED),
        (S, F, Status.ERROR),
        (S, E, Status.ERROR),
        (S, N, Status.SKIPPED),
    ],
)
def test_classify(baseline, candidate, status):
    assert classify(baseline, candidate) == status


def results(**outcomes: Outcome) -> list[CheckResult]:
    return [CheckResult(id=k, outcome=v, message=f"{k} said {v.value}") for k, v in outcomes.items()]


def test_compare_keeps_order_and_shows_the_failing_side():
    out = compare(results(a=P, b=P, c=F), results(b=F, a=P, c=P, d=P))
    assert [(c.id, c.status) for c in out] == [
        ("a", Status.PASSED),
        ("b", Status.REGRESSION),
        ("c", Status.FIXED),
        ("d", Status.ERROR),
    ]
    assert out[1].message == "b said failed"  # the candidate's failure
    assert out[2].message == "c said failed"  # the baseline's failure, when only it fails
    assert out[3].message == "not run on the baseline"


def copy(name: str, checks: list[CheckResult], ready: bool = True, error: str = "") -> CopyResult:
    return CopyResult(variant=name, role="candidate", ready=ready, error=error, checks=checks)


def test_judge_counts_regressions():
    verdict = judge(copy("baseline", results(a=P, b=P, c=F)), copy("next", results(a=P, b=F, c=F)))
    assert verdict.verdict == Verdict.FAIL
    assert verdict.counts == {"failing": 1, "passed": 1, "regression": 1}
    assert verdict.reason.startswith("1 regression:")


def test_pre_existing_failures_do_not_fail_the_candidate():
    verdict = judge(copy("baseline", results(a=P, c=F)), copy("next", results(a=P, c=F)))
    assert verdict.verdict == Verdict.PASS


def test_candidate_that_does_not_start_fails_with_its_reason():
    verdict = judge(
        copy("baseline", results(a=P)),
        copy("next", [], ready=False, error="service 'db' (next) exited with code 1: ...\nmore"),
    )
    assert verdict.verdict == Verdict.FAIL
    assert "did not start: service 'db' (next) exited with code 1" in verdict.reason


def test_overall_exit_codes():
    ok = judge(copy("baseline", results(a=P)), copy("x", results(a=P)))
    bad = judge(copy("baseline", results(a=P)), copy("y", results(a=F)))
    assert overall([ok])[:2] == (Verdict.PASS, 0)
    assert overall([ok, bad])[:2] == (Verdict.FAIL, 1)
    assert "y (1 regression" in overall([ok, bad])[2]
    assert overall([])[:2] == (Verdict.ERROR, 2)


def test_checks_that_cannot_be_compared_need_review():
    verdict = judge(copy("baseline", results(a=P, b=P)), copy("next", results(a=P, b=S)))
    assert verdict.verdict == Verdict.REVIEW
    assert "1 check that could not be compared" in verdict.reason


@pytest.mark.parametrize(
    "checks,reason",
    [
        (
            [CheckResult(id="(checks)", outcome=E, message="pytest crashed")],
            "could not run on the baseline: pytest crashed",
        ),
        (results(a=F, b=E), "no check passed on the baseline"),
        ([], "no check passed on the baseline"),
    ],
)
def test_a_baseline_that_proves_nothing_is_named(checks, reason):
    assert reason in baseline_evidence(copy("baseline", checks))
    assert baseline_evidence(copy("baseline", results(a=P, b=F))) == ""


def test_a_failed_second_sample_teaches_no_noise():
    from lab.compare.diff import Rules
    from lab.compare.verdicts import ProbeRule
    from lab.results import Observation

    def obs(output, outcome=P):
        return Observation(id="sql:q", service="db", outcome=outcome, output=output)

    def total(n):
        return {"columns": [{"name": "total", "type": "int"}], "rows": [[str(n)]]}

    baseline = CopyResult(
        variant="baseline",
        role="baseline",
        ready=True,
        observations=[[obs(total(10))], [obs({"error": "deadline"}, E)]],
    )
    candidate = CopyResult(variant="next", role="candidate", ready=True, observations=[[obs(total(99))]])
    verdict = judge(baseline, candidate, probes={"sql:q": ProbeRule(Rules())})
    assert verdict.verdict == Verdict.REVIEW and verdict.outputs[0].changed and not verdict.outputs[0].noise


def test_a_failure_that_changed_is_its_own_finding_with_both_answers():
    baseline = [
        CheckResult(id="http:signup", outcome=F, message="HTTP 400 (expected a status below 400)"),
        CheckResult(id="t::test_cache", outcome=F, message="assert False — where <Backend object at 0x7f00aa11bb22>"),
    ]
    candidate = [
        CheckResult(id="http:signup", outcome=F, message="HTTP 415 (expected a status below 400)"),
        CheckResult(id="t::test_cache", outcome=F, message="assert False — where <Backend object at 0x7fd3d821b690>"),
    ]
    signup, cache = compare(baseline, candidate)
    assert signup.status == Status.CHANGED_FAILURE
    assert (signup.baseline_message, signup.message) == (
        "HTTP 400 (expected a status below 400)",
        "HTTP 415 (expected a status below 400)",
    )
    assert cache.status == Status.FAILING and cache.baseline_message == ""  # only an object's address differs
    base = CopyResult(variant="baseline", role="baseline", ready=True, checks=baseline)
    cand = CopyResult(variant="next", role="candidate", ready=True, checks=candidate)
    verdict = judge(base, cand)
    assert verdict.verdict == Verdict.REVIEW and verdict.reason == "1 check failing differently: a person should decide"
