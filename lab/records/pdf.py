"""report.pdf: the HTML report printed by headless Chromium (Debian's `chromium`).

Chromium is started with the flags that keep it off the network, in a fresh profile, and
stopped at a deadline. Without Chromium the PDF is skipped with a warning that says how
to get it; the other formats do not depend on it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--no-pdf-header-footer",
]
DEADLINE = 60.0


def browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def chromium(args: list[str], deadline: float = DEADLINE) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with a throwaway profile; raises FileNotFoundError without it."""
    exe = browser()
    if exe is None:
        raise FileNotFoundError("chromium")
    with tempfile.TemporaryDirectory(prefix="lab-chromium-") as profile:
        return subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=deadline,
            stdin=subprocess.DEVNULL,
            check=False,
        )


def print_pdf(html: Path, out: Path) -> list[str]:
    """Print `html` to `out`; returns warnings instead of failing the pilot."""
    out.unlink(missing_ok=True)
    try:
        done = chromium([f"--print-to-pdf={out}", html.resolve().as_uri()])
    except FileNotFoundError:
        return ["report.pdf not written: no Chromium here (apt-get install chromium)"]
    except subprocess.TimeoutExpired:
        return [f"report.pdf not written: Chromium did not finish within {DEADLINE:g} s"]
    if not out.is_file() or out.stat().st_size == 0:
        return [f"report.pdf not written: Chromium failed: {done.stderr.strip()[-300:]}"]
    return []
