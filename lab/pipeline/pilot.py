"""A pilot, as the stages it runs in order over one run context:

    traffic ─▶ build ─▶ reuse ─▶ copies ∥ (stage ─▶ restore ─▶ rehearse ─▶ check ─▶ rollback) ─▶ compare
          ─▶ logs ─▶ teardown ─▶ report

Each stage is a plain function of `lab.pipeline`: `traffic.read`, `build.build`, `reuse.reuse`,
`copies.run` (each copy in its own thread: `copies.one_copy`), `judge.judge`, and the
wrap-up `wrapup.wrap_up`, which runs whatever happened before: on success, on failure, on
errors, and when the run's token was set (Ctrl-C, SIGTERM, SIGHUP, the pilot's deadline).
Failures of a copy become data in the results; only a pilot that cannot run at all (bad
input, no engine, a failed build, a baseline that does not start) ends with exit code 2.

>>> [name for name, _ in STAGES]
['traffic', 'build', 'copies', 'compare']
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable

import yaml

from lab.errors import EngineUnavailable, Interrupted, LabError, Stopped
from lab.pipeline import build, copies, judge, reuse, traffic, wrapup
from lab.pipeline.context import RunContext, prepare
from lab.results import PilotResult, Verdict

EFFECTIVE = "scenario.effective.yml"  # the scenario as this run used it, when values were given from outside
__all__ = ["EFFECTIVE", "STAGES", "prepare", "run"]


def _copies(ctx: RunContext) -> None:
    copies.run(ctx, skip=reuse.reuse(ctx))


# The stages before the wrap-up, by the name the results give the stage a pilot stopped in.
STAGES: tuple[tuple[str, Callable[[RunContext], None]], ...] = (
    ("traffic", traffic.read),  # the client's logs read (before anything is built or staged)
    ("build", build.build),
    ("copies", _copies),  # stage, restore, rehearse, check and roll back each copy on its own
    ("compare", judge.judge),
)
TIMED = {"traffic", "build"}  # the copies' own stages are timed per copy (start_ready, restore, checks)


def run(ctx: RunContext) -> PilotResult:
    """Run the stages, then the wrap-up; never leaves copies behind unless asked to keep
    them. Raises Interrupted (after the wrap-up) when a signal stopped the run."""
    _open_run_folder(ctx)
    ctx.token.expire_after(
        ctx.scenario.timeouts.pilot,
        "(timeouts.pilot) — raise timeouts.pilot in the scenario if it needs longer,"
        " or look for what hangs in the stage named below",
    )
    try:
        ctx.token.check()
        build.hash_backups(ctx)
        for name, stage in STAGES:
            ctx.result.stage = name
            if name in TIMED:
                ctx.timed(name, functools.partial(stage, ctx))
            else:
                stage(ctx)
            ctx.token.check()
        ctx.result.stage = "done"
    except LabError as err:  # a stop reports why the token was set (an engine that went away, say)
        reason = ctx.token.reason if isinstance(err, Stopped) and ctx.token.reason is not None else err
        _fail(ctx, reason)
    except KeyboardInterrupt:  # the lab used as a library, with Python's own SIGINT handler
        ctx.token.cancel(Interrupted("interrupted (Ctrl-C)"))
        _fail(ctx, ctx.token.error())
    except Exception as err:  # a defect of the lab: still tear down and say so
        ctx.token.cancel(LabError(f"internal error: {type(err).__name__}: {err}"))
        _fail(ctx, ctx.token.error())
        ctx.result.warnings.append("".join(traceback.format_exception(err)))
    finally:
        ctx.token.stop_timer()
        stopped = ctx.token.cancelled
        wrapup.wrap_up(ctx, keep=ctx.options.keep and not isinstance(ctx.token.reason, Interrupted))
    if isinstance(ctx.token.reason, Interrupted):
        how = "" if stopped else " while the run folder was written; it was finished first"
        raise Interrupted(f"{ctx.token.reason}{how}; run folder: {ctx.run_dir}")
    return ctx.result


def _open_run_folder(ctx: RunContext) -> None:
    try:
        ctx.run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LabError(
            f"cannot create the run folder {ctx.run_dir}: {err.strerror} — choose another with --out"
        ) from None
    scenario = ctx.scenario
    if scenario.overrides:  # what this run really was, the overrides applied
        (ctx.run_dir / EFFECTIVE).write_text(
            yaml.safe_dump(scenario.effective, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
    ctx.log(f"run {ctx.run_id}: {scenario.name} — {', '.join(v.name for v in scenario.variants)} → {ctx.run_dir}")


def _fail(ctx: RunContext, err: LabError) -> None:
    result = ctx.result
    result.verdict = Verdict.ERROR
    result.exit_code = err.exit_code
    result.error = str(err)
    if isinstance(err, EngineUnavailable):
        result.error += (
            f"\nThe results so far are kept in {ctx.run_dir} (incomplete). Once the engine is back,"
            " `invoke gc` removes what this run left in it."
        )
    result.reason = "the pilot could not run: " + str(err).splitlines()[0]
    ctx.log(f"error: {err}")
