"""The shop as its customers, its mobile app and its accounting export use it."""

import json

BASE = "http://127.0.0.1:8000"


def curl(host, *args):
    result = host.run("curl -sS " + " ".join(["%s"] * len(args)), *args)
    assert result.rc == 0, result.stderr
    return result.stdout


def a_session(lab):
    return lab.host("cache").run("redis-cli --scan --pattern 'session:*'").stdout.split()[0][8:]


def test_home_page(host):
    assert "Linen &amp; Oak" in curl(host, BASE + "/")


def test_product_page(host):
    assert "SKU-00007" in curl(host, BASE + "/products/7")


def test_order_api_for_the_accounting_export(host):
    order = json.loads(curl(host, BASE + "/api/orders/42"))
    assert len(order["placed"]) == 10 and order["placed"][4] == "-"  # YYYY-MM-DD
    assert order["total"].count(".") == 1 and len(order["total"].split(".")[1]) == 2


def test_logged_in_customer_keeps_the_session(host, lab):
    me = json.loads(curl(host, "--cookie", f"sid={a_session(lab)}", BASE + "/api/session"))
    assert 1 <= me["customer_id"] <= 600


def test_add_to_cart_from_the_product_page_form(host, lab):
    out = curl(host, "--cookie", f"sid={a_session(lab)}", "--data", "product=7&quantity=2",
               "--write-out", "\\n%{http_code}", BASE + "/api/cart")
    assert out.splitlines()[-1] == "200", out


def test_add_to_cart_from_the_mobile_app(host, lab):
    out = curl(host, "--cookie", f"sid={a_session(lab)}", "--header", "Content-Type: application/json",
               "--data", '{"product": 9}', "--write-out", "\\n%{http_code}", BASE + "/api/cart")
    assert out.splitlines()[-1] == "200", out


def test_product_image_upload(host):
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    out = host.run("echo %s | base64 -d | curl -sS --data-binary @- --write-out '\\n%%{http_code}' %s",
                   png, BASE + "/admin/products/7/image").stdout
    assert out.splitlines()[-1] == "200", out
