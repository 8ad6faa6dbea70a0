"""The small HTTP endpoint of every non-Faust process (CDC relay, ClickHouse sink):
`/metrics` for Prometheus, `/health` saying whether the process is doing its job, and any
POST routes the process adds (the sink's `/query`).

`/health` answers 200 only while the process's own check says it is consuming; anything else
is 503 with the reason, so an orchestrator or the supervisor sees a stalled process, not only
a dead one.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import generate_latest

log = logging.getLogger(__name__)
# (healthy, details) — details go into the JSON body
Health = Callable[[], tuple[bool, dict[str, Any]]]
# request body → (status, JSON-able body)
PostRoute = Callable[[bytes], tuple[int, Any]]


def serve(
    host: str,
    port: int,
    health: Health,
    post: dict[str, PostRoute] | None = None,
    name: str = "http",
    json_default: Callable[[Any], Any] = str,
) -> ThreadingHTTPServer:
    """Serve in a daemon thread; a failing health check is reported as unhealthy, never
    raised into the server."""
    routes = post or {}

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, body: Any) -> None:
            self._reply(status, json.dumps(body, default=json_default).encode(), "application/json")

        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._reply(200, generate_latest(), "text/plain; version=0.0.4")
            elif self.path == "/health":
                try:
                    ok, details = health()
                except Exception as exc:  # a broken check is an unhealthy process
                    ok, details = False, {"error": repr(exc)}
                self._json(200 if ok else 503, {"status": "ok" if ok else "unhealthy", **details})
            else:
                self._reply(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            route = routes.get(self.path)
            if route is None:
                self._reply(404, b"not found", "text/plain")
                return
            status, body = route(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self._json(status, body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server
