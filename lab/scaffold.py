"""A first scenario for a client's stack: from its Compose file, or a commented template.

`from_compose` reads the client's docker-compose.yml and writes what the scenario format can
hold: services with their images or builds (contexts referenced where they are, not
copied), environment (with `env_file` merged in and Compose's `${VAR:-default}` resolved
from the `.env` beside it), anything password-like turned into a `secrets:` entry and a
file to fill in, named volumes, read-only file mounts as the client's configuration
(`config:`), healthchecks, depends_on, ports as `expose`, memory and CPU limits. What the
format cannot hold is listed with its line in the Compose file, never dropped silently.

The baseline is the Compose stack itself; one candidate repeats each image tag and build
argument, marked for the consultant to change. Discovery (`discover: true`) and one check
per service that it answers (its healthcheck, or a request to an HTTP port) make the
scaffold run as it is: `invoke pilot` on it gives a verdict.
"""

from __future__ import annotations

import os
import re
import secrets as random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lab.errors import LabError, ScenarioError
from lab.scenario import secrets, yamlpos
from lab.scenario.fields import NAME_RE, parse_duration, parse_size

HTTP_PORTS = {80, 3000, 5000, 8000, 8008, 8080, 8081, 8888}
HTTPS_PORTS = {443, 8443}
CARRIED = {
    "image",
    "build",
    "environment",
    "env_file",
    "command",
    "entrypoint",
    "user",
    "working_dir",
    "healthcheck",
    "depends_on",
    "volumes",
    "ports",
    "expose",
    "mem_limit",
    "cpus",
    "pids_limit",
    "deploy",
}
TOP_LEVEL = {"services", "volumes", "version", "name"}
INTERPOLATION_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
URL_PASSWORD_RE = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<password>[^@\s]+)(?=@)", re.IGNORECASE)
WORKDIR_RE = re.compile(r"^\s*WORKDIR\s+(\S+)", re.IGNORECASE | re.MULTILINE)
# Names whose values the scaffold keeps out of the scenario: broader than what validation
# refuses (DB_PASS, AWS_ACCESS_KEY_ID, WORDPRESS_AUTH_KEY): a false alarm only makes a secret.
SECRETISH_RE = re.compile(r"PASS|PWD|SECRET|TOKEN|CREDENTIAL|AUTH|SALT|(^|_)KEY($|_)|PRIVATE", re.IGNORECASE)
SLOW_POLL = 1.0  # a Compose healthcheck interval above this is polled faster in the lab


@dataclass
class Scaffold:
    """A scenario folder to write: files by relative path, and what the consultant should know."""

    files: dict[str, str]
    notes: list[str] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)  # build folders whose .dockerignore must leave the lab's out


WORKSPACE_IGNORED = ("pilots/", "scenarios/")  # run folders and scenarios (with their secrets) are no image's


def write(scaffold: Scaffold, folder: Path) -> None:
    """Write the scaffold into `folder`, which must not exist yet (nothing is overwritten)."""
    if folder.exists():
        raise LabError(f"{folder} already exists — choose another scenario name or remove the folder")
    for rel, text in scaffold.files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if rel.startswith("secrets/"):
            path.chmod(0o600)
    for context in scaffold.ignored:
        ignore = context / ".dockerignore"
        text = ignore.read_text(encoding="utf-8") if ignore.is_file() else ""
        missing = [line for line in WORKSPACE_IGNORED if line not in text.splitlines()]
        if missing:
            lead = "" if not text or text.endswith("\n") else "\n"
            ignore.write_text(text + lead + "# the pilot lab's run folders and scenarios\n" + "\n".join(missing) + "\n")


def from_compose(compose_file: Path, folder: Path, name: str) -> Scaffold:
    """The scenario `name`, to be written into `folder`, from the client's Compose file."""
    shown = str(compose_file)
    if not compose_file.is_file():
        raise LabError(f"{shown}: no such file — give the client's docker-compose.yml")
    try:
        data, positions = yamlpos.load(compose_file, shown)
    except ScenarioError as err:
        raise LabError(str(err)) from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict) or not data["services"]:
        raise LabError(f"{shown}: not a Compose file — it has no 'services' mapping")
    reader = _Compose(compose_file, folder, data, positions)
    return reader.scaffold(name)


