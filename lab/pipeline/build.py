"""The build stage: the client's backups hashed (proof they stay untouched), then every
image the copies need provided on the engine of its copy — reused by the hash of its
inputs, or built, builds in parallel. A failing or stopped build ends the pilot."""

from __future__ import annotations

from lab.engine import images
from lab.errors import LabError
from lab.pipeline.context import PROBE, RunContext
from lab.records import approval
from lab.results import BackupFile, ImageRecord


def build(ctx: RunContext) -> None:
    plans = images.plan(ctx.scenario)
    if ctx.needs_probe:
        plans.update({(v.name, PROBE): images.probe_plan() for v in ctx.scenario.variants})
    ctx.log(f"images: {len(set(plans.values()))} to provide")
    ctx.refs, done = images.ensure(ctx.placement, ctx.scenario, plans, ctx.clock, ctx.token)
    for item in done:
        ctx.log(f"image {item.ref}: {'built' if item.built else 'reused'} ({item.seconds:.1f} s)")
    ctx.result.images = [ImageRecord(**item.__dict__) for item in done]


def hash_backups(ctx: RunContext) -> None:
    """SHA-256 of every backup file before the pilot."""
    ctx.result.backups = [
        BackupFile(file=spec.file, size=path.stat().st_size, sha256_before=approval.sha256(path))
        for _, spec, path in ctx.scenario.backups
    ]


def backups_untouched(ctx: RunContext) -> None:
    """SHA-256 of every backup file and traffic log after the pilot: a change is an error."""
    backups = zip(ctx.result.backups, [path for _, _, path in ctx.scenario.backups], strict=False)
    logs = zip(ctx.result.traffic, [path for _, path in ctx.scenario.replay], strict=False)
    for what, pairs in (("backup", backups), ("traffic log", logs)):
        for record, path in pairs:
            record.sha256_after = approval.sha256(path) if path.is_file() else "(missing)"
            if record.sha256_after != record.sha256_before:
                raise LabError(
                    f"the client's {what} file {record.file} changed during the pilot:"
                    f" SHA-256 {record.sha256_before} before, {record.sha256_after} after"
                )
