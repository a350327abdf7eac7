def test_greeting(host):
    assert host.run("printenv GREETING").stdout.strip() == "hello"


def test_shell(host):
    assert host.run("true").rc == 0
