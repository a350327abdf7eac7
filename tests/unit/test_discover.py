"""lab/discover/ on recorded outputs of both Debian releases (no Docker), in
tests/unit/discover_outputs/: PostgreSQL 15 and 17 (with the objects of objects.sql, and
with plpgsql_check and plpgsql-check-objects.sql), MariaDB 10.11 and 11.8
(mariadb-objects.sql, and an option file that sets innodb_defragment), Python 3.11 and 3.13
importing pyapp/ (and Django 3.2 and 4.2 setting up djangoapp/), nginx 1.22 and 1.26 and
Redis 7.0 and 8.0 (the webshop's images), PHP 8.2 and 8.4 and Apache
(tests/scenarios/php-app); what becomes of them as observations, where the client's code
names an item, and how an inventory is triaged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab import discover
from lab.compare import verdicts
from lab.discover import mariadb, mentions, php, postgresql, probing, python, servers
from lab.engine.types import ExecResult
from lab.results import CopyResult, Kind, Observation, Outcome, Status, Triage
from lab.scenario.model import Service

OUTPUTS = Path(__file__).parent / "discover_outputs"


def recorded(name: str) -> str:
    return (OUTPUTS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("version", [15, 17])
def test_postgresql_server_inventories_and_objects_are_read(version):
    found = postgresql.parse(recorded(f"postgresql-{version}.txt"))
    assert not found.errors
    assert [db.name for db in found.databases] == ["invoices", "postgres"]
    server = found.server
    assert server["extension"]["plpgsql"] == "1.0"
    assert server["setting"]["DateStyle"] == "ISO, MDY"
    assert server["database"]["invoices"] == "SQL_ASCII C C"  # initdb without a locale: encoding, collation, ctype
    assert ("pg_stat_bgwriter.checkpoints_timed" in server["system view column"]) == (version == 15)
    assert ("pg_stat_checkpointer.num_timed" in server["system view column"]) == (version == 17)
    assert not any(name.endswith(("_directory", "_file")) for name in server["setting"])  # places, not behaviour
    invoices = found.databases[0]
    assert invoices.objects["extension plpgsql"] == "1.0"
    assert invoices.objects["function public.invoice_total(customer integer)"] == "sql"
    assert "trigger invoices_touch on public.invoices" in invoices.objects
    # Functions with parameters, trigger functions and triggers are listed, not called.
    assert invoices.tried == {
        "function public.checkpoint_counts()",
        "function public.multi()",
        "function public.open_total()",
        "function public.slow()",
        "materialized view public.city_totals",
        "procedure public.mark_all_paid()",
        "view public.open_invoices",
    }
    assert invoices.tries["function public.open_total()"] == (True, "7382.00")
    assert invoices.tries["function public.multi()"] == (True, 'line1 line2, "quoted"')  # one line, quotes kept
    assert invoices.tries["view public.open_invoices"] == (True, "<NULL>")
    assert invoices.tries["procedure public.mark_all_paid()"] == (True, "<NULL>")
    assert "function public.slow()" not in invoices.tries  # stopped by statement_timeout
    assert any("statement timeout" in line for line in invoices.errors)
    counts = invoices.tries["function public.checkpoint_counts()"]
    if version == 15:  # a counter: its value is whatever the server has counted
        assert counts[0] and counts[1].isdigit()
    else:
        assert counts == (False, 'column "checkpoints_timed" does not exist')


class Replayed:
    """A Runner that answers each script with a recorded output, as the shell would."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.calls: list[tuple[str, list[str], str | None]] = []
        self.envs: list[dict[str, str]] = []

    def __call__(self, container, argv, env=None, user=None, timeout=30.0) -> ExecResult:
        self.calls.append((container, argv, user))
        self.envs.append(env or {})
        for marker, out in self.answers.items():
            if marker in " ".join(argv):
                return ExecResult(0, out, "", 0.1)
        return ExecResult(0, "", "", 0.1)


