"""The hub's HTTP server: uvicorn on a thread of the hub process, on a socket bound up front.

Binding the socket before uvicorn starts means a port in use fails the hub's start with a clear
message (not a log line on another thread), and ``port: 0`` has its real port known at once.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from foundation.settings import read_secret
from hub.errors import HttpError

if TYPE_CHECKING:
    from hub.service import HubService

log = logging.getLogger(__name__)


class HttpServer:
    def __init__(self, app: Any, host: str, port: int, *, tls: tuple[Path, Path] | None = None) -> None:
        self.app = app
        self.host = host
        self.tls = tls
        try:
            self._sock = socket.create_server((host, port), reuse_port=False)
        except OSError as exc:
            raise HttpError(f"HTTP {host}:{port}: cannot listen: {exc}") from exc
        self.port = int(self._sock.getsockname()[1])
        certfile, keyfile = tls if tls is not None else (None, None)
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=3,
            ssl_certfile=certfile, ssl_keyfile=keyfile,
            proxy_headers=False,  # X-Forwarded-For from anyone local must not pick the login's address
        )  # fmt: skip
        if tls is not None:
            try:
                config.load()  # the certificate and key are read now: a bad pair fails the start here
            except (OSError, ValueError) as exc:
                self._sock.close()
                raise HttpError(f"HTTPS: cannot use {certfile} with its key: {exc}") from exc
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self._serve, name="hub-http", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._sock]))
        except Exception:
            log.exception("HTTP server stopped")

    def wait_started(self, timeout_s: float = 10.0) -> bool:
        deadline = threading.Event()
        for _ in range(int(timeout_s / 0.02)):
            if self._server.started:
                return True
            deadline.wait(0.02)
        return bool(self._server.started)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self._sock.close()


def hub_http(service: HubService) -> HttpServer:
    """The API and console of ``service`` on ``http.host:http.port`` (bound now, served on start)."""
    from hub.api.app import create_app
    from hub.api.auth import Authenticator
    from hub.api.context import ApiContext
    from hub.api.guards import Guards

    http = service.cfg.http
    secret = read_secret(http.session_secret, http.session_secret_file)
    auth = Authenticator.from_users(
        service.accounts.active_users(),
        secret.encode() if secret else None,
        http.session_ttl_min,
        service.clock,
    )
    for account in service.accounts.all():  # sessions ended before a restart stay ended
        if account.sessions_from_ms:
            auth.void_before(account.username, account.sessions_from_ms)
    auth.restore_revoked(service.accounts.revoked_sessions())
    auth.on_revoke = service.accounts.revoke_session
    app = Guards(
        create_app(ApiContext(service, auth, service.queries)),
        max_body_bytes=http.max_body_kb * 1024,
        https=http.https,
    )
    tls = (http.tls_cert_file, http.tls_key_file) if http.tls_cert_file and http.tls_key_file else None
    return HttpServer(app, http.host, http.port, tls=tls)
