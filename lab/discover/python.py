"""A Python application on the copy's own interpreter: its distributions (an inventory),
every module of the application's folder imported (an import error is the finding, with its
traceback), the modules its code imports only when a function runs (or behind a condition)
looked up, and the routes of the Flask applications it defines and of its Django project
(DJANGO_SETTINGS_MODULE in the service's environment: set up first, as its server does) —
an inventory, and each GET route without parameters, or with numbers only, requested
through the copy's probe.

The script runs in the service's container as its own user, with the application's folder
first on sys.path and its working directory there; each import is bounded by an alarm, so
that a module that waits at import costs its own deadline only. It prints one JSON object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lab.checks.commands import Runner
from lab.discover.probing import PREFIX, Plan, inventory, observation, routes_of, script
from lab.results import Observation, Outcome
from lab.scenario.model import Service

IMPORT_SECONDS = 10
SKIPPED_FOLDERS = ("__pycache__", "node_modules", "site-packages", "dist-packages", "venv", ".venv", "tests", "test")

SCRIPT = r"""
import ast, importlib, importlib.metadata, importlib.util, io, json, os, re, signal, sys, traceback, warnings

root = os.environ["LAB_APP_PATH"]
skipped = set(os.environ["LAB_SKIPPED"].split())
NOT_MODULES = ("setup.py", "conftest.py", "manage.py")  # scripts run by hand, not imported
seconds = int(os.environ["LAB_IMPORT_SECONDS"])
out = {"python": sys.version.split()[0], "distributions": {}, "modules": {}, "routes": {}, "deferred": {}}
for dist in importlib.metadata.distributions():
    name = (dist.metadata["Name"] or "").lower().replace("_", "-")
    if name:
        out["distributions"][name] = dist.version

modules, files_of = [], {}
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
                files_of[dotted] = os.path.join(folder, name)

