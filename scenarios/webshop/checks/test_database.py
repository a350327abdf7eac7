"""The shop's database: the restored data, and the monitoring the operations team runs."""

import pytest


def psql(host, sql):
    return host.run("psql --no-psqlrc --tuples-only --no-align --username=postgres --dbname=shop --command=%s", sql)


def test_every_order_has_items(host):
    result = psql(host, "SELECT count(*) FROM orders o WHERE NOT EXISTS"
                        " (SELECT 1 FROM order_items i WHERE i.order_id = o.id)")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_revenue_report_of_2024(host):
    # The monthly report the shop owner gets by mail.
    result = psql(host, "SELECT to_char(sum(i.price * i.quantity), 'FM999999990.00') FROM orders o"
                        " JOIN order_items i ON i.order_id = o.id"
                        " WHERE o.status <> 'cancelled' AND o.placed BETWEEN '2024-01-01' AND '2024-12-31'")
    assert result.rc == 0, result.stderr
    assert float(result.stdout) > 0


@pytest.mark.parametrize("counter", ["checkpoints_timed", "checkpoints_req", "buffers_backend"])
def test_monitoring_reads_checkpoint_statistics(host, counter):
    # The hosting provider's munin plugin graphs these counters from pg_stat_bgwriter.
    result = psql(host, f"SELECT {counter} FROM pg_stat_bgwriter")
    assert result.rc == 0, result.stderr.strip()
