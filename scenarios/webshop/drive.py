"""The shop's traffic, deterministically: run inside the shop's network by record.py.

    python3 drive.py customers          customers browsing, the accounting export
    python3 drive.py admin <sid>        the shop owner's session, printed as a HAR 1.2 file

Every request goes through nginx (`proxy`) with the shop's virtual host, as in production.
"""

import base64
import datetime
import http.client
import json
import random
import sys
import time

PROXY, VHOST = "proxy", "shop.example.org"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def send(method, path, headers=(), body=None):
    conn = http.client.HTTPConnection(PROXY, 80, timeout=30)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    sent = [("Host", VHOST), ("User-Agent", AGENT), *headers]
    if body is not None:
        sent.append(("Content-Length", str(len(body))))
    for name, value in sent:
        conn.putheader(name, value)
    started = time.time()
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return sent, resp, data, time.time() - started


def customers():
    rng = random.Random(20261204)
    for _ in range(400):
        roll = rng.random()
        if roll < 0.25:
            path = "/"
        elif roll < 0.60:
            path = f"/products/{rng.randrange(1, 126)}"  # a few ids past the catalogue: 404
        elif roll < 0.85:
            path = f"/api/orders/{rng.randrange(1, 2501)}"  # the accounting export
        else:
            path = "/static/shop.css"
        send("GET", path, [("Accept", "*/*")])


def admin(sid):
    """The owner's session as the browser's network panel exports it."""
    cookie = ("Cookie", f"sid={sid}")
    requests = [
        ("GET", "/", [cookie], None),
        ("GET", "/api/session", [cookie, ("Accept", "application/json")], None),
        ("GET", "/products/7", [cookie], None),
        ("POST", "/api/cart", [cookie, ("Content-Type", "application/x-www-form-urlencoded")], b"product=7&quantity=2"),
        ("POST", "/api/cart", [cookie, ("Content-Type", "application/json")], b'{"product": 9}'),
        ("GET", "/api/orders/42", [cookie, ("Accept", "application/json")], None),
        ("POST", "/admin/products/7/image", [cookie, ("Content-Type", "image/png")], base64.b64decode(PNG)),
        ("GET", "/api/session", [cookie, ("Accept", "application/json")], None),
    ]
    entries = []
    for method, path, headers, body in requests:
        started = datetime.datetime.now(datetime.timezone.utc)
        sent, resp, data, seconds = send(method, path, headers, body)
        request = {
            "method": method,
            "url": f"http://{VHOST}{path}",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": k, "value": v} for k, v in sent],
            "queryString": [],
            "cookies": [{"name": "sid", "value": sid}],
            "headersSize": -1,
            "bodySize": len(body) if body is not None else 0,
        }
        if body is not None:
            mime = dict(headers)["Content-Type"]
            binary = mime.startswith("image/")
            text = base64.b64encode(body).decode() if binary else body.decode()
            request["postData"] = {"mimeType": mime, "text": text, **({"encoding": "base64"} if binary else {})}
        entries.append(
            {
                "startedDateTime": started.isoformat(timespec="milliseconds"),
                "time": round(seconds * 1000, 3),
                "request": request,
                "response": {
                    "status": resp.status,
                    "statusText": resp.reason,
                    "httpVersion": "HTTP/1.1",
                    "headers": [{"name": k, "value": v} for k, v in resp.getheaders()],
                    "cookies": [],
                    "content": {"size": len(data), "mimeType": resp.getheader("Content-Type", ""), "text": data.decode()},
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": len(data),
                },
                "cache": {},
                "timings": {"send": 0, "wait": round(seconds * 1000, 3), "receive": 0},
            }
        )
    har = {"log": {"version": "1.2", "creator": {"name": "Firefox", "version": "128.0"}, "pages": [], "entries": entries}}
    print(json.dumps(har, indent=2))


if __name__ == "__main__":
    if sys.argv[1] == "customers":
        customers()
    else:
        admin(sys.argv[2])
