"""A PHP application on the copy's own PHP, in one exec: the modules PHP has (`php -m`, an
inventory), every PHP file of the application's folder linted (`php -l`, vendor/ left out:
a parse or fatal error is a regression, a deprecation a changed answer), and PHP-FPM's
configuration test (`php-fpm -t`) where the image has PHP-FPM.

A WordPress site (its `wp-includes/version.php` in the application's folder, the folder
above it, or where Debian's package and the official image put it) is asked for its REST
index (`/?rest_route=/`, which needs no pretty permalinks): its routes are an inventory,
and each GET route without parameters is requested like the front page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lab.checks.commands import Runner
from lab.discover.probing import (
    PREFIX,
    Plan,
    inventory,
    observation,
    reachable,
    request_routes,
    routes_of,
    script,
    tested,
)
from lab.results import Observation, Outcome
from lab.scenario.model import Service

MARK = "@@lab-php"
MOST_FILES = 2000
SCRIPT = rf"""
command -v php >/dev/null || {{ echo "no php in the image" >&2; exit 127; }}
echo "{MARK} version"
php -r 'echo PHP_VERSION, "\n";'
echo "{MARK} modules"
php -m 2>&1
root=${{LAB_APP_PATH%/}}
[ -n "$root" ] && find "$root" -name '*.php' -not -path '*/vendor/*' -not -path '*/node_modules/*' | sort |
head -n {MOST_FILES} | while read -r file; do
  echo "{MARK} file ${{file#"$root"/}}"
  php -d log_errors=0 -d display_errors=1 -d error_reporting=-1 -l "$file" 2>&1
done
[ -n "$root" ] && for wp in "$root" "$root/.." /usr/share/wordpress /var/www/html /var/www/wordpress; do
  if [ -f "$wp/wp-includes/version.php" ]; then
    echo "{MARK} wordpress"
    php -r 'include $argv[1]; echo $wp_version, "\n";' "$wp/wp-includes/version.php" 2>&1
    break
  fi
done
fpm=$(ls /usr/sbin/php-fpm* 2>/dev/null | head -n 1)
if [ -n "$fpm" ]; then
  echo "{MARK} fpm"
  "$fpm" -t 2>&1
  echo "{MARK} fpm-exit $?"
