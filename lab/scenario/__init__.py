"""The scenario: what a consultant writes, read once at the door and validated strictly.

`model` is the file's schema; `loading` reads a scenario folder into a `Scenario` with its
variants resolved (`resolved`: plain data, no Docker), `checking` finds every problem of
the file at once, `overrides` applies values given from outside the file (`--set`,
`LAB_SET_*`, matrices), `secrets` resolves and redacts secret values, and `yamlpos` keeps
the file and line of every key for the error messages.

The names a caller needs are here: `scenario.load(...)`, `scenario.Scenario`, ...
"""

from lab.scenario.loading import available, load, locate, summary
from lab.scenario.resolved import BASELINE, TWIN, Scenario, Variant, start_order

__all__ = ["BASELINE", "TWIN", "Scenario", "Variant", "available", "load", "locate", "start_order", "summary"]
