"""The probe's own HTTP and Redis clients (lab/checks/probe/http_probe.py), against servers on
this machine: keep-alive, pipelining and its fallbacks, chunked and closing responses, errors."""

from __future__ import annotations

import importlib.util
import json
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

PROBE_FILE = Path(__file__).resolve().parents[2] / "lab/checks/probe/http_probe.py"
spec = importlib.util.spec_from_file_location("http_probe", PROBE_FILE)
assert spec is not None and spec.loader is not None
http_probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(http_probe)


class Handler(BaseHTTPRequestHandler):
    connections: list[int] = []  # one entry per connection the server accepted

    def setup(self) -> None:
        super().setup()
        self.connections.append(1)

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Transfer-Encoding" not in (headers or {}) and status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")
        elif self.path == "/not-modified":
            self._answer(304, b"")
        elif self.path == "/close":
            self.close_connection = True
            self._answer(200, b"bye", {"Connection": "close"})
        elif self.path == "/binary":
            self._answer(200, b"\xff\xfe\x00")
        elif self.path == "/boom":
            self._answer(500, b"Internal Server Error")
        else:
            seen = {k.lower(): v for k, v in self.headers.items()}
            self._answer(200, json.dumps({"path": self.path, "host": seen["host"], "x": seen.get("x")}).encode())

    do_HEAD = do_GET

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(201, b"got " + body)


class Http11(Handler):
    protocol_version = "HTTP/1.1"


class Http10(Handler):
    protocol_version = "HTTP/1.0"


class Tired(Http11):
    """Closes every connection after two answers, without saying so."""

    def handle(self) -> None:
        for _ in range(2):
            self.handle_one_request()


def serving(server: socketserver.BaseServer) -> Iterator[int]:
    server.daemon_threads = True  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]  # type: ignore[misc]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http11() -> Iterator[int]:
    Http11.connections = []
    yield from serving(ThreadingHTTPServer(("127.0.0.1", 0), Http11))


@pytest.fixture
def http10() -> Iterator[int]:
    Http10.connections = []
    yield from serving(ThreadingHTTPServer(("127.0.0.1", 0), Http10))


@pytest.fixture
def probe() -> Iterator[Any]:
    probe = http_probe.Probe(pipelined=True)
    yield probe
    probe.close()


@pytest.fixture
def tired() -> Iterator[int]:
    Tired.connections = []
    yield from serving(ThreadingHTTPServer(("127.0.0.1", 0), Tired))


def get(port: int, path: str, method: str = "GET", **more: Any) -> dict[str, Any]:
    return {"type": "http", "host": "127.0.0.1", "port": port, "method": method, "path": path, "timeout": 5} | more


def test_pipelined_requests_share_one_connection_and_keep_their_order(probe, http11):
    answers = probe.answer([get(http11, f"/item/{n}", repeat=2) for n in range(50)])
    assert [json.loads(a["body"])["path"] for a in answers] == [f"/item/{n}" for n in range(50)]
    assert all(a["status"] == 200 and len(a["seconds"]) == 2 and not a["error"] for a in answers)
    assert len(Http11.connections) == 1
    assert json.loads(answers[0]["body"])["host"] == f"127.0.0.1:{http11}"


def test_chunked_head_304_binary_and_5xx_are_read_whole_and_the_connection_goes_on(probe, http11):
    chunked, head, not_modified, binary, boom, after = probe.answer(
        [
            get(http11, "/chunked"),
            get(http11, "/x", method="HEAD"),
            get(http11, "/not-modified"),
            get(http11, "/binary"),
            get(http11, "/boom"),
            get(http11, "/after"),
        ]
    )
    assert chunked["body"] == "hello world"
    assert head["status"] == 200 and head["body"] == "" and int(head["headers"]["content-length"]) > 0
    assert not_modified["status"] == 304
    assert binary["binary"] and binary["body"] == "//4A"
    assert boom["status"] == 500 and boom["body"] == "Internal Server Error"
    assert json.loads(after["body"])["path"] == "/after"
    assert len(Http11.connections) == 1


def test_a_server_that_closes_after_each_answer_gets_the_rest_one_by_one(probe, http10):
    answers = probe.answer([get(http10, f"/n/{n}") for n in range(6)] + [get(http10, "/close")])
    assert [a["status"] for a in answers] == [200] * 7
    assert [json.loads(a["body"])["path"] for a in answers[:6]] == [f"/n/{n}" for n in range(6)]
    assert answers[6]["body"] == "bye"
    assert ("http", "127.0.0.1", http10) in probe.one_by_one


