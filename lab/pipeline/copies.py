"""The copies stage: every copy (baseline, candidates) staged and checked in its own thread,
so that a copy that is ready starts its checks without waiting for the others.

One copy's work, in order (`one_copy`):

    stage ─▶ restore ─▶ rehearse ─▶ check ─▶ rollback

Staging goes wave by wave in `depends_on` order: the client's files are placed into a
service's container before it starts, a dump is loaded once its service is ready and before
the services that need the data start, and a candidate whose data comes through the upgrade
steps gets it there (`lab.pipeline.rehearse`). A copy's failures become data in its
`CopyResult`; only a stopped run (the token) or an engine that went away end the stage.
"""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

from lab.cancel import POLL
from lab.checks import testfiles
from lab.compare import verdicts
from lab.errors import EngineUnavailable, Interrupted, LabError, NotReady, Stopped
from lab.pipeline import check, configs, rehearse, restore, stage
from lab.pipeline.context import CopyWork, RunContext
from lab.results import ServiceInfo
from lab.scenario import TWIN, Variant, start_order


def run(ctx: RunContext, skip: set[str]) -> None:
    """Stage and check every copy not in `skip`, at the same time. Returns when all have
    ended; a stopped run stops them all within a second, and nothing of theirs is created
    after this returns."""
    staged = [v for v in ctx.scenario.variants if v.name not in skip]
    futures = []
    with ThreadPoolExecutor(max_workers=len(staged), thread_name_prefix="copy") as pool:
        try:
            futures += [pool.submit(one_copy, ctx, variant) for variant in staged]
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=POLL, return_when=FIRST_EXCEPTION)
                failed = next((f.exception() for f in done if f.exception() is not None), None)
                if failed is not None and not ctx.token.cancelled:  # an engine that went away, a defect
                    ctx.token.cancel(_reason(failed))
        except BaseException as err:  # Python's own Ctrl-C in the main thread: stop the copies first
            ctx.token.cancel(_reason(err))
            raise
    for future in futures:
        future.result()
    for engine in ctx.engines:  # copies record what fails; an engine that went away ends the pilot
        engine.ping()


def one_copy(ctx: RunContext, variant: Variant) -> None:
    """Stage one copy, restore, rehearse, check, roll back; failures are recorded, not raised."""
    work = CopyWork(ctx, variant)
    copy = work.copy
    copy.began = round(ctx.clock() - ctx.t0, 3)
    try:
        if ctx.scenario.test_files and variant.name != TWIN:  # the twin only samples noise
            work.testing = testfiles.start(
                ctx.scenario, variant.name, work.containers, ctx.run_dir / "checks" / variant.name, work.engine.url
            )
        if not staged(ctx, work):
            return
        restore.record(ctx, work)
        if work.is_baseline:
            ctx.guard.restored()
        ctx.token.check()
        unrestored = verdicts.backup_failures(copy)
        if unrestored:  # checks on half of the client's data would prove nothing
            copy.not_checked = f"the backup did not restore: {unrestored[0].id}: {unrestored[0].message}"
            ctx.log(f"{variant.name}: checks not run — {copy.not_checked}")
        else:
            check.check_copy(ctx, work)
        if work.is_baseline:
            ctx.guard.checked()
        elif work.upgrading and ctx.scenario.upgrade.rollback:
            copy.stage = "rollback"
            rehearse.roll_back(ctx, work)
        copy.stage = "done"
    finally:
        work.close()
        copy.ended = round(ctx.clock() - ctx.t0, 3)
        if work.is_baseline:
            ctx.guard.baseline_gone()  # never leave the candidates waiting
        else:
            ctx.guard.done_reading(variant.name)


