"""lab/scaffold.py (`invoke init`), lab/workspace.py and the users' keys: a client's Compose file
into a scenario that validates at once, what it cannot hold listed with its line; where
the scenarios and run folders are; `run_as` against `user`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from lab import scaffold, scenario, workspace
from lab.errors import LabError, ScenarioError
from tests.conftest import ROOT

COMPOSE = """
services:
  db:
    image: postgres:15
    environment:
      - POSTGRES_PASSWORD=${DB_ROOT_PW:-correct-horse-staple}
      - POSTGRES_DB=shop
    volumes: [pgdata:/var/lib/postgresql/data, /scratch]
    healthcheck:
      test: pg_isready -U postgres
      interval: 30s
    deploy:
      resources: {limits: {memory: 512M, cpus: "0.5"}}
      replicas: 2
  app:
    build:
      context: ./app
      args: [RELEASE=5.2]
      target: runtime
    env_file: [app.env]
    environment:
      DATABASE_URL: postgresql://shop:correct-horse-staple@db/shop
      API_TOKEN: tok
      MODE: $MODE
      REGION: ${SHOP_REGION}
    depends_on:
      db: {condition: service_healthy}
    ports: ["8080:8000", "127.0.0.1:9090:9090/tcp"]
    volumes: ["./app.ini:/etc/app.ini:ro", "./static:/srv/static"]
    privileged: true
  cache:
    image: redis:7
    healthcheck: {disable: true}
networks:
  front: {}
"""


def compose_folder(tmp_path: Path, text: str = COMPOSE) -> Path:
    folder = tmp_path / "client"
    (folder / "app").mkdir(parents=True)
    (folder / "app" / "Dockerfile").write_text("FROM debian:bookworm\nWORKDIR /srv/app\nCOPY . .\n")
    (folder / "app" / "main.py").write_text("print('hi')\n")
    (folder / "app.env").write_text('# settings\nexport SHOP_NAME="Linen & Oak"\n')
    (folder / ".env").write_text("MODE=live\n")  # Compose's variables for the file itself
    (folder / "app.ini").write_text("[app]\n")
    (folder / "static").mkdir()
    (folder / "docker-compose.yml").write_text(textwrap.dedent(text).lstrip())
    return folder


def assert_notes(made: scaffold.Scaffold, *expected: str) -> None:
    """Each of `expected` is said in one of the scaffold's notes (what was not carried over, and why)."""
    notes = "\n".join(made.notes)
    for said in expected:
        assert said in notes, f"{said!r} not in:\n{notes}"


def scaffolded(tmp_path: Path, text: str = COMPOSE) -> tuple[Path, scaffold.Scaffold]:
    folder = compose_folder(tmp_path, text)
    target = folder / "scenarios" / "shop"
    made = scaffold.from_compose(folder / "docker-compose.yml", target, "shop")
    scaffold.write(made, target)
    return target, made