def test_postgresql_observations_fail_where_the_candidate_cannot_run_an_object():
    run = Replayed({"@@lab-pg": recorded("postgresql-17.txt")})
    found, said = postgresql.observe(run, "db", "c-db", "postgres")
    by_id = {o.id: o for o in found}
    assert all(o.kind == Kind.DISCOVERED for o in found)
    assert run.calls[0][2] == "postgres"  # as the database's OS user
    failed = by_id["discover:db invoices: function public.checkpoint_counts()"]
    assert failed.outcome == Outcome.FAILED and failed.message == 'column "checkpoints_timed" does not exist'
    slow = by_id["discover:db invoices: function public.slow()"]
    assert slow.outcome == Outcome.SKIPPED and "statement timeout" in slow.message
    assert by_id["discover:db invoices: function public.open_total()"].output == {"value": "7382.00"}
    columns = by_id["discover:db postgresql system view columns"]
    assert columns.mentions == {} and columns.output["value"]["pg_stat_checkpointer.num_timed"] == "bigint"
    assert "discover:db postgresql objects in invoices" in by_id
    assert said.startswith("PostgreSQL: 2 database(s)") and "6 tried" in said


@pytest.mark.parametrize(("version", "forms"), [("3.11", ""), ("3.13", "ModuleNotFoundError: No module named 'cgi'")])
def test_python_imports_routes_and_distributions_are_read(version, forms):
    found = python.parse(recorded(f"python-{version}.json"))
    assert found.python.startswith(version)
    assert found.modules["shop"] == found.modules["shop.views"] == ""  # the print at import went elsewhere
    assert found.modules["shop.forms"].endswith(forms)
    if forms:  # the traceback starts in the application, not in importlib
        assert found.modules["shop.forms"].splitlines()[1].strip().startswith('File "/tmp/pyapp/shop/forms.py"')
    assert found.modules["waits"].endswith("TimeoutError: the import took more than 1 s")
    assert "tests.test_x" not in found.modules  # tests are not the application
    assert found.routes["/orders"]["methods"] == ["POST"]
    assert python.gets(found) == ["/", "/items/1"]  # a route with a number gets 1
    assert "flask" in found.distributions
    # imghdr is imported only when the upload runs, and Python 3.13 removed it; ujson is
    # imported under `except ImportError` (optional by design) and not looked for
    assert found.deferred == {"imghdr": ("shop/views.py:19", version == "3.11")}


def test_python_observations_and_route_requests():
    run = Replayed(
        {
            "importlib": recorded("python-3.13.json"),
            "http-probe": '{"status": 200, "headers": {}, "body": "ok", "binary": false, "seconds": [0.01],'
            ' "error": null}\n{"status": 404, "headers": {}, "body": "no", "binary": false, "seconds": [0.01],'
            ' "error": null}\n',
        }
    )
    service = Service.model_validate(
        {"image": "x", "expose": ["8000"], "app": {"path": "/tmp/pyapp", "language": "python"}}
    )
    plan = discover.Plan()
    found, said = python.observe(run, "app", service, "c-app", "c-probe", plan)
    by_id = {o.id: o for o in found}
    assert by_id["discover:app import shop.forms"].outcome == Outcome.FAILED
    assert by_id["discover:app import shop.forms"].message == "ModuleNotFoundError: No module named 'cgi'"
    assert by_id["discover:app import shop.views"].outcome == Outcome.PASSED
    assert by_id["discover:app routes"].output["value"] == {
        "/": "GET",
        "/items/<int:n>": "GET",
        "/orders": "POST",
        "/upload": "POST",
    }
    route = by_id["discover:app GET /"]
    assert route.kind == Kind.DISCOVERED and route.output["status"] == 200
    assert run.calls[-1][0] == "c-probe"
    assert by_id["discover:app GET /items/1"].outcome == Outcome.PASSED  # a 404 is an answer, compared
    assert by_id["discover:app GET /items/1"].output["status"] == 404
    assert "Traceback" in by_id["discover:app import shop.forms"].detail  # the evidence
    assert "2 requested (GET, on port 8000)" in said
    assert (plan.port, plan.routes) == (8000, ["/", "/items/1"])  # what a second observation requests again
    deferred = by_id["discover:app import imghdr when it runs"]
    assert deferred.outcome == Outcome.FAILED
    assert deferred.message == "No module named 'imghdr' (imported at shop/views.py:19, when that code runs)"


def test_a_service_without_anything_to_probe_says_so_once():
    run = Replayed({})
    stack = discover.Stack({"cache": Service(image="redis")}, {"cache": "c-cache"}, None)
    found, notes, plan = discover._service(run, "cache", stack)
    assert plan == discover.Plan()
    assert found == [] and notes == [
        "nothing to probe: no PostgreSQL, MariaDB, nginx, Apache, Redis or PHP-FPM server runs here"
        " and no application is declared (`app:`)"
    ]


