"""Reusing a baseline's observations (`invoke pilot --reuse-baseline`, for CI).

When nothing the baseline depends on has changed since an earlier run on the same engine —
the engine itself, the baseline's image ids and services, the client's backup (by
SHA-256), the check files and the declarative checks, the restore verifications — its
recorded observations (both of them: noise is still learned from two) are as good as new
ones, and only the candidates need staging. Every pilot records the key of those inputs in
its results.json; a pilot asked to reuse finds the latest completed run with the same key
through the history index, and takes the baseline's observations from that run's results.

A scenario with upgrade steps or a rollback needs the running baseline (the steps read from
it), so its baseline is always staged.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from lab.pipeline.context import RunContext
from lab.records import history
from lab.results import CopyResult, PilotResult
from lab.scenario import BASELINE, TWIN, Scenario


def why_not(scenario: Scenario) -> str:
    """Why the baseline of this scenario cannot be reused, or ''."""
    if scenario.upgrade.steps or scenario.upgrade.rollback:
        return "the upgrade steps read from the running baseline, so it is staged"
    return ""


def key(scenario: Scenario, engine_id: str, image_ids: dict[str, str], backups: dict[str, str]) -> str:
    """The digest of everything the baseline's observations depend on."""
    parts = {
        "engine": engine_id,
        "images": dict(sorted(image_ids.items())),
        "services": {n: s.model_dump(mode="json") for n, s in sorted(scenario.baseline.services.items())},
        "backups": dict(sorted(backups.items())),
        "checks": scenario.checks.model_dump(mode="json"),
        "verify": [v.model_dump(mode="json") for v in scenario.verify],
        "files": {
            str(path.relative_to(scenario.folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path, _ in scenario.test_files
        },
        "hosts": [list(hosts) for _, hosts in scenario.test_files],
        "twin": scenario.twin is not None,
        "timeouts": scenario.timeouts.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def find(root: Path, scenario: str, digest: str, exclude: str) -> tuple[str, list[CopyResult]] | None:
    """The run that observed a baseline with these inputs, and the baseline's copies (the
    baseline and its twin) as that run recorded them; None when no completed run did."""
    for run in history.runs(root, scenario, exclude=exclude):
        if run.baseline_key != digest or run.verdict == "ERROR":
            continue
        try:
            recorded = PilotResult.read(run.folder)
        except (OSError, ValueError):
            continue
        if recorded.stage != "done":
            continue
        copies = [c for c in recorded.copies if c.variant in (BASELINE, TWIN)]
        return recorded.baseline_reused_from or recorded.run_id, copies
    return None


def reuse(ctx: RunContext) -> set[str]:
    """The reuse stage (--reuse-baseline): the copies (the baseline, its twin) whose recorded
    observations from an earlier run with the same inputs stand in for staging them. Every
    run records the key of its baseline's inputs, reused or not."""
    scenario, baseline = ctx.scenario, ctx.scenario.baseline
    engine = ctx.placement[baseline.name]
    image_ids = {s: engine.image_id(ctx.refs[(baseline.name, s)]) or "" for s in baseline.services}
    backups = {b.file: b.sha256_before for b in ctx.result.backups}
    ctx.result.baseline_key = key(scenario, engine.identity(), image_ids, backups)
    if not ctx.options.reuse_baseline:
        return set()
    why = why_not(scenario)
    found = None
    if not why:
        found = find(ctx.run_dir.parent.parent, scenario.name, ctx.result.baseline_key, exclude=ctx.run_id)
    if found is None:
        why = why or "no earlier run on this engine had the same images, backup and checks"
        ctx.log(f"baseline: staged, not reused — {why}")
        return set()
    origin, copies = found
    for copy in copies:
        ctx.copies[copy.variant] = copy
    ctx.result.baseline_reused_from = origin
    ctx.guard.baseline_gone()
    ctx.log(f"baseline: the observations of run {origin} are reused (the same inputs on this engine)")
    return {copy.variant for copy in copies}
