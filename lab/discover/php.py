"""A PHP application on the copy's own PHP, in one exec: the modules PHP has (`php -m`, an
inventory), every PHP file of the application's folder linted (`php -l`, vendor/ left out:
a parse or fatal error is a regression, a deprecation a changed answer), and PHP-FPM's
configuration test (`php-fpm -t`) where the image has PHP-FPM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lab.checks.commands import Runner
from lab.discover.probing import PREFIX, Plan, inventory, observation, routes_of, script, tested
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
fpm=$(ls /usr/sbin/php-fpm* 2>/dev/null | head -n 1)
if [ -n "$fpm" ]; then
  echo "{MARK} fpm"
  "$fpm" -t 2>&1
  echo "{MARK} fpm-exit $?"
fi
"""
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
    if path:
        more, requested = routes_of(run, name, service, ["/"], probe, plan)
        out, notes = out + more, notes + requested
    return out, notes
