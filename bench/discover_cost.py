"""What discovery adds to a pilot: the demo pilot as it is and with `discover: true` (its
application declared), alternating, with the wall time of each and the median ratio.

    python bench/discover_cost.py [--runs 5]

Target: discovery adds at most 20% to the demo pilot's wall time.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time

from common import ROOT, arguments

DISCOVER = ["--set", "discover=true", "--set", "services.app.app={path: /srv/invoices, language: python}"]


def pilot(extra: list[str]) -> tuple[float, dict[str, float], int]:
    """(wall seconds, the run's stage seconds, how many discovered checks the baseline ran)."""
    start = time.perf_counter()
    done = subprocess.run(
        [str(ROOT / ".venv/bin/invoke"), "pilot", "demo", *extra], cwd=ROOT, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    report = next(line for line in done.stdout.splitlines() if "report:" in line)
    run_dir = report.split("report:", 1)[1].split()[0].rsplit("/", 1)[0]
    results = json.loads((ROOT / run_dir / "results.json").read_text())
    baseline = results["copies"][0]["observations"][0]
    return seconds, results["stages"], sum(1 for o in baseline if o["kind"] == "discovered")


def main() -> None:
    args = arguments(__doc__, runs=5)
    pilot([])  # images built, caches warm
    plain: list[float] = []
    discovering: list[float] = []
    checks: list[float] = []
    for _ in range(args.runs):
        plain.append(pilot([])[0])
        seconds, stages, count = pilot(DISCOVER)
        discovering.append(seconds)
        checks.append(stages["checks"])
        print(f"  demo {plain[-1]:5.2f} s, with discovery {seconds:5.2f} s ({count} discovered checks)")
    a, b = statistics.median(plain), statistics.median(discovering)
    ratios = [d / p for p, d in zip(plain, discovering, strict=True)]
    print(
        f"demo pilot: {a:.2f} s, with discovery {b:.2f} s — +{(b / a - 1) * 100:.0f}%"
        f" ({(min(ratios) - 1) * 100:+.0f}% to {(max(ratios) - 1) * 100:+.0f}% over the rounds);"
        f" checks stage with discovery {statistics.median(checks):.2f} s"
    )


if __name__ == "__main__":
    main()
