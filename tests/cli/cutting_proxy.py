"""A reverse proxy in front of the live server whose read timeout is shorter than `complete`:
it forwards every request, but answers the first `cuts` POSTs of `.../complete` with 504 as soon
as it has passed them on, while the server carries on assembling, as nginx or a cloud load
balancer does when a request outlasts its timeout."""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class CuttingProxy:
    def __init__(self, upstream: str, *, cuts: int) -> None:
        self.upstream = urlsplit(upstream)
        self.cuts_left = cuts
        self.cut = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                if self.command == "POST" and self.path.endswith("/complete") and proxy._take_cut():
                    threading.Thread(target=proxy._forward, args=(self.command, self.path, body, headers),
                                     daemon=True).start()  # fmt: skip
                    time.sleep(0.3)  # the request has reached the server; the proxy gives up on it
                    self._answer(504, [("Content-Type", "text/html")], b"<h1>504 Gateway Time-out</h1>")
                    return
                status, answer_headers, answer = proxy._forward(self.command, self.path, body, headers)
                self._answer(status, answer_headers, answer)

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _relay

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _take_cut(self) -> bool:
        with self.lock:
            if self.cuts_left <= 0:
                return False
            self.cuts_left -= 1
            self.cut += 1
            return True

    def _forward(self, method: str, path: str, body: bytes, headers: dict) -> tuple[int, list, bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=600)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def __enter__(self) -> CuttingProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
