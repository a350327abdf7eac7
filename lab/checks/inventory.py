"""What runs in a copy: the OS release and the main packages of each service's image,
read through an exec in each container, for the report's environment section.

"Main packages" are those the image installed on purpose (apt-mark showmanual) that are
not part of a Debian base system (priority required, important or standard; shared
libraries and Perl modules), plus the language runtimes an application runs on (python3,
nodejs, php, ruby, openssl): for a PostgreSQL image `postgresql 15+248`, for a Flask app
`python3-flask 2.2.2-3` and `python3 3.11.2-1+b1`.
"""

from __future__ import annotations

import io

from lab.cancel import Token
from lab.checks.commands import bounded
from lab.engine import session
from lab.engine.types import EngineLike

DEADLINE = 30.0  # seconds, in the container (coreutils' timeout)
GRACE = 5.0  # and then on the stream
RUNTIMES = ("python3", "nodejs", "php", "ruby", "openssl")
BASE_PRIORITIES = ("required", "important", "standard")
BASE_SECTIONS = ("libs", "oldlibs", "perl", "admin")
SCRIPT = r"""
. /etc/os-release 2>/dev/null && echo "os=$PRETTY_NAME"
command -v dpkg-query >/dev/null || exit 0
manual=$(apt-mark showmanual 2>/dev/null | tr '\n' ' ')
echo "manual=$manual"
dpkg-query -W -f='${Package} ${Version} ${Priority} ${Section}\n' $manual RUNTIMES 2>/dev/null
""".replace("RUNTIMES", " ".join(RUNTIMES))


def describe(engine: EngineLike, container: str, token: Token) -> tuple[str, dict[str, str]]:
    """(OS name, {package: version}); empty when the image has no such tools. An engine
    that refuses the exec raises (the pilot records it as a warning)."""
    argv = bounded(["sh", "-c", SCRIPT], DEADLINE)
    _, out, _ = session.feed(engine, container, argv, io.BytesIO(b""), DEADLINE + GRACE, token)
    return parse(out)


def parse(text: str) -> tuple[str, dict[str, str]]:
    """Read the script's output.

    >>> parse("os=Debian GNU/Linux 12 (bookworm)\\nmanual=curl bash libc6\\n"
    ...       "curl 7.88.1-10 optional web\\nbash 5.2-2 required shells\\nlibc6 2.36 optional libs\\n"
    ...       "python3 3.11.2-1 optional python\\n")
    ('Debian GNU/Linux 12 (bookworm)', {'curl': '7.88.1-10', 'python3': '3.11.2-1'})
    """
    os_name = ""
    manual: set[str] = set()
    packages = {}
    for line in text.splitlines():
        if line.startswith("os="):
            os_name = line[3:].strip()
        elif line.startswith("manual="):
            manual = set(line[7:].split())
        else:
            parts = line.split()
            if len(parts) < 4:
                continue
            name, version, priority, section = parts[:4]
            own = name in manual and priority not in BASE_PRIORITIES and section.split("/")[-1] not in BASE_SECTIONS
            if own or name in RUNTIMES:
                packages[name] = version
    return os_name, dict(sorted(packages.items()))
