"""Render a pilot's results into its reports — report.md (for tickets), report.html
(self-contained, to read and print), report.pdf (to sign), junit.xml (for CI) — and the
terminal summary. results.json alone is enough: `invoke report` re-renders without Docker.

Templates only loop and format: the verdict, the recommended option, counts and ordering
are computed here and in lab.compare. Jinja2 runs with StrictUndefined, so a missing value
is an error rather than a blank in a client's report. A consultancy's own templates (logo,
wording) in a folder override the built-in ones file by file.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from lab.errors import LabError
from lab.records import junit, pdf
from lab.results import Kind, OutputComparison, PilotResult, Status, Triage, Verdict

ORDER = [
    Status.REGRESSION,
    Status.CHANGED_FAILURE,
    Status.ERROR,
    Status.FAILING,
    Status.FIXED,
    Status.SKIPPED,
    Status.PASSED,
]
TITLES = {
    Status.REGRESSION: "Regressions — pass on the baseline, fail on the candidate",
    Status.CHANGED_FAILURE: "Failures that changed — failing on both, but the candidate fails differently",
    Status.ERROR: "Checks that could not be compared",
    Status.FAILING: "Failing on both, the same way — already broken today, not caused by the upgrade",
    Status.FIXED: "Fixed — fail on the baseline, pass on the candidate",
    Status.SKIPPED: "Skipped",
    Status.PASSED: "Passed on both",
}
COUNT_WORDS = {
    Status.REGRESSION: "regression(s)",
    Status.CHANGED_FAILURE: "failing differently",
    Status.ERROR: "could not be compared",
    Status.FAILING: "failing on both",
    Status.FIXED: "fixed",
    Status.SKIPPED: "skipped",
    Status.PASSED: "passed on both",
}
# What the client reads first: the verdict in the words of a change board.
LABELS = {Verdict.PASS: "GO", Verdict.REVIEW: "REVIEW", Verdict.FAIL: "NO-GO", Verdict.ERROR: "NO RESULT"}
MEANINGS = {
    Verdict.PASS: "The upgrade behaved like today's system in every check the pilot ran.",
    Verdict.REVIEW: "Nothing broke, but some answers changed or got slower; someone who knows the"
    " business must decide whether those changes are acceptable.",
    Verdict.FAIL: "The upgrade breaks things that work today. Upgrading as piloted would cause the"
    " failures listed below in production.",
    Verdict.ERROR: "The pilot could not run to the end, so it gives no evidence either way.",
}
BACKUP_UNUSABLE = (
    "The client's backup does not restore, on today's versions either, so the pilot could not judge"
    " the upgrade: the backup must be fixed first (and then the pilot run again)."
)
OPTIONS = [
    ("proceed", "Proceed", "Upgrade production as piloted, in the planned maintenance window."),
    (
        "proceed-with-conditions",
        "Proceed with conditions",
        "Upgrade once each finding below is fixed, or accepted in writing (a waiver with a reason).",
    ),
    ("defer", "Defer", "Stay on today's versions for now; fix the findings, then pilot again."),
    ("reject", "Reject", "Do not upgrade to this candidate."),
]
DECISIONS = [key for key, _, _ in OPTIONS]
RECOMMENDED = {
    Verdict.PASS: "proceed",
    Verdict.REVIEW: "proceed-with-conditions",
    Verdict.FAIL: "defer",
    Verdict.ERROR: "defer",
}
LOG_EXCERPT_LINES = 15
FORMATS = ("report.md", "report.html")


def by_triage(outputs: list[OutputComparison]) -> list[OutputComparison]:
    """The changed answers, breaking first, then unknown, then harmless (each in check order)."""
    rank = {Triage.BREAKING: 0, Triage.UNKNOWN: 1, Triage.HARMLESS: 2}
    changed = [o for o in outputs if o.changed]
    return sorted(changed, key=lambda o: rank[o.triage or Triage.UNKNOWN])


def meaning(result: PilotResult) -> str:
    """What the verdict means for the client, in plain words."""
    failed = [c for c in result.candidates if c.verdict == Verdict.FAIL]
    if result.verdict == Verdict.FAIL and all(c.backup_unusable for c in failed):
        return BACKUP_UNUSABLE
    return MEANINGS[result.verdict]


def count_line(counts: dict[str, int]) -> str:
    """Counts in report order, in words.

    >>> count_line({"passed": 8, "regression": 4})
    '4 regression(s), 8 passed on both'
    """
    parts = [f"{counts[s.value]} {COUNT_WORDS[s]}" for s in ORDER if counts.get(s.value)]
    return ", ".join(parts) or "no checks compared"


def environment(templates: Path | None = None) -> jinja2.Environment:
    """The template environment: a consultancy's folder first, then the built-in templates."""
    loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader("lab.records", "templates")]
    if templates is not None:
        if not templates.is_dir():
            raise LabError(f"templates folder not found: {templates}")
        loaders.insert(0, jinja2.FileSystemLoader(templates))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = cell
    return env


