"""Servers other than the databases, asked with their own tools (one exec each):

- nginx and Apache: `nginx -t` and `apachectl -t` (the configuration as the server reads
  it: a refusal fails, a warning is a changed answer) and their modules (`nginx -V`,
  `apachectl -M`: an inventory);
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
APACHE = rf"""
ctl=$(command -v apache2ctl || command -v apachectl)
echo "{MARK} test"
"$ctl" -t 2>&1
echo "{MARK} exit $?"
echo "{MARK} modules"
"$ctl" -M 2>/dev/null | sed -n 's/^ *\([a-z0-9_]*\) (.*)$/\1/p'
"""
ADDRESS_RE = re.compile(r"\busing [0-9a-fA-F.:]+(?=\.)")  # Apache's guess of the copy's own address
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


def tested_and_modules(text: str) -> tuple[int, str, dict[str, str]]:
    """(the configuration test's exit code, what it said, the modules): NGINX's and APACHE's
    answers. The address a server guesses for itself differs from copy to copy: it is masked.

    >>> tested_and_modules("@@lab-server test\\nAH00558: apache2: ... using 172.18.0.3. Set the 'ServerName'\\n"
    ...                    "Syntax OK\\n@@lab-server exit 0\\n@@lab-server modules\\nrewrite_module\\n")
    (0, "AH00558: apache2: ... using <address>. Set the 'ServerName'\\nSyntax OK", {'rewrite_module': ''})
    """
    parts = sections(text)
    code = next((int(k.split()[1]) for k in parts if k.startswith("exit ")), -1)
    said = "\n".join(ADDRESS_RE.sub("using <address>", line) for line in parts.get("test", []))
    return code, said, {m: "" for m in sorted(parts.get("modules", []))}


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


WEB_SERVERS = {"nginx": (NGINX, "nginx -t"), "apache": (APACHE, "apachectl -t")}


def observe_web_server(run: Runner, name: str, container: str, server: str) -> tuple[list[Observation], str]:
    """nginx's or Apache's own test of its configuration (its words compared: a refusal
    fails, a warning is a changed answer) and the modules it has."""
    script_text, test = WEB_SERVERS[server]
    result = run(container, bounded(["sh", "-c", script_text], PROBE_SECONDS), None, None, PROBE_SECONDS)
    code, said, modules = tested_and_modules(result.stdout)
    out = [
        tested(f"{PREFIX}{name} {test}", name, code, said.splitlines()),
        inventory(f"{PREFIX}{name} {server} modules", name, modules),
    ]
    return out, f"{server}: its configuration tested ({test}), {len(modules)} modules"


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