def test_mentions_need_every_word_of_an_item_in_one_file():
    grep = (
        "/srv/app/jobs.py:12:checkpoints_timed\n/srv/app/jobs.py:12:pg_stat_bgwriter\n"
        "/srv/app/web.py:3:Buffers_Backend\n"
    )
    run = Replayed({"grep": grep})
    found = mentions.find(run, {"c-app": ["/srv/app"]}, {"checkpoints_timed", "pg_stat_bgwriter", "buffers_backend"})
    assert mentions.named("pg_stat_bgwriter.checkpoints_timed", found) == "/srv/app/jobs.py:12"
    assert mentions.named("pg_stat_bgwriter.buffers_backend", found) is None  # not in the same file
    assert mentions.named("function public.checkpoints_timed()", found) == "/srv/app/jobs.py:12"
    assert run.calls[0][1][-1] == "/srv/app"


def inventory(items: dict[str, str], where: dict[str, str] | None = None) -> Observation:
    found = probing.inventory("discover:db postgresql system view columns", "db", items)
    found.mentions = where if where is not None else {}
    return found


def judged(baseline: Observation, candidate: Observation):
    copies = [
        CopyResult(variant=v, role=r, ready=True, observations=[[o]])
        for v, r, o in (("baseline", "baseline", baseline), ("next", "candidate", candidate))
    ]
    return verdicts.judge(copies[0], copies[1])


def test_an_item_the_candidate_lacks_is_breaking_when_the_client_names_it_and_unknown_otherwise():
    before = {"pg_stat_bgwriter.checkpoints_timed": "bigint", "pg_stat_activity.pid": "integer"}
    after = {"pg_stat_activity.pid": "integer", "pg_stat_checkpointer.num_timed": "bigint"}
    named = judged(inventory(before, {"pg_stat_bgwriter.checkpoints_timed": "/srv/app/jobs.py:12"}), inventory(after))
    (out,) = named.outputs
    assert out.triage == Triage.BREAKING and "/srv/app/jobs.py:12" in out.why
    assert out.diff.splitlines() == [
        '- pg_stat_bgwriter.checkpoints_timed: "bigint"',
        '+ pg_stat_checkpointer.num_timed: "bigint"',
    ]
    (unnamed,) = judged(inventory(before), inventory(after)).outputs
    assert unnamed.triage == Triage.UNKNOWN and "do not name it: pg_stat_bgwriter.checkpoints_timed" in unnamed.why
    (grown,) = judged(inventory(after), inventory(after | {"pg_stat_io.reads": "bigint"})).outputs
    assert grown.triage == Triage.HARMLESS  # only added: the ordinary rules decide


def test_an_import_that_fails_on_the_candidate_only_is_a_regression():
    ok = probing.observation("discover:app import shop.forms", "app", Outcome.PASSED)
    broken = probing.observation(
        "discover:app import shop.forms", "app", Outcome.FAILED, "ModuleNotFoundError: No module named 'cgi'"
    )
    verdict = judged(ok, broken)
    assert [c.status for c in verdict.comparisons] == [Status.REGRESSION]
    assert verdict.comparisons[0].message == "ModuleNotFoundError: No module named 'cgi'"


@pytest.mark.parametrize(("version", "v3"), [("1.22", False), ("1.26", True)])
def test_nginx_test_and_modules_are_read(version, v3):
    code, said, modules = servers.tested_and_modules(recorded(f"nginx-{version}.txt"))
    assert code == 0 and said.endswith("nginx: configuration file /etc/nginx/nginx.conf test is successful")
    assert "http_ssl_module" in modules and ("http_v3_module" in modules) == v3


def test_nginx_refusing_its_configuration_is_a_failure_in_its_own_words():
    refused = (
        '@@lab-server test\nnginx: [emerg] unknown directive "http3" in /etc/nginx/conf.d/shop.conf:4\n'
        "nginx: configuration file /etc/nginx/nginx.conf test failed\n@@lab-server exit 1\n@@lab-server modules\n"
    )
    (test, modules), said = servers.observe_web_server(Replayed({"nginx -t": refused}), "proxy", "c-proxy", "nginx")
    assert test.outcome == Outcome.FAILED and test.message.endswith("test failed")
    assert test.output["exit_code"] == 1 and 'unknown directive "http3"' in test.output["stdout"]
    assert modules.output == {"value": {}} and said.startswith("nginx:")