def test_a_compose_file_becomes_a_scenario_that_validates_at_once(tmp_path: Path) -> None:
    target, made = scaffolded(tmp_path)
    loaded = scenario.load(str(target), target.parent)
    db, app, cache = (loaded.baseline.services[n] for n in ("db", "app", "cache"))
    assert db.image == "postgres:15" and db.environment["POSTGRES_DB"] == "shop"
    assert db.environment["POSTGRES_PASSWORD"] == "correct-horse-staple"  # the secret, substituted
    assert db.volumes == ["pgdata:/var/lib/postgresql/data", "scratch:/scratch"]
    assert db.healthcheck is not None and db.healthcheck.test == ["CMD-SHELL", "pg_isready -U postgres"]
    assert db.healthcheck.interval == 0.5  # polled faster than Compose's 30s
    assert db.resources.memory == 512 << 20 and db.resources.cpus == 0.5
    assert app.build is not None and app.build.args == {"RELEASE": "5.2"}
    assert (target / app.build.context).resolve() == (tmp_path / "client" / "app").resolve()
    assert app.environment["SHOP_NAME"] == "Linen & Oak" and app.environment["MODE"] == "live"  # env_file, .env
    assert app.depends_on == ["db"] and app.expose == ["8000", "9090"]
    assert [(c.file, c.path) for c in app.config] == [("../../app.ini", "/etc/app.ini")]
    assert app.app is not None and (app.app.path, app.app.language) == ("/srv/app", "python")
    assert cache.healthcheck is None
    raw = yaml.safe_load((target / "scenario.yml").read_text())
    # one secret per distinct value, referenced where a URL carries it as its password
    assert (
        raw["services"]["app"]["environment"]["DATABASE_URL"] == "postgresql://shop:${secret:postgres_password}@db/shop"
    )
    assert set(raw["secrets"]) == {"postgres_password", "api_token"}
    assert (target / "secrets" / "postgres_password").read_text().strip() == "correct-horse-staple"
    assert len((target / "secrets" / "api_token").read_text().strip()) > 8  # "tok" cannot be redacted: random
    assert raw["discover"] is True
    assert raw["checks"]["http"] == [{"name": "app answers on port 8000", "service": "app", "port": 8000, "path": "/"}]
    assert raw["checks"]["command"] == [
        {"name": "db answers its healthcheck", "service": "db", "run": "pg_isready -U postgres"}
    ]
    text = (target / "scenario.yml").read_text()
    assert "image: postgres:15  # CHANGE" in text and "RELEASE: '5.2'  # CHANGE" in text
    assert_notes(
        made,
        "docker-compose.yml:33: networks: not carried over",
        "docker-compose.yml:18: services.app.build.target: not carried over",
        "docker-compose.yml:28: services.app.volumes.1: ./static: host folders are not mounted",
        "docker-compose.yml:29: services.app.privileged: not carried over",
        "docker-compose.yml:13: services.db.deploy.replicas: not carried over",
        "services.db.volumes.1: an anonymous volume: named 'scratch'",
        "services.app.environment.API_TOKEN: the value is shorter than 4 characters",
        "services.cache: no starter check",
        "services.app.ports: published ports become expose",
        "services.app.environment.REGION: ${SHOP_REGION} is not set",
    )


def test_the_template_validates_and_nothing_is_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "scenarios" / "first"
    made = scaffold.template("first")
    scaffold.write(made, target)
    loaded = scenario.load(str(target), target.parent)
    assert loaded.name == "first" and [v.name for v in loaded.variants] == ["baseline", "next"]
    with pytest.raises(LabError, match="already exists"):
        scaffold.write(made, target)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services: [a, b]\n", "not a Compose file — it has no 'services' mapping"),
        ("services:\n  db:\n    image: [\n", "YAML error"),
        ("services:\n  My_DB:\n    image: x\n", "docker-compose.yml:2: service name 'My_DB'"),
    ],
)
def test_a_compose_file_that_cannot_be_read_says_where(tmp_path: Path, text: str, message: str) -> None:
    folder = compose_folder(tmp_path, text)
    with pytest.raises(LabError, match=message.replace("[", r"\[")):
        scaffold.from_compose(folder / "docker-compose.yml", folder / "scenarios" / "x", "x")
    with pytest.raises(LabError, match="no such file"):
        scaffold.from_compose(folder / "nope.yml", folder / "scenarios" / "x", "x")


def test_the_client_compose_file_of_the_tutorial_scaffolds(tmp_path: Path) -> None:
    target = tmp_path / "scenarios" / "shop"
    made = scaffold.from_compose(ROOT / "tests" / "client" / "docker-compose.yml", target, "shop")
    scaffold.write(made, target)
    loaded = scenario.load(str(target), target.parent)
    assert sorted(loaded.baseline.services) == ["app", "db", "web"]
    assert loaded.discovered(loaded.baseline)


def test_the_workspace_is_found_from_the_working_folder(tmp_path: Path) -> None:
    repo = tmp_path / "client"
    (repo / "scenarios").mkdir(parents=True)
    (repo / "docs" / "deep").mkdir(parents=True)
    assert workspace.scenarios(repo / "docs" / "deep", {}) == (repo / "scenarios").resolve()
    assert workspace.pilots(repo / "docs", {}) == (repo / "pilots").resolve()
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    assert workspace.scenarios(elsewhere, {}) == (elsewhere / "scenarios").resolve()  # where init makes it
    assert workspace.scenarios(elsewhere, {"LAB_SCENARIOS": str(repo / "scenarios")}) == (repo / "scenarios").resolve()
    with pytest.raises(LabError, match="LAB_SCENARIOS=nowhere: no such folder"):
        workspace.scenarios(elsewhere, {"LAB_SCENARIOS": "nowhere"})


