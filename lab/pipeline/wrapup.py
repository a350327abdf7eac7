"""The last stages, run whatever happened before: keep the logs, tear down (or keep the
copies), check that the client's backups are untouched, write the run folder (results.json
first, then the reports). Each step runs even if the one before failed; a step that fails
becomes a warning in the results. A signal that arrives meanwhile sets the token, which
nothing here looks at: the run folder is finished first.
"""

from __future__ import annotations

import functools
import resource
import sqlite3
import time
from datetime import datetime, timezone

from lab.engine.types import shown_url
from lab.errors import LabError
from lab.pipeline import build
from lab.pipeline.context import RunContext, now
from lab.records import approval, history, plans, report
from lab.results import PilotResult

LOG_LINES = 20_000  # the run folder keeps at most this many lines of each container's log
LOG_BYTES = 4 << 20  # and at most this many characters


def wrap_up(ctx: RunContext, keep: bool) -> None:
    stopped_before = ctx.token.cancelled
    ctx.wrapping = True
    for name, step in (("logs", save_logs), ("keep", keep_copies) if keep else ("teardown", teardown)):
        try:
            ctx.timed(name, functools.partial(step, ctx))
        except Exception as err:  # noqa: BLE001 — the next step must run regardless
            ctx.result.warnings.append(f"{name} incomplete: {err}")
            ctx.log(f"warning: {name} incomplete: {err}")
    try:
        build.backups_untouched(ctx)
    except LabError as err:
        ctx.result.warnings.append(str(err))
    if not keep and ctx.result.warnings:
        ctx.result.warnings.append("run `invoke gc` to remove what this run may have left in the engine")
    ctx.result.copies = list(ctx.copies.values())
    ctx.result.incomplete = ctx.result.stage != "done"
    ctx.result.finished_at = now()
    ctx.result.stages["total"] = round(ctx.clock() - ctx.t0, 3)
    if ctx.result.planned is not None:
        ctx.result.planned = plans.measured(ctx.result.planned, ctx.result)
    write(ctx, stopped_before)


def save_logs(ctx: RunContext) -> None:
    """Every container's log, capped: the last LOG_LINES lines and LOG_BYTES bytes, with a
    first line that says so when a log was cut."""
    for copy in ctx.copies.values():
        folder = ctx.run_dir / "logs" / copy.variant
        for service, info in copy.services.items():
            try:
                text = ctx.placement[copy.variant].logs(info.container, tail=LOG_LINES + 1)
            except LabError:
                continue  # never created (the copy stopped before this service)
            lines = text.splitlines(keepends=True)
            kept = "".join(lines[-LOG_LINES:])[-LOG_BYTES:]
            if len(lines) > LOG_LINES or len(kept) < len("".join(lines[-LOG_LINES:])):
                kept = f"[lab: log cut — only its last {len(kept.splitlines())} lines are kept]\n" + kept
                ctx.result.warnings.append(f"the log of {service} ({copy.variant}) was cut to its last lines")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{service}.log").write_text(kept, encoding="utf-8")


def teardown(ctx: RunContext) -> None:
    """Remove the run from every engine, by label, each even if another fails."""
    failures = []
    for engine in ctx.engines:
        try:
            gone = engine.remove_run(ctx.run_id)
            where = f" on {shown_url(engine.url)}" if len(ctx.engines) > 1 else ""
            ctx.log(f"teardown: removed {gone}{where}")
        except LabError as err:
            failures.append(f"{shown_url(engine.url)}: {err}")
    if failures:
        raise LabError("; ".join(failures))


def keep_copies(ctx: RunContext) -> None:
    """--keep: the copies stay up, spared by `invoke gc` for a while; say how to reach them."""
    until = time.time() + ctx.options.keep_for
    for engine in ctx.engines:
        engine.mark_kept(ctx.run_id, until)
    ends = datetime.fromtimestamp(until, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"kept: the copies of run {ctx.run_id} are up; `invoke gc` spares them until {ends}. To look inside:"]
    for copy in ctx.copies.values():
        for service, info in copy.services.items():
            lines.append(f"  docker exec -it {info.container} sh     # {copy.variant} / {service}")
    lines.append(f"remove them with: invoke down {ctx.run_id}")
    ctx.say(ctx.redact("\n".join(lines)))


def write(ctx: RunContext, stopped_before: bool) -> None:
    """results.json and the reports, from results with every secret value redacted; then
    every other file of the run (logs, pytest's output) redacted in place. `stopped_before`:
    whether the run was stopped before its wrap-up began (else a stop is noted as late)."""
    result = ctx.result = PilotResult.model_validate_json(ctx.redact(ctx.result.model_dump_json()))
    result.write(ctx.run_dir)  # first: the evidence exists even if rendering fails
    for path in ctx.run_dir.rglob("*"):  # logs and pytest's output, before the reports quote them
        if path.is_file():
            ctx.redact.file(path)
    waived = approval.waivers_for(ctx.run_dir.parent, exclude=ctx.run_id)
    try:
        result.since_approved = history.since_approved(ctx.run_dir.parent.parent, result)
    except sqlite3.Error as err:
        result.warnings.append(f"the history index could not be read: {err}")
    try:
        result.warnings += report.render_all(result, ctx.run_dir, ctx.options.templates, waived)
    finally:
        result.peak_memory_mb = {
            "lab": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "largest child": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        }
        if ctx.token.cancelled and not stopped_before:
            result.warnings.append(f"{ctx.token.reason} while the run folder was written; it was finished first")
        result.write(ctx.run_dir)
