#!/usr/bin/env python3
"""A real HTTPS file server for tests: serves the files of DIR over TLS with CERT/KEY on an
loopback port (PORT, default: any free one), prints the port on stdout, and appends the path of
every request to HITS (so a test can count fetches).
Usage: https_file_server.py CERT KEY DIR HITS [PORT]"""
import http.server
import ssl
import sys
from functools import partial

cert, key, root, hits = sys.argv[1:5]
port = int(sys.argv[5]) if len(sys.argv) > 5 else 0


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        with open(hits, "a") as f:
            f.write(self.path + "\n")
        super().do_GET()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", port), partial(Handler, directory=root))
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