def cell(value: object) -> str:
    r"""A value inside a markdown table cell: a `|` would end the cell, a newline the row.

    >>> cell("SELECT a || b\nFROM t")
    'SELECT a \\|\\| b FROM t'
    """
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def context(result: PilotResult, run_dir: Path, waived: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything the templates show, grouped, ordered and worded."""
    groups = []
    for cand in result.candidates:
        sections = []
        for status in ORDER:
            items = [c for c in cand.comparisons if c.status == status]
            if items:
                sections.append({"status": status.value, "title": TITLES[status], "checks": items})
        groups.append(
            {
                "verdict": cand,
                "label": LABELS[cand.verdict],
                "reason": _sentence(cand.reason),
                "sections": sections,
                "counts": count_line(cand.counts),
                "changed": [o for o in by_triage(cand.outputs) if o.triage != Triage.HARMLESS],
                "harmless": [o for o in by_triage(cand.outputs) if o.triage == Triage.HARMLESS],
                "slower": [o for o in cand.outputs if o.slower],
                "noise": [o for o in cand.outputs if o.noise],
                "unstable": [o for o in cand.outputs if o.unstable],
                "same": [o for o in cand.outputs if not o.changed and not o.slower],
            }
        )
    logs = []
    if (run_dir / "logs").is_dir():
        for path in sorted((run_dir / "logs").rglob("*.log")):
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            logs.append(
                {
                    "path": path.relative_to(run_dir).as_posix(),
                    "lines": len(lines),
                    "excerpt": "\n".join(lines[-LOG_EXCERPT_LINES:]),
                }
            )
    return {
        "appendix": _appendix(result),
        "sources": sources(result),
        "traffic": traffic(result),
        "discovered": discovered(result),
        "r": result,
        "label": LABELS[result.verdict],
        "meaning": meaning(result),
        "reason": _sentence(result.reason),
        "options": [
            {"key": k, "title": t, "text": x, "recommended": k == RECOMMENDED[result.verdict]} for k, t, x in OPTIONS
        ],
        "groups": groups,
        "logs": logs,
        "waived": waived or {},
        "date": _date(result.started_at),
    }


def sources(result: PilotResult) -> dict[str, str]:
    """Where each replayed entry is in the client's logs: check id -> "file:line"."""
    found: dict[str, str] = {}
    for copy in result.copies:
        for observation in copy.first_pass:
            if observation.source:
                found.setdefault(observation.id, observation.source)
    return found


def traffic(result: PilotResult) -> list[dict[str, Any]]:
    """The coverage of each traffic log: its counts, and per candidate how many of its
    entries regressed or answer differently, by triage."""
    ids: dict[str, set[str]] = {}
    for check_id, source in sources(result).items():
        ids.setdefault(source.rsplit(":", 1)[0], set()).add(check_id)
    rows = []
    for log in result.traffic:
        mine = ids.get(log.file, set())
        differing = []
        for cand in result.candidates:
            regressions = sum(1 for c in cand.comparisons if c.id in mine and c.status == Status.REGRESSION)
            changed = [o for o in cand.outputs if o.id in mine and o.changed]
            counts = {t.value: sum(1 for o in changed if (o.triage or Triage.UNKNOWN) == t) for t in Triage}
            words = [f"{regressions} regression(s)"] if regressions else []
            words += [f"{n} {t}" for t, n in counts.items() if n]
            differing.append({"candidate": cand.candidate, "text": ", ".join(words) or "none"})
        rows.append({"log": log, "replayed": len(mine), "skipped": sum(log.skipped.values()), "differing": differing})
    return rows


def discovered(result: PilotResult) -> dict[str, Any] | None:
    """What the lab's own probes covered (per service, as the baseline's discovery said)
    and, per candidate, what they found: regressions first, then changed answers by triage."""
    baseline = next((c for c in result.copies if c.role == "baseline"), None)
    if baseline is None or not baseline.discovered:
        return None
    ids = {o.id for o in baseline.first_pass if o.kind == Kind.DISCOVERED}
    findings = []
    for cand in result.candidates:
        found = [
            {"id": c.id, "what": c.status.value, "why": c.message}
            for status in ORDER[:4]
            for c in cand.comparisons
            if c.id in ids and c.status == status
        ]
        found += [
            {"id": o.id, "what": (o.triage or Triage.UNKNOWN).value, "why": o.why}
            for o in by_triage(cand.outputs)
            if o.id in ids and o.changed
        ]
        found += [{"id": o.id, "what": "slower", "why": o.timing} for o in cand.outputs if o.id in ids and o.slower]
        findings.append({"candidate": cand.candidate, "found": found})
    return {"checks": len(ids), "services": baseline.discovered, "findings": findings}


def _appendix(result: PilotResult) -> list[dict[str, Any]]:
    """One row per check, one cell per copy: outcome and seconds."""
    cells: dict[str, dict[str, str]] = {}
    for copy in result.copies:
        for check in copy.outcomes():
            cells.setdefault(check.id, {})[copy.variant] = f"{check.outcome.value} ({check.seconds:.2f} s)"
    return [
        {"id": check_id, "cells": [row.get(c.variant, "—") for c in result.copies]} for check_id, row in cells.items()
    ]


def render_all(
    result: PilotResult, run_dir: Path, templates: Path | None = None, waived: dict[str, str] | None = None
) -> list[str]:
    """Write every report format into the run folder; returns warnings (e.g. no PDF)."""
    env = environment(templates)
    values = context(result, run_dir, waived)
    try:
        for name in FORMATS:
            (run_dir / name).write_text(env.get_template(f"{name}.j2").render(values), encoding="utf-8")
    except jinja2.TemplateError as err:
        where = f"{err.filename}:{err.lineno}: " if isinstance(err, jinja2.TemplateSyntaxError) else ""
        raise LabError(f"the report template failed: {where}{err}") from None
    (run_dir / "junit.xml").write_bytes(junit.render(result))
    return pdf.print_pdf(run_dir / "report.html", run_dir / "report.pdf")


def summary(result: PilotResult, run_dir: Path) -> str:
    """A few lines for the terminal: verdict, per-candidate counts, stage timings, where."""
    lines = [f"{result.verdict.value}: {result.reason}"]
    lines += [f"  {c.variant}: checks not run — {c.not_checked}" for c in result.copies if c.not_checked]
    for cand in result.candidates:
        lines.append(f"  {cand.candidate}: {cand.verdict.value} — {count_line(cand.counts)}")
        copy = next((c for c in result.copies if c.variant == cand.candidate), None)
        if copy is not None and copy.upgrade:
            lines.append(f"    downtime estimate: {copy.seconds.get('downtime', 0):.1f} s (rehearsed upgrade)")
        for comp in cand.comparisons:
            if comp.status == Status.REGRESSION:
                lines.append(f"    regression: {comp.id}: {comp.message}")
            elif comp.status == Status.CHANGED_FAILURE:
                lines.append(f"    failing differently: {comp.id}: {comp.baseline_message} → {comp.message}")
        for out in cand.outputs:
            if out.changed:
                lines.append(
                    f"    changed output ({out.triage.value if out.triage else 'unknown'}): {out.id}: {out.why}"
                )
            if out.slower:
                lines.append(f"    slower: {out.id}: {out.timing}")
            if out.unstable:
                lines.append(f"    unstable (cannot be compared): {out.id}: {', '.join(out.unstable)}")
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in result.stages.items())
    lines.append(f"  stages: {stages}")
    if result.planned is not None:
        lines.append(f"  planned ({result.planned.plan_id}): {result.planned.said()}")
    lines.append(f"  report: {run_dir / 'report.html'} (also .md, .pdf; results.json, junit.xml)")
    return "\n".join(lines)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _date(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%d %B %Y, %H:%M UTC")
    except ValueError:
        return iso
