"""The hub's notifications, assembled from ``notify:`` in the hub file.

The ingest thread calls ``plan`` with each round's changes (pure: ``NotifyPolicy``) and ``persist``
inside the transaction that saves them; the ``Dispatcher``'s lanes then deliver from the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from devices.modem import ModemLink
from foundation.mqtt_link import MqttLink
from hub.config import HubConfig
from hub.core import Changes
from hub.notify.channels import MqttChannel, SmsChannel, WebhookChannel
from hub.notify.dispatcher import Dispatcher, Lane
from hub.notify.policy import Directory, NotifyPolicy, Planned, Webhook
from hub.notify.store import NotificationStore
from hub.rules.spec import Rule
from hub.sql import Sql
from hub.store import HubStore
from protocol.clock import Clock
from protocol.topics import TopicLayout


class Notifier:
    def __init__(
        self,
        cfg: HubConfig,
        store: HubStore,
        layout: TopicLayout,
        rules: Mapping[str, Rule],
        clock: Clock,
        alert_doc: Callable[[str], dict[str, Any] | None],
    ) -> None:
        notify = cfg.notify
        self.cfg = cfg
        self.rules = rules
        self.clock = clock
        self.alert_doc = alert_doc
        self.store = NotificationStore(store)
        self.sms_enabled = notify.sms is not None and notify.sms.enabled
        self.policy = NotifyPolicy(
            center=cfg.center,
            center_name=cfg.name or cfg.center,
            timezone=cfg.timezone,
            roles={level: tuple(roles) for level, roles in notify.roles.items()},
            sms=self.sms_enabled,
            mqtt_topic=layout.notify(cfg.center, "RECIPIENT").replace("RECIPIENT", "{recipient}")
            if notify.mqtt
            else None,
            webhooks=tuple(Webhook(w.id, w.min_level) for w in notify.webhooks),
            sms_template=notify.sms_template,
            assign_template=notify.assign_template,
        )
        self.dispatcher: Dispatcher | None = None

    def plan(self, changes: Changes, directory: Directory) -> list[Planned]:
        if not changes.transitions:
            return []
        return self.policy.plan(changes.alerts, changes.transitions, self.rules, directory)

    def persist(self, db: Sql, planned: list[Planned]) -> int:
        return self.store.add(db, planned, self.clock.now_ms(), self.cfg.notify.max_per_recipient_per_hour)

    def start(self, link: MqttLink | None) -> Notifier:
        """Start delivering (what is pending from before a restart goes out first)."""
        notify = self.cfg.notify
        lanes: list[Lane] = []
        if self.sms_enabled:
            assert notify.sms is not None
            lanes.append(
                Lane(
                    "sms",
                    None,
                    SmsChannel(
                        ModemLink(notify.sms.port, baudrate=notify.sms.baudrate, pin=notify.sms.sim_pin())
                    ),
                )
            )
        if notify.mqtt and link is not None:
            lanes.append(Lane("mqtt", None, MqttChannel(link)))
        for hook in notify.webhooks:
            channel = WebhookChannel(
                str(hook.url),
                center=self.cfg.center,
                secret=hook.secret_bytes(),
                timeout_s=hook.timeout_s,
                retries=hook.retries,
            )
            lanes.append(Lane("webhook", hook.id, channel))
        self.dispatcher = Dispatcher(self.store, lanes, self.clock, self.alert_doc).start()
        return self

    def wake(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def stop(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.stop()
            for lane in self.dispatcher.lanes:
                if isinstance(lane.sender, WebhookChannel):
                    lane.sender.close()
