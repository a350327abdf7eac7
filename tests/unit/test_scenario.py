"""lab/scenario/ (loading, checking, fields): loading, strict validation with file:line messages, variant resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import scenario
from lab.checks import declarative
from lab.errors import ScenarioError
from lab.scenario import fields, loading
from tests.conftest import ROOT

VALID = """
description: A shop
client: Example GmbH
services:
  db:
    build:
      context: db
      args:
        DEBIAN: bookworm
        PORT: 5432
    environment: {PGDATA: /data}
    volumes: ["pgdata:/data"]
    healthcheck:
      test: pg_isready
      interval: 250ms
  app:
    image: debian:bookworm
    command: sleep infinity
    depends_on: [db]
candidates:
  next:
    description: the upgrade
    services:
      db:
        build:
          args:
            DEBIAN: trixie
checks:
  host: app
  testinfra:
    - checks/test_app.py
    - file: checks/test_db.py
      hosts: [db]
"""
FILES = {"db/Dockerfile": "FROM debian:bookworm\n", "checks/test_app.py": "", "checks/test_db.py": ""}


def problems(write_scenario, text: str, files: dict[str, str] | None = None, name: str = "shop") -> list[str]:
    folder = write_scenario(text, FILES if files is None else files, name=name)
    with pytest.raises(ScenarioError) as info:
        scenario.load(str(folder))
    return info.value.problems


def test_valid_scenario_resolves_baseline_and_candidate(write_scenario):
    loaded = scenario.load(str(write_scenario(VALID, FILES)))
    assert [v.name for v in loaded.variants] == ["baseline", "next"]
    base, cand = loaded.variants
    assert base.services["db"].build.args == {"DEBIAN": "bookworm", "PORT": "5432"}
    # the override changes one arg and keeps the rest of the build section
    assert cand.services["db"].build.args == {"DEBIAN": "trixie", "PORT": "5432"}
    assert cand.services["db"].build.context == "db"
    assert cand.services["db"].healthcheck.interval == 0.25
    assert cand.description == "the upgrade"
    files = {path.name: hosts for path, hosts in loaded.test_files}
    assert files == {"test_app.py": ("app",), "test_db.py": ("db",)}


def test_demo_scenario_is_valid():
    loaded = scenario.load("demo", ROOT / "scenarios")
    assert loaded.baseline.services["db"].build.args["DEBIAN"] == "bookworm"
    assert loaded.candidates[0].services["db"].build.args["DEBIAN"] == "trixie"


def test_misspelled_key_names_file_line_and_fix(write_scenario):
    text = VALID.replace("    image: debian:bookworm", "    imgae: debian:bookworm")
    found = problems(write_scenario, text)
    line = text.lstrip().splitlines().index("    imgae: debian:bookworm") + 1
    assert any(
        p.endswith(f"scenario.yml:{line}: services.app.imgae: unknown key — did you mean 'image'?") for p in found
    ), found


def test_all_problems_are_reported_together(write_scenario):
    text = (
        VALID.replace("    depends_on: [db]", "    depends_on: [dbb]")
        .replace("      interval: 250ms", "      interval: soon")
        .replace("      db:\n        build:", "      dbx:\n        build:")
    )
    found = problems(write_scenario, text)
    joined = "\n".join(found)
    assert "services.db.healthcheck.interval: 'soon' is not a duration" in joined
    assert "candidates.next.services.dbx: service 'dbx' is not in the stack — did you mean 'db'?" in joined
    assert "services.app.depends_on: unknown service 'dbb' — did you mean 'db'?" in joined


def test_missing_files_are_named(write_scenario):
    found = problems(write_scenario, VALID, {"checks/test_app.py": "", "db/README": ""})
    joined = "\n".join(found)
    assert "services.db.build: Dockerfile not found: " in joined and "shop/db/Dockerfile" in joined
    assert "checks.testinfra.1: test file not found: " in joined and "shop/checks/test_db.py" in joined
    found = problems(write_scenario, VALID, {"checks/test_app.py": "", "checks/test_db.py": ""}, name="other")
    assert any("services.db.build.context: folder not found: " in p for p in found), found


def test_wrong_type_names_the_key(write_scenario):
    found = problems(write_scenario, VALID.replace("    command: sleep infinity", "    command: {run: x}"))
    assert any("services.app.command: expected a command" in p for p in found), found


def test_yaml_syntax_error_has_line_and_column(write_scenario):
    found = problems(write_scenario, "description: x\nservices:\n  db: [unclosed\n")
    assert len(found) == 1 and "scenario.yml:4:1: YAML error: expected ',' or ']'" in found[0], found


def test_duplicate_keys_are_errors(write_scenario):
    found = problems(write_scenario, VALID.replace("client: Example GmbH", "client: A\nclient: B"))
    assert any("client: duplicate key" in p for p in found), found


def test_service_needs_image_or_build(write_scenario):
    found = problems(write_scenario, VALID.replace("    image: debian:bookworm\n", ""))
    assert any("services.app: needs 'image' or 'build'" in p for p in found), found


def test_bad_volume_says_how_to_write_it(write_scenario):
    found = problems(write_scenario, VALID.replace('["pgdata:/data"]', '["./data:/data"]'))
    assert any("write a named volume as NAME:/path" in p for p in found), found


def test_missing_scenario_lists_available_ones():
    with pytest.raises(ScenarioError) as info:
        scenario.locate("dmeo", ROOT / "scenarios")
    message = str(info.value)
    assert "no scenario 'dmeo'" in message and "did you mean 'demo'?" in message and "Available: demo" in message


def test_deep_merge_replaces_lists_and_merges_mappings():
    base = {"environment": {"A": "1", "B": "2"}, "depends_on": ["db"], "command": "x"}
    merged = loading.deep_merge(base, {"environment": {"B": "3"}, "depends_on": []})
    assert merged == {"environment": {"A": "1", "B": "3"}, "depends_on": [], "command": "x"}
    assert base["environment"]["B"] == "2"  # inputs untouched


@pytest.mark.parametrize("text,seconds", [("90s", 90.0), ("1m30s", 90.0), ("250ms", 0.25), (5, 5.0), ("2m", 120.0)])
def test_durations(text, seconds):
    assert fields.parse_duration(text) == seconds


def test_summary_reads_the_description_only(tmp_path: Path):
    (tmp_path / "scenario.yml").write_text("description: First line\n  continues\nservices: {}\n")
    assert scenario.summary(tmp_path) == "First line continues"


SHORT = """
description: Short forms
services:
  db:
    build: db
    environment: [A=1, B=2]
