"""Render a pilot's results into its report (report.md) and the terminal summary.

Templates only loop and format: the verdict, counts and ordering are computed in Python
(lab.compare) before rendering. Jinja2 runs with StrictUndefined, so a missing value is
an error rather than a blank in a client's report.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from lab.results import PilotResult, Status

ORDER = [Status.REGRESSION, Status.ERROR, Status.FAILING, Status.FIXED, Status.SKIPPED, Status.PASSED]
TITLES = {
    Status.REGRESSION: "Regressions — pass on the baseline, fail on the candidate",
    Status.ERROR: "Checks that could not be compared",
    Status.FAILING: "Failing on both — already broken today, not caused by the upgrade",
    Status.FIXED: "Fixed — fail on the baseline, pass on the candidate",
    Status.SKIPPED: "Skipped",
    Status.PASSED: "Passed on both",
}

COUNT_WORDS = {
    Status.REGRESSION: "regression(s)",
    Status.ERROR: "could not be compared",
    Status.FAILING: "failing on both",
    Status.FIXED: "fixed",
    Status.SKIPPED: "skipped",
    Status.PASSED: "passed on both",
}


def count_line(counts: dict[str, int]) -> str:
    """Counts in report order, in words.

    >>> count_line({"passed": 8, "regression": 4})
    '4 regression(s), 8 passed on both'
    """
    parts = [f"{counts[s.value]} {COUNT_WORDS[s]}" for s in ORDER if counts.get(s.value)]
    return ", ".join(parts) or "no checks compared"


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("lab", "templates"),
    undefined=jinja2.StrictUndefined,
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def context(result: PilotResult, run_dir: Path) -> dict[str, object]:
    """Everything the templates show, grouped and ordered."""
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
                "sections": sections,
                "counts": count_line(cand.counts),
                "changed": [o for o in cand.outputs if o.changed],
                "slower": [o for o in cand.outputs if o.slower],
                "noise": [o for o in cand.outputs if o.noise],
                "same": [o for o in cand.outputs if not o.changed and not o.slower],
            }
        )
    logs = (
        sorted(p.relative_to(run_dir).as_posix() for p in (run_dir / "logs").rglob("*.log"))
        if (run_dir / "logs").is_dir()
        else []
    )
    return {"r": result, "groups": groups, "logs": logs}


def render_all(result: PilotResult, run_dir: Path) -> list[Path]:
    """Write every report format of the run folder; returns the paths written."""
    path = run_dir / "report.md"
    path.write_text(_env.get_template("report.md.j2").render(context(result, run_dir)), encoding="utf-8")
    return [path]


def summary(result: PilotResult, run_dir: Path) -> str:
    """A few lines for the terminal: verdict, per-candidate counts, stage timings, where."""
    lines = [f"{result.verdict.value}: {result.reason}"]
    for cand in result.candidates:
        lines.append(f"  {cand.candidate}: {cand.verdict.value} — {count_line(cand.counts)}")
        for comp in cand.comparisons:
            if comp.status == Status.REGRESSION:
                lines.append(f"    regression: {comp.id}: {comp.message}")
        for out in cand.outputs:
            if out.changed:
                lines.append(f"    changed output: {out.id}")
            if out.slower:
                lines.append(f"    slower: {out.id}: {out.timing}")
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in result.stages.items())
    lines.append(f"  stages: {stages}")
    lines.append(f"  report: {run_dir / 'report.md'}")
    return "\n".join(lines)