@pytest.mark.parametrize("version", ["7.0", "8.0"])
def test_redis_commands_and_the_clients_settings_are_read(version):
    commands, settings, problems = servers.redis(recorded(f"redis-{version}.txt"))
    assert not problems
    assert {"get", "hgetall", "latency|history"} <= set(commands)
    assert ("vadd" in commands) == (version == "8.0")  # vector sets came with Redis 8
    assert settings["maxmemory"] == "134217728" and settings["maxmemory-policy"] == "allkeys-lru"
    assert settings["save"] == "900 1"


def test_redis_settings_are_those_the_clients_files_set(tmp_path):
    (tmp_path / "redis.conf").write_text("maxmemory 128mb\nsave 900 1\n")
    service = Service.model_validate({"image": "redis", "config": [{"file": "redis.conf", "path": "/etc/redis/"}]})
    run = Replayed({"COMMAND LIST": recorded("redis-8.0.txt")})
    found, said = servers.observe_redis(run, "cache", "c-cache", service, tmp_path)
    assert [o.id for o in found] == [
        "discover:cache redis commands",
        "discover:cache redis settings of the client's configuration",
    ]
    assert said == "Redis: 394 commands, 9 settings of the client's configuration"


def test_a_second_observation_asks_only_what_may_vary(monkeypatch):
    answer = '{"status": 200, "headers": {}, "body": "ok", "binary": false, "seconds": [0.01], "error": null}\n'
    run = Replayed(
        {"http-probe": answer, "@@lab-pg": recorded("postgresql-17.txt"), "@@lab-my": recorded("mariadb-11.8.txt")}
    )
    run.close = lambda: None  # type: ignore[attr-defined]
    monkeypatch.setattr(discover, "ShellPool", lambda engine, token: run)
    stack = discover.Stack(
        {"app": Service(image="x"), "db": Service(image="y"), "my": Service(image="z")},
        {"app": "c-app", "db": "c-db", "my": "c-my"},
        "c-probe",
    )
    plans = {
        "app": discover.Plan(port=8000, routes=["/"]),
        "db": discover.Plan(postgresql="", tried=6),
        "my": discover.Plan(mariadb_tried=4),
    }
    again = discover.observe(None, stack, None, before=discover.Discovery(plans=plans))  # type: ignore[arg-type]
    ids = sorted(o.id for o in again.observations)
    assert "discover:app GET /" in ids and "discover:db invoices: function public.open_total()" in ids
    assert "discover:my mariadb: function shop.item_count" in ids
    assert not any("system view columns" in i or "distributions" in i or "mariadb settings" in i for i in ids)
    assert sorted(c[0] for c in run.calls) == ["c-db", "c-my", "c-probe"]  # no detection, no Python, no grep
    pg = next(c for c in run.calls if c[0] == "c-db")
    assert pg[2] is None  # as the container's own user


@pytest.mark.parametrize("version", ["10.11", "11.8"])
def test_mariadb_inventories_objects_and_tries_are_read(version):
    found = mariadb.parse(recorded(f"mariadb-{version}.txt"))
    assert not found.errors
    default = "utf8mb4_general_ci" if version == "10.11" else "utf8mb4_uca1400_ai_ci"
    assert found.server["setting"]["collation_server"] == default
    assert found.server["default collation"] == {"": default}
    # the restored table keeps its collation; 11.8's new default makes it stand out
    assert found.server.get("other collation", {}) == (
        {} if version == "10.11" else {"shop.items": "utf8mb4_general_ci"}
    )
    assert found.objects == {
        "view shop.broken": "",
        "view shop.cheap": "",
        "function shop.item_count": "",
        "function shop.price_of": "",
        "function shop.sleepy": "",
        "procedure shop.restock": "",
        "trigger shop.items_touch on items": "",
    }
    assert found.tries["view shop.cheap"] == (True, "<none>")
    assert found.tries["function shop.item_count"] == (True, "2")
    assert found.tries["view shop.broken"][1].startswith("View 'shop.broken' references invalid table(s)")
    assert "function shop.price_of" not in found.tries  # it has a parameter
    assert found.tries["function shop.sleepy"] == (
        False,
        "Query execution was interrupted (max_statement_time exceeded)",
    )
    # the client's option file (innodb_defragment = 1): 11.8 removed the option and says so
    code, said = found.options or (None, [])
    removed = "[Warning] 'innodb-defragment' was removed. It does nothing now and exists only for compatibility"
    assert code == 0 and any(line.startswith(removed) for line in said) == (version == "11.8")
    assert not any(line[:4].isdigit() for line in said)  # the server's time stamps taken out