def test_a_server_that_drops_kept_and_pipelined_connections_gets_every_request_again(probe, tired):
    first = probe.answer([get(tired, "/1"), get(tired, "/2")])
    later = probe.answer(
        [get(tired, f"/{n}", repeat=2) for n in range(3, 9)] + [get(tired, "/p", method="POST", body="")]
    )
    assert [a["status"] for a in first + later] == [200] * 8 + [201]
    assert [json.loads(a["body"])["path"] for a in later[:6]] == [f"/{n}" for n in range(3, 9)]
    assert all(len(a["seconds"]) == 2 for a in later[:6])


def test_posts_are_not_pipelined_and_get_their_bodies_headers_and_host(probe, http11):
    post, read = probe.answer(
        [
            get(http11, "/orders", method="POST", body="sku=1", headers=[["Content-Type", "text/plain"]]),
            get(http11, "/h", headers=[["X", "1"]], host_header="shop.example"),
        ]
    )
    assert (post["status"], post["body"]) == (201, "got sku=1")
    assert json.loads(read["body"]) == {"path": "/h", "host": "shop.example", "x": "1"}


def test_what_http_cannot_carry_is_that_requests_error_and_the_others_are_answered(probe, http11):
    bad_header, bad_path, good = probe.answer(
        [get(http11, "/a", headers=[["X", "1\r\nInjected: 1"]]), get(http11, "/a b"), get(http11, "/ok")]
    )
    assert "line break in the header" in bad_header["error"] and bad_header["status"] is None
    assert "control character or space" in bad_path["error"]
    assert good["status"] == 200


def test_nothing_listening_and_a_server_that_never_answers_are_errors_within_the_timeout(probe):
    silent = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    port = silent.server_address[1]
    with socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler) as closed:
        unused = closed.server_address[1]
    try:
        never, refused = probe.answer([get(port, "/", timeout=0.3), get(unused, "/")])
    finally:
        silent.server_close()
    assert never["error"] == "TimeoutError: timed out"
    assert "ConnectionRefusedError" in refused["error"]


class Resp(socketserver.StreamRequestHandler):
    """A Redis-speaking server of a few commands, with one dict per database."""

    data: dict[int, dict[str, str]] = {}

    def handle(self) -> None:
        db = 0
        while line := self.rfile.readline():
            args = []
            for _ in range(int(line[1:])):
                size = int(self.rfile.readline()[1:])
                args.append(self.rfile.read(size + 2)[:-2].decode())
            name = args[0].upper()
            store = self.data.setdefault(db, {})
            if name == "SELECT":
                db = int(args[1])
                reply = b"+OK\r\n" if db < 16 else b"-ERR DB index is out of range\r\n"
            elif name == "SET":
                store[args[1]] = args[2]
                reply = b"+OK\r\n"
            elif name == "GET":
                value = store.get(args[1])
                reply = b"$-1\r\n" if value is None else b"$%d\r\n%s\r\n" % (len(value), value.encode())
            elif name == "KEYS":
                reply = b"*%d\r\n" % len(store) + b"".join(b"$%d\r\n%s\r\n" % (len(k), k.encode()) for k in store)
            elif name == "INCR":
                store[args[1]] = str(int(store.get(args[1], "0")) + 1)
                reply = b":%s\r\n" % store[args[1]].encode()
            else:
                reply = b"-ERR unknown command '%s'\r\n" % args[0].encode()
            self.wfile.write(reply)


@pytest.fixture
def resp() -> Iterator[int]:
    Resp.data = {}
    yield from serving(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Resp))


def redis(port: int, *args: str, db: int = 0, **more: Any) -> dict[str, Any]:
    return {"type": "redis", "host": "127.0.0.1", "port": port, "db": db, "args": list(args), "timeout": 5} | more


def test_redis_commands_are_pipelined_in_order_per_database(probe, resp):
    answers = probe.answer(
        [
            redis(resp, "SET", "a", "1"),
            redis(resp, "INCR", "a", repeat=3),
            redis(resp, "GET", "a"),
            redis(resp, "SET", "b", "x", db=2),
            redis(resp, "KEYS", "*", db=2),
            redis(resp, "GET", "nothing"),
            redis(resp, "FLY"),
            redis(resp, "GET", "a", db=99),
        ]
    )
    assert [a["reply"] for a in answers[:6]] == ["OK", 2, "4", "OK", ["b"], None]
    assert len(answers[1]["seconds"]) == 3
    assert answers[6]["failed"] == "ERR unknown command 'FLY'"
    assert "SELECT 99: ERR DB index is out of range" in answers[7]["error"]


