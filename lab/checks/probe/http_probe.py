#!/usr/bin/env python3
"""The lab's probe, run inside a copy's network.

One request: `http-probe` sends the request in the LAB_REQUEST environment variable
({"host", "port", "scheme", "method", "path", "headers", "body", "repeat", "timeout"}) `repeat`
times, one after another, and prints what came back as JSON: the first response whole,
every response timed.

Many requests: `http-probe --serve` reads one JSON request per line on stdin and answers
each with one JSON line, keeping its connections open between requests (a replay of the
client's traffic sends thousands through one process):
  {"type": "http", "host", "port", "scheme", "method", "path", "host_header", "headers": [[k, v]],
   "body", "binary", "repeat", "timeout"}
With "scheme": "https" the server's certificate is accepted whatever it is, and the answer
says which TLS version was spoken and whether the certificate would be trusted. With
"http2": true the request goes as HTTP/2 (over TLS as ALPN "h2", or in clear text with
prior knowledge, h2c), one stream after another on one connection, and the answer says
"protocol": "HTTP/2"; a server that does not speak it is that request's error.
  {"type": "redis", "host", "port", "db", "args": [...], "repeat", "timeout"}
Request bodies and Redis arguments marked binary are bytes as latin-1 text.

Requests that arrive together are pipelined where that cannot change an answer: a run of
consecutive Redis commands to one database, and a run of consecutive GET/HEAD/OPTIONS
requests to one server, are written at once and their answers read in order; anything else
(a POST, a request to another server) waits until every earlier answer is in. Each
answer's time runs from when it was sent or from the answer before it, whichever came
later: the server's own time when requests queue. A server that closes its connection
after a response gets the rest one by one, each on a connection of its own if need be.
"""

import base64
import json
import os
import re
import socket
import ssl
import sys
import time

SAFE = {"GET", "HEAD", "OPTIONS"}  # may be sent before the answer before them, and sent again
NOT_IN_TARGET = re.compile(r"[\x00-\x20\x7f]")
NOT_IN_HEADER = re.compile(r"[\r\n\x00]")
LONGEST_LINE = 1 << 16
PIPELINED = 16 << 10  # bytes of requests written at once, so that the server never waits for its answers to be read


def _certificate(sock, host):
    """What a TLS server's certificate is, in words: trusted by the system's authorities for
    this name, or not (self-signed or another name), with why."""
    der = sock.getpeercert(binary_form=True)
    if der is None:
        return "none"
    try:
        context = ssl.create_default_context()
        with socket.create_connection(sock.getpeername()[:2], timeout=sock.gettimeout()) as raw:
            with context.wrap_socket(raw, server_hostname=host):
                return "trusted"
    except ssl.SSLCertVerificationError as err:
        return f"not trusted: {err.verify_message}"
    except (OSError, ssl.SSLError) as err:
        return f"not checked: {err}"


class Connection:
    """A TCP connection and what it has received and not yet read."""

    def __init__(self, host, port, timeout, tls=False, alpn=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.tls = None
        if tls:  # the copy's certificate is whatever the client's is: accepted, and said what it is
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            if alpn:
                context.set_alpn_protocols(alpn)
            self.sock = context.wrap_socket(self.sock, server_hostname=host)
            self.tls = {"version": self.sock.version(), "certificate": _certificate(self.sock, host)}
        self.buffer = bytearray()
        self.answered = 0  # answers read: a connection that has answered may have been closed since

    def close(self):
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def line(self):
        """The next line, without its CRLF."""
        start = 0
        while True:
            end = self.buffer.find(b"\r\n", start)
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 2]
                return line
            if len(self.buffer) > LONGEST_LINE:
                raise ValueError(f"a line of more than {LONGEST_LINE} bytes")
            start = max(0, len(self.buffer) - 1)
            self._fill()

    def exactly(self, size):
        while len(self.buffer) < size:
            self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def rest(self):
        """Everything until the server closes the connection."""
        while True:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                data = bytes(self.buffer)
                self.buffer.clear()
                return data
            self.buffer += chunk


