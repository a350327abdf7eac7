"""A Python application on the copy's own interpreter: its distributions (an inventory),
every module of the application's folder imported (an import error is the finding, with its
traceback), and the routes of the Flask applications it defines (an inventory, and each GET
route without parameters requested through the copy's probe by the caller).

The script runs in the service's container as its own user, with the application's folder
first on sys.path and its working directory there; each import is bounded by an alarm, so
that a module that waits at import costs its own deadline only. It prints one JSON object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

IMPORT_SECONDS = 10
SKIPPED_FOLDERS = ("__pycache__", "node_modules", "site-packages", "dist-packages", "venv", ".venv", "tests", "test")

SCRIPT = r"""
import importlib, importlib.metadata, io, json, os, signal, sys, traceback, warnings

root = os.environ["LAB_APP_PATH"]
skipped = set(os.environ["LAB_SKIPPED"].split())
NOT_MODULES = ("setup.py", "conftest.py", "manage.py")  # scripts run by hand, not imported
seconds = int(os.environ["LAB_IMPORT_SECONDS"])
out = {"python": sys.version.split()[0], "distributions": {}, "modules": {}, "routes": {}}
for dist in importlib.metadata.distributions():
    name = (dist.metadata["Name"] or "").lower().replace("_", "-")
    if name:
        out["distributions"][name] = dist.version

modules = []
for folder, dirs, files in os.walk(root):
    dirs[:] = sorted(d for d in dirs if d not in skipped and not d.startswith("."))
    rel = os.path.relpath(folder, root)
    parts = [] if rel == "." else rel.split(os.sep)
    if parts and not os.path.exists(os.path.join(folder, "__init__.py")):
        dirs[:] = []
        continue
    for name in sorted(files):
        if name.endswith(".py") and name not in NOT_MODULES and not name.startswith("test_"):
            stem = name[:-3]
            dotted = ".".join(parts + ([] if stem == "__init__" else [stem]))
            if dotted and all(p.isidentifier() for p in dotted.split(".")):
                modules.append(dotted)

def stop(signum, frame):
    raise TimeoutError(f"the import took more than {seconds} s")

signal.signal(signal.SIGALRM, stop)
sys.path.insert(0, root)
os.chdir(root)
real_stdout = sys.stdout
for dotted in modules:
    sys.stdout = io.StringIO()
    signal.alarm(seconds)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module(dotted)
        out["modules"][dotted] = ""
    except BaseException as err:
        if isinstance(err, KeyboardInterrupt):
            raise
        found = traceback.TracebackException.from_exception(err)
        found.stack = traceback.StackSummary.from_list(
            [f for f in found.stack if not f.filename.startswith("<") and "/importlib/" not in f.filename]
        )
        out["modules"][dotted] = "".join(list(found.format())[-12:]).strip() or repr(err)
        continue
    finally:
        signal.alarm(0)
        sys.stdout = real_stdout
    for attr, value in sorted(vars(module).items()):
        url_map = getattr(value, "url_map", None)
        if url_map is None or not hasattr(value, "view_functions") or getattr(value, "import_name", None) is None:
            continue
        for rule in url_map.iter_rules():
            if rule.endpoint == "static":
                continue
            methods = sorted(m for m in (rule.methods or ()) if m not in ("HEAD", "OPTIONS"))
            key = f"{rule.rule}"
            out["routes"][key] = {"methods": methods, "parameters": sorted(rule.arguments), "app": f"{dotted}:{attr}"}
print(json.dumps(out))
"""


@dataclass
class Found:
    python: str = ""
    distributions: dict[str, str] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)  # dotted name -> "" or the import's traceback
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)  # "/api/x" -> methods, parameters, app


def env(path: str) -> dict[str, str]:
    return {
        "LAB_APP_PATH": path,
        "LAB_SKIPPED": " ".join(SKIPPED_FOLDERS),
        "LAB_IMPORT_SECONDS": str(IMPORT_SECONDS),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def parse(text: str) -> Found:
    """Read SCRIPT's output (its last line: what the imports printed went elsewhere).

    >>> parse('{"python": "3.11.2", "distributions": {"flask": "2.2.2"}, "modules": {"app": ""},'
    ...       ' "routes": {"/": {"methods": ["GET"], "parameters": [], "app": "app:app"}}}').routes["/"]["methods"]
    ['GET']
    """
    lines = [line for line in text.splitlines() if line.startswith("{")]
    if not lines:
        raise ValueError("no answer from the Python probe")
    data = json.loads(lines[-1])
    return Found(data["python"], data["distributions"], data["modules"], data["routes"])


def plain_gets(found: Found) -> list[str]:
    """The routes that a GET without parameters can request, in order."""
    return sorted(r for r, info in found.routes.items() if "GET" in info["methods"] and not info["parameters"])
