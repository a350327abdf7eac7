def test_token_is_set(host):
    assert host.run("printenv API_TOKEN").stdout.strip() != ""


def test_token_is_the_old_one(host, record):
    token = host.run("printenv API_TOKEN").stdout.strip()
    record("token", token)
    assert token == "the-old-token"
