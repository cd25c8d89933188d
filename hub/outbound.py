"""What the hub tells the broker: retained alert states, band registrations and agents' receipts.

Alerts go to ``{prefix}/{center}/alerts/{id}`` as JSON (the alert plus its rule's ``title`` and
``basis`` and the Chinese level name); registrations to ``{prefix}/{center}/registry/bands/{band}``
signed with the hub's key, an empty payload for an unbound band; receipts to
``{prefix}/{center}/{agent}/receipt`` signed with that agent's key (protocol/receipts.py); the
chain's anchor to ``{prefix}/{center}/hub/anchor`` signed with the hub's key (hub/anchor.py). A
publish that cannot be handed to the network is counted and logged; the alert is in the store and
goes out with its next change, a receipt with the next commit or reconnect.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from foundation.mqtt_link import LinkError, MqttLink
from hub.alerts import Alert
from hub.findings import alert_title
from hub.rules.levels import CHINESE
from hub.rules.spec import Rule
from protocol.fetch import FetchRequest, Keep, Range, encode_fetch
from protocol.receipts import Receipt, encode_receipt
from protocol.registry import BandRegistration, encode_registration
from protocol.signing import Keyring
from protocol.topics import TopicLayout
from protocol.watch import WatchRequest, encode_watch

log = logging.getLogger(__name__)


def alert_payload(alert: Alert, rule: Rule | None) -> bytes:
    doc = {
        **alert.to_json(),
        "title": alert_title(alert, rule),
        "basis": rule.basis if rule else "",
        "level_zh": CHINESE[alert.level],
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Outbound:
    layout: TopicLayout
    center: str
    hub_key: bytes
    rules: dict[str, Rule]
    link: MqttLink | None = None
    agent_keys: Keyring | None = None
    published: int = 0
    errors: int = 0

    def alert(self, alert: Alert) -> None:
        self._publish(
            self.layout.alert(self.center, alert.id), alert_payload(alert, self.rules.get(alert.rule))
        )

    def registration(self, band: str, reg: BandRegistration | None) -> None:
        payload = encode_registration(reg, self.hub_key) if reg is not None else b""
        self._publish(self.layout.registry_band(self.center, band), payload)

    def watch(self, agent: str, cameras: dict[str, int], now_ms: int) -> bool:
        """Ask ``agent`` for these cameras' pictures often until the times given (retained)."""
        request = WatchRequest(self.center, agent, cameras, now_ms)
        return self._publish(self.layout.watch(self.center, agent), encode_watch(request, self.hub_key))

    def fetch(self, agent: str, ranges: tuple[Range, ...], keep: tuple[Keep, ...], now_ms: int) -> bool:
        """Ask ``agent`` for these recording ranges and to keep ``keep`` (retained; empty: nothing)."""
        request = FetchRequest(self.center, agent, ranges, now_ms, keep)
        return self._publish(self.layout.fetch(self.center, agent), encode_fetch(request, self.hub_key))

    def anchor(self, payload: bytes) -> bool:
        """The log's signed head, retained: agents keep it outside the hub's disk."""
        return self._publish(self.layout.hub_anchor(self.center), payload)

    def receipt(self, agent: str, epoch: str, seq: int, now_ms: int) -> bool:
        """Tell ``agent`` its outbox ``epoch`` is stored up to ``seq``; False if it could not be sent."""
        if self.agent_keys is None or agent not in self.agent_keys:
            return False
        payload = encode_receipt(
            Receipt(self.center, agent, epoch, seq, now_ms), self.agent_keys.signing_key(agent)
        )
        return self._publish(self.layout.receipt(self.center, agent), payload, quiet=True)

    def _publish(self, topic: str, payload: bytes, *, quiet: bool = False) -> bool:
        if self.link is None:
            return False
        try:
            self.link.publish(topic, payload, qos=1, retain=True)
            self.published += 1
            return True
        except LinkError as exc:
            self.errors += 1
            if not quiet:
                log.warning("not published to %s: %s", topic, exc)
            return False
