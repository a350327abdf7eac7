"""The client's recorded traffic in a pilot: the logs read once before anything is staged
(a log that cannot be read stops the pilot here, with its name), their credentials added
to what is redacted, and each copy's replay beside its declarative checks."""

from __future__ import annotations

from lab import replay
from lab.compare.diff import Rules
from lab.compare.verdicts import ProbeRule
from lab.pipeline.context import CopyWork, RunContext
from lab.results import Observation
from lab.scenario.checking import shown


def read(ctx: RunContext) -> None:
    """Read every log of `replay:` into the steps to replay, hashing each file first."""
    for spec, path in ctx.scenario.replay:
        ctx.token.check()
        log = replay.read(spec, path, shown(path))
        ctx.traffic.append(log)
        ctx.result.traffic.append(log.coverage)
        ctx.redact.add({f"replayed-credential-{n}": v for n, v in enumerate(sorted(log.secrets), 1)})
        c = log.coverage
        ctx.log(
            f"traffic {spec.file} ({c.format}): {c.read} entries, {c.distinct} distinct to replay"
            + (f", {c.malformed} malformed" if c.malformed else "")
            + (f", {sum(c.skipped.values())} skipped" if c.skipped else "")
        )


def observe(ctx: RunContext, work: CopyWork, probe: str | None, writes: bool = True) -> list[Observation]:
    """The copy's answers to every distinct entry (without `writes`, those that read)."""
    if not ctx.traffic:
        return []
    return replay.replay(work.engine, ctx.traffic, work.containers, probe, ctx.token, writes, work.users)


def rules(ctx: RunContext) -> dict[str, ProbeRule]:
    """How each replayed entry is compared: its log's ignore rules, the scenario's, and
    whether it writes (its noise is then learned from a second copy only)."""
    return {
        step.id: ProbeRule(Rules.of(log.spec.ignore, ctx.scenario.checks.ignore), step.compare, step.writes)
        for log in ctx.traffic
        for step in log.checks
    }
