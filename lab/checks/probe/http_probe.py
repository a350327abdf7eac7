#!/usr/bin/env python3
"""The lab's probe, run inside a copy's network.

One request: `http-probe` sends the request in the LAB_REQUEST environment variable
({"host", "port", "method", "path", "headers", "body", "repeat", "timeout"}) `repeat`
times and prints what came back as JSON: the first response whole, every response timed.

Many requests: `http-probe --serve` reads one JSON request per line on stdin and answers
each with one JSON line, keeping its connections open between requests (a replay of the
client's traffic sends thousands through one process):
  {"type": "http", "host", "port", "method", "path", "host_header", "headers": [[k, v]],
   "body", "binary", "repeat", "timeout"}
  {"type": "redis", "host", "port", "db", "args": [...], "repeat", "timeout"}
Request bodies and Redis arguments marked binary are bytes as latin-1 text.
"""

import base64
import http.client
import json
import os
import socket
import sys
import time


def answer_http(req, connections=None):
    out = {"status": None, "headers": {}, "body": "", "binary": False, "seconds": [], "error": None}
    body = req.get("body")
    if body is not None:
        body = body.encode("latin-1" if req.get("binary") else "utf-8")
    headers = req.get("headers") or {}
    pairs = list(headers.items()) if isinstance(headers, dict) else [tuple(h) for h in headers]
    for attempt in range(req.get("repeat", 1)):
        start = time.perf_counter()
        try:
            resp, data = _exchange(req, pairs, body, connections)
        except (OSError, http.client.HTTPException) as err:
            out["error"] = f"{type(err).__name__}: {err}"
            break
        out["seconds"].append(time.perf_counter() - start)
        if attempt == 0:
            out["status"] = resp.status
            out["headers"] = {k.lower(): v for k, v in resp.getheaders()}
            try:
                out["body"] = data.decode("utf-8")
            except UnicodeDecodeError:
                out["body"] = base64.b64encode(data).decode()
                out["binary"] = True
    return out


def _exchange(req, pairs, body, connections):
    """One request and its response; a kept connection the server closed meanwhile is
    opened again once."""
    key = (req["host"], req["port"])
    for retry in (False, True):
        conn = connections.get(key) if connections is not None else None
        fresh = conn is None
        if fresh:
            conn = http.client.HTTPConnection(req["host"], req["port"], timeout=req["timeout"])
        try:
            conn.putrequest(req["method"], req["path"], skip_host=True, skip_accept_encoding=True)
            default_host = req["host"] if req["port"] == 80 else f"{req['host']}:{req['port']}"
            conn.putheader("Host", req.get("host_header") or default_host)
            for name, value in pairs:
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
        except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
            conn.close()
            if connections is not None:
                connections.pop(key, None)
            if fresh or retry:
                raise
            continue
        if connections is None or resp.will_close:
            conn.close()
            if connections is not None:
                connections.pop(key, None)
        else:
            connections[key] = conn
        return resp, data
    raise OSError("unreachable")


class Redis:
    """A plain RESP2 connection to one database of a Redis server."""

    def __init__(self, host, port, db, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        if db:
            reply = self.call(["SELECT", str(db)])
            if isinstance(reply, RedisError):
                raise OSError(f"SELECT {db}: {reply}")

    def call(self, args):
        data = b"*%d\r\n" % len(args)
        for arg in args:
            raw = arg.encode("latin-1")
            data += b"$%d\r\n%s\r\n" % (len(raw), raw)
        self.sock.sendall(data)
        return self.read()

    def read(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode("utf-8", "backslashreplace")
        if kind == b"-":
            return RedisError(rest.decode("utf-8", "backslashreplace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self.file.read(size + 2)[:-2]
            return data.decode("utf-8", "backslashreplace")
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self.read() for _ in range(size)]
        raise ConnectionError(f"not a RESP reply: {line[:40]!r}")


class RedisError(str):
    pass


def answer_redis(req, connections):
    out = {"reply": None, "error": None, "failed": None, "seconds": []}
    key = ("redis", req["host"], req["port"], req["db"])
    for attempt in range(req.get("repeat", 1)):
        start = time.perf_counter()
        try:
            if key not in connections:
                connections[key] = Redis(req["host"], req["port"], req["db"], req["timeout"])
            reply = connections[key].call(req["args"])
        except (OSError, ValueError) as err:
            connections.pop(key, None)
            out["error"] = f"{type(err).__name__}: {err}"
            break
        out["seconds"].append(time.perf_counter() - start)
        if attempt == 0:
            if isinstance(reply, RedisError):
                out["failed"] = str(reply)
            else:
                out["reply"] = reply
    return out


def serve():
    """Answer requests line by line; answers are written when no further request is already
    waiting (a batch of requests gets its answers in one write)."""
    connections = {}
    pending = b""
    answers = []
    while True:
        line, found, rest = pending.partition(b"\n")
        if not found:
            if answers:
                sys.stdout.buffer.write("".join(answers).encode())
                sys.stdout.buffer.flush()
                answers = []
            chunk = os.read(0, 1 << 16)
            if not chunk:
                return
            pending += chunk
            continue
        pending = rest
        if not line.strip():
            continue
        req = json.loads(line)
        out = answer_redis(req, connections) if req.get("type") == "redis" else answer_http(req, connections)
        answers.append(json.dumps(out) + "\n")


def main():
    if sys.argv[1:] == ["--serve"]:
        serve()
        return
    print(json.dumps(answer_http(json.loads(os.environ["LAB_REQUEST"]))))


if __name__ == "__main__":
    main()
