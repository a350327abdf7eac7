"""lab/records/ (report, junit, pdf, approval): every format from recorded
results (no Docker), the page as a browser shows it, the PDF's text, and tamper-evident
approvals."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pytest

from lab.errors import LabError, RunNotFound
from lab.records import approval, pdf, report
from lab.results import (
    CandidateVerdict,
    CheckResult,
    Comparison,
    CopyResult,
    Outcome,
    OutputComparison,
    PilotResult,
    ServiceInfo,
    Status,
    Triage,
    Verdict,
)
from tests.browser import first_screen, pixels_of

REGRESSION = "checks/test_db.py::test_monitoring[db]"
CHANGED = "http:invoice 1"


def recorded() -> PilotResult:
    """A NO-GO pilot as results.json would hold it."""
    services = {
        "db": ServiceInfo(
            container="lab-x-db",
            image="lab/shop-db:1",
            image_id="sha256:" + "a" * 64,
            os="Debian GNU/Linux 12 (bookworm)",
            packages={"postgresql": "15+248"},
        )
    }
    checks = [CheckResult(id=REGRESSION, outcome=Outcome.PASSED, seconds=0.1)]
    return PilotResult(
        run_id="20261123-120000-abcd",
        scenario="shop",
        description="Web shop: Debian 12 today",
        client="Example GmbH",
        consultant="A. Consultant",
        change="CHG-1",
        started_at="2026-11-23T12:00:00+00:00",
        finished_at="2026-11-23T12:01:00+00:00",
        verdict=Verdict.FAIL,
        exit_code=1,
        reason="not safe to upgrade as tested: next (1 regression)",
        stages={"build": 1.0, "total": 9.0},
        copies=[
            CopyResult(
                variant="baseline",
                role="baseline",
                ready=True,
                services=services,
                checks=checks,
                seconds={"start_ready": 2.0, "checks": 1.0},
            ),
            CopyResult(
                variant="next",
                role="candidate",
                ready=True,
                services=services,
                seconds={"start_ready": 2.5, "checks": 1.2},
            ),
        ],
        candidates=[
            CandidateVerdict(
                candidate="next",
                verdict=Verdict.FAIL,
                reason="1 regression: passes on the baseline, fails on the candidate",
                counts={"regression": 1, "passed": 1},
                comparisons=[
                    Comparison(
                        id=REGRESSION,
                        status=Status.REGRESSION,
                        baseline=Outcome.PASSED,
                        candidate=Outcome.FAILED,
                        message='ERROR: column "checkpoints_timed" does not exist',
                        detail="E   assert 1 == 0",
                    ),
                    Comparison(id=CHANGED, status=Status.PASSED, baseline=Outcome.PASSED, candidate=Outcome.PASSED),
                ],
                outputs=[
                    OutputComparison(
                        id=CHANGED,
                        changed=True,
                        noise=["$.at (differs between two observations)"],
                        diff='--- baseline\n+++ candidate\n@@ -1 +1 @@\n-$.issued: "2026-01-08"\n'
                        '+$.issued: "Thu, 08 Jan 2026"',
                    )
                ],
            )
        ],
    )


@pytest.fixture(autouse=True)
def pdf_only_in_browser_tests(request, monkeypatch):
    """Printing the PDF starts Chromium (a second each): only the browser tests do it."""
    if request.node.get_closest_marker("browser") is None:
        monkeypatch.setattr("lab.records.pdf.print_pdf", lambda html, out: [])


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "pilots" / "shop" / "20261123-120000-abcd"
    (folder / "logs" / "baseline").mkdir(parents=True)
    (folder / "logs" / "baseline" / "db.log").write_text("".join(f"line {i}\n" for i in range(40)))
    result = recorded()
    result.write(folder)
    return folder


def render(run_dir: Path, **kwargs) -> list[str]:
    return report.render_all(approval.load_results(run_dir), run_dir, **kwargs)


def test_markdown_has_header_verdict_options_findings_environment_and_appendix(run_dir):
    render(run_dir)
    md = (run_dir / "report.md").read_text()
    for text in (
        "| Client | Example GmbH |",
        "| Change | CHG-1 |",
        "| Consultant | A. Consultant |",
        "## Verdict: NO-GO",
        "**Not safe to upgrade as tested",
        "| **Defer** (recommended) |",
        f"#### `{REGRESSION}`",
        'column "checkpoints_timed" does not exist',
        '+$.issued: "Thu, 08 Jan 2026"',
        "postgresql 15+248",
        "## Appendix: every check on every copy",
        "line 39",
    ):
        assert text in md, text
    assert md.index("Regressions") < md.index("Changed outputs") < md.index("## Environment")
    assert "line 24" not in md  # log excerpts are the last 15 lines


def test_junit_has_one_case_per_check_and_regressions_as_failures(run_dir):
    render(run_dir)
    suites = ET.parse(run_dir / "junit.xml").getroot()
    (suite,) = suites.findall("testsuite")
    assert suite.get("name") == "shop.next" and suite.get("tests") == "2" and suite.get("failures") == "2"
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert cases[REGRESSION].find("failure").get("type") == "regression"
    assert cases[CHANGED].find("failure").get("type") == "changed-output"


def test_consultancy_templates_override_the_built_in_ones(run_dir, tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    (own / "report.md.j2").write_text("ACME Consulting — {{ label }} for {{ r.client }}\n")
    render(run_dir, templates=own)
    assert (run_dir / "report.md").read_text() == "ACME Consulting — NO-GO for Example GmbH\n"
    assert "Example GmbH" in (run_dir / "report.html").read_text()  # not overridden: built in


def test_a_missing_template_value_fails_loudly(run_dir, tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    (own / "report.md.j2").write_text("Logo: {{ r.logo }}\n")
    with pytest.raises(LabError, match="the report template failed: .*logo"):
        render(run_dir, templates=own)


def test_damaged_results_give_a_clear_error(run_dir):
    (run_dir / "results.json").write_text('{"run_id": 3')
    with pytest.raises(LabError, match="results.json is damaged and cannot be read"):
        approval.load_results(run_dir)


def test_unknown_run_lists_recent_ones(run_dir):
    with pytest.raises(RunNotFound, match="no run 'nope'.*20261123-120000-abcd"):
        approval.find_run("nope", run_dir.parent.parent)
    assert approval.find_run("20261123-120000-abcd", run_dir.parent.parent) == run_dir


@pytest.mark.browser
def test_html_renders_with_the_verdict_visible(run_dir, tmp_path):
    render(run_dir)
    pixels = first_screen(run_dir / "report.html", tmp_path / "page.png")
    red = pixels_of(pixels, (0xB3, 0x26, 0x1E))  # the NO-GO box fills a good part of the first screen
    assert red > 2_000, red
    dom = pdf.chromium(["--dump-dom", (run_dir / "report.html").as_uri()]).stdout
    assert '<div class="label">NO-GO</div>' in dom


@pytest.mark.browser
def test_pdf_holds_the_verdict_and_the_regressions(run_dir):
    assert render(run_dir) == []
    text = subprocess.run(
        ["pdftotext", "-layout", str(run_dir / "report.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "NO-GO" in text and "checks/test_db.py::test_monitoring[db]" in text.replace("\n", "")
    assert "Example GmbH" in text and "CHG-1" in text


def test_approve_then_verify_then_tamper(run_dir):
    render(run_dir)
    record = approval.approve(run_dir, "Dr. Meyer", "defer", note="after the fixes")
    assert record["decision"] == "defer" and "report.md" in record["artefacts"] and record["prev"] == ""
    assert approval.verify(run_dir) == []
    second = approval.approve(
        run_dir, "Dr. Meyer", "proceed-with-conditions", waivers=[f"{CHANGED}=the export now parses RFC 1123 dates"]
    )
    assert second["prev"] and second["waivers"] == [
        {"check": CHANGED, "reason": "the export now parses RFC 1123 dates"}
    ]
    assert approval.verify(run_dir) == []
    md = run_dir / "report.md"
    data = bytearray(md.read_bytes())
    data[100] ^= 1  # one byte
    md.write_bytes(bytes(data))
    problems = approval.verify(run_dir)
    assert problems and all(p.startswith("report.md: changed since approval") for p in problems)
    assert len(problems) == 2  # both approvals covered it


def test_removed_last_record_and_added_files_are_found(run_dir):
    render(run_dir)
    first = approval.approve(run_dir, "A", "defer")
    approval.approve(run_dir, "B", "reject")
    path = run_dir / approval.APPROVALS
    last = approval.approve(run_dir, "C", "proceed")
    assert approval.verify(run_dir, expect=last["sha256"]) == []
    path.write_text("\n".join(path.read_text().splitlines()[:2]) + "\n")  # drop the last decision
    assert any("no approval record has the SHA-256" in p for p in approval.verify(run_dir, expect=last["sha256"]))
    assert approval.verify(run_dir, expect=first["sha256"]) == []
    (run_dir / "extra.txt").write_text("planted")
    assert approval.verify(run_dir) == ["extra.txt: added since the approvals"]


def test_damaged_or_empty_approvals_are_clear(run_dir):
    render(run_dir)
    (run_dir / approval.APPROVALS).write_text("")
    with pytest.raises(LabError, match="has no approval to verify"):
        approval.verify(run_dir)
    (run_dir / approval.APPROVALS).write_text("[]\n{not json\n")
    assert approval.records(run_dir) == []
    assert approval.waivers_for(run_dir.parent) == {}
    problems = approval.verify(run_dir)
    assert problems[:2] == [
        f"{approval.APPROVALS} line 1 is not a valid record",
        f"{approval.APPROVALS} line 2 is not a valid record",
    ]


def test_edited_record_breaks_the_chain(run_dir):
    render(run_dir)
    approval.approve(run_dir, "A", "defer")
    approval.approve(run_dir, "B", "reject")
    path = run_dir / approval.APPROVALS
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    first["decision"] = "proceed"
    path.write_text("\n".join([json.dumps(first, sort_keys=True), lines[1]]) + "\n")
    assert any("record chain is broken" in p for p in approval.verify(run_dir))


@pytest.mark.parametrize(
    "by,decision,waivers,message",
    [
        ("A", "yes please", [], "unknown decision 'yes please' — choose one of: proceed, proceed-with-conditions"),
        ("", "defer", [], "say who decides"),
        ("A", "defer", ["http:nope=ok"], "waiver 'http:nope': no such finding"),
        ("A", "defer", ["no reason"], 'write it as "<check id>=<reason>"'),
    ],
)
def test_bad_approvals_are_refused(run_dir, by, decision, waivers, message):
    with pytest.raises(LabError, match=message.replace("(", r"\(").replace(")", r"\)")):
        approval.approve(run_dir, by, decision, waivers=waivers)
    assert not (run_dir / approval.APPROVALS).exists()


def test_a_later_run_shows_what_was_waived(run_dir):
    render(run_dir)
    approval.approve(
        run_dir,
        "Dr. Meyer",
        "proceed-with-conditions",
        waivers=[f"{CHANGED}=export fixed"],
        now=datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc),
    )
    later = run_dir.parent / "20261124-090000-beef"
    later.mkdir()
    result = recorded()
    result.run_id = later.name
    result.write(later)
    waived = approval.waivers_for(later.parent, exclude=later.name)
    report.render_all(result, later, waived=waived)
    assert "waived earlier: export fixed — Dr. Meyer, 2026-11-23" in (later / "report.md").read_text()
    # a run older than the waiver does not show it
    assert approval.waivers_for(run_dir.parent, exclude="20261101-000000-0000") == {}


def test_html_escapes_what_the_checks_said(run_dir):
    result = recorded()
    result.candidates[0].comparisons[0].message = "<script>alert(1)</script> & </pre><!--"
    result.client = "Smith & <Sons>"
    report.render_all(result, run_dir)
    html = (run_dir / "report.html").read_text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;/pre&gt;&lt;!--" in html
    assert "Smith &amp; &lt;Sons&gt;" in html


def test_junit_names_a_candidate_that_did_not_start_and_stays_valid_xml(run_dir):
    result = recorded()
    result.candidates[0] = CandidateVerdict(
        candidate="next",
        verdict=Verdict.FAIL,
        counts={},
        comparisons=[],
        reason="the candidate copy did not start: service 'db' exited \x1b[31m",
    )
    report.render_all(result, run_dir)
    (suite,) = ET.parse(run_dir / "junit.xml").getroot().findall("testsuite")
    assert suite.get("failures") == "1"
    assert "did not start" in suite.find("testcase/failure").get("message")


def test_markdown_tables_keep_their_shape_whatever_the_cells_hold(run_dir):
    result = recorded()
    result.description = "Shop | Debian 12 today"
    result.copies[1].description = "Debian 13\nwith a second line"
    result.candidates[0].comparisons[0].id = result.copies[0].checks[0].id = "sql:a || b"
    report.render_all(result, run_dir)
    text = (run_dir / "report.md").read_text()
    assert "| Scenario | Shop \\| Debian 12 today |" in text
    assert "| `sql:a \\|\\| b` |" in text and "#### `sql:a || b`" in text  # escaped in tables only
    table: list[int] = []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            table.append(len(re.findall(r"(?<!\\)\|", line)))  # the cell borders of the row
        elif table:
            assert len(set(table)) == 1, f"a table row has another number of cells: {table}"
            table = []


def test_changed_answers_are_listed_breaking_first_with_the_rule_and_harmless_ones_collapsed(run_dir):
    result = approval.load_results(run_dir)

    def changed(check_id: str, triage: Triage, why: str) -> OutputComparison:
        return OutputComparison(id=check_id, changed=True, diff="-a\n+b", triage=triage, why=why)

    outputs = [
        changed("command:version", Triage.HARMLESS, "only version-like tokens changed: 15.8 → 17.2"),
        changed("http:totals", Triage.UNKNOWN, "a value changed: '$.total: 12' → '$.total: 13'"),
        changed("http:items", Triage.BREAKING, "members disappeared: '$.b: 2'"),
    ]
    result.candidates[0].outputs = outputs
    result.write(run_dir)
    render(run_dir)
    md = (run_dir / "report.md").read_text()
    assert md.index("`http:items` — breaking") < md.index("`http:totals` — unknown") < md.index("triaged harmless")
    assert "members disappeared: '$.b: 2'" in md
    assert "- `command:version`: only version-like tokens changed: 15.8 → 17.2" in md
    page = (run_dir / "report.html").read_text()
    assert '<details class="harmless"><summary>1 changed answer triaged harmless</summary>' in page
    assert page.index("http:items") < page.index("http:totals") < page.index("command:version")
    summary = report.summary(approval.load_results(run_dir), run_dir)
    assert "changed output (breaking): http:items: members disappeared: '$.b: 2'" in summary


def test_traffic_coverage_per_log_and_where_each_replayed_entry_came_from(tmp_path):
    from lab.results import Kind, Observation, TrafficLog

    result = recorded()
    log = TrafficLog(file="traffic/access.log", size=10, sha256_before="ab", sha256_after="ab", format="access-log")
    log.read, log.distinct, log.skipped = 12, 2, {"POST: an access log has no request bodies (a HAR file has)": 3}
    log.bad(7, "not an access log line")
    result.traffic = [log]
    seen = [
        Observation(id=i, service="proxy", outcome=Outcome.PASSED, kind=Kind.REPLAY, source=f"traffic/access.log:{n}")
        for n, i in ((1, "replay:http GET /"), (4, "replay:http GET /api/orders/{n}"))
    ]
    for copy in result.copies:
        copy.observations = [seen]
    cand = result.candidates[0]
    cand.outputs.append(
        OutputComparison(id="replay:http GET /api/orders/{n}", changed=True, triage=Triage.BREAKING, why="x", diff="")
    )
    assert report.sources(result)["replay:http GET /"] == "traffic/access.log:1"
    (row,) = report.traffic(result)
    assert row["replayed"] == 2 and row["skipped"] == 3
    assert row["differing"] == [{"candidate": cand.candidate, "text": "1 breaking"}]
    report.render_all(result, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "| `traffic/access.log` | access-log | 12 | 1 | 2 | 2 | 3 |" in md
    assert "- malformed: `traffic/access.log:7: not an access log line`" in md
    assert "(replayed from `traffic/access.log:4`)" in md  # the changed answer names its log line