def staged(ctx: RunContext, work: CopyWork) -> bool:
    """Start the copy's services wave by wave, with the client's data and the upgrade in
    between; False (recorded in the copy) when it did not start."""
    copy, variant = work.copy, work.variant
    copy.stage = "start"
    copy.services = {
        s: ServiceInfo(container=work.containers[s], image=ctx.refs[(variant.name, s)]) for s in variant.services
    }
    start = ctx.clock()
    try:
        stage.create_copy(work.engine, ctx.scenario.name, variant, work.names)
        work.start_probe()
        started: set[str] = set()
        for wave in start_order(variant.services):
            ctx.token.check()
            started |= set(wave)
            for service in wave:
                _create(ctx, work, service)
            try:
                _ready(ctx, work, wave, start)
            except NotReady:
                if not _without_refused(ctx, work, wave):
                    raise
                _ready(ctx, work, wave, start)
            restore.load_dumps(ctx, work, wave)
            if work.moved & set(wave) and work.moved <= started and not copy.upgrade:
                rehearse.upgrade(ctx, work)  # once every service it brings data into runs
    except (Stopped, EngineUnavailable):
        raise
    except LabError as err:
        copy.error = str(err) + "".join(
            f"\n  {service} was started with the client's configuration: {', '.join(paths)}"
            for service, paths in copy.configs.items()
        )
        copy.seconds["start_ready"] = round(ctx.clock() - start, 3)
        ctx.log(f"{variant.name}: did not start — {str(err).splitlines()[0]}")
        return False
    copy.ready = True
    copy.checks += configs.checks(variant, copy.configs, copy.refused)
    copy.seconds["start_ready"] = round(ctx.clock() - start, 3)
    ctx.slowest("start_ready", copy.seconds["start_ready"])
    check.describe(ctx, work)  # beside the copy's work, off its critical path
    if work.upgrading and not copy.upgrade:  # steps that move no data into a service: after staging
        rehearse.upgrade(ctx, work)
    return True


def _create(ctx: RunContext, work: CopyWork, service: str, refused: frozenset[str] = frozenset()) -> None:
    """A service's container, created with the client's files (its backup's files, its
    configuration but what it `refused`), not yet started."""
    copy, variant = work.copy, work.variant
    svc, image = variant.services[service], copy.services[service].image
    spec = stage.container_spec(work.names, ctx.scenario.name, variant.name, service, svc, image)
    work.engine.create(spec)
    restore.place_files(ctx, work, service)
    if svc.config:
        items = [i for i in svc.config if i.file not in refused]
        copy.configs[service] = configs.place(work.engine, spec.name, items, ctx.scenario.folder)
    work.engine.begin(spec.name)


def _ready(ctx: RunContext, work: CopyWork, wave: list[str], start: float) -> None:
    stage.wait_ready(
        work.engine,
        {s: work.containers[s] for s in wave},
        work.variant.name,
        ctx.scenario.timeouts.ready,
        ctx.token,
        ctx.clock,
        on_ready=lambda s: ctx.log(f"{work.variant.name}: {s} ready ({ctx.clock() - start:.1f} s)"),
    )


def _without_refused(ctx: RunContext, work: CopyWork, wave: list[str]) -> bool:
    """The services of a wave that did not start and whose log names one of the client's
    configuration files: each file recorded as refused, in the server's words, and the
    service started again without it. False when there is none."""
    copy, variant = work.copy, work.variant
    again = False
    for service in wave:
        placed = copy.configs.get(service, [])
        if not placed or work.engine.state(work.containers[service]).status == "running":
            continue
        named = configs.refused(work.engine.logs(work.containers[service], tail=200), placed)
        if not named:
            continue
        by_path = dict(zip(placed, [i for i in variant.services[service].config], strict=False))
        copy.refused[service] = {by_path[path].file: said for path, said in named.items()}
        files = ", ".join(named)
        ctx.log(f"{variant.name}: {service} refused the client's configuration ({files}): started again without it")
        restore.forget_files(work, service)
        work.engine.remove(work.containers[service])
        _create(ctx, work, service, frozenset(copy.refused[service]))
        again = True
    return again


def _reason(failed: BaseException) -> LabError:
    """Why the other copies stop when one of them raised."""
    if isinstance(failed, LabError):
        return failed
    if isinstance(failed, KeyboardInterrupt):
        return Interrupted("interrupted (Ctrl-C)")
    return LabError(f"internal error: {type(failed).__name__}: {failed}")
