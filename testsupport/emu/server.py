"""AWS rules enforced here: none of docs/aws-behaviour.md's (plumbing only).

The HTTP server and command line (`python testsupport/emulator.py`): keep-alive handling,
the READY line, exit on stdin EOF or a signal, and the fork server (--fork-server) that
serves one warm, isolated emulator per request.
"""

import argparse
import gc
import http.client
import logging
import os
import select
import signal
import sys
import threading
import time
import traceback
from http import HTTPStatus

from werkzeug.serving import make_server
from moto.server import MotoRequestHandler

from emu.common import rest_operation
from emu.middleware import Emulator, WARM_UP, buffer_body, collect


# The first line of testsupport/emulator.py's docstring, for --help.
DESCRIPTION = "Loopback AWS emulator for guardduty-invite's end-to-end tests and README demo."


def warm_up(emulator):
    """Build moto's per-service apps and botocore's GuardDuty routes ahead of the first test."""
    from werkzeug.test import EnvironBuilder
    rest_operation("guardduty", "GET", "/detector")
    for service, request in WARM_UP:
        headers = dict(request.get("headers", {}), Authorization=(
            f"AWS4-HMAC-SHA256 Credential=warmup/20260101/us-east-1/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0"))
        content_type = request.get("content_type") or (
            "application/x-amz-json-1.0" if "X-Amz-Target" in headers
            else "application/x-www-form-urlencoded")
        environ = EnvironBuilder(method=request.get("method", "POST"), path=request.get("path", "/"),
                                 data=request.get("data"), headers=headers,
                                 content_type=content_type).get_environ()
        b"".join(emulator.moto(environ, lambda *_: None))
    cache_moto_lookups()


def cache_moto_lookups():
    """Two lookups moto repeats on every request although their answers never change in a
    running server: the list of its service packages (a directory listing and a stat per
    package, twice a request) and a response class's method names (inspect.getmembers).
    Together they were about a fifth of a small call's time."""
    import functools
    import moto.backends
    import moto.core.responses

    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules
    moto.core.responses.method_names_from_class = functools.lru_cache(maxsize=None)(
        moto.core.responses.method_names_from_class)


class KeepAliveHandler(MotoRequestHandler):
    """Serves many requests per connection, as AWS endpoints do (HTTP/1.1 keep-alive).

    Werkzeug's development server answers every request with `Connection: close`, because it
    cannot tell where a body it did not read ends. The client then pays a new connection, and
    this server a new thread, on every call: several milliseconds a call that AWS does not
    cost. Here the whole body is read before the app runs, so the next request starts where
    this one ended, and the answer is sent with its length."""

    timeout = 120  # an idle connection's thread ends (the SDK drops idle ones after 90 s)
    # Head and body go out in two writes: with Nagle's algorithm the body would wait for the
    # client's delayed ACK of the head (40 ms on Linux) on a connection that stays open.
    disable_nagle_algorithm = True

    def parse_request(self):
        """The request line and headers. The standard library runs the headers through the
        email package's general parser, a third of this server's time on a small call."""
        self.command, self.request_version = None, self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request line {self.requestline!r}")
            return False
        self.command, self.path, self.request_version = words
        headers = http.client.HTTPMessage()
        while (line := self.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, colon, value = str(line, "iso-8859-1").partition(":")
            if not colon or len(line) > 65536 or len(headers) >= 100:
                self.send_error(HTTPStatus.BAD_REQUEST, "Bad header line")
                return False
            headers[name.strip()] = value.strip()
        self.headers = headers
        connection = headers.get("Connection", "").lower()
        self.close_connection = connection == "close" or (
            self.request_version == "HTTP/1.0" and connection != "keep-alive")
        if headers.get("Expect", "").lower() == "100-continue":
            self.send_response_only(HTTPStatus.CONTINUE)
            self.end_headers()
        return True

    def run_wsgi(self):
        environ = self.environ = self.make_environ()
        try:
            buffer_body(environ)  # to its end: the next request starts right after it
            status, headers, payload = collect(self.server.app, environ)
        except self.connection_dropped_errors:
            self.close_connection = True
            return
        except Exception:  # the app failed: a 500, and the traceback on stderr
            self.server.log("error", f"Error on request {environ.get('PATH_INFO')}:\n{traceback.format_exc()}")
            status, headers, payload = "500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")], b"error"
            self.close_connection = True
        try:
            self.send_answer(environ, status, headers, payload)
        except self.connection_dropped_errors:
            self.close_connection = True

    def send_answer(self, environ, status, headers, payload):
        code, _, reason = status.partition(" ")
        code = int(code)
        self.send_response(code, reason)
        head = environ["REQUEST_METHOD"] == "HEAD"
        for key, value in headers:
            # A HEAD answer keeps the length of the body it describes; others get their own.
            if key.lower() in ("transfer-encoding", "connection") or (key.lower() == "content-length" and not head):
                continue
            self.send_header(key, value)
        # These answers have no body by definition: a stray byte would start the next answer.
        bodiless = head or 100 <= code < 200 or code in (204, 304)
        if not bodiless:
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not bodiless:
            self.wfile.write(payload)
        self.wfile.flush()


