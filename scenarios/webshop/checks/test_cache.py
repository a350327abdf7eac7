"""The shop's Redis: the restored sessions, and its settings."""


def test_sessions_are_restored(host):
    assert host.run("redis-cli DBSIZE").stdout.strip() == "300"


def test_eviction_policy(host):
    assert host.run("redis-cli CONFIG GET maxmemory-policy").stdout.split() == ["maxmemory-policy", "allkeys-lru"]


def test_session_layout(host):
    key = host.run("redis-cli --scan --pattern 'session:*'").stdout.split()[0]
    fields = sorted(host.run("redis-cli HKEYS %s", key).stdout.split())
    assert fields == ["cart", "csrf", "customer_id"]
