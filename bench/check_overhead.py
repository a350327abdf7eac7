"""What a declarative check costs beyond its own work: a pilot with N trivial checks per
copy (`true` as a command, `SELECT 1` on SQLite-free images is not possible, so commands),
printing the median round trip of one check and the wall time per check of the stage.

    python bench/check_overhead.py [--checks 200]

The target is a per-check overhead under 50 ms median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import scenario
from lab.engine.client import Engine
from lab.pipeline import pilot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "many-checks")
        folder.mkdir()
        checks = "\n".join(f"    - {{name: c{i}, service: app, run: 'true'}}" for i in range(args.checks))
        (folder / "scenario.yml").write_text(
            textwrap.dedent("""\
            description: many trivial checks
            services:
              app: {image: "debian:bookworm", command: [sleep, infinity]}
            candidates:
              next: {services: {app: {image: "debian:trixie"}}}
            checks:
              noise: {second_run: false}
              command:
            """)
            + checks
            + "\n"
        )
        loaded = scenario.load(str(folder))
        result = pilot.run(pilot.prepare(Engine.connect(), loaded, Path(tmp, "out"), say=lambda m: None))
    for copy in result.copies:
        trips = [s for obs in copy.observations[0] for s in obs.seconds]
        wall = copy.seconds["checks"]
        print(
            f"{copy.variant}: {len(trips)} checks in {wall:.2f} s — {wall / len(trips) * 1000:.1f} ms of wall time"
            f" per check; round trip of one check: median {statistics.median(trips) * 1000:.1f} ms"
        )
    print(f"verdict {result.verdict.value} (expected PASS), total {result.stages['total']:.1f} s")


if __name__ == "__main__":
    main()