fi
"""
REST_INDEX = "/?rest_route=/"
MOST_ROUTES = 200
PATTERN_RE = re.compile(r"[()\[\]?*+\\{}^$|]")  # a route with a parameter is a regular expression
STAMP_RE = re.compile(r"^\[[^\]]*\] ")  # php-fpm's time stamp
VERSION_PATH_RE = re.compile(r"/php/\d+\.\d+/")  # /etc/php/8.2/fpm: the same file on every version


@dataclass
class Found:
    version: str = ""
    modules: dict[str, str] = field(default_factory=dict)
    files: dict[str, list[str]] = field(
        default_factory=dict
    )  # relative path -> what php -l said (but "No syntax errors")
    failed: dict[str, str] = field(default_factory=dict)  # relative path -> its first error
    fpm: tuple[int, list[str]] | None = None  # php-fpm -t: exit code, what it said
    wordpress: str = ""  # WordPress's version, when the application is a WordPress site


def parse(text: str) -> Found:
    """Read SCRIPT's output.

    >>> f = parse("@@lab-php version\\n8.4.5\\n@@lab-php modules\\n[PHP Modules]\\nCore\\njson\\n\\n"
    ...           "[Zend Modules]\\nZend OPcache\\n@@lab-php file a.php\\n"
    ...           "PHP Parse error:  syntax error, unexpected end of file in /srv/a.php on line 3\\n"
    ...           "Errors parsing /srv/a.php\\n")
    >>> f.version, f.modules
    ('8.4.5', {'core': '', 'json': '', 'zend opcache': ''})
    >>> f.failed["a.php"]
    'PHP Parse error:  syntax error, unexpected end of file in /srv/a.php on line 3'
    """
    found = Found()
    part, name = "", ""
    fpm: list[str] = []
    for line in text.splitlines():
        if line.startswith(MARK + " "):
            part, _, name = line[len(MARK) + 1 :].partition(" ")
            if part == "file":
                found.files[name] = []
            elif part == "fpm-exit":
                found.fpm = (int(name), fpm)
            continue
        if not line.strip():
            continue
        if part == "version":
            found.version = line.strip()
        elif part == "wordpress":
            found.wordpress = line.strip()
        elif part == "modules" and not line.startswith("["):
            found.modules[line.strip().lower()] = ""
        elif part == "file" and not line.startswith("No syntax errors detected"):
            found.files[name].append(line)
            if ("error" in line.lower()) and not line.startswith("Errors parsing"):
                found.failed.setdefault(name, line.strip())
        elif part == "fpm":
            fpm.append(VERSION_PATH_RE.sub("/php/<version>/", STAMP_RE.sub("", line)))
    return found


def observe(
    run: Runner, name: str, container: str, service: Service, probe: str | None, plan: Plan
) -> tuple[list[Observation], str]:
    """PHP's modules, each file of a PHP application linted, PHP-FPM's configuration test,
    and the application's front page requested through the copy's probe."""
    path = service.app.path if service.app is not None and service.app.language == "php" else ""
    found = parse(script(run, container, ["sh", "-c", SCRIPT], {"LAB_APP_PATH": path}, None))
    out = [inventory(f"{PREFIX}{name} php modules", name, found.modules)]
    for file, said in sorted(found.files.items()):
        failed = found.failed.get(file, "")
        out.append(
            observation(
                f"{PREFIX}{name} php -l {file}",
                name,
                Outcome.FAILED if failed else Outcome.PASSED,
                failed,
                exit_code=1 if failed else 0,
                stdout="\n".join(said),
                stderr="",
            )
        )
    if found.fpm is not None:
        out.append(tested(f"{PREFIX}{name} php-fpm -t", name, *found.fpm))
    notes = f"PHP {found.version}: {len(found.modules)} modules"
    notes += f", {len(found.files)} file(s) linted" if path else ""
    notes += ", PHP-FPM's configuration tested" if found.fpm is not None else ""
    paths = ["/"] if path else []
    if found.wordpress:
        index, routes, told = wordpress_routes(run, name, service, probe)
        out += index
        paths += [f"/?rest_route={route}" for route in routes]
        notes += f"; WordPress {found.wordpress}{told}"
    more, requested = routes_of(run, name, service, paths, probe, plan)
    return out + more, notes + requested


def wordpress_routes(
    run: Runner, name: str, service: Service, probe: str | None
) -> tuple[list[Observation], list[str], str]:
    """A WordPress site's REST routes from its index (an inventory: route -> methods), the
    GET routes without parameters to request, and what to say of it."""
    port, missing = reachable(service, probe)
    if port is None:
        return [], [], f": its REST index was not read: {missing}"
    (answer,) = request_routes(run, name, Plan(port=port, routes=[REST_INDEX]), probe)
    body = answer.output.get("body")
    index = body.get("json") if isinstance(body, dict) else None
    if not isinstance(index, dict) or not isinstance(index.get("routes"), dict):
        why = answer.message or f"HTTP {answer.output.get('status')}, not a REST index"
        return [answer], [], f": its REST index ({REST_INDEX}) could not be read: {why}"
    methods = {
        route: ", ".join(sorted({m for e in spec.get("endpoints", []) for m in e.get("methods", [])}))
        if isinstance(spec, dict)
        else ""
        for route, spec in index["routes"].items()
    }
    gettable = [r for r, m in methods.items() if "GET" in m.split(", ") and r != "/" and not PATTERN_RE.search(r)]
    said = f": {len(methods)} REST routes, {min(len(gettable), MOST_ROUTES)} requested without parameters"
    return [inventory(f"{PREFIX}{name} wordpress rest routes", name, methods)], gettable[:MOST_ROUTES], said