class _Compose:
    """One Compose file read into scenario data, with notes of what was not carried over."""

    def __init__(self, compose_file: Path, folder: Path, data: dict[str, Any], positions: yamlpos.Positions):
        self.file, self.folder, self.data, self.positions = compose_file, folder, data, positions
        self.base = compose_file.parent.resolve()
        self.dotenv = _env_file(self.base / ".env") if (self.base / ".env").is_file() else {}
        self.notes: list[str] = []
        self.secrets: dict[str, str] = {}  # secret name -> value for its file
        self.files: dict[str, str] = {}
        self.ignored: list[Path] = []

    def note(self, path: tuple[str | int, ...], message: str) -> None:
        self.notes.append(f"{self.positions.where(path, self.file.name)}: {'.'.join(map(str, path))}: {message}")

    def scaffold(self, name: str) -> Scaffold:
        for key in self.data:
            if key not in TOP_LEVEL and not str(key).startswith("x-"):
                self.note((key,), "not carried over: the copies have their own network each and no host resources")
        services = {
            str(n): self.service(str(n), s if isinstance(s, dict) else {}) for n, s in self.data["services"].items()
        }
        self.link_secrets(services)
        checks = self.starter_checks(services)
        text = self.scenario_text(name, services, checks)
        self.files["scenario.yml"] = text
        for secret, value in self.secrets.items():
            self.files[f"secrets/{secret}"] = value + "\n"
        if self.secrets:
            self.files["secrets/.gitignore"] = (
                "# the values stay out of the repository: fill them in on each machine\n*\n"
            )
        return Scaffold(self.files, self.notes, self.ignored)

    # -- one service -------------------------------------------------------------------

    def service(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        where = ("services", name)
        if not NAME_RE.match(name):
            raise LabError(
                f"{self.positions.where(where, self.file.name)}: service name '{name}': the lab's service names use"
                " a-z, 0-9 and '-' (max 31 characters) — rename it in a copy of the Compose file"
            )
        out: dict[str, Any] = {}
        for key in raw:
            if key not in CARRIED:
                self.note(where + (key,), "not carried over (the scenario format has no such setting)")
        if "build" in raw:
            out["build"] = self.build(where, raw["build"])
            if "image" in raw:
                self.note(where + ("image",), "the lab names the images it builds itself; the tag is not used")
        elif "image" in raw:
            out["image"] = self.interpolate(str(raw["image"]), where + ("image",))
        environment = self.environment(where, raw)
        if environment:
            out["environment"] = environment
        for key in ("command", "entrypoint"):
            if key in raw and raw[key] is not None:
                out[key] = self.interpolate(raw[key], where + (key,))
        for key in ("user", "working_dir"):
            if raw.get(key):
                out[key] = str(raw[key])
        if isinstance(raw.get("healthcheck"), dict):
            check = self.healthcheck(where, raw["healthcheck"])
            if check:
                out["healthcheck"] = check
        depends = raw.get("depends_on")
        if depends:
            out["depends_on"] = list(depends) if isinstance(depends, (list, dict)) else [str(depends)]
        for dep, how in depends.items() if isinstance(depends, dict) else ():
            if isinstance(how, dict) and how.get("condition") == "service_completed_successfully":
                self.note(
                    where + ("depends_on", dep),
                    "service_completed_successfully: the lab starts a service once those it depends on are ready",
                )
        volumes, configs = self.volumes(where, raw.get("volumes") or [])
        if volumes:
            out["volumes"] = volumes
        if configs:
            out["config"] = configs
        expose = self.ports(where, raw)
        if expose:
            out["expose"] = [int(p) if p.isdigit() else p for p in expose]
        resources = self.resources(where, raw)
        if resources:
            out["resources"] = resources
        app = self.app(out.get("build"))
        if app:
            out["app"] = app
        return out

    def build(self, where: tuple[str | int, ...], raw: Any) -> dict[str, Any]:
        spec = {"context": raw} if isinstance(raw, str) else dict(raw or {})
        context = (self.base / str(spec.get("context", "."))).resolve()
        out: dict[str, Any] = {"context": os.path.relpath(context, self.folder)}
        workspace = self.folder.parent.parent.resolve()
        if workspace == context or context in workspace.parents:
            if context not in self.ignored:
                self.ignored.append(context)
                self.note(
                    where + ("build",),
                    f"its build folder holds the lab's pilots/ and scenarios/: {context / '.dockerignore'} leaves them"
                    " out (a run or a secret in the image would change it with every pilot)",
                )
        if spec.get("dockerfile"):
            out["dockerfile"] = str(spec["dockerfile"])
        args = {}
        for key, value in _pairs(spec.get("args")).items():
            if SECRETISH_RE.search(key):
                self.note(
                    where + ("build", "args", key),
                    "looks like a secret, and build args are written into the scenario (and the plan) as they"
                    " are: left out — give the image what it needs another way",
                )
            else:
                args[key] = self.value(key, value, where + ("build", "args", key))
        if args:
            out["args"] = args
        for key in spec:
            if key not in ("context", "dockerfile", "args"):
                self.note(where + ("build", key), "not carried over (the lab builds context, Dockerfile and args)")
        return out

    def environment(self, where: tuple[str | int, ...], raw: dict[str, Any]) -> dict[str, str]:
        merged: dict[str, str] = {}
        files = raw.get("env_file") or []
        for entry in [files] if isinstance(files, (str, dict)) else files:
            path = entry.get("path") if isinstance(entry, dict) else entry
            env_path = self.base / str(path)
            if env_path.is_file():
                merged.update(_env_file(env_path))
            else:
                self.note(where + ("env_file",), f"{path}: no such file — its variables are missing")
        bare = set()
        for key, value in _pairs(raw.get("environment")).items():
            merged[key] = self.value(key, value, where + ("environment", key))
            if value is None:
                bare.add(key)
        out = {}
        for key, value in merged.items():
            if (
                (SECRETISH_RE.search(key) or secrets.looks_secret(key))
                and value
                and not secrets.REFERENCE_RE.search(value)
            ):
                out[key] = "${secret:" + self.secret(key, value, where + ("environment", key)) + "}"
            else:
                out[key] = value
                if key in bare and value:
                    self.note(where + ("environment", key), "its value was taken from your environment")
        return out

    def secret(self, key: str, value: str, where: tuple[str | int, ...]) -> str:
        """The secret holding `value` (one per distinct value), made when new."""
        for name, known in self.secrets.items():
            if known == value:
                return name
        name = re.sub(r"[^a-z0-9_.-]", "_", key.lower())
        while name in self.secrets:
            name += "_2"
        if len(value) < secrets.MIN_LENGTH:
            self.note(
                where,
                f"the value is shorter than {secrets.MIN_LENGTH} characters, too short to redact: secrets/{name} holds"
                " a random one instead — change it where the stack expects the old one",
            )
            value = random.token_urlsafe(12)
        self.secrets[name] = value
        return name

    def link_secrets(self, services: dict[str, dict[str, Any]]) -> None:
        """A URL's password in a variable is a secret too: the one that holds the same value, or a new one."""
        for service_name, service in services.items():
            env = service.get("environment", {})
            for key, text in env.items():
                at: tuple[str | int, ...] = ("services", service_name, "environment", key)

                def referenced(match: re.Match[str], key: str = key, at: tuple[str | int, ...] = at) -> str:
                    name = self.secret(f"{key}_password", match.group("password"), at)
                    return match.group("head") + "${secret:" + name + "}"

                env[key] = URL_PASSWORD_RE.sub(referenced, text)

    def healthcheck(self, where: tuple[str | int, ...], raw: dict[str, Any]) -> dict[str, Any] | None:
        test = self.interpolate(raw.get("test"), where + ("healthcheck", "test"))  # and $$ → $, as Compose does
        if raw.get("disable") or test in (None, [], "", ["NONE"], "NONE"):
            return None
        out: dict[str, Any] = {"test": [str(t) for t in test] if isinstance(test, list) else ["CMD-SHELL", str(test)]}
        interval = _seconds(raw.get("interval", "30s"))
        if interval > SLOW_POLL:
            self.note(
                where + ("healthcheck", "interval"),
                f"polled every 500ms in the lab (Compose: {raw.get('interval', '30s')})",
            )
            interval = 0.5
        out["interval"] = f"{int(interval * 1000)}ms"
        for key in ("timeout", "start_period"):
            if key in raw:
                out[key] = str(raw[key])
        if "retries" in raw:
            retries = _number(self.interpolate(raw["retries"], where + ("healthcheck", "retries")), int)
            if retries is None:
                self.note(where + ("healthcheck", "retries"), f"{raw['retries']}: not a number — the lab's 3 apply")
            else:
                out["retries"] = retries
        return out

    def volumes(self, where: tuple[str | int, ...], raw: list[Any]) -> tuple[list[str], list[dict[str, str]]]:
        volumes, configs = [], []
        for index, entry in enumerate(raw):
            at = where + ("volumes", index)
            if isinstance(entry, dict):
                kind, source, target = (
                    entry.get("type", "volume"),
                    str(entry.get("source") or ""),
                    str(entry.get("target")),
                )
            else:
                parts = str(entry).split(":")
                if len(parts) == 1:
                    kind, source, target = "volume", "", parts[0]
                else:
                    source, target = parts[0], parts[1]
                    kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            if kind == "volume" and source:
                name = _volume_name(source)
                volumes.append(f"{name}:{target}")
                if name != source:
                    self.note(at, f"the volume '{source}' is named '{name}' in the scenario (a-z, 0-9 and '-')")
            elif kind == "tmpfs":
                self.note(at, "a tmpfs: not carried over (the copies' containers have no tmpfs mounts)")
            elif kind == "volume":
                anonymous = re.sub(r"[^a-z0-9-]", "-", target.strip("/").lower())[:31].strip("-") or "data"
                volumes.append(f"{anonymous}:{target}")
                self.note(at, f"an anonymous volume: named '{anonymous}' in the scenario")
            elif kind == "bind" and (self.base / os.path.expanduser(source)).is_file():
                file = (self.base / os.path.expanduser(source)).resolve()
                configs.append({"file": os.path.relpath(file, self.folder), "path": target})
            else:
                self.note(
                    at,
                    f"{source}: host folders are not mounted into the copies — put what the service needs into its"
                    " image (a build) or name its files under config:",
                )
        return volumes, configs

    def ports(self, where: tuple[str | int, ...], raw: dict[str, Any]) -> list[str]:
        found: list[str] = []
        for entry in raw.get("ports") or []:
            if isinstance(entry, dict):
                port = str(entry.get("target", ""))
            else:
                port = str(entry).split("/")[0].rsplit(":", 1)[-1]
            if port and port not in found:
                found.append(port)
        if raw.get("ports"):
            self.note(
                where + ("ports",), "published ports become expose: the copies are reached on their own network only"
            )
        for entry in raw.get("expose") or []:
            port = str(entry).split("/")[0]
            if port not in found:
                found.append(port)
        return found

    def resources(self, where: tuple[str | int, ...], raw: dict[str, Any]) -> dict[str, Any]:
        deploy = raw.get("deploy") or {}
        limits = ((deploy.get("resources") or {}).get("limits") or {}) if isinstance(deploy, dict) else {}
        for key in deploy if isinstance(deploy, dict) else ():
            if key != "resources":
                self.note(where + ("deploy", key), "not carried over (one container per service in each copy)")
        out: dict[str, Any] = {}
        memory = limits.get("memory") or raw.get("mem_limit")
        if memory:
            try:
                parse_size(memory)
                out["memory"] = str(memory)
            except ValueError:
                self.note(where + ("mem_limit",), f"{memory}: not a size the lab reads — the default 1 GiB applies")
        for key, found, kind, target in (
            ("cpus", limits.get("cpus") or raw.get("cpus"), float, "cpus"),
            ("pids_limit", raw.get("pids_limit"), int, "pids"),
        ):
            if found:
                number = _number(self.interpolate(found, where + (key,)), kind)
                if number is None:
                    self.note(where + (key,), f"{found}: not a number — the lab's default applies")
                else:
                    out[target] = number
        return out

    def app(self, build: dict[str, Any] | None) -> dict[str, str] | None:
        """The application's folder and language, when a built image copies code into its WORKDIR."""
        if not build:
            return None
        context = (self.folder / build["context"]).resolve()
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        try:
            workdirs = WORKDIR_RE.findall(dockerfile.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            return None
        if not workdirs or not workdirs[-1].startswith("/"):
            return None
        names = {p.name for p in context.iterdir()} if context.is_dir() else set()
        if "requirements.txt" in names or "pyproject.toml" in names or any(n.endswith(".py") for n in names):
            return {"path": workdirs[-1], "language": "python"}
        if "composer.json" in names or any(n.endswith(".php") for n in names):
            return {"path": workdirs[-1], "language": "php"}
        return None

    def value(self, key: str, value: Any, where: tuple[str | int, ...]) -> str:
        """A variable's value: Compose takes a bare name's value from the environment."""
        return os.environ.get(key, "") if value is None else str(self.interpolate(str(value), where))

    def interpolate(self, value: Any, where: tuple[str | int, ...]) -> Any:
        """Compose's `${VAR}`, `${VAR:-default}` and `$$`, from the environment and the `.env` file."""
        if isinstance(value, list):
            return [self.interpolate(item, where) for item in value]
        if not isinstance(value, str):
            return value

        def one(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name = match.group(1) or match.group(4)
            op, default = match.group(2) or "", match.group(3) or ""
            known = os.environ.get(name, self.dotenv.get(name))
            if known is not None and (known or ":" not in op):
                return known
            if op.endswith("-"):
                return default
            self.note(where, f"${{{name}}} is not set (in the environment or .env): written as empty")
            return ""

        return INTERPOLATION_RE.sub(one, value)

    # -- the scenario ----------------------------------------------------------------

    def starter_checks(self, services: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """One check per service that it answers: its healthcheck, or a request to its HTTP port."""
        checks: dict[str, list[dict[str, Any]]] = {"command": [], "http": []}
        for name, service in services.items():
            test = service.get("healthcheck", {}).get("test")
            ports = [int(p) for p in service.get("expose", []) if str(p).isdigit()]
            web = [p for p in ports if p in HTTP_PORTS | HTTPS_PORTS]
            if web:
                scheme = "https" if web[0] in HTTPS_PORTS else "http"
                entry = {"name": f"{name} answers on port {web[0]}", "service": name, "port": web[0], "path": "/"}
                checks["http"].append(entry | ({"scheme": scheme} if scheme == "https" else {}))
            elif test:
                run = test[1:] if test[0] == "CMD" else str(test[-1])
                checks["command"].append({"name": f"{name} answers its healthcheck", "service": name, "run": run})
            else:
                self.notes.append(
                    f"services.{name}: no starter check (no healthcheck, no HTTP port) — discovery probes it where it"
                    " can; write a check of what the client relies on"
                )
        return {kind: entries for kind, entries in checks.items() if entries}

    def scenario_text(self, name: str, services: dict[str, Any], checks: dict[str, Any]) -> str:
        head = (
            f"# Scenario '{name}', scaffolded from {self.file.name}. Fill in the client, the change and the\n"
            "# candidate (marked CHANGE below); add checks of what the client relies on. Reference: the\n"
            "# lab's README, section 'Writing a scenario'.\n"
        )
        top = {
            "description": f"{name}: the stack of {self.file.name} today against its proposed upgrade",
            "client": "",
            "consultant": "",
            "change": "",
        }
        body = [head, _dump(top)]
        if self.secrets:
            body.append(
                "# Test passwords of the staging copies: one file each under secrets/ (kept out of git).\n"
                + _dump({"secrets": {n: {"file": f"secrets/{n}"} for n in self.secrets}})
            )
        body.append(_dump({"services": services}))
        body.append(
            _dump({"baseline": {"description": f"today's stack, as {self.file.name} says"}})
            + self.candidate_text(services)
        )
        body.append(
            "# The lab's own probes on every copy (lab.discover): inventories, configuration, the app's code.\n"
            + _dump({"discover": True})
        )
        if checks:
            body.append(
                "# Starter checks: each service answers. Add the client's own checks here.\n"
                + _dump({"checks": checks})
            )
        return "\n".join(body)

    def candidate_text(self, services: dict[str, dict[str, Any]]) -> str:
        lines = [
            "candidates:",
            "  next:",
            '    description: "the proposed upgrade"  # CHANGE: say what it is',
            "    services:",
        ]
        for name, service in services.items():
            if "image" in service:
                lines += [
                    f"      {name}:",
                    f"        image: {_scalar(service['image'])}  # CHANGE: the proposed image tag",
                ]
            elif service.get("build", {}).get("args"):
                lines += [f"      {name}:", "        build:", "          args:"]
                lines += [
                    f"            {key}: {_scalar(value)}  # CHANGE: the proposed value"
                    for key, value in service["build"]["args"].items()
                ]
            else:
                context = service["build"]["context"]
                lines.append(f"      # {name}: built from {context} — give its Dockerfile a build arg to change")
        if not any(line.startswith("      ") and not line.startswith("      #") for line in lines):
            lines[lines.index("    services:")] = "    services: {}  # the same stack: give it what changes"
        return "\n".join(lines) + "\n"


def template(name: str) -> Scaffold:
    """A commented scenario that runs as it is: one service on Debian 12 against Debian 13."""
    return Scaffold(
        {
            "scenario.yml": TEMPLATE.replace("{name}", name),
            "os/Dockerfile": (
                "# The client's service: here a bare Debian; install and configure what the client runs.\n"
                "ARG DEBIAN=bookworm\nFROM debian:${DEBIAN}\n"
                'CMD ["sleep", "infinity"]\n'
            ),
        },
        ["a template: replace the 'os' service with the client's services (see the comments in scenario.yml)"],
    )


TEMPLATE = """\
# Scenario '{name}'. Each copy (the baseline and every candidate) runs the services below on
# a network of its own; the same checks run against every copy and their answers are compared.
description: "{name}: what the client runs today against the proposed upgrade"
client: ""       # who the pilot is for (shown in every report)
consultant: ""   # who runs it
change: ""       # the change reference (ticket)

# secrets:
#   db_password: {file: secrets/db-password}   # or {env: VARIABLE}; use as ${secret:db_password}

services:
  os:
    build:
      context: os           # a folder of this scenario with a Dockerfile
      args:
        DEBIAN: bookworm
    # image: postgres:15    # or an image the engine has
    # environment: {KEY: value}
    # volumes: [data:/var/lib/data]
    # healthcheck: {test: ["CMD", "pg_isready"], interval: 500ms}
    # depends_on: [db]
    # expose: [5432]
    # config: [{file: config/tuning.conf, path: /etc/postgresql/*/main/conf.d/}]
    # app: {path: /srv/app, language: python}

baseline:
  description: "Debian 12 (bookworm)"

candidates:
  next:
    description: "Debian 13 (trixie)"
    services:
      os:
        build:
          args:
            DEBIAN: trixie

# backup: {db: [{file: backup/dump.sql, kind: postgresql, database: shop}]}
# upgrade: {steps: [...], rollback: [...]}

discover: true   # the lab's own probes: packages, configuration, the app's code, database objects

checks:
  command:
    - name: Debian release
      service: os
      run: cat /etc/debian_version
  # sql: [{name: ..., service: db, database: shop, query: SELECT ...}]
  # http: [{name: ..., service: app, port: 8000, path: /api/status}]
  # testinfra: [{file: checks/test_app.py, hosts: [app]}]
"""


def _env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of an env file (comments and blank lines skipped, quotes removed)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def _pairs(value: Any) -> dict[str, Any]:
    """Compose's mapping or its list form ["KEY=value", "KEY"] (a bare KEY is None)."""
    if isinstance(value, list):
        pairs = (str(item).partition("=") for item in value)
        return {key: text if sep else None for key, sep, text in pairs}
    return {str(k): v for k, v in (value or {}).items()} if isinstance(value, dict) else {}


def _volume_name(source: str) -> str:
    """A Compose volume's name as the lab names volumes (one name per source, so services still share it).

    >>> _volume_name("static_files"), _volume_name("pgdata")
    ('static-files', 'pgdata')
    """
    name = re.sub(r"[^a-z0-9-]", "-", source.lower()).strip("-")[:31] or "data"
    return name


def _number(value: Any, kind: type[int] | type[float]) -> int | float | None:
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def _seconds(value: Any) -> float:
    try:
        return parse_duration(value)
    except ValueError:
        return 30.0


class _Dumper(yaml.SafeDumper):
    """Block style, with lists of plain values on one line as a person writes them."""

    def represent_list(self, data: Any) -> yaml.SequenceNode:
        flow = all(isinstance(item, (str, int, float, bool)) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _Dumper.represent_list)


def _dump(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def _scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).removesuffix("\n...\n").strip()
