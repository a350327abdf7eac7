"""What runs left in an engine, found by label, and `invoke gc`'s rule for removing it.

Every object of a run carries the run's labels (`lab.engine.types.labels`); `RunObjects`
groups them by run. `gc` removes a run unless its pilot still runs (on this host: its
process is alive; on another host: it started less than FOREIGN_RUN_GRACE ago) or it was
kept with --keep and its time has not run out. Nothing is ever found by name pattern.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from lab.engine.types import KEEP, OWNER, SCENARIO, STARTED, EngineLike, Labelled, shown_url

FOREIGN_RUN_GRACE = 12 * 3600  # a run owned by another host is presumed alive this long


@dataclass(frozen=True)
class RunObjects:
    """What the engine holds of one run, found by label."""

    run_id: str
    scenario: str
    kept_until: int  # kept with --keep until then (seconds since the epoch); 0: not kept
    owner: str
    started: int
    containers: tuple[str, ...]
    networks: tuple[str, ...]
    volumes: tuple[str, ...]

    def __str__(self) -> str:
        return f"{len(self.containers)} containers, {len(self.networks)} networks, {len(self.volumes)} volumes"

    def __bool__(self) -> bool:
        return bool(self.containers or self.networks or self.volumes)

    @property
    def kept(self) -> bool:
        """Kept with --keep, and the time it was kept for has not run out."""
        return self.kept_until > time.time()

    def owner_running(self) -> bool:
        """True while the pilot that made these objects still runs. A pilot on another
        host (a shared engine) cannot be asked, so it is presumed alive for a while."""
        host, _, pid = self.owner.rpartition(":")
        if host != socket.gethostname():
            return bool(host) and time.time() - self.started < FOREIGN_RUN_GRACE
        if not pid.isdigit():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def run_objects(run_id: str, items: list[Labelled]) -> RunObjects:
    def first(key: str) -> str:
        return next((lbls[key] for _, _, lbls in items if lbls.get(key)), "")

    def names(kind: str) -> tuple[str, ...]:
        return tuple(name for k, name, _ in items if k == kind)

    return RunObjects(
        run_id=run_id,
        scenario=first(SCENARIO),
        kept_until=int(first(KEEP)) if first(KEEP).isdigit() else 0,
        owner=first(OWNER),
        started=int(first(STARTED) or 0),
        containers=names("container"),
        networks=names("network"),
        volumes=names("volume"),
    )


def collect(engine: EngineLike, all_runs: bool, say: Callable[[str], None]) -> int:
    """Remove what earlier runs left in `engine`, saying what was removed or spared and why;
    returns how many runs were removed. With `all_runs`, kept runs are removed too."""
    where = f" on {shown_url(engine.url)}"
    removed = 0
    for r in engine.runs():
        if r.owner_running():
            say(f"spared run {r.run_id} ({r.scenario}){where}: its pilot is still running ({r.owner})")
        elif r.kept and not all_runs:
            until = datetime.fromtimestamp(r.kept_until, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            say(
                f"spared run {r.run_id} ({r.scenario}){where}: kept with --keep until {until}"
                f" (`invoke down {r.run_id}` removes it now)"
            )
        else:
            engine.remove_run(r.run_id)
            removed += 1
            why = " (its --keep ran out)" if r.kept_until else ""
            say(f"removed run {r.run_id} ({r.scenario or 'unknown scenario'}){where}{why}: {r}")
    return removed
