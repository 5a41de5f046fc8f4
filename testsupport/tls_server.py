#!/usr/bin/env python3
"""A tiny HTTPS server for the TLS trust test: answers GuardDuty ListDetectors with one
detector and rejects everything else with a 400 BadRequestException.

    python testsupport/tls_server.py CERT KEY   prints `READY <port>`, exits at stdin EOF
"""

import http.server
import json
import ssl
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    def _send(self, status, body, error_type=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.split("?")[0] == "/detector":
            self._send(200, {"detectorIds": ["det-tls"]})
        else:
            self._send(400, {"message": "not served here", "__type": "BadRequestException"}, "BadRequestException")

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(400, {"message": "not served here", "__type": "BadRequestException"}, "BadRequestException")

    def log_message(self, *args):
        pass


def main():
    cert, key = sys.argv[1], sys.argv[2]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
