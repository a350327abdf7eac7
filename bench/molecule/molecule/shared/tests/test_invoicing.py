"""The invoicing application as its users and the accounting export see it."""

import json

# molbench: copied unchanged from scenarios/demo/checks/test_invoicing.py; only these lines are added,
# aiming the file at the `app` platform of the copy (scenario.yml: hosts: [app]).
testinfra_hosts = ["ansible://app"]


def get(host, path):
    result = host.run("curl --silent --show-error --fail http://127.0.0.1:8000%s", path)
    assert result.rc == 0, result.stderr
    return result.stdout


def test_gunicorn_serves_the_app(host):
    assert "open invoices" in get(host, "/")


def test_app_reaches_the_database_by_name(host):
    assert get(host, "/healthz").strip() == "ok"


def test_invoice_list_is_complete(host):
    invoices = json.loads(get(host, "/api/invoices"))
    assert len(invoices) == 42


def test_export_dates_are_iso_8601(host):
    # The accounting export parses `issued` as YYYY-MM-DD.
    invoice = json.loads(get(host, "/api/invoices/1"))
    assert invoice["issued"] == "2026-01-08"


def test_export_amounts_have_two_decimals(host):
    invoice = json.loads(get(host, "/api/invoices/1"))
    assert invoice["amount"] == "117.50"


def test_database_runs_as_its_own_user(lab):
    # Any service of the copy can be reached by name.
    db = lab.host("db")
    assert db.user().name == "postgres"