# Imports that importing a module does not run (inside a function, or behind a condition),
# unless an ImportError is expected there: where the code has them first.
class Deferred(ast.NodeVisitor):
    def __init__(self, path):
        self.path, self.depth, self.guarded = path, 0, 0

    def nested(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_If = visit_With = nested

    def visit_Try(self, node):
        expects = any(
            h.type is None or "ImportError" in ast.dump(h.type) or "ModuleNotFoundError" in ast.dump(h.type)
            for h in node.handlers
        )
        self.guarded += expects
        for item in node.body:
            self.visit(item)
        self.guarded -= expects
        for item in node.handlers + node.orelse + node.finalbody:
            self.visit(item)

    def note(self, name, node):
        if self.depth and not self.guarded and name and name.split(".")[0] not in own:
            where = f"{os.path.relpath(self.path, root)}:{node.lineno}"
            out["deferred"].setdefault(name.split(".")[0], where)

    def visit_Import(self, node):
        for alias in node.names:
            self.note(alias.name, node)

    def visit_ImportFrom(self, node):
        if not node.level:
            self.note(node.module, node)

own = {m.split(".")[0] for m in modules}
for dotted, path in files_of.items():
    try:
        with open(path, "rb") as source:
            Deferred(path).visit(ast.parse(source.read(), path))
    except (SyntaxError, ValueError, OSError):
        pass  # the import below says what is wrong with the module
for name in list(out["deferred"]):
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    out["deferred"][name] = [out["deferred"][name], found]

def stop(signum, frame):
    raise TimeoutError(f"the import took more than {seconds} s")

signal.signal(signal.SIGALRM, stop)
sys.path.insert(0, root)
os.chdir(root)
real_stdout = sys.stdout

# A Django project (DJANGO_SETTINGS_MODULE in the service's environment) is set up first, as
# its own server does, so that its models import; its URL patterns are its routes.
django_said = None
if os.environ.get("DJANGO_SETTINGS_MODULE"):
    django_said = ""
    signal.alarm(seconds)
    try:
        import django
        from django.urls import URLPattern, URLResolver, get_resolver

        django.setup()

        def walk(patterns, prefix):
            for entry in patterns:
                if isinstance(entry, URLResolver):
                    yield from walk(entry.url_patterns, prefix + str(entry.pattern))
                elif isinstance(entry, URLPattern):
                    yield prefix + str(entry.pattern), entry

        for route, entry in walk(get_resolver().url_patterns, ""):
            route = "/" + route.replace("^", "").replace("$", "")
            converters = getattr(entry.pattern, "converters", {})
            regex = entry.pattern.regex.groupindex if not converters else {}
            names = sorted(set(converters) | set(regex))
            numbers = bool(converters) and all(type(c).__name__ == "IntConverter" for c in converters.values())
            out["routes"][route] = {
                "methods": ["GET"],
                "parameters": names,
                "app": f"django:{os.environ['DJANGO_SETTINGS_MODULE']}",
                "sample": re.sub(r"<int:\w+>", "1", route) if numbers and not regex else None,
            }
    except BaseException as err:
        if isinstance(err, KeyboardInterrupt):
            raise
        django_said = f"{type(err).__name__}: {err}"
    finally:
        signal.alarm(0)
out["django"] = django_said
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
        try:  # a proxy (flask.request) answers only inside a request: not an application
            url_map = getattr(value, "url_map", None)
            if url_map is None or not hasattr(value, "view_functions") or getattr(value, "import_name", None) is None:
                continue
        except Exception:
            continue
        for rule in url_map.iter_rules():
            if rule.endpoint == "static":
                continue
            methods = sorted(m for m in (rule.methods or ()) if m not in ("HEAD", "OPTIONS"))
            converters = getattr(rule, "_converters", {})
            numbers = bool(converters) and all(type(c).__name__ == "IntegerConverter" for c in converters.values())
            out["routes"][rule.rule] = {
                "methods": methods,
                "parameters": sorted(rule.arguments),
                "app": f"{dotted}:{attr}",
                "sample": re.sub(r"<int(?:\([^)]*\))?:\w+>", "1", rule.rule) if numbers else None,
            }
print(json.dumps(out))
"""


@dataclass
class Found:
    python: str = ""
    distributions: dict[str, str] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)  # dotted name -> "" or the import's traceback
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)  # "/api/x" -> methods, parameters, app, sample
    deferred: dict[str, tuple[str, bool]] = field(default_factory=dict)  # module -> (where, whether it is there)
    django: str | None = None  # why a Django project (DJANGO_SETTINGS_MODULE) did not set up; "" when it did


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
    deferred = {name: (where, bool(there)) for name, (where, there) in data.get("deferred", {}).items()}
    return Found(data["python"], data["distributions"], data["modules"], data["routes"], deferred, data.get("django"))


def gets(found: Found) -> list[str]:
    """The paths a GET can request: the routes without parameters, and those whose
    parameters are all numbers with 1 for each (`/api/orders/<int:order_id>` → `/api/orders/1`)."""
    paths = set()
    for route, info in found.routes.items():
        if "GET" in info["methods"] and (not info["parameters"] or info.get("sample")):
            paths.add(info.get("sample") or route)
    return sorted(paths)


def observe(
    run: Runner, name: str, service: Service, container: str, probe: str | None, plan: Plan
) -> tuple[list[Observation], str]:
    assert service.app is not None
    found = parse(script(run, container, ["python3", "-c", SCRIPT], env(service.app.path), None))
    out = [inventory(f"{PREFIX}{name} python distributions", name, found.distributions)]
    for module, error in sorted(found.modules.items()):
        check_id = f"{PREFIX}{name} import {module}"
        if error:
            found_error = observation(check_id, name, Outcome.FAILED, error.strip().splitlines()[-1])
            found_error.detail = error
            out.append(found_error)
        else:
            out.append(observation(check_id, name, Outcome.PASSED))
    for module, (where, there) in sorted(found.deferred.items()):
        check_id = f"{PREFIX}{name} import {module} when it runs"
        missing = f"No module named '{module}' (imported at {where}, when that code runs)"
        out.append(
            observation(check_id, name, Outcome.PASSED)
            if there
            else observation(check_id, name, Outcome.FAILED, missing)
        )
    if found.django is not None:
        check_id = f"{PREFIX}{name} django setup"
        out.append(observation(check_id, name, Outcome.FAILED if found.django else Outcome.PASSED, found.django))
    routes = {route: ",".join(info["methods"]) for route, info in found.routes.items()}
    if routes:
        out.append(inventory(f"{PREFIX}{name} routes", name, routes))
    said = (
        f"Python {found.python}: {len(found.modules)} module(s) imported,"
        f" {len(found.deferred)} module(s) that code imports when it runs looked up, {len(found.routes)} route(s)"
    )
    more, requested = routes_of(run, name, service, gets(found), probe, plan)
    return out + more, said + requested
