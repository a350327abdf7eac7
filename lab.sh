#!/bin/sh
# From a fresh machine to any lab command, in one step:
#   ./lab.sh pilot demo     the demo pilot       ./lab.sh test     the test suite
# Installs the lab into .venv (again only when pyproject.toml changes), makes sure a Docker
# engine runs and the base images exist (`invoke engine`), then runs `invoke <args>`.
set -eu
cd "$(dirname "$0")"

venv=.venv
stamp="$venv/.installed"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)

if [ ! -x "$venv/bin/python" ]; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "installing python3-venv..." >&2
            apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null
            rm -rf "$venv"
            python3 -m venv "$venv"
        else
            echo "error: cannot create a Python virtual environment; install python3-venv (Python >= 3.10)" >&2
            exit 2
        fi
    fi
fi
# The reports' PDF is printed by headless Chromium; pdftotext checks it in the tests.
if ! command -v chromium >/dev/null || ! command -v pdftotext >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing chromium and poppler-utils (PDF reports)..." >&2
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            chromium poppler-utils fonts-dejavu-core >/dev/null
    else
        echo "note: without chromium the pilots write no report.pdf (install chromium and poppler-utils)" >&2
    fi
fi
# The probe's HTTPS test makes a self-signed certificate.
if ! command -v openssl >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing openssl (the probe's HTTPS test)..." >&2
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssl >/dev/null
fi
# The engine tests start a second engine in a network namespace of its own (ip, nsenter).
if ! command -v ip >/dev/null || ! command -v nsenter >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing iproute2 and util-linux (the engine tests' second engine)..." >&2
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iproute2 util-linux >/dev/null
    fi
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing the lab and its dependencies into $venv..." >&2
    "$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null
    "$venv/bin/python" -m pip install --quiet -e '.[dev]'
    echo "$want" >"$stamp"
fi

"$venv/bin/invoke" engine
[ $# -eq 0 ] && exec "$venv/bin/invoke" --list
exec "$venv/bin/invoke" "$@"
