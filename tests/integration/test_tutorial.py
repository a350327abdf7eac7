"""The README's first-scenario tutorial, followed step by step outside the checkout: the lab
installed with pip into a fresh venv (not editable), a client's folder with its
docker-compose.yml (tests/client: Debian-packaged PostgreSQL started by the image's own
command, a Flask app, nginx from an image of the client's registry), `upgrade-lab init`,
the scenario's CHANGE lines and backup filled in, then `invoke validate`, `invoke pilot`,
`invoke approve` and `upgrade-lab history` in that folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from tests.conftest import ROOT
from tests.integration.conftest import leftovers

pytestmark = pytest.mark.docker

WEB_IMAGE = "shop-web:1.22"  # the client's registry image, built here from tests/client/web-image
# The tutorial's commands, in its order (the README must say each of them).
INIT = "upgrade-lab init shop --from-compose docker-compose.yml"
VALIDATE = "invoke validate shop"
PILOT = "invoke pilot shop"
APPROVE = 'invoke approve <run> --by "<the client>" --decision proceed'
HISTORY = "upgrade-lab history shop"


def tutorial() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Your first scenario")
    return text[start : text.index("\n## ", start + 1)]


def test_the_readme_says_the_steps_this_test_follows() -> None:
    said = tutorial()
    for command in (INIT, VALIDATE, PILOT, APPROVE, HISTORY, "pip install"):
        assert command in said, f"the tutorial does not say `{command}`"
    assert "DEBIAN: trixie" in said and "backup:" in said and "CHANGE" in said


def test_a_client_folder_from_compose_file_to_approved_report(tmp_path: Path, client: docker.DockerClient) -> None:
    # 1. Install the lab with pip into a fresh venv, from a copy of its sources (no checkout on the path).
    source = tmp_path / "src"
    shutil.copytree(ROOT / "lab", source / "lab", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(source)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    # 2. The client's folder, and the image their registry would have.
    folder = tmp_path / "client"
    shutil.copytree(ROOT / "tests" / "client", folder)
    client.images.build(path=str(folder / "web-image"), tag=WEB_IMAGE, rm=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAB_", "PYTHON", "VIRTUAL_ENV")) and k != "PATH"}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"

    def run(command: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, shell=True, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)

    where = run("python -c 'import lab; print(lab.__file__)'")
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr  # the installed copy, not the checkout

    # 3. The scaffold, from the Compose file.
    made = run(INIT)
    assert made.returncode == 0, made.stderr
    scenario = folder / "scenarios" / "shop" / "scenario.yml"
    text = scenario.read_text(encoding="utf-8")
    assert "DB_PASSWORD: ${secret:db_password}" in text  # a password turned into a secret
    assert (folder / "scenarios" / "shop" / "secrets" / "db_password").read_text().strip() == "shop-staging-pw"
    assert "expose: [5432]" in text and "path: /etc/nginx/conf.d/shop.conf" in text and "discover: true" in text
    for dropped in ("networks", "services.db.restart", "services.web.logging", "./nginx/html"):
        assert dropped in made.stderr, f"{dropped} not listed as not carried over:\n{made.stderr}"
    assert (folder / "tasks.py").is_file()
    first = run(VALIDATE)
    assert first.returncode == 0 and "shop: valid" in first.stdout, first.stdout + first.stderr

    # 4. The tutorial's edits: the candidate's CHANGE lines, and the client's backup.
    text = text.replace("DEBIAN: bookworm  # CHANGE: the proposed value", "DEBIAN: trixie")
    text = text.replace('"the proposed upgrade"  # CHANGE: say what it is', '"PostgreSQL 17 (Debian 13)"')
    text += "\nbackup:\n  db:\n    - {file: ../../backup/shop.sql, format: postgresql, database: shop}\n"
    scenario.write_text(text, encoding="utf-8")
    valid = run(VALIDATE)
    assert valid.returncode == 0 and "shop: valid" in valid.stdout, valid.stdout + valid.stderr

    # 5. The pilot: a verdict, the run folder in this folder's pilots/.
    done = run(PILOT, timeout=1800)
    found = re.search(r"report: (\S+)/report\.html", done.stdout)
    assert done.returncode in (0, 1) and found, done.stdout + done.stderr[-4000:]
    run_dir = Path(found.group(1))
    assert run_dir.parent == folder / "pilots" / "shop"
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert not results.get("incomplete") and results["verdict"] in ("PASS", "REVIEW", "FAIL"), results.get("error")
    for copy in results["copies"]:  # Debian's PostgreSQL restored with the image's own entrypoint
        assert [r["ok"] for r in copy["restores"]] == [True], copy["restores"]
        assert copy["discovered"], "no discovery probe ran"
    assert leftovers(client, run_dir.name) == []

    # 6. The client's decision, and the history of this folder.
    approved = run(APPROVE.replace("<run>", run_dir.name).replace("<the client>", "Linen & Oak, IT"))
    assert approved.returncode == 0 and "record SHA-256" in approved.stderr, approved.stderr
    history = run(HISTORY)
    assert history.returncode == 0 and run_dir.name in history.stdout and "proceed" in history.stdout, history.stderr
