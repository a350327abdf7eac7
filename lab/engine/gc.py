"""`invoke gc`'s rule for what runs left in an engine, found by label (never by name
pattern; `lab.engine.types.RunObjects` groups a run's objects): a run is removed unless its
pilot still runs (`RunObjects.owner_running`) or it was kept with --keep and its time has
not run out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from lab.engine.types import EngineLike, shown_url


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