# http ---------------------------------------------------------------------------------
def request_parts(req):
    """(host, header pairs, body bytes or None) of a request; ValueError for what HTTP
    cannot carry (a control character in the target or a header)."""
    body = req.get("body")
    if body is not None:
        body = body.encode("latin-1" if req.get("binary") else "utf-8")
    headers = req.get("headers") or {}
    pairs = list(headers.items()) if isinstance(headers, dict) else [tuple(h) for h in headers]
    host = req.get("host_header") or (req["host"] if req["port"] == 80 else f"{req['host']}:{req['port']}")
    if NOT_IN_TARGET.search(req["method"] + req["path"]):
        raise ValueError(f"a control character or space in {req['method']} {req['path']!r}")
    for name, value in [("Host", host), *pairs]:
        if NOT_IN_HEADER.search(f"{name}: {value}"):
            raise ValueError(f"a line break in the header {f'{name}: {value}'[:60]!r}")
    return host, pairs, body


def http_request(req):
    """The request as HTTP/1.1 bytes."""
    host, pairs, body = request_parts(req)
    lines = [f"{req['method']} {req['path']} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in pairs]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def http2_answer(req):
    """An HTTP/2 request sent `repeat` times, one stream after another on one connection (a
    new one when the server ended it, as nginx does after so many requests). Bodies go in
    frames the server's settings and flow-control window allow; pushes are refused."""
    out = _empty(req)
    out["protocol"] = "HTTP/2"
    try:
        host, pairs, body = request_parts(req)
    except ValueError as err:
        out["error"] = f"ValueError: {err}"
        return out
    session = None
    try:
        for _ in range(req.get("repeat", 1)):
            if session is None or session.ended:
                if session is not None:
                    session.close()
                session = Http2Session(req)
            status, headers, data, seconds = session.exchange(req, host, pairs, body)
            record_http(out, (status, headers, data, False), seconds, session.conn.tls)
    except (OSError, ValueError, Http2Error) as err:
        out["error"] = f"{type(err).__name__}: {err}"
    finally:
        if session is not None:
            session.close()
    return out


class Http2Error(Exception):
    pass


class Http2Session:
    """One HTTP/2 connection (Debian's python3-h2, in the probe's image)."""

    def __init__(self, req):
        import h2.config
        import h2.connection
        import h2.settings

        self.tls = req.get("scheme") == "https"
        self.conn = Connection(req["host"], req["port"], req["timeout"], self.tls, alpn=["h2"])
        if self.tls and self.conn.sock.selected_alpn_protocol() != "h2":
            said = self.conn.sock.selected_alpn_protocol() or "none"
            self.conn.close()
            raise ValueError(f"the server does not speak HTTP/2 (ALPN: {said})")
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.h2.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.ENABLE_PUSH: 0}
        )
        self.h2.initiate_connection()
        self.conn.sock.sendall(self.h2.data_to_send())
        self.ended = False  # the server ended the connection (GOAWAY): the next stream needs a new one

    def close(self):
        self.conn.close()

    def exchange(self, req, host, pairs, body):
        """(status, headers, body, seconds) of one request on a new stream."""
        stream = self.h2.get_next_available_stream_id()
        fields = [(":method", req["method"]), (":path", req["path"]), (":scheme", "https" if self.tls else "http")]
        fields += [(":authority", host)] + [(k.lower(), v) for k, v in pairs]
        self.h2.send_headers(stream, fields, end_stream=body is None)
        self.conn.sock.sendall(self.h2.data_to_send())
        sent = time.perf_counter()
        answer = {"status": None, "headers": {}, "data": bytearray(), "done": False}
        offset = 0
        while body is not None and not answer["done"]:
            size = min(len(body) - offset, self.h2.local_flow_control_window(stream), self.h2.max_outbound_frame_size)
            if size > 0 or offset == len(body):
                last = offset + size == len(body)
                self.h2.send_data(stream, body[offset : offset + size], end_stream=last)
                self.conn.sock.sendall(self.h2.data_to_send())
                offset += size
                if last:
                    break
            else:  # the window is full: read until the server opens it (or answers already)
                self._read(stream, answer)
        while not answer["done"]:
            self._read(stream, answer)
        return answer["status"], answer["headers"], bytes(answer["data"]), time.perf_counter() - sent

    def _read(self, stream, answer):
        import h2.events
        import h2.exceptions

        chunk = self.conn.sock.recv(1 << 16)
        if not chunk:
            self.ended = True
            raise ConnectionError("the server closed the connection before it answered")
        try:
            events = self.h2.receive_data(chunk)
        except h2.exceptions.ProtocolError as err:
            raise Http2Error(str(err)) from None
        for event in events:
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                found = dict(event.headers)
                answer["status"] = int(found.pop(":status"))
                answer["headers"] = {k.lower(): v for k, v in found.items()}
            elif isinstance(event, h2.events.DataReceived):
                if event.stream_id == stream:
                    answer["data"] += event.data
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                answer["done"] = True
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
                raise Http2Error(f"the server reset the stream (HTTP/2 error {event.error_code})")
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.ended = True
                if not answer["done"] and (event.last_stream_id is None or event.last_stream_id < stream):
                    raise Http2Error(f"the server ended the connection (HTTP/2 error {event.error_code})")
        try:
            self.conn.sock.sendall(self.h2.data_to_send())
        except OSError:
            if not self.ended:  # a server that said goodbye may have closed already: nothing is lost
                raise


