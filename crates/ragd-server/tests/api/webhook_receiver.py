#!/usr/bin/env python3
"""A real webhook receiver for ragd's tests (Python standard library only).

    python3 webhook_receiver.py --port-file F --log F [--secret S] [--fail-first N] [--hang]
                                [--status CODE] [--get-body FILE]

Listens on 127.0.0.1 (a free port, written to the port file once it accepts connections) and
appends one JSON line to the log per POST (and per GET), before answering:

    {"n": 1, "method": "POST", "path": "/hook", "headers": {"lower-cased name": "value"},
     "body": "...", "chapter_signature_ok": true, "standard_signature_ok": true,
     "traceparent": "00-...", "received_ms": 1700000000000, "status": 200}

Signatures are checked with the README's Python recipe (webhook_recipes/verify.py); both are
null without --secret. `status` is what the receiver answers, null with --hang.

--fail-first N  answer 500 to the first N requests, then --status
--hang          read the request, log it, never answer (until the process is killed)
--status CODE   the answer's status (default 200)
--get-body FILE answer every GET with 200 and FILE's bytes as JSON (read at each request), e.g.
                to stand in for an identity provider's JWKS URL; logged like a POST (no
                signatures). Without it a GET is answered 404 (and logged with that status).
"""

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "webhook_recipes"))
from verify import verify_chapter, verify_standard  # noqa: E402


class Receiver(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler must not keep the process alive

    def __init__(self, args):
        super().__init__(("127.0.0.1", 0), Handler)
        self.args = args
        self.lock = threading.Lock()
        self.count = 0

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # ragd was killed mid-connection (the kill -9 tests): nothing to report
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Receiver

    def headers_and_number(self):
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        with self.server.lock:
            self.server.count += 1
            return headers, self.server.count

    def log_entry(self, entry):
        with self.server.lock, open(self.server.args.log, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
            log.flush()

    def do_GET(self):
        received_ms = int(time.time() * 1000)
        headers, n = self.headers_and_number()
        args = self.server.args
        answer = b""
        status = 404
        if args.get_body is not None:
            with open(args.get_body, "rb") as f:
                answer = f.read()
            status = 200
        self.log_entry({
            "n": n,
            "method": self.command,
            "path": self.path,
            "headers": headers,
            "body": "",
            "chapter_signature_ok": None,
            "standard_signature_ok": None,
            "traceparent": headers.get("traceparent"),
            "received_ms": received_ms,
            "status": status,
        })
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_POST(self):
        body = self.read_body()
        received_ms = int(time.time() * 1000)
        args = self.server.args
        headers, n = self.headers_and_number()
        if args.hang:
            status = None
        elif n <= args.fail_first:
            status = 500
        else:
            status = args.status
        chapter_ok = standard_ok = None
        if args.secret is not None:
            chapter_ok = verify_chapter(args.secret, body, headers.get("x-webhook-signature", ""))
            standard_ok = verify_standard(
                args.secret,
                headers.get("webhook-id", ""),
                headers.get("webhook-timestamp", ""),
                headers.get("webhook-signature", ""),
                body,
            )
        entry = {
            "n": n,
            "method": self.command,
            "path": self.path,
            "headers": headers,
            "body": body.decode("utf-8", errors="replace"),
            "chapter_signature_ok": chapter_ok,
            "standard_signature_ok": standard_ok,
            "traceparent": headers.get("traceparent"),
            "received_ms": received_ms,
            "status": status,
        }
        self.log_entry(entry)
        if status is None:
            time.sleep(24 * 3600)
            return
        answer = json.dumps({"received": n}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, format, *args):
        pass  # the JSON log is the record; stderr stays quiet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--secret")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--hang", action="store_true")
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--get-body")
    args = parser.parse_args()

    server = Receiver(args)
    open(args.log, "a", encoding="utf-8").close()
    # Written whole, then renamed, so a test polling for the file never reads half a port.
    tmp = f"{args.port_file}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
