"""Servers other than PostgreSQL, asked with their own tools (one exec each):

- nginx: `nginx -t` (the configuration as the server reads it: a refusal fails, a warning
  is a changed answer) and the modules it was built with (`nginx -V`, an inventory);
- Redis: the commands it offers (`COMMAND LIST`, an inventory), and the value of every
  directive the client's configuration files set (`CONFIG GET`, an inventory).
"""

from __future__ import annotations

import re
from pathlib import Path

from lab.checks.commands import Runner, bounded
from lab.discover.probing import PREFIX, PROBE_SECONDS, inventory, script, tested
from lab.errors import LabError
from lab.results import Observation
from lab.scenario.model import Service

MARK = "@@lab-server"
NGINX = rf"""
echo "{MARK} test"
nginx -t 2>&1
echo "{MARK} exit $?"
echo "{MARK} modules"
nginx -V 2>&1 | tr ' ' '\n' | sed -n 's/^--with-\([a-z0-9_]*_module\).*/\1/p'
"""
REDIS = rf"""
echo "{MARK} commands"
redis-cli --raw COMMAND LIST 2>&1
echo "{MARK} settings"
for name in $LAB_REDIS_SETTINGS; do redis-cli --raw CONFIG GET "$name" 2>&1 | tr '\n' ' '; echo; done
"""
DIRECTIVE_RE = re.compile(r"^\s*([A-Za-z][\w-]*)\s")


def sections(text: str) -> dict[str, list[str]]:
    """The script's output by its marks.

    >>> sections("@@lab-server test\\nok\\n@@lab-server exit 0\\n")
    {'test': ['ok'], 'exit 0': []}
    """
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith(MARK + " "):
            current = found.setdefault(line[len(MARK) + 1 :], [])
        elif line.strip():
            current.append(line)
    return found


def nginx(text: str) -> tuple[int, str, dict[str, str]]:
    """(nginx -t's exit code, what it said, the modules it was built with)."""
    parts = sections(text)
    code = next((int(k.split()[1]) for k in parts if k.startswith("exit ")), -1)
    return code, "\n".join(parts.get("test", [])), {m: "" for m in sorted(parts.get("modules", []))}


def redis(text: str) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(commands, settings, what redis-cli said instead: NOAUTH, connection refused)."""
    parts = sections(text)
    commands: dict[str, str] = {}
    problems = []
    for line in parts.get("commands", []):
        if " " in line or line.startswith(("(error)", "Could not connect")):
            problems.append(line)
        else:
            commands[line.lower()] = ""
    settings = {}
    for line in parts.get("settings", []):
        name, _, value = line.strip().partition(" ")
        if name and not name.startswith(("(error)", "NOAUTH", "ERR")):
            settings[name] = value.strip()
        else:
            problems.append(line.strip())
    return commands, settings, problems


def redis_directives(config: str) -> list[str]:
    """The directives a redis.conf sets, in order, once each.

    >>> redis_directives("# c\\nbind 0.0.0.0\\nsave 900 1\\nsave 300 10\\n  maxmemory 1mb\\ninclude x.conf\\n")
    ['bind', 'save', 'maxmemory']
    """
    found = []
    for line in config.splitlines():
        match = DIRECTIVE_RE.match(line)
        if (
            match
            and match.group(1).lower() not in found
            and match.group(1).lower() not in ("include", "rename-command")
        ):
            found.append(match.group(1).lower())
    return found


def observe_nginx(run: Runner, name: str, container: str) -> tuple[list[Observation], str]:
    """`nginx -t` (its words compared: a refusal fails, a warning is a changed answer) and
    the modules nginx was built with."""
    result = run(container, bounded(["sh", "-c", NGINX], PROBE_SECONDS), None, None, PROBE_SECONDS)
    code, said, modules = nginx(result.stdout)
    out = [
        tested(f"{PREFIX}{name} nginx -t", name, code, said.splitlines()),
        inventory(f"{PREFIX}{name} nginx modules", name, modules),
    ]
    return out, f"nginx: its configuration tested (nginx -t), {len(modules)} modules built in"


def observe_redis(
    run: Runner, name: str, container: str, service: Service, folder: Path
) -> tuple[list[Observation], str]:
    """The commands the server offers and the values of what the client's configuration
    files set."""
    directives = [d for item in service.config for d in redis_directives((folder / item.file).read_text())]
    env = {"LAB_REDIS_SETTINGS": " ".join(dict.fromkeys(directives))}
    commands, settings, problems = redis(script(run, container, ["sh", "-c", REDIS], env, None))
    if problems and not commands:
        raise LabError(f"redis-cli: {problems[0]}")
    out = [inventory(f"{PREFIX}{name} redis commands", name, commands)]
    if directives:
        out.append(inventory(f"{PREFIX}{name} redis settings of the client's configuration", name, settings))
    said = f"Redis: {len(commands)} commands" + (
        f", {len(settings)} settings of the client's configuration" if directives else ""
    )
    return out, said
