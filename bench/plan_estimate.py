"""How close the pilot plan's estimate comes to the next pilot's real wall time: `invoke
plan` without history, then after each of a few demo pilots (in a run folder of its own),
each estimate against the pilot that follows it.

    python bench/plan_estimate.py [scenario] [--runs 4]

Target: with history, the estimate lies within ±50% of the next pilot's wall time.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path

from common import ROOT, arguments


def invoke(*args: str) -> str:
    done = subprocess.run([str(ROOT / ".venv/bin/invoke"), *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"invoke {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


def main() -> None:
    args = arguments(__doc__, runs=4)
    with tempfile.TemporaryDirectory(prefix="lab-bench-plan-") as tmp:
        out = Path(tmp)
        rows = []
        for number in range(args.runs + 1):
            said = invoke("plan", args.scenario, "--out", str(out))
            plan_id = re.search(r"^plan (plan-\S+):", said, re.MULTILINE).group(1)  # type: ignore[union-attr]
            estimate = json.loads((out / args.scenario / "plans" / plan_id / "plan.json").read_text())["estimate"]
            report = invoke("pilot", args.scenario, "--out", str(out), "--plan", "none")
            run_dir = re.search(r"report: (\S+)/report\.html", report).group(1)  # type: ignore[union-attr]
            real = json.loads((Path(run_dir) / "results.json").read_text())["stages"]["total"]
            point = (estimate["low"] * estimate["high"]) ** 0.5
            rows.append((number, estimate["basis"].split(":")[0], estimate["low"], estimate["high"], point, real))
    print(f"{'pilot':>5}  {'estimated from':<40} {'low':>6} {'high':>6} {'point':>6} {'real':>6} {'error':>6}")
    for number, basis, low, high, point, real in rows:
        error = (point - real) / real
        print(f"{number:>5}  {basis:<40} {low:>6.1f} {high:>6.1f} {point:>6.1f} {real:>6.1f} {error:>+6.0%}")


if __name__ == "__main__":
    main()
