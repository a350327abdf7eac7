"""The shop's nginx: its configuration, static files, and the site through it."""


def test_configuration_is_valid(host):
    result = host.run("nginx -t")
    assert result.rc == 0, result.stderr
    assert "[warn]" not in result.stderr


def test_static_files_are_served_with_caching(host):
    headers = host.run("curl -sS -D - -o /dev/null http://127.0.0.1/static/shop.css").stdout
    assert headers.startswith("HTTP/1.1 200")
    assert "Cache-Control: max-age=604800" in headers


def test_shop_pages_through_the_proxy(host):
    result = host.run("curl -sS --fail http://127.0.0.1/")
    assert result.rc == 0, result.stderr
    assert "120 products" in result.stdout
