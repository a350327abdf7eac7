"""The scenario: what a consultant writes, read once at the door and validated strictly.

`model` is the file's schema, `loading` reads a scenario folder into a `Scenario` (plain
data, no Docker) with its variants resolved, `overrides` applies values given from outside
the file (`--set`, `LAB_SET_*`, matrices), `secrets` resolves and redacts secret values and
`yamlpos` keeps the file and line of every key for the error messages.

The names a caller needs are here: `scenario.load(...)`, `scenario.Scenario`, ...
"""

from lab.scenario.loading import BASELINE, TWIN, Scenario, Variant, available, load, locate, start_order, summary

__all__ = ["BASELINE", "TWIN", "Scenario", "Variant", "available", "load", "locate", "start_order", "summary"]