def test_mariadb_observations_root_password_and_the_new_default_collation():
    run = Replayed({"@@lab-my": recorded("mariadb-11.8.txt")})
    service = Service.model_validate({"image": "mariadb", "environment": {"MARIADB_ROOT_PASSWORD": "s3cret"}})
    plan = discover.Plan()
    found, said = mariadb.observe(run, "db", "c-db", service, plan)
    assert plan.mariadb_tried == 4  # what a second observation tries again
    by_id = {o.id: o for o in found}
    assert run.calls[0][2] == "root" and run.envs[0]["MYSQL_PWD"] == "s3cret"
    collations = by_id["discover:db mariadb tables whose collation is not the server's default"]
    assert collations.output["value"] == {
        "(the server's default)": "utf8mb4_uca1400_ai_ci",
        "shop.items": "utf8mb4_general_ci",
    }
    assert by_id["discover:db mariadb: function shop.sleepy"].outcome == Outcome.SKIPPED
    assert by_id["discover:db mariadb: view shop.broken"].outcome == Outcome.FAILED
    assert by_id["discover:db mariadb: function shop.item_count"].output == {"value": "2"}
    assert said.startswith("MariaDB: 1 database(s), 7 object(s)")
    options = by_id["discover:db mariadb option files"]
    assert options.outcome == Outcome.PASSED and "'innodb-defragment' was removed" in options.output["stdout"]


@pytest.mark.parametrize("version", ["8.2", "8.4"])
def test_php_modules_lint_and_fpm_test_are_read(version):
    found = php.parse(recorded(f"php-{version}.txt"))
    assert found.version.startswith(version)
    assert {"core", "json", "zend opcache"} <= set(found.modules)
    assert found.failed == {} and set(found.files) == {"index.php", "lib/cart.php"}
    deprecated = [line for line in found.files["lib/cart.php"] if line.startswith("Deprecated:")]
    assert bool(deprecated) == (version == "8.4")  # 8.4 deprecates implicitly nullable parameters
    assert found.fpm == (0, ["NOTICE: configuration file /etc/php/<version>/fpm/php-fpm.conf test is successful"])


class WordPressProbe(Replayed):
    """The recorded PHP script's output, and a probe that answers the REST index with the
    recorded one (WordPress's own answer, its routes' arguments and links left out) and
    every other request with an empty list."""

    def __init__(self, version: str):
        super().__init__({"@@lab-php": recorded(f"wordpress-{version}.txt")})
        self.index = recorded(f"wordpress-{version}-index.json")
        self.requested: list[str] = []
        self.probe_runs = 0

    def __call__(self, container, argv, env=None, user=None, timeout=30.0) -> ExecResult:
        if "http-probe" not in " ".join(argv):
            return super().__call__(container, argv, env, user, timeout)
        answers = []
        self.probe_runs += 1
        for line in (env or {})["LAB_REQUESTS"].splitlines():
            path = json.loads(line)["path"]
            self.requested.append(path)
            body = self.index if path == php.REST_INDEX else "[]"
            answers.append(
                json.dumps(
                    {"status": 200, "headers": {}, "body": body, "binary": False, "seconds": [0.01]} | {"error": None}
                )
            )
        return ExecResult(0, "\n".join(answers) + "\n", "", 0.1)


