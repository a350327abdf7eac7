"""The scenario as the rest of the lab sees it: plain, frozen data, no Docker.

A `Scenario` has one `Variant` per copy to stage: the baseline (and its twin, when noise is
learned from a second copy) and each candidate, each a full stack of services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.errors import ScenarioError
from lab.scenario.model import Backup, Checks, PlanSpec, ReplayLog, Service, Timeouts, Upgrade, Verify

BASELINE = "baseline"
TWIN = "baseline-2"  # the second baseline copy, staged when checks.noise.second_copy asks


@dataclass(frozen=True)
class Variant:
    """One copy to stage: the baseline or a candidate, as a complete stack."""

    name: str
    role: str  # "baseline" or "candidate"
    description: str
    services: dict[str, Service]


@dataclass(frozen=True)
class Scenario:
    """A validated scenario, ready to stage. Paths are absolute."""

    name: str
    folder: Path
    description: str
    client: str
    consultant: str
    change: str
    variants: tuple[Variant, ...]
    test_files: tuple[tuple[Path, tuple[str, ...]], ...]  # (file, services its `host` targets)
    checks: Checks
    timeouts: Timeouts
    backups: tuple[tuple[str, Backup, Path], ...] = ()  # (service, artefact, absolute path)
    replay: tuple[tuple[ReplayLog, Path], ...] = ()  # the client's traffic logs (absolute path)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)  # name -> value: redacted in artefacts
    verify: tuple[Verify, ...] = ()
    upgrade: Upgrade = Upgrade()
    effective: dict[str, Any] = field(default_factory=dict, repr=False)  # the file's data with the overrides
    overrides: tuple[str, ...] = ()  # as given: "--set KEY=VALUE", "LAB_SET_X=KEY=VALUE", "--matrix ..."
    discover: bool = False  # the lab's own probes (lab.discover), for services that do not say otherwise
    plan: PlanSpec = PlanSpec()  # the consultant's rate and hours (lab.records.plans)

    def discovered(self, variant: Variant) -> dict[str, Service]:
        """The services of a copy that discovery probes."""
        on = self.discover
        return {n: s for n, s in variant.services.items() if (s.discover if s.discover is not None else on)}

    @property
    def baseline(self) -> Variant:
        return self.variants[0]

    @property
    def candidates(self) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if v.role == "candidate")

    @property
    def twin(self) -> Variant | None:
        """The second baseline copy, when the scenario asks for one."""
        return next((v for v in self.variants if v.name == TWIN), None)

    @property
    def moved(self) -> set[str]:
        """The candidates' services that get their data through the upgrade steps (no restore)."""
        return {s.into.service for s in self.upgrade.steps if s.into and s.into.side == "candidate"}


def start_order(services: dict[str, Service]) -> list[list[str]]:
    """Waves of services: each wave depends only on earlier waves.

    >>> start_order({"app": Service(image="a", depends_on=["db"]), "db": Service(image="d")})
    [['db'], ['app']]
    """
    waves: list[list[str]] = []
    placed: set[str] = set()
    while len(placed) < len(services):
        wave = sorted(n for n, s in services.items() if n not in placed and set(s.depends_on) <= placed)
        if not wave:
            cycle = sorted(set(services) - placed)
            raise ScenarioError(
                f"services {', '.join(cycle)} depend on each other in a cycle — break the cycle in depends_on"
            )
        waves.append(wave)
        placed.update(wave)
    return waves
