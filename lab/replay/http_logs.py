"""HTTP traffic out of an access log (nginx's and Apache's `combined`, `common` and
`vhost_combined`: GET and HEAD only, the log has no bodies) or a HAR 1.2 file (any method,
with its headers, cookies and body)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from lab.replay import reading
from lab.replay.entries import Entry, Malformed, Skip

ACCESS_RE = re.compile(
    r"^(?:(?P<vhost>[^\s:]+)(?::(?P<vport>\d+))? )??"
    r"(?P<addr>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<size>\d+|-)'
    r'(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)")?'
)
REQUEST_RE = re.compile(r"^(?P<method>[A-Z]+) (?P<target>\S+)(?: HTTP/\d(?:\.\d)?)?$")
BODYLESS = ("GET", "HEAD")
# Not sent again as logged: the lab's own connection decides these (and Accept-Encoding,
# so that answers compare as text, not as one server's gzip bytes).
HOP_BY_HOP = {
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "accept-encoding",
}


def access_log(lines: Iterable[tuple[int, str]]) -> Iterator[Entry | Malformed | Skip]:
    """Requests of an access log, one per line.

    >>> line = '10.0.0.7 - - [03/Dec/2026:14:05:01 +0000] "GET /api/orders/42 HTTP/1.1" 200 81 "-" "curl/8"'
    >>> next(access_log([(1, line)])).request["url"]
    '/api/orders/42'
    """
    for number, text in lines:
        if isinstance(text, reading.Unreadable):
            yield Malformed(number, text)
            continue
        if not text.strip():
            continue
        found = ACCESS_RE.match(text)
        if not found:
            yield Malformed(number, "not an access log line (combined, common or vhost_combined)")
            continue
        request = REQUEST_RE.match(found.group("request").replace('\\"', '"'))
        if not request:
            yield Skip("not an HTTP request (a scanner's or TLS client's bytes)")
            continue
        method, target = request.group("method"), request.group("target")
        if method not in BODYLESS:
            yield Skip(f"{method}: an access log has no request bodies (a HAR file has)")
            continue
        if not target.startswith("/"):
            yield Skip("a proxy request (absolute URL or CONNECT)")
            continue
        yield Entry(
            "http",
            number,
            {
                "method": method,
                "url": target,
                "host": found.group("vhost") or "",
                "headers": [],
                "body": None,
                "binary": False,
            },
            session=found.group("addr"),
        )


def har(path: Path) -> Iterator[Entry | Malformed | Skip]:
    """Requests of a HAR 1.2 file, in the order they were made; the "line" of an entry is
    its index in log.entries (numbered from 1)."""
    try:
        with reading.text(path) as f:
            document = json.load(f)
        entries = document["log"]["entries"]
        assert isinstance(entries, list)
    except (ValueError, KeyError, TypeError, AssertionError, EOFError, OSError) as err:
        yield Malformed(1, f"not a HAR 1.2 file (log.entries): {err}")
        return
    ordered = sorted(enumerate(entries, 1), key=lambda e: str(e[1].get("startedDateTime", "")))
    for number, item in ordered:
        try:
            yield _har_entry(number, item["request"])
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            yield Malformed(number, f"entries[{number - 1}]: not a HAR request ({type(err).__name__}: {err})")


def _har_entry(number: int, request: dict[str, Any]) -> Entry | Skip:
    url = urlsplit(request["url"])
    if url.scheme not in ("http", "https"):
        return Skip(f"a {url.scheme or 'relative'} URL")
    headers = [[str(h["name"]), str(h["value"])] for h in request.get("headers", [])]
    headers = [h for h in headers if not h[0].startswith(":") and h[0].lower() not in HOP_BY_HOP]
    if request.get("cookies") and not any(h[0].lower() == "cookie" for h in headers):
        headers.append(["Cookie", "; ".join(f"{c['name']}={c['value']}" for c in request["cookies"])])
    body: str | None = None
    binary = False
    post = request.get("postData")
    if post:
        if post.get("text") is not None:
            text = str(post["text"])
            # binary bodies (uploads) travel base64-encoded, as latin-1 text: byte for byte
            binary = post.get("encoding") == "base64"
            body = base64.b64decode(text).decode("latin-1") if binary else text
        elif post.get("params"):
            body = urlencode([(p["name"], p.get("value", "")) for p in post["params"]])
        if post.get("mimeType") and not any(h[0].lower() == "content-type" for h in headers):
            headers.append(["Content-Type", str(post["mimeType"])])
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    return Entry(
        "http",
        number,
        {
            "method": str(request["method"]).upper(),
            "url": target,
            "host": url.netloc,
            "headers": headers,
            "body": body,
            "binary": binary,
        },
    )
