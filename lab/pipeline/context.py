"""The run context: what every stage of a pilot reads and adds to.

One `RunContext` per pilot holds the scenario, the engines and where each copy runs, the
run folder, the cancel token, the guard of the shared baseline and the results as they
grow; `prepare()` makes it. One `CopyWork` per copy holds what that copy's stages share
while it is worked on.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from lab.cancel import Token
from lab.checks import testfiles
from lab.engine import fleet
from lab.engine.types import ContainerSpec, EngineLike, labels, shown_url
from lab.pipeline.guard import BaselineGuard
from lab.pipeline.stage import CopyNames
from lab.replay import Traffic
from lab.results import CopyResult, PilotResult
from lab.scenario import Scenario, Variant
from lab.scenario.secrets import Redactor
from lab.users import Users

Say = Callable[[str], None]
PROBE = "lab-probe"  # the HTTP probe's container in a copy, and its key in the image plans
Refs = dict[tuple[str, str], str]  # (variant, service) -> image ref
KEEP_FOR = 24 * 3600.0  # how long `invoke gc` spares copies kept with --keep
T = TypeVar("T")


@dataclass
class Options:
    """How the consultant asked for this run."""

    keep: bool = False
    keep_for: float = KEEP_FOR
    reuse_baseline: bool = False
    templates: Path | None = None


@dataclass
class RunContext:
    scenario: Scenario
    engines: list[EngineLike]
    placement: dict[str, EngineLike]  # variant -> the engine its copy runs on
    run_id: str
    run_dir: Path
    token: Token
    guard: BaselineGuard
    result: PilotResult
    copies: dict[str, CopyResult]
    options: Options
    say: Say
    clock: Callable[[], float]
    redact: Redactor
    t0: float
    refs: Refs = field(default_factory=dict)
    traffic: list[Traffic] = field(default_factory=list)  # the client's logs, read (lab.pipeline.traffic)
    users: dict[str, Users] = field(default_factory=dict)  # variant -> the OS users of its containers
    wrapping: bool = False  # the stages are over: logs, teardown and the run folder
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def needs_probe(self) -> bool:
        """Whether the copies need the probe: HTTP checks, HTTP or Redis traffic to replay, or
        an application whose routes discovery requests."""
        scenario = self.scenario
        return (
            bool(scenario.checks.http)
            or any(log.protocol in ("http", "redis") for log in self.traffic)
            or any(s.app is not None for v in scenario.variants for s in scenario.discovered(v).values())
        )

    @property
    def baseline(self) -> CopyResult:
        return self.copies[self.scenario.baseline.name]

    def users_of(self, variant: Variant, containers: dict[str, str]) -> Users:
        """The OS users of a copy's containers: one per copy, so that each container is looked
        up once, also by the steps that reach this copy from another."""
        with self.lock:
            return self.users.setdefault(
                variant.name, Users(self.placement[variant.name], self.token, variant.services, containers)
            )

    def log(self, message: str) -> None:
        self.say(self.redact(f"[{self.clock() - self.t0:6.1f}s] {message}"))

    def timed(self, stage: str, fn: Callable[[], T]) -> T:
        """Run `fn`, keeping its time as the stage's in the results."""
        start = self.clock()
        try:
            return fn()
        finally:
            self.result.stages[stage] = round(self.clock() - start, 3)

    def slowest(self, stage: str, seconds: float) -> None:
        """Copies overlap, so a stage takes as long as its slowest copy."""
        with self.lock:
            self.result.stages[stage] = max(self.result.stages.get(stage, 0.0), seconds)

    def status_line(self) -> str:
        """What the pilot is doing now, in one line (the terminal's progress display)."""
        stage = "tearing down and writing the run folder" if self.wrapping else self.result.stage or "starting"
        busy = " · ".join(f"{c.variant}: {c.stage or 'waiting'}" for c in self.copies.values())
        return f"[{self.clock() - self.t0:6.1f}s] {stage}" + (f" — {busy}" if stage == "copies" else "")


def new_run_id() -> str:
    """Sortable and unique: UTC time plus randomness, e.g. 20261123-141502-3fa2."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def prepare(
    engine: EngineLike | Sequence[EngineLike],
    scenario: Scenario,
    out_root: Path,
    options: Options | None = None,
    say: Say = print,
    clock: Callable[[], float] = time.monotonic,
    token: Token | None = None,
) -> RunContext:
    """The context of a new run of `scenario`: its id, folder, copies and token."""
    engines = [engine] if not isinstance(engine, Sequence) else list(engine)
    placement = fleet.place([v.name for v in scenario.variants], engines)
    token = token or Token()
    run_id = new_run_id()
    options = options or Options()
    upgrading = [c.name for c in scenario.candidates] if scenario.upgrade.steps else []
    return RunContext(
        scenario=scenario,
        engines=engines,
        placement=placement,
        run_id=run_id,
        run_dir=out_root / scenario.name / run_id,
        token=token,
        guard=BaselineGuard(upgrading, token),
        result=PilotResult(
            run_id=run_id,
            scenario=scenario.name,
            description=scenario.description,
            client=scenario.client,
            consultant=scenario.consultant,
            change=scenario.change,
            overrides=list(scenario.overrides),
            started_at=now(),
            kept=options.keep,
        ),
        copies={
            v.name: CopyResult(
                variant=v.name, role=v.role, description=v.description, engine=shown_url(placement[v.name].url)
            )
            for v in scenario.variants
        },
        options=options,
        say=say,
        clock=clock,
        redact=Redactor(scenario.secrets),
        t0=clock(),
    )


class CopyWork:
    """One copy's own things while it is worked on: its names, engine, containers, its
    pytest process and its side work (the probe's start, the inventory), all closed and
    waited for when the copy ends, so that nothing of it is created after the teardown."""

    def __init__(self, ctx: RunContext, variant: Variant):
        self.ctx = ctx
        self.variant = variant
        self.copy = ctx.copies[variant.name]
        self.names = CopyNames(ctx.run_id, variant.name)
        self.engine: EngineLike = ctx.placement[variant.name]
        self.containers = {s: self.names.container(s) for s in variant.services}
        self.users = ctx.users_of(variant, self.containers)
        self.side = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"side-{variant.name}")
        self.probe: Future[str] | None = None
        self.describing: Future[None] | None = None
        self.testing: testfiles.Checking | None = None
        self.is_baseline = variant.name == ctx.scenario.baseline.name
        self.upgrading = variant.role == "candidate" and bool(ctx.scenario.upgrade.steps)
        # the services whose data the upgrade steps bring (not restored), and what is restored
        self.moved = ctx.scenario.moved if self.upgrading else set()
        self.backups = [item for item in ctx.scenario.backups if item[0] not in self.moved]

    def start_probe(self) -> None:
        """The HTTP probe's container on the copy's network, started beside the copy's work."""
        if not self.ctx.needs_probe or self.probe is not None:
            return
        name = self.names.container(PROBE)
        spec = ContainerSpec(
            name=name,
            image=self.ctx.refs[(self.variant.name, PROBE)],
            network=self.names.network,
            aliases=(PROBE,),
            labels=labels(self.ctx.run_id, self.ctx.scenario.name, self.variant.name, PROBE),
        )

        def start() -> str:
            self.engine.start(spec)
            return name

        self.probe = self.side.submit(start)

    def close(self) -> None:
        if self.testing is not None:
            self.testing.close()
        self.side.shutdown(wait=True, cancel_futures=True)
