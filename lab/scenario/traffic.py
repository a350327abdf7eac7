"""The `replay:` section checked at the door: each log file exists and is a file, and the
services and ports its entries go to exist. The files themselves are read when a pilot
starts (lab.replay), not when a scenario is listed."""

from __future__ import annotations

from pathlib import Path

from lab.errors import did_you_mean
from lab.scenario.checking import Problems, shown
from lab.scenario.model import ReplayLog, ScenarioFile

NEEDS_SERVICE = ("postgresql", "postgresql-csv", "mysql-general", "mysql-slow", "redis-monitor")


def check_replay(spec: ScenarioFile, folder: Path, report: Problems) -> list[tuple[ReplayLog, Path]]:
    found = []
    for index, log in enumerate(spec.replay):
        at = ("replay", index)
        path = (folder / log.file).resolve()
        if not path.is_file():
            report.add(at + ("file",), f"log file not found: {shown(path)} — copy the client's log there")
        if log.service is not None and log.service not in spec.services:
            report.add(at + ("service",), f"unknown service '{log.service}'{did_you_mean(log.service, spec.services)}")
        if log.format in NEEDS_SERVICE and log.service is None:
            report.add(at, f"a {log.format} log needs `service:` — the service it goes to")
        for host, route in log.to.items():
            service, sep, port = route.partition(":")
            if service not in spec.services:
                report.add(
                    at + ("to", host),
                    f"unknown service '{service}'{did_you_mean(service, spec.services)} — write service:port",
                )
            elif sep and not (port.isdigit() and 0 < int(port) < 65536):
                report.add(at + ("to", host), f"{route!r}: the port must be a number — write service:port")
        if log.to and log.format not in ("auto", "access-log", "har"):
            report.add(at + ("to",), "`to:` routes HTTP entries; a log of SQL or Redis goes to `service:`")
        found.append((log, path))
    return found
