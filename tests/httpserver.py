"""A real HTTP server on 127.0.0.1 that serves recorded responses to the code under test.

Routes map a path (with or without its query string) to a handler, for GET and POST alike.
A handler is either a ``Reply`` (status, headers, body from bytes or a file under
../shared/data) or a function of the ``Request`` (a POST's body included) that returns one,
for servers that misbehave on purpose (slow, huge, 429).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class Request:
    method: str
    path: str  # with query string
    headers: dict[str, str]
    body: bytes = b""  # what a POST sent


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Path | Iterable[bytes] = b""
    delay: float = 0.0  # seconds before the status line is sent

    def chunks(self) -> Iterator[bytes]:
        if isinstance(self.body, bytes):
            yield self.body
        elif isinstance(self.body, Path):
            yield self.body.read_bytes()
        else:
            yield from self.body


Handler = Reply | Callable[[Request], Reply]


class RecordedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._serve("POST", self.rfile.read(length) if length else b"")

            def _serve(self, method: str, body: bytes = b"") -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Request(method, self.path, headers, body)
                server.requests.append(request)
                handler = server.routes.get(self.path) or server.routes.get(
                    urlsplit(self.path).path
                )
                reply = (
                    Reply(404, body=b"not recorded")
                    if handler is None
                    else (handler(request) if callable(handler) else handler)
                )
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    sized = isinstance(reply.body, bytes | Path)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    if sized:
                        data = b"".join(reply.chunks())
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                    else:
                        self.send_header("Connection", "close")
                        self.end_headers()
                        for chunk in reply.chunks():
                            self.wfile.write(chunk)
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading, as a size limit should

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def route(self, path: str, handler: Handler) -> str:
        """Serve ``handler`` at ``path``; returns the full URL."""
        self.routes[path] = handler
        return self.base_url + path

    def file(self, path: str, file: Path, content_type: str, **headers: str) -> str:
        return self.route(path, Reply(200, {"Content-Type": content_type, **headers}, file))

    def __enter__(self) -> RecordedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
