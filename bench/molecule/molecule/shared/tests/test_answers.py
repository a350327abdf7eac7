"""molbench: the demo's declarative checks (scenario.yml `sql`, `http`, `command`) as plain
testinfra tests, so that Molecule runs the same commands as the lab and bench/floor.sh:
each answer is fetched (the baseline's twice, MOLBENCH_PASSES), and it must come back.
Molecule has no baseline-to-candidate comparison, so the answers are not compared here.
"""

import os

import pytest

PASSES = int(os.environ.get("MOLBENCH_PASSES", "1"))
PSQL = "psql --no-psqlrc --tuples-only --no-align --username=postgres --dbname=invoices --command=%s"
TOTALS_BY_CITY = ("SELECT c.city, count(*) AS invoices, sum(i.amount) AS total"
                  " FROM invoices i JOIN customers c ON c.id = i.customer_id GROUP BY c.city")
GET = "curl --silent --show-error --fail http://127.0.0.1:8000%s"


def ok(result):
    assert result.rc == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("observation", range(1, PASSES + 1))
def test_database_answers(lab, observation):
    db = lab.host("db")
    for _ in range(5):  # totals by city, repeat: 5
        ok(db.run(PSQL, TOTALS_BY_CITY))
    ok(db.run(PSQL, "SELECT now() AS checked_at, count(*) AS open FROM invoices WHERE NOT paid"))
    ok(db.run("pg_dump --schema-only --no-owner invoices"))


@pytest.mark.parametrize("observation", range(1, PASSES + 1))
def test_application_answers(lab, observation):
    app = lab.host("app")
    for _ in range(5):  # invoice 1 for the accounting export, repeat: 5
        ok(app.run(GET, "/api/invoices/1"))
    ok(app.run(GET, "/api/status"))
