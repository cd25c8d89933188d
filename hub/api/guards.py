"""What every HTTP request passes before any route: a body size limit and the security headers.

Plain ASGI middleware (no route sees a byte of a refused body):

- **Body limit.** A request whose ``Content-Length`` is over ``max_body_bytes`` is answered 413 at
  once; a chunked body is counted as it streams and cut at the limit. One 300 MB POST to the login
  page used to be read whole into memory (issue 16).
- **Headers.** ``Content-Security-Policy`` (scripts only from the hub itself, no framing, no
  plugins, forms post to the hub only), ``X-Content-Type-Options: nosniff``, ``X-Frame-Options:
  DENY``, ``Referrer-Policy: no-referrer``; with HTTPS also ``Strict-Transport-Security``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class TooLarge(Exception):
    pass


def _headers(https: bool) -> list[tuple[bytes, bytes]]:
    found = [
        (b"content-security-policy", CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    ]
    if https:
        found.append((b"strict-transport-security", b"max-age=31536000"))
    return found


PLAN_IMAGE_BYTES = 10 * 1024 * 1024
"""A floor plan's picture (``PUT /api/v1/plans/{plan}/image``, admins) may be this large: a
scanned plan is megabytes, every other body stays under ``http.max_body_kb``."""
_BIG_UPLOADS = ((re.compile(r"^/api/v1/plans/[^/]+/image$"), PLAN_IMAGE_BYTES),)


class Guards:
    def __init__(self, app: App, *, max_body_bytes: int, https: bool = False) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.extra = _headers(https)
        self.refused = 0

    @property
    def state(self) -> Any:
        """The wrapped application's state (its ``ApiContext``), as if no guard stood in front."""
        return getattr(self.app, "state", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        try:
            too_big = declared is not None and int(declared) > limit
        except ValueError:
            too_big = True
        if too_big:
            await self._refuse(send, limit)
            return
        state = {"started": False, "overflow": False}
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    state["overflow"] = True
                    raise TooLarge
            return message

        async def with_headers(message: Message) -> None:
            if state["overflow"]:  # the app's own error answer to the cut body: ours instead
                if not state["started"]:
                    state["started"] = True
                    await self._refuse(send, limit)
                return
            if message["type"] == "http.response.start":
                state["started"] = True
                message["headers"] = [*message.get("headers", []), *self.extra]
            await send(message)

        try:
            await self.app(scope, counted, with_headers)
        except TooLarge:
            if not state["started"]:
                state["started"] = True
                await self._refuse(send, limit)

    def _limit(self, scope: Scope) -> int:
        if scope.get("method") == "PUT":
            path = str(scope.get("path") or "")
            for pattern, limit in _BIG_UPLOADS:
                if pattern.match(path):
                    return max(limit, self.max_body_bytes)
        return self.max_body_bytes

    async def _refuse(self, send: Send, limit: int) -> None:
        self.refused += 1
        limit_kb = limit // 1024
        body = json.dumps(
            {"error": "too_large", "detail": f"请求过大 (request body over {limit_kb} KiB)", "problems": []},
            ensure_ascii=False,
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *self.extra,
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
