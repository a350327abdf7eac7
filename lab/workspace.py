"""Where a consultant's scenarios and run folders are: the lab runs from any folder.

The scenarios are `LAB_SCENARIOS` when it is set, otherwise the `scenarios/` folder of the
working folder or of the nearest folder above it that has one (as git finds its
repository), otherwise `./scenarios` (where `init` makes it). Run folders go to `pilots/`
beside the scenarios folder, so each client's repository keeps its own runs and history.
"""

from __future__ import annotations

import os
from pathlib import Path

from lab.errors import LabError

SCENARIOS = "scenarios"
PILOTS = "pilots"


def scenarios(cwd: Path | None = None, environ: dict[str, str] | None = None) -> Path:
    """The scenarios folder for a command run in `cwd`."""
    given = (os.environ if environ is None else environ).get("LAB_SCENARIOS", "")
    start = (cwd or Path.cwd()).resolve()
    if given:
        folder = (start / given).resolve()
        if not folder.is_dir():
            raise LabError(f"LAB_SCENARIOS={given}: no such folder — set it to the folder that holds the scenarios")
        return folder
    for folder in (start, *start.parents):
        if (folder / SCENARIOS).is_dir():
            return folder / SCENARIOS
    return start / SCENARIOS


def pilots(cwd: Path | None = None, environ: dict[str, str] | None = None) -> Path:
    """The folder of run folders: `pilots/` beside the scenarios folder."""
    return scenarios(cwd, environ).parent / PILOTS
