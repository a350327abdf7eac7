def test_debian(host):
    assert host.file("/etc/debian_version").exists


def test_greeting(host):
    assert host.run("printenv GREETING").stdout.strip() == "hello"


def test_db_is_reachable_by_name(lab):
    assert lab.host("db").file("/tmp/ready").exists
