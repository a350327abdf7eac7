"""One answer per kind of change an upgrade makes, old or new by the MODE environment variable."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NEW = os.environ.get("MODE") == "new"
VISITS = {"count": 0}
ANSWERS = {
    "/version": (200, "text/plain", "shop 5.3.0 on PostgreSQL 17.2" if NEW else "shop 5.2.1 on PostgreSQL 15.8"),
    "/item": (200, "application/json", {"id": 1, "name": "mug", **({"tags": []} if NEW else {})}),
    "/order": (200, "application/json", {"total": 12, "id": 7} if NEW else {"id": 7, "total": 12}),
    "/total": (200, "application/json", {"total": "12" if NEW else 12}),
    "/stats": (200, "application/json", {"customers": 13 if NEW else 12}),
    "/same": (200, "application/json", {"status": "ok"}),
}


class Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/visits":  # a page-view counter: every request writes
            VISITS["count"] += 1
            self.send(200, "application/json", {"visits": VISITS["count"]})
        elif self.path in ANSWERS:
            self.send(*ANSWERS[self.path])
        else:
            self.send(404, "text/plain", "not found")

    def do_POST(self) -> None:  # a signup without a body: refused, in another way after the upgrade
        self.send(
            415 if NEW else 400, "application/json", {"error": "unsupported media type" if NEW else "bad request"}
        )

    def send(self, status: int, kind: str, body: object) -> None:
        data = (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer(("0.0.0.0", 8000), Answers).serve_forever()