def http_response(conn, method):
    """(status, headers, body, whether the server closes the connection after it)."""
    while True:
        status_line = conn.line()
        version, _, rest = status_line.partition(b" ")
        if not version.startswith(b"HTTP/") or not rest[:3].isdigit():
            raise ValueError(f"not an HTTP response: {status_line[:60]!r}")
        status = int(rest[:3])
        headers = {}
        while line := conn.line():
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        if not 100 <= status < 200 or status == 101:
            break  # an interim answer (100 Continue) is followed by the real one
    connection = headers.get("connection", "").lower()
    close = connection == "close" or (version == b"HTTP/1.0" and connection != "keep-alive")
    if method == "HEAD" or status in (101, 204, 304):
        body = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while size := int(conn.line().split(b";")[0], 16):
            parts.append(conn.exactly(size))
            conn.exactly(2)
        while conn.line():  # trailers
            pass
        body = b"".join(parts)
    elif "content-length" in headers:
        body = conn.exactly(int(headers["content-length"]))
    else:
        body, close = conn.rest(), True
    conn.answered += 1
    return status, headers, body, close


def record_http(out, response, seconds, tls=None):
    status, headers, body, _ = response
    out["seconds"].append(seconds)
    if len(out["seconds"]) == 1:
        if tls is not None:
            out["tls"] = tls
        out["status"] = status
        out["headers"] = headers
        try:
            out["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            out["body"] = base64.b64encode(body).decode()
            out["binary"] = True


# redis --------------------------------------------------------------------------------
class RedisError(str):
    pass


def redis_command(args):
    data = b"*%d\r\n" % len(args)
    for arg in args:
        raw = arg.encode("latin-1")
        data += b"$%d\r\n%s\r\n" % (len(raw), raw)
    return data


def redis_reply(conn):
    line = conn.line()
    kind, rest = line[:1], line[1:]
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
        return conn.exactly(size + 2)[:-2].decode("utf-8", "backslashreplace")
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [redis_reply(conn) for _ in range(size)]
    raise ConnectionError(f"not a RESP reply: {line[:40]!r}")


def record_redis(out, reply, seconds):
    out["seconds"].append(seconds)
    if len(out["seconds"]) == 1:
        if isinstance(reply, RedisError):
            out["failed"] = str(reply)
        else:
            out["reply"] = reply


# answering ----------------------------------------------------------------------------
class Probe:
    """The probe's connections, one per server (and Redis database), kept between requests."""

    def __init__(self, pipelined):
        self.pipelined = pipelined
        self.connections = {}
        self.one_by_one = set()  # servers that closed a connection with requests still pipelined on it

    def answer(self, requests):
        """The answers of requests in order: runs of consecutive requests that may be
        pipelined are sent together."""
        answers = []
        start = 0
        while start < len(requests):
            if requests[start].get("http2"):
                answers.append(http2_answer(requests[start]))
                start += 1
                continue
            end = start + 1
            if self.pipelined and self._pipelines(requests[start]):
                key = _key(requests[start])
                while end < len(requests) and self._pipelines(requests[end]) and _key(requests[end]) == key:
                    end += 1
            answers += self._exchange(requests[start:end])
            start = end
        return answers

    def close(self):
        for key in list(self.connections):
            self._drop(key)

    def _pipelines(self, req):
        if req.get("type") == "redis":
            return True
        return req["method"] in SAFE and _key(req) not in self.one_by_one

    def _connection(self, req):
        key = _key(req)
        if key not in self.connections:
            conn = Connection(req["host"], req["port"], req["timeout"], req.get("scheme") == "https")
            self.connections[key] = conn
            if req.get("type") == "redis" and req["db"]:
                conn.sock.sendall(redis_command(["SELECT", str(req["db"])]))
                reply = redis_reply(conn)
                if isinstance(reply, RedisError):
                    self._drop(key)
                    raise OSError(f"SELECT {req['db']}: {reply}")
        conn = self.connections[key]
        conn.sock.settimeout(req["timeout"])
        return conn

    def _drop(self, key):
        conn = self.connections.pop(key, None)
        if conn is not None:
            conn.close()

    def _exchange(self, requests):
        """Requests to one server: every run of each, written at once when there are
        several, answers read in order."""
        redis = requests[0].get("type") == "redis"
        key = _key(requests[0])
        outs = [_empty(req) for req in requests]
        runs = []
        for i, req in enumerate(requests):
            try:
                data = redis_command(req["args"]) if redis else http_request(req)
            except ValueError as err:
                outs[i]["error"] = f"ValueError: {err}"
                continue
            runs += [(i, req, data)] * req.get("repeat", 1)
        while runs:
            batch = runs[:1]
            if self.pipelined and self._pipelines(runs[0][1]):
                size = len(runs[0][2])
                while len(batch) < len(runs) and size + len(runs[len(batch)][2]) <= PIPELINED:
                    size += len(runs[len(batch)][2])
                    batch.append(runs[len(batch)])
            conn, answered = None, 0
            try:
                conn = self._connection(runs[0][1])
                conn.sock.sendall(b"".join(data for _, _, data in batch))
                sent = last = time.perf_counter()
                for index, req, _ in batch:
                    got = redis_reply(conn) if redis else http_response(conn, req["method"])
                    now = time.perf_counter()
                    if redis:
                        record_redis(outs[index], got, now - max(sent, last))
                    else:
                        record_http(outs[index], got, now - max(sent, last), conn.tls)
                    last = now
                    answered += 1
                    runs.pop(0)
                    if not redis and got[3]:  # the server closes the connection after this answer
                        self._drop(key)
                        if answered < len(batch):
                            self.one_by_one.add(key)
                        break
            except (OSError, ValueError) as err:
                self._drop(key)
                index = runs[0][0]
                pipelined = len(batch) > 1 and not redis
                if isinstance(err, ConnectionError) and conn is not None and (conn.answered or pipelined):
                    # a kept connection that the server closed meanwhile, or one that it
                    # closed with requests pipelined on it: what is left goes again (on a
                    # new connection that has answered nothing, an error is the answer)
                    if pipelined:
                        self.one_by_one.add(key)
                    continue
                outs[index]["error"] = f"{type(err).__name__}: {err}"
                runs = [r for r in runs if r[0] != index]
        return outs


def _key(req):
    if req.get("type") == "redis":
        return ("redis", req["host"], req["port"], req["db"])
    return (req.get("scheme", "http"), req["host"], req["port"])


def _empty(req):
    if req.get("type") == "redis":
        return {"reply": None, "error": None, "failed": None, "seconds": []}
    return {"status": None, "headers": {}, "body": "", "binary": False, "seconds": [], "error": None}


def serve():
    """Answer requests line by line: the requests that have arrived are answered together,
    in one write."""
    probe = Probe(pipelined=True)
    pending = b""
    while chunk := os.read(0, 1 << 16):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        requests = [json.loads(line) for line in lines if line.strip()]
        if requests:
            sys.stdout.buffer.write("".join(json.dumps(out) + "\n" for out in probe.answer(requests)).encode())
            sys.stdout.buffer.flush()
    probe.close()


def main():
    if sys.argv[1:] == ["--serve"]:
        serve()
        return
    probe = Probe(pipelined=False)
    print(json.dumps(probe.answer([json.loads(os.environ["LAB_REQUEST"])])[0]))
    probe.close()


if __name__ == "__main__":
    main()