candidates:
  next:
    services:
      db:
        build: {args: {V: "16"}}
        environment: {B: "3"}
checks:
  testinfra:
    - t.py
    - {file: t.py, hosts: [db]}
"""


def test_overrides_merge_with_short_forms(write_scenario):
    loaded = scenario.load(str(write_scenario(SHORT, {"db/Dockerfile": "FROM x\n", "t.py": ""})))
    db = loaded.candidates[0].services["db"]
    assert db.build.context == "db" and db.build.args == {"V": "16"}
    assert db.environment == {"A": "1", "B": "3"}
    # one file listed twice runs once, against the hosts of both entries
    assert [hosts for _, hosts in loaded.test_files] == [("db",)]


def test_candidate_problems_point_at_the_candidate(write_scenario):
    text = SHORT.replace('build: {args: {V: "16"}}', "build: {context: db16}\n        depends_on: [cache]")
    found = problems(write_scenario, text, {"db/Dockerfile": "FROM x\n", "t.py": ""})
    joined = "\n".join(found)
    assert "candidates.next.services.db.build.context: folder not found:" in joined and "shop/db16" in joined
    assert "candidates.next.services.db.depends_on: unknown service 'cache'" in joined


def test_override_errors_come_with_the_others(write_scenario):
    text = SHORT.replace('build: {args: {V: "16"}}', "imgae: x")
    found = problems(write_scenario, text, {"db/Dockerfile": "FROM x\n"})
    joined = "\n".join(found)
    assert "candidates.next.services.db.imgae: unknown key — did you mean 'image'?" in joined
    assert "test file not found" in joined


def test_dependency_cycles_are_found_at_validation(write_scenario):
    text = VALID.replace("    environment: {PGDATA: /data}", "    environment: {PGDATA: /data}\n    depends_on: [app]")
    found = problems(write_scenario, text)
    assert any("depend on each other in a cycle" in p for p in found), found


@pytest.mark.parametrize(
    "old,new,message",
    [
        ("  app:\n", "  app:\n    healthcheck: {test: []}\n", "services.app.healthcheck.test: expected a command"),
        ("checks:\n", "timeouts: {ready: -5}\nchecks:\n", "timeouts.ready: Input should be greater than 0"),
        (
            "checks:\n",
            "checks:\n  ignore: {regex: ['[']}\n",
            "checks.ignore.regex.0: '[' is not a valid regular expression",
        ),
        (
            "checks:\n",
            "checks:\n  sql: [{name: q, service: dbb, query: SELECT 1}]\n",
            "checks.sql.0.service: unknown service 'dbb'",
        ),
    ],
)
def test_bad_values_are_named(write_scenario, old, new, message):
    found = problems(write_scenario, VALID.replace(old, new, 1))
    assert any(message in p for p in found), found


SECRET = """
description: x
secrets:
  db_password: {env: LAB_UNIT_DB_PASSWORD}
services:
  db:
    image: debian:bookworm
    environment:
      POSTGRES_PASSWORD: ${secret:db_password}
      LABEL: plain
candidates:
  next: {}
checks:
  testinfra: [t.py]
