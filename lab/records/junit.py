"""JUnit XML for CI: one test case per check and candidate; a regression is a failure,
a check that could not be compared is an error, a changed answer or a slowdown is a
failure too (the pilot's exit code is 1 for REVIEW as well)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from lab.results import PilotResult, Status, Verdict

CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def render(result: PilotResult) -> bytes:
    """The junit.xml document for a pilot's results."""
    suites = ET.Element("testsuites", name=f"pilot {result.scenario}", time=f"{result.stages.get('total', 0):.3f}")
    if result.error:
        suite = ET.SubElement(suites, "testsuite", name=result.scenario, tests="1", failures="0", errors="1")
        case = ET.SubElement(suite, "testcase", classname=result.scenario, name="pilot")
        ET.SubElement(case, "error", message=result.reason).text = result.error
    for cand in result.candidates:
        suite = ET.SubElement(suites, "testsuite", name=f"{result.scenario}.{cand.candidate}")
        failures = errors = 0
        if not cand.comparisons and cand.verdict != Verdict.PASS:  # e.g. the copy did not start
            case = ET.SubElement(suite, "testcase", classname=f"{result.scenario}.{cand.candidate}", name="pilot")
            ET.SubElement(case, "failure", message=cand.reason, type=cand.verdict.value.lower())
            failures += 1
        outputs = {o.id: o for o in cand.outputs}
        for comp in cand.comparisons:
            case = ET.SubElement(suite, "testcase", classname=f"{result.scenario}.{cand.candidate}", name=comp.id)
            out = outputs.get(comp.id)
            if comp.status == Status.REGRESSION:
                failures += 1
                ET.SubElement(case, "failure", message=f"regression: {comp.message}", type="regression").text = (
                    comp.detail or comp.message
                )
            elif comp.status == Status.ERROR:
                errors += 1
                ET.SubElement(case, "error", message=comp.message or "could not be compared").text = comp.detail
            elif comp.status == Status.SKIPPED:
                ET.SubElement(case, "skipped", message=comp.message)
            elif out is not None and (out.changed or out.slower):
                failures += 1
                kind = "changed output" if out.changed else "slowdown"
                ET.SubElement(
                    case,
                    "failure",
                    message=f"{kind}: {out.timing if out.slower else comp.id}",
                    type=kind.replace(" ", "-"),
                ).text = out.diff or out.timing
            if comp.status == Status.FAILING:
                ET.SubElement(case, "system-out").text = f"failing on the baseline too: {comp.message}"
            elif comp.status == Status.CHANGED_FAILURE:
                failures += 1
                ET.SubElement(
                    case, "failure", message=f"failing differently: {comp.message}", type="changed-failure"
                ).text = f"baseline: {comp.baseline_message}\ncandidate: {comp.message}"
        suite.set("tests", str(max(len(cand.comparisons), failures)))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
    for element in suites.iter():  # XML 1.0 has no place for most control characters
        element.text = _clean(element.text)
        for key, value in element.attrib.items():
            element.set(key, _clean(value) or "")
    ET.indent(suites)
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True))


def _clean(text: str | None) -> str | None:
    return CONTROL_RE.sub("\ufffd", text) if text else text
