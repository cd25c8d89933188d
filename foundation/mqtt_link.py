"""The agent's only contact with paho-mqtt: connect, stay connected, publish, say who we are.

- MQTT v5 when the broker speaks it, 3.1.1 otherwise (``protocol: auto``): whenever a v5 client
  has not been connected for ``v5_grace_s`` — a broker that refuses v5, one that accepts the TCP
  connection but never answers a v5 CONNECT (the embedded amqtt broker), one that was down at
  start and came back, connected before or not — the link falls back to 3.1.1 for good.
- A retained ``offline`` will on ``.../status``; ``online`` (retained) after every connect, and
  ``offline`` published before a clean shutdown.
- Reconnects by itself with backoff 1 → 30 s; a refused connection (bad credentials, ACL) is logged
  with the broker's reason and retried the same way — events wait in the outbox meanwhile.
- paho's return codes become exceptions here; callbacks into the agent are wrapped so that an
  exception can never kill paho's network thread (it would, silently).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt

from foundation.settings import MqttSettings
from protocol.errors import CasewatchError

log = logging.getLogger(__name__)

OnMessage = Callable[[str, bytes, bool], None]
OnDelivery = Callable[[str, bytes, int, int], None]
"""(topic, payload, mid, qos): with ``manual_ack`` the receiver calls ``ack(mid, qos)`` itself."""
OnAck = Callable[[int], None]


class LinkError(CasewatchError):
    """A publish could not be handed to the network layer."""


@dataclass
class LinkStats:
    connects: int = 0
    refusals: int = 0
    disconnects: int = 0
    last_refusal: str | None = None
    protocol: str = "5"


@dataclass
class Subscription:
    topic: str
    qos: int = 1


@dataclass
class MqttLink:
    settings: MqttSettings
    client_id: str
    status_topic: str | None
    """Retained ``online``/``offline`` with a will; ``None`` for a helper connection (evidence files)."""
    on_message: OnMessage | None = None
    on_ack: OnAck | None = None
    subscriptions: list[Subscription] = field(default_factory=list)
    unsubscribe: list[str] = field(default_factory=list)
    """Filters a persistent session may still hold from an earlier configuration: dropped on connect."""
    on_connected: Callable[[], None] | None = None
    v5_grace_s: float = 5.0
    on_delivery: OnDelivery | None = None
    manual_ack: bool = False
    """Acknowledge QoS 1 deliveries only when ``ack`` is called (after a durable commit)."""
    persistent_session: bool = False
    """Keep the session while away, so the broker queues QoS 1 messages for us (the hub)."""
    session_expiry_s: int = 7 * 24 * 3600

    def __post_init__(self) -> None:
        self.stats = LinkStats(protocol="3.1.1" if self.settings.protocol == "3.1.1" else "5")
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None
        self._stopping = False
        self._tcp_failures = 0
        self.status_payload = b"online"
        """What the retained status says while connected (the hub says ``degraded: …`` in a stall)."""

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> MqttLink:
        self._client = self._make_client()
        self._connect_async(self._client)
        self._client.loop_start()
        if self.settings.protocol == "auto":
            threading.Thread(target=self._check_v5_answered, name="mqtt-v5-probe", daemon=True).start()
        return self

    def _check_v5_answered(self) -> None:
        """In ``auto``: any v5 attempt that has not connected within ``v5_grace_s`` falls back to 3.1.1.

        That covers a broker that refuses v5, one that takes the TCP connection and never answers
        a v5 CONNECT (amqtt), one that was down when we started and came back as a 3.1.1 broker,
        and a v5 broker replaced by a 3.1.1 one while we were connected. 3.1.1 works with every
        broker; once on it the link stays on it.
        """
        unconnected_since = time.monotonic()
        while not self._stopping and self.stats.protocol == "5":
            time.sleep(min(0.25, self.v5_grace_s / 4))
            if self.connected.is_set():
                unconnected_since = time.monotonic()
                continue
            if time.monotonic() - unconnected_since >= self.v5_grace_s and not self._stopping:
                self.stats.protocol = "3.1.1"
                self._switch_to_311()
                return

    def stop(self, *, timeout_s: float = 5.0, say_offline: bool = True) -> None:
        """Say ``offline`` (retained) if connected, then disconnect. ``say_offline=False``: the
        status is someone else's now (a centre handed over to another hub worker)."""
        self._stopping = True
        client = self._client
        if client is None:
            return
        if say_offline and self.connected.is_set() and self.status_topic is not None:
            try:
                client.publish(self.status_topic, b"offline", qos=1, retain=True).wait_for_publish(timeout_s)
            except (RuntimeError, ValueError) as exc:
                log.warning("offline status not sent: %s", exc)
        client.disconnect()
        client.loop_stop()

    def _make_client(self) -> mqtt.Client:
        v5 = self.stats.protocol == "5"
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            transport=self.settings.transport,
            manual_ack=self.manual_ack,
            **({} if v5 else {"clean_session": not self.persistent_session}),
        )
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, 30)
        if self.status_topic is not None:
            client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        if self.settings.username:
            client.username_pw_set(self.settings.username, self.settings.password_value())
        tls = self.settings.tls
        if tls is not None:
            client.tls_set(
                ca_certs=str(tls.ca_file) if tls.ca_file else None,
                certfile=str(tls.cert_file) if tls.cert_file else None,
                keyfile=str(tls.key_file) if tls.key_file else None,
                cert_reqs=ssl.CERT_NONE if tls.insecure else ssl.CERT_REQUIRED,
            )
            client.tls_insecure_set(tls.insecure)
        client.on_connect = self._guard(self._on_connect)
        client.on_disconnect = self._guard(self._on_disconnect)
        client.on_message = self._guard(self._on_message)
        client.on_publish = self._guard(self._on_publish)
        client.on_connect_fail = self._guard(self._on_connect_fail)
        return client

    def _connect_async(self, client: mqtt.Client) -> None:
        kwargs: dict[str, Any] = {}
        if self.stats.protocol == "5":
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.session_expiry_s if self.persistent_session else 0
            kwargs = {"clean_start": not self.persistent_session, "properties": props}
        client.connect_async(
            self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s, **kwargs
        )

    @staticmethod
    def _guard(callback: Callable[..., None]) -> Callable[..., None]:
        def guarded(*args: Any) -> None:
            try:
                callback(*args)
            except Exception:
                log.exception("MQTT callback %s failed", callback.__name__)

        return guarded

    # callbacks (paho's network thread) ---------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if reason.is_failure:
            self.stats.refusals += 1
            self.stats.last_refusal = str(reason)
            log.error(
                "broker %s:%s refused the connection: %s", self.settings.host, self.settings.port, reason
            )
            if self.settings.protocol == "auto" and self.stats.protocol == "5" and reason.value in (1, 132):
                self.stats.protocol = "3.1.1"
                threading.Thread(target=self._switch_to_311, daemon=True).start()
            return
        self.stats.connects += 1
        log.info("connected to %s:%s (MQTT %s)", self.settings.host, self.settings.port, self.stats.protocol)
        wanted = {sub.topic for sub in self.subscriptions}
        stale = [topic for topic in self.unsubscribe if topic not in wanted]
        if stale:
            client.unsubscribe(stale)
        for sub in self.subscriptions:
            client.subscribe(sub.topic, sub.qos)
        # after the subscriptions (the broker takes them in order): an agent that sees the hub
        # online may publish, and the hub's session must be there to take what it sends
        if self.status_topic is not None:
            client.publish(self.status_topic, self.status_payload, qos=1, retain=True)
        if self.on_connected is not None:  # first: the publisher resets (and waits for the hub)
            self.on_connected()
        self.connected.set()

    def _on_connect_fail(self, *_args: Any) -> None:
        self._tcp_failures += 1

    def _switch_to_311(self) -> None:
        log.warning("broker does not speak MQTT v5: using 3.1.1")
        with self._lock:
            old = self._client
            if old is not None:
                old.loop_stop()
            self._client = self._make_client()
            self._connect_async(self._client)
            self._client.loop_start()

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if was:
            self.stats.disconnects += 1
            if not self._stopping:
                log.warning("disconnected from the broker: %s (reconnecting)", reason)

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        if self.on_delivery is not None:
            self.on_delivery(message.topic, bytes(message.payload), int(message.mid), int(message.qos))
        elif self.on_message is not None:
            self.on_message(message.topic, bytes(message.payload), bool(message.retain))

    def _on_publish(self, _c: Any, _u: Any, mid: int, _reason: Any = None, _props: Any = None) -> None:
        if self.on_ack is not None:
            self.on_ack(mid)

    def set_status(self, payload: bytes | None = None) -> None:
        """Change the retained status (now, if connected; and on every later connect); None: say
        the current one again (a status someone else overwrote is put right)."""
        if payload is None:
            payload = self.status_payload
        self.status_payload = payload
        client = self._client
        if client is not None and self.connected.is_set() and self.status_topic is not None:
            client.publish(self.status_topic, payload, qos=1, retain=True)

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a delivery (``manual_ack``): the broker may now forget it."""
        client = self._client
        if client is not None and qos > 0:
            client.ack(mid, qos)

    # publishing -------------------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Hand a message to paho; return its message id (acknowledged later via ``on_ack``)."""
        client = self._client
        if client is None or not self.connected.is_set():
            raise LinkError("not connected")
        info = client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise LinkError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        return int(info.mid)

    def publish_wait(self, topic: str, payload: bytes, *, timeout_s: float) -> bool:
        """Publish at QoS 1 and wait for the PUBACK; ``False`` if it did not come in time."""
        client = self._client
        if client is None or not self.connected.is_set():
            raise LinkError("not connected")
        info = client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise LinkError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError) as exc:  # the connection went while waiting
            raise LinkError(str(exc)) from None
        return bool(info.is_published())