"""


def test_secrets_come_from_the_environment_and_are_substituted(write_scenario, monkeypatch):
    monkeypatch.setenv("LAB_UNIT_DB_PASSWORD", "s3cret-value")
    loaded = scenario.load(str(write_scenario(SECRET, {"t.py": ""})))
    assert loaded.candidates[0].services["db"].environment == {"POSTGRES_PASSWORD": "s3cret-value", "LABEL": "plain"}
    assert loaded.secrets == {"db_password": "s3cret-value"}


@pytest.mark.parametrize(
    "old,new,message",
    [
        (
            "${secret:db_password}",
            "hunter22",
            "services.db.environment.POSTGRES_PASSWORD: a secret written into the scenario",
        ),
        ("${secret:db_password}", "${secret:db_pasword}", "no secret 'db_pasword' — did you mean 'db_password'?"),
        (
            "LABEL: plain",
            "LABEL: plain",
            "secrets.db_password: the environment variable LAB_UNIT_DB_PASSWORD is not set",
        ),
    ],
)
def test_secret_problems_are_named(write_scenario, monkeypatch, old, new, message):
    monkeypatch.delenv("LAB_UNIT_DB_PASSWORD", raising=False)
    found = problems(write_scenario, SECRET.replace(old, new), {"t.py": ""})
    assert any(message in p for p in found), found


def test_redactor_replaces_every_value():
    from lab.scenario.secrets import Redactor

    redact = Redactor({"a": "token-1234", "b": "token-1234-long"})
    assert redact("x token-1234-long y token-1234") == "x [secret:b] y [secret:a]"


def test_a_configuration_file_that_is_not_there_is_named_with_its_line(write_scenario):
    text = VALID.replace(
        "    command: sleep infinity\n",
        "    command: sleep infinity\n    config:\n      - {file: conf/app.ini, path: /etc/app/}\n",
    )
    found = problems(write_scenario, text)
    line = text.lstrip().splitlines().index("      - {file: conf/app.ini, path: /etc/app/}") + 1
    assert any(
        f"scenario.yml:{line}: services.app.config.0.file: configuration file not found: " in p and "conf/app.ini" in p
        for p in found
    ), found
    found = problems(write_scenario, text.replace("path: /etc/app/", "path: etc/app/"), name="other")
    assert any("services.app.config.0.path: " in p for p in found), found


def test_discovery_alone_is_something_to_compare(write_scenario):
    text = VALID[: VALID.index("checks:")] + "discover: true\n"
    folder = write_scenario(text, FILES)
    loaded = scenario.load(str(folder))
    assert loaded.discover and set(loaded.discovered(loaded.baseline)) == {"db", "app"}
    off = write_scenario(
        text.replace("    command: sleep infinity\n", "    command: sleep infinity\n    discover: false\n"),
        FILES,
        name="off",
    )
    assert set(scenario.load(str(off)).discovered(scenario.load(str(off)).baseline)) == {"db"}


def test_http_checks_say_what_clients_say_and_take_secrets(write_scenario, monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", "s3cret-token")
    text = VALID.replace("client: Example GmbH", "client: Example GmbH\nsecrets:\n  token: {env: SHOP_TOKEN}") + (
        "  http:\n"
        "    - name: api\n"
        "      service: app\n"
        "      path: /api?key=${secret:token}\n"
        "      host: shop.example.org\n"
        "      headers: ['Accept: text/html', [Accept, application/json], 'Authorization: Bearer ${secret:token}']\n"
        "      body_file: bodies/order.json\n"
        "  command:\n"
        "    - {name: login, service: app, run: 'login --token ${secret:token} | tee /dev/null'}\n"
    )
    files = FILES | {"bodies/order.json": '{"sku": 1}\n'}
    loaded = scenario.load(str(write_scenario(text, files)))
    (http,) = loaded.checks.http
    assert http.path == "/api?key=s3cret-token" and http.host == "shop.example.org"
    assert http.headers == [
        ("Accept", "text/html"),
        ("Accept", "application/json"),
        ("Authorization", "Bearer s3cret-token"),
    ]
    assert Path(http.body_file or "").read_text() == '{"sku": 1}\n'
    assert loaded.checks.command[0].run == "login --token s3cret-token | tee /dev/null"
    request = declarative.http_request(http)
    assert request["host_header"] == "shop.example.org" and request["body"] == '{"sku": 1}\n'
    assert request["headers"][1] == ["Accept", "application/json"] and not request["binary"]


def test_a_secret_a_check_names_must_be_declared_and_a_body_file_must_be_there(write_scenario):
    text = VALID + "  http:\n    - {name: api, service: app, path: '/?k=${secret:tokn}', body_file: nope.json}\n"
    found = problems(write_scenario, text)
    assert any("checks.http.0.path: no secret 'tokn'" in p for p in found), found
    assert any("checks.http.0.body_file: file not found: " in p and "nope.json" in p for p in found), found


def test_an_sql_check_is_one_statement(write_scenario):
    text = VALID + (
        "  sql:\n"
        "    - {name: two, service: db, query: 'CREATE TEMP TABLE t (x int); SELECT x FROM t'}\n"
        "    - {name: one, service: db, query: \"SELECT ';' AS semicolon; -- a comment\"}\n"
    )
    found = problems(write_scenario, text)
    assert any("checks.sql.0.query: an sql check is one statement, and this query has several" in p for p in found)
    assert not any("checks.sql.1" in p for p in found), found