@pytest.mark.parametrize(
    ("version", "release", "routes", "requested"), [("6.1", "6.1.9", 112, 49), ("6.8", "6.8.13", 123, 53)]
)
def test_a_wordpress_sites_rest_routes_are_an_inventory_and_requested(version, release, routes, requested):
    run = WordPressProbe(version)
    service = Service.model_validate(
        {"image": "x", "app": {"path": "/var/lib/wordpress/wp-content", "language": "php", "port": 8000}}
    )
    plan = discover.Plan()
    found, notes = php.observe(run, "app", "c-app", service, "c-probe", plan)
    by_id = {o.id: o for o in found}
    assert php.parse(recorded(f"wordpress-{version}.txt")).wordpress == release
    index = by_id["discover:app wordpress rest routes"].output["value"]
    assert len(index) == routes and index["/shop/v1/notes"] == "GET" and index["/wp/v2/posts"] == "GET, POST"
    paths = run.requested[1:]  # after the index itself
    assert paths[0] == "/" and "/?rest_route=/shop/v1/notes" in paths and "/?rest_route=/wp/v2/posts" in paths
    assert len(paths) == requested + 1 and not any("(?P<" in p or p == "/?rest_route=/" for p in paths)
    assert plan.routes == paths and plan.port == 8000  # the second observation asks them again
    batch = int(probing.PROBE_SECONDS // probing.ROUTE_SECONDS)  # each probe run fits its deadline
    assert run.probe_runs == 1 + -(-len(paths) // batch)
    assert by_id["discover:app GET /?rest_route=/shop/v1/notes"].output["body"] == {"json": []}
    assert f"WordPress {release}: {routes} REST routes, {requested} requested without parameters" in notes


def test_php_observations_a_file_that_does_not_parse_fails():
    said = recorded("php-8.4.txt").replace(
        "@@lab-php file index.php\n",
        "@@lab-php file index.php\n"
        'PHP Parse error:  syntax error, unexpected token "}" in /srv/app/index.php on line 4\n'
        "Errors parsing /srv/app/index.php\n",
    )
    service = Service.model_validate({"image": "x", "app": {"path": "/srv/app", "language": "php"}})
    found, notes = php.observe(Replayed({"@@lab-php": said}), "app", "c-app", service, None, discover.Plan())
    by_id = {o.id: o for o in found}
    assert by_id["discover:app php -l index.php"].outcome == Outcome.FAILED
    assert by_id["discover:app php -l index.php"].message.startswith("PHP Parse error:  syntax error")
    assert by_id["discover:app php -l lib/cart.php"].outcome == Outcome.PASSED
    assert by_id["discover:app php-fpm -t"].outcome == Outcome.PASSED
    assert notes.startswith("PHP 8.4.") and notes.endswith(
        "2 file(s) linted, PHP-FPM's configuration tested; its routes were not requested: give the port"
        " (`app: {port: …}` or `expose`)"
    )


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_apache_test_and_modules_are_read_with_the_copys_address_masked(release):
    code, said, modules = servers.tested_and_modules(recorded(f"apache-{release}.txt"))
    assert code == 0 and said.endswith("Syntax OK")
    assert "using <address>. Set the 'ServerName' directive" in said  # the same words on every copy
    assert {"mpm_event_module", "rewrite_module"} & set(modules) == {"mpm_event_module"}


@pytest.mark.parametrize(("release", "django"), [("bookworm", "3.2"), ("trixie", "4.2")])
def test_a_django_projects_routes_are_its_url_patterns(release, django):
    found = python.parse(recorded(f"django-{release}.json"))
    assert found.distributions["django"].startswith(django) and found.django == ""  # it set up
    assert found.modules["shop.orders.views"] == ""  # its models and views import once it is set up
    assert found.routes["/api/orders/<slug:code>/track/"]["parameters"] == ["code"]
    assert python.gets(found) == ["/", "/api/orders/1/", "/healthz"]  # include()s followed, a regex route too


def test_a_django_project_that_does_not_set_up_fails():
    said = recorded("django-trixie.json").replace('"django": ""', '"django": "ImproperlyConfigured: SECRET_KEY"')
    service = Service.model_validate({"image": "x", "app": {"path": "/srv/dj", "language": "python"}})
    found, _ = python.observe(Replayed({"importlib": said}), "app", service, "c-app", None, discover.Plan())
    setup = next(o for o in found if o.id == "discover:app django setup")
    assert setup.outcome == Outcome.FAILED and setup.message == "ImproperlyConfigured: SECRET_KEY"


@pytest.mark.parametrize("version", [15, 17])
def test_plpgsql_check_checks_the_functions_that_take_parameters_where_the_database_has_it(version):
    found = postgresql.parse(recorded(f"postgresql-{version}-plpgsql-check.txt"))
    shop = next(db for db in found.databases if db.name == "shop")
    assert shop.tries["function public.order_total(n integer)"] == (True, "no issue")
    assert shop.tries["function public.unused_variable(n integer)"] == (True, 'warning: unused variable "spare"')
    since = shop.tries["function public.checkpoints_since(n bigint)"]
    assert since == (
        (True, "no issue") if version == 15 else (False, 'error: column "checkpoints_timed" does not exist')
    )
    assert not any(db.tried for db in found.databases if db.name != "shop")  # no plpgsql_check there: listed only
