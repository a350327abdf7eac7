#!/usr/bin/env python3
"""Send one HTTP request `repeat` times and print what came back as JSON.

The request comes as JSON in the LAB_REQUEST environment variable:
{"host", "port", "method", "path", "headers", "body", "repeat", "timeout"}.
The first response is returned whole; every response is timed here, inside the lab.
"""

import base64
import http.client
import json
import os
import time


def main():
    req = json.loads(os.environ["LAB_REQUEST"])
    out = {"status": None, "headers": {}, "body": "", "binary": False, "seconds": [], "error": None}
    for attempt in range(req["repeat"]):
        start = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(req["host"], req["port"], timeout=req["timeout"])
            body = req["body"].encode() if req["body"] is not None else None
            conn.request(req["method"], req["path"], body=body, headers=req["headers"])
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
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
    print(json.dumps(out))


if __name__ == "__main__":
    main()
