"""Driving the console in Debian's Chromium (Playwright) and over HTTP as a browser would: the
paths, arguments and logins every console test shares."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import httpx

from tests.api_helpers import PASSWORD, ApiHub

REPO = Path(__file__).resolve().parent.parent
ARTEFACTS = REPO / "test-artefacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


def console_login(hub: ApiHub, role: str) -> httpx.Client:
    """Log in through the form, as a browser does: the login page's nonce, then the session cookie."""
    client = httpx.Client(base_url=hub.base, timeout=15, follow_redirects=False)
    page = client.get("/console/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert nonce is not None
    reply = client.post(
        "/console/login", data={"username": role, "password": PASSWORD, "csrf": nonce.group(1)}
    )
    assert reply.status_code == 303 and reply.headers["location"] == "/console/"
    assert (
        "httponly" in reply.headers["set-cookie"].lower()
        and "samesite=strict" in reply.headers["set-cookie"].lower()
    )
    return client


def browser_login(page: Any, hub: ApiHub, role: str) -> None:
    """Log in through the console's form in a real browser page."""
    page.goto(f"{hub.base}/console/login")
    page.fill("#username", role)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{hub.base}/console/")


def csrf_of(client: httpx.Client) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/console/").text)
    assert found is not None
    return found.group(1)
