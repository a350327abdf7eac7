"""The database as the firm's operations use it: the data is there, and the nightly
monitoring (a check_postgres-style query) can read the checkpoint statistics."""

import pytest

# molbench: copied unchanged from scenarios/demo/checks/test_database.py; only these lines are added,
# aiming the file at the `db` platform of the copy (scenario.yml: hosts: [db]).
testinfra_hosts = ["ansible://db"]


def psql(host, sql, database="invoices"):
    return host.run("psql --no-psqlrc --tuples-only --no-align --username=postgres --dbname=%s --command=%s",
                    database, sql)


def test_postgres_answers(host):
    assert host.run("pg_isready --host=127.0.0.1 --quiet").rc == 0


def test_invoice_data_is_complete(host):
    result = psql(host, "SELECT count(*), sum(amount) FROM invoices")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "42|20592.00"


def test_every_invoice_has_its_customer(host):
    result = psql(host, "SELECT count(*) FROM invoices i LEFT JOIN customers c ON c.id = i.customer_id"
                        " WHERE c.id IS NULL")
    assert result.stdout.strip() == "0"


@pytest.mark.parametrize("counter", ["checkpoints_timed", "checkpoints_req", "buffers_backend"])
def test_monitoring_reads_checkpoint_statistics(host, counter):
    # The firm's nightly monitoring graphs these counters from pg_stat_bgwriter.
    result = psql(host, f"SELECT {counter} FROM pg_stat_bgwriter")
    assert result.rc == 0, result.stderr.strip()
    assert result.stdout.strip().isdigit()
