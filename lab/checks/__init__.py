"""The checks run against each copy.

`declarative` runs the scenario's sql, http and command checks and records their answers
(`sql` reads the database clients' answers, `commands` bounds every command with its
deadline); `testfiles` runs the scenario's pytest + testinfra files in one pytest process
per copy, with `pytest_plugin` and `testinfra_backend` inside that process; `inventory`
records what each copy runs (OS, package versions); `probe/` is the HTTP probe's container.
"""