def test_serve_answers_a_line_per_request_and_one_request_from_the_environment(http11, resp):
    lines = [get(http11, "/one"), redis(resp, "SET", "k", "v"), redis(resp, "GET", "k"), get(http11, "/two")]
    served = subprocess.run(
        [sys.executable, str(PROBE_FILE), "--serve"],
        input="".join(json.dumps(line) + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    answers = [json.loads(line) for line in served.stdout.splitlines()]
    assert [json.loads(answers[0]["body"])["path"], answers[1]["reply"], answers[2]["reply"]] == ["/one", "OK", "v"]
    assert json.loads(answers[3]["body"])["path"] == "/two"
    single = subprocess.run(
        [sys.executable, str(PROBE_FILE)],
        env={"LAB_REQUEST": json.dumps(get(http11, "/single", repeat=3))},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    answer = json.loads(single.stdout)
    assert json.loads(answer["body"])["path"] == "/single" and len(answer["seconds"]) == 3


@pytest.fixture
def https(tmp_path) -> Iterator[int]:
    """The HTTP/1.1 test server behind TLS, with a self-signed certificate made here."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=shop.example.org",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        check=True,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), Http11)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    Http11.connections = []
    yield from serving(server)


def test_https_with_a_self_signed_certificate_is_accepted_and_said(probe, https):
    one, two = probe.answer([get(https, "/a", scheme="https"), get(https, "/b", scheme="https")])
    assert json.loads(one["body"])["path"] == "/a" and json.loads(two["body"])["path"] == "/b"
    assert one["tls"]["version"].startswith("TLSv1.")
    assert one["tls"]["certificate"].startswith("not trusted: self")  # "self-signed certificate"
    assert len(Http11.connections) == 1  # one kept (the trust question, on its own, ends at the handshake)


class H2Server:
    """A clear-text HTTP/2 server (h2c, prior knowledge) on a thread: each answer says how many
    body bytes its request carried; with `goaway`, the server ends each connection after
    one answer, as nginx does after its keepalive_requests."""

    def __init__(self, goaway: bool = False):
        import h2.config
        import h2.connection
        import h2.events

        self.h2, self.goaway, self.connections, self.pushes = h2, goaway, 0, []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        h2 = self.h2
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
            conn.initiate_connection()
            client.sendall(conn.data_to_send())
            received: dict[int, int] = {}
            with client:
                client.settimeout(10)
                said_goodbye = False
                while data := client.recv(1 << 16):
                    if said_goodbye:  # what the client still sends, until it closes its side
                        continue
                    for event in conn.receive_data(data):
                        if isinstance(event, h2.events.RemoteSettingsChanged):
                            self.pushes += [s.new_value for k, s in event.changed_settings.items() if k == 2]
                        elif isinstance(event, h2.events.DataReceived):
                            received[event.stream_id] = received.get(event.stream_id, 0) + len(event.data)
                            conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                        elif isinstance(event, h2.events.StreamEnded):
                            said = json.dumps({"bytes": received.get(event.stream_id, 0)}).encode()
                            headers = [(":status", "200"), ("content-type", "application/json")]
                            conn.send_headers(event.stream_id, headers)
                            conn.send_data(event.stream_id, said, end_stream=True)
                            if self.goaway:
                                conn.close_connection()
                                said_goodbye = True
                    client.sendall(conn.data_to_send())
                    if said_goodbye:
                        client.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def h2c() -> Iterator[H2Server]:
    server = H2Server()
    yield server
    server.close()


def test_http2_sends_large_bodies_within_the_servers_frames_and_window(h2c):
    answer = http_probe.http2_answer(get(h2c.port, "/", "POST", body="x" * 200_000, repeat=2))
    assert answer["error"] is None and answer["protocol"] == "HTTP/2"
    assert answer["status"] == 200 and json.loads(answer["body"]) == {"bytes": 200_000}
    assert len(answer["seconds"]) == 2 and h2c.connections == 1  # one connection, a stream each
    assert h2c.pushes == [0]  # the probe refuses server pushes


def test_http2_takes_an_answer_that_ends_its_connection_and_goes_on_on_a_new_one():
    server = H2Server(goaway=True)
    try:
        answer = http_probe.http2_answer(get(server.port, "/", repeat=3))
        assert answer["error"] is None and answer["status"] == 200 and len(answer["seconds"]) == 3
        assert server.connections == 3
    finally:
        server.close()


def test_http2_to_a_server_that_only_speaks_http11_is_that_requests_error(http11):
    answer = http_probe.http2_answer(get(http11, "/"))
    assert answer["status"] is None and answer["error"], answer
