def test_greeting(host):
    assert host.run("printenv GREETING").stdout.strip() == "hello"


def test_shell(host):
    assert host.run("true").rc == 0


def test_records_the_greeting(host, record):
    record("greeting", {"text": host.run("printenv GREETING").stdout.strip()})
    record("constant", 42)