def test_user_on_a_command_check_or_a_step_is_refused_with_the_fix(write_scenario) -> None:
    folder = write_scenario(
        """
        services:
          db: {image: debian:bookworm, run_as: postgres}
        candidates:
          next: {services: {db: {image: debian:trixie}}}
        checks:
          command:
            - {name: dump, service: db, run: pg_dump shop, user: postgres}
            - {name: as, service: db, run: id -un, run_as: nobody}
        upgrade:
          steps:
            - {name: move, service: db, run: "true", user: postgres}
        """
    )
    with pytest.raises(ScenarioError) as err:
        scenario.load(str(folder), folder.parent)
    said = str(err.value)
    assert "scenario.yml:7: checks.command.0.user: " in said and "rename the key to run_as" in said
    assert "upgrade.steps.0.user" in said
    assert "checks.command.1" not in said


def test_a_repository_built_from_its_root_keeps_secrets_and_the_lab_out_of_its_images(tmp_path, monkeypatch):
    """Compose shapes from real repositories: `build: .` everywhere, bare and secret-looking
    variables, a URL with its own password, `$$` in a healthcheck, a volume shared under a
    name with '_'."""
    monkeypatch.setenv("NPM_TOKEN", "npm-abcdef-123")
    monkeypatch.setenv("DB_PASS", "from-the-shell-1")
    monkeypatch.setenv("TZ", "Europe/Berlin")
    folder = compose_folder(
        tmp_path,
        """
        services:
          web:
            build: .
            environment: [DB_PASS, TZ, "CACHE_URL=redis://cache:s3cr3t-cache@cache:6379/0"]
            volumes: [static_files:/srv/static]
            healthcheck:
              test: ["CMD-SHELL", "curl -fs http://127.0.0.1/ -o /dev/null -H 'X-Id: $$HOSTNAME'"]
              retries: ${RETRIES}
              interval: 1s
          worker:
            build: {context: ., args: [NPM_TOKEN]}
            volumes: [static_files:/srv/static]
            tmpfs: /tmp
            healthcheck: {test: []}
        """,
    )
    (folder / "Dockerfile").write_text("FROM debian:bookworm\n")
    target = folder / "scenarios" / "shop"
    made = scaffold.from_compose(folder / "docker-compose.yml", target, "shop")
    scaffold.write(made, target)
    loaded = scenario.load(str(target), target.parent)  # valid, though nothing has build args to change
    web, worker = loaded.baseline.services["web"], loaded.baseline.services["worker"]
    text = (target / "scenario.yml").read_text()
    for value in ("npm-abcdef-123", "from-the-shell-1", "s3cr3t-cache"):
        assert value not in text  # in secrets/ only (or, for a build arg, nowhere)
    assert "services: {}  # the same stack" in text
    assert worker.build is not None and worker.build.args == {}
    assert web.environment["TZ"] == "Europe/Berlin" and web.environment["DB_PASS"] == "from-the-shell-1"
    raw = yaml.safe_load(text)
    assert (
        raw["services"]["web"]["environment"]["CACHE_URL"] == "redis://cache:${secret:cache_url_password}@cache:6379/0"
    )
    assert (target / "secrets" / "cache_url_password").stat().st_mode & 0o777 == 0o600
    assert web.volumes == worker.volumes == ["static-files:/srv/static"]  # still shared
    assert web.healthcheck is not None and "X-Id: $HOSTNAME" in web.healthcheck.test[1]
    assert worker.healthcheck is None
    ignore = (folder / ".dockerignore").read_text().splitlines()
    assert "pilots/" in ignore and "scenarios/" in ignore
    assert_notes(
        made,
        "services.worker.build.args.NPM_TOKEN: looks like a secret",
        "services.web.environment.TZ: its value was taken from your environment",
        "services.web.healthcheck.retries: ${RETRIES}: not a number",
        "services.worker.tmpfs: not carried over",
        "the volume 'static_files' is named 'static-files'",
        "its build folder holds the lab's pilots/ and scenarios/",
    )
