"""The ways a notification leaves the hub: SMS through the modem, a webhook POST, an MQTT message.

Each channel's ``send`` returns a ``Delivery`` and never raises: a dead modem, a refused
connection or a broker away are outcomes to record and retry, not crashes. ``retryable`` says
whether trying again can help (a webhook's 4xx answer cannot; a timeout can).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from devices.modem import ModemLink
from foundation.mqtt_link import LinkError, MqttLink
from hub.notify.store import Notification


@dataclass(frozen=True)
class Delivery:
    ok: bool
    detail: str
    retryable: bool = True


class Channel(Protocol):
    max_attempts: int

    def send(self, note: Notification, alert: dict[str, Any] | None) -> Delivery: ...


class SmsChannel:
    """One message at a time through the GSM/4G modem (AT + PDU/UCS2, ``devices.modem``)."""

    def __init__(self, link: ModemLink, *, max_attempts: int = 3) -> None:
        self.link = link
        self.max_attempts = max_attempts

    def send(self, note: Notification, alert: dict[str, Any] | None) -> Delivery:
        if not note.body.strip():
            return Delivery(False, "empty message: nothing to send (check the template)", retryable=False)
        result = self.link.send(note.target, note.body, reference=note.id % 256, retries=1)
        if result.ok:
            refs = ",".join(str(r) for r in result.references)
            return Delivery(True, f"sent by modem, reference {refs}, {result.attempts} AT+CMGS")
        return Delivery(False, result.error or "modem refused the message")


def signature(secret: bytes, body: bytes) -> str:
    """``X-Casewatch-Signature``: ``sha256=`` + hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """JSON POST to an integrator's URL, signed when a secret is configured."""

    def __init__(
        self,
        url: str,
        *,
        center: str,
        secret: bytes | None = None,
        timeout_s: float = 5.0,
        retries: int = 5,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url
        self.center = center
        self.secret = secret
        self.max_attempts = 1 + retries
        self.client = client or httpx.Client(timeout=timeout_s, follow_redirects=False)

    def send(self, note: Notification, alert: dict[str, Any] | None) -> Delivery:
        doc = {
            "center": self.center,
            "notification": note.id,
            "delivery": note.dedupe,
            "level": note.level,
            "reason": note.reason,
            "text": note.body,
            "alert": alert,
        }
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Casewatch-Delivery": note.dedupe}
        if self.secret is not None:
            headers["X-Casewatch-Signature"] = signature(self.secret, body)
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Delivery(False, f"{type(exc).__name__}: {exc}")
        if response.is_success:
            return Delivery(True, f"HTTP {response.status_code}")
        transient = response.status_code >= 500 or response.status_code in (408, 425, 429)
        return Delivery(False, f"HTTP {response.status_code}: {response.text[:200]}", retryable=transient)

    def close(self) -> None:
        self.client.close()


class MqttChannel:
    """QoS 1 on ``{prefix}/{center}/notify/{recipient}`` (pagers, the console, a bridge)."""

    def __init__(self, link: MqttLink, *, max_attempts: int = 10) -> None:
        self.link = link
        self.max_attempts = max_attempts

    def send(self, note: Notification, alert: dict[str, Any] | None) -> Delivery:
        doc = {
            "notification": note.id,
            "recipient": note.recipient,
            "role": note.role,
            "level": note.level,
            "reason": note.reason,
            "alert": note.alert,
            "text": note.body,
        }
        try:
            mid = self.link.publish(note.target, json.dumps(doc, ensure_ascii=False).encode(), qos=1)
        except LinkError as exc:
            return Delivery(False, f"MQTT: {exc}")
        return Delivery(True, f"handed to the broker (mid {mid})")