class QuietHandler(KeepAliveHandler):
    def log_request(self, code="-", size="-"):
        pass


def exit_on_stdin_eof():
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    os._exit(0)


def exit_with_parent(parent):
    """A forked world ends with the fork server that made it (a killed test run leaves none)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def fork_world(app, host, handler, log_path):
    """In a fresh fork: serve a new world on a free port, stderr to the test's log; returns
    only by exiting. The child starts from the fork server's state, which never served a
    request, so it shares nothing with any other world."""
    parent, (read_end, write_end) = os.getpid(), os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        return pid, read_end
    try:
        os.close(read_end)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)  # the fork server's replies stay the fork server's
        os.dup2(log, 2)
        server = make_server(host, 0, app, threaded=True, request_handler=handler)
        threading.Thread(target=exit_with_parent, args=(parent,), daemon=True).start()
        os.write(write_end, f"{server.server_port}\n".encode())
        os.close(write_end)
        server.serve_forever()
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(1)


def serve_forks(args, handler, replies):
    """--fork-server: moto is imported and warmed up once (about 1.4 s of CPU), then every
    `fork LOG` line on stdin forks a new emulator, answered `READY <url> <pid>`; `kill PID`
    stops one. EOF on stdin stops them all. Tests get a private world each for the price
    of a fork."""
    app = Emulator()
    warm_up(app)
    sys.setswitchinterval(0.0005)  # inherited by each world: see main
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the worlds
    gc.collect()
    gc.freeze()  # the warm heap stays shared with the worlds instead of copied into each
    replies.write("READY fork-server\n")
    replies.flush()
    worlds = set()
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "fork":
            pid, port_pipe = fork_world(app, args.host, handler, arg)
            ready, _, _ = select.select([port_pipe], [], [], 60)
            port = os.read(port_pipe, 64).decode().strip() if ready else ""
            os.close(port_pipe)
            if port:
                worlds.add(pid)
                replies.write(f"READY http://{args.host}:{port} {pid}\n")
            else:
                replies.write(f"FAILED the world (pid {pid}) did not start: see its log\n")
            replies.flush()
        elif command == "kill" and arg.isdigit() and int(arg) in worlds:
            worlds.discard(int(arg))
            os.kill(int(arg), signal.SIGKILL)
    for pid in worlds:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    parser.add_argument("--ignore-stdin", action="store_true",
                        help="keep running when stdin reaches EOF (manual runs in the background)")
    parser.add_argument("--fork-server", action="store_true",
                        help="fork a fresh emulator per `fork LOG` line on stdin (the tests)")
    args = parser.parse_args(argv)

    ready_out, sys.stdout = sys.stdout, sys.stderr  # moto may print(): keep stdout for READY
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if args.verbose else logging.WARNING)
    handler = KeepAliveHandler if args.verbose else QuietHandler
    if args.fork_server:
        return serve_forks(args, handler, ready_out)
    server = make_server(args.host, args.port, Emulator(), threaded=True, request_handler=handler)

    # One Python process serves every thread: a request woken from its delay waits for the
    # interpreter lock while others run. The default hand-over every 5 ms would add that wait
    # to calls that AWS answers in their own time, whatever else it serves.
    sys.setswitchinterval(0.0005)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    if not args.ignore_stdin:
        threading.Thread(target=exit_on_stdin_eof, daemon=True).start()

    # Before READY, not beside the first requests: moto builds its services lazily, and two
    # threads importing the same moto modules at once can fail with a circular import.
    warm_up(server.app)
    ready_out.write(f"READY http://{args.host}:{server.server_port}\n")
    ready_out.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()
