"""``/metrics`` (Prometheus text) and ``/healthz`` on a loopback port, for the box's monitoring."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

Metric = tuple[str, str, str, list[tuple[dict[str, str], float]]]
"""(name, type, help, [(labels, value)])"""


def render_metrics(metrics: list[Metric]) -> str:
    lines = []
    for name, kind, help_text, samples in metrics:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")
    return "\n".join(lines) + "\n"


class OpsServer:
    def __init__(
        self, host: str, port: int, metrics: Callable[[], list[Metric]], health: Callable[[], dict[str, Any]]
    ):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                try:
                    if self.path == "/metrics":
                        body = render_metrics(outer.metrics()).encode()
                        self._send(200, "text/plain; version=0.0.4", body)
                    elif self.path == "/healthz":
                        report = outer.health()
                        code = 200 if report.get("status") == "ok" else 503
                        self._send(code, "application/json", json.dumps(report).encode())
                    else:
                        self._send(404, "text/plain", b"not found\n")
                except Exception:
                    log.exception("ops request %s failed", self.path)
                    self._send(500, "text/plain", b"error\n")

            def _send(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.metrics = metrics
        self.health = health
        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="ops-http", daemon=True)

    def start(self) -> OpsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
