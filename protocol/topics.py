"""MQTT topic layout: builders and a strict parser.

::

    {prefix}/{center}/{agent}/events/{kind with dots as levels}   agent -> hub, QoS 1
    {prefix}/{center}/{agent}/stats                               agent -> hub, QoS 1 (agent.stats)
    {prefix}/{center}/{agent}/status                              retained online/offline (+ will)
    {prefix}/{center}/{agent}/snapshots/{camera}                  retained JPEG, latest only
    {prefix}/{center}/{agent}/files                               evidence files, QoS 1 (protocol/files.py)
    {prefix}/{center}/{agent}/receipt                             retained, hub -> agent: stored up to seq
    {prefix}/{center}/{agent}/watch                               retained, hub -> agent: pictures often
    {prefix}/{center}/{agent}/fetch                               retained, hub -> agent: recordings wanted
    {prefix}/{center}/registry/bands/{band}                       retained, hub -> agents
    {prefix}/{center}/alerts/{alert_id}                           retained alert state, hub -> all
    {prefix}/{center}/hub/anchor                                  retained signed chain head, hub -> all

The prefix may have several levels (``casewatch/prod``). ``registry`` and ``alerts`` are reserved
and cannot be agent ids, which keeps the layout unambiguous; nor can ``hub``, the identity of the
hub's own records and of its status topic ``{prefix}/{center}/hub/status``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from protocol.errors import TopicError
from protocol.fields import KEY_PATTERN
from protocol.kinds import KINDS

DEFAULT_PREFIX = "casewatch"
RESERVED_AGENT_IDS = frozenset({"registry", "alerts", "hub", "notify"})
_KEY_RE = re.compile(KEY_PATTERN)
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
STATS_KIND = "agent.stats"


@dataclass(frozen=True)
class EventTopic:
    center: str
    agent: str
    kind: str


@dataclass(frozen=True)
class StatsTopic:
    center: str
    agent: str


@dataclass(frozen=True)
class StatusTopic:
    center: str
    agent: str


@dataclass(frozen=True)
class SnapshotTopic:
    center: str
    agent: str
    camera: str


@dataclass(frozen=True)
class FileTopic:
    center: str
    agent: str


@dataclass(frozen=True)
class ReceiptTopic:
    center: str
    agent: str


@dataclass(frozen=True)
class RegistryBandTopic:
    center: str
    band: str


@dataclass(frozen=True)
class AlertTopic:
    center: str
    alert_id: str


Topic = (
    EventTopic
    | StatsTopic
    | StatusTopic
    | SnapshotTopic
    | FileTopic
    | ReceiptTopic
    | RegistryBandTopic
    | AlertTopic
)


def _key(value: str, what: str) -> str:
    if not _KEY_RE.match(value):
        raise TopicError(f"{what} {value!r} is not a valid key ({KEY_PATTERN})")
    return value


def _agent(value: str) -> str:
    _key(value, "agent")
    if value in RESERVED_AGENT_IDS:
        raise TopicError(f"{value!r} is reserved and cannot be an agent id")
    return value


@dataclass(frozen=True)
class TopicLayout:
    """Topic builders and parser for one prefix."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise TopicError(f"topic prefix {self.prefix!r} must be levels of [A-Za-z0-9_.-]")

    # builders -------------------------------------------------------------------------------
    def events(self, center: str, agent: str, kind: str) -> str:
        if kind not in KINDS:
            raise TopicError(f"unknown kind {kind!r}")
        return f"{self.prefix}/{_key(center, 'center')}/{_agent(agent)}/events/{kind.replace('.', '/')}"

    def stats(self, center: str, agent: str) -> str:
        return f"{self.prefix}/{_key(center, 'center')}/{_agent(agent)}/stats"

    def status(self, center: str, agent: str) -> str:
        return f"{self.prefix}/{_key(center, 'center')}/{_agent(agent)}/status"

    def snapshot(self, center: str, agent: str, camera: str) -> str:
        return f"{self.prefix}/{_key(center, 'center')}/{_agent(agent)}/snapshots/{_key(camera, 'camera')}"

    def files(self, center: str, agent: str) -> str:
        """An agent's evidence files (snapshot at a condition's start, clips) on their way to the hub."""
        return f"{self.prefix}/{_key(center, 'center')}/{_agent(agent)}/files"

    def receipt(self, center: str, agent: str) -> str:
        """The hub's retained receipt for an agent: how far its events are stored (protocol/receipts.py)."""
        return f"{self.prefix}/{_key(center, 'center')}/{_agent(agent)}/receipt"

    def watch(self, center: str, agent: str) -> str:
        """The hub's retained watch request for an agent: cameras to send pictures of often."""
        return f"{self.prefix}/{_key(center, 'center')}/{_agent(agent)}/watch"

    def fetch(self, center: str, agent: str) -> str:
        """The hub's retained segment request for an agent: recordings to send (protocol/fetch.py)."""
        return f"{self.prefix}/{_key(center, 'center')}/{_agent(agent)}/fetch"

    def hub_status(self, center: str) -> str:
        """The hub's own retained ``online``/``offline`` (its will)."""
        return f"{self.prefix}/{_key(center, 'center')}/hub/status"

    def hub_anchor(self, center: str) -> str:
        """The hub's retained anchor: the log's head signed with its key (hub/anchor.py)."""
        return f"{self.prefix}/{_key(center, 'center')}/hub/anchor"

    def registry_band(self, center: str, band: str) -> str:
        return f"{self.prefix}/{_key(center, 'center')}/registry/bands/{_key(band, 'band')}"

    def alert(self, center: str, alert_id: str) -> str:
        return f"{self.prefix}/{_key(center, 'center')}/alerts/{_key(alert_id, 'alert id')}"

    def notify(self, center: str, recipient: str) -> str:
        """A person's notifications (the hub's notify channel ``mqtt``), QoS 1, not retained."""
        return f"{self.prefix}/{_key(center, 'center')}/notify/{_key(recipient, 'recipient')}"

    def topic_for(self, event: object) -> str:
        """Where an event is published: ``agent.stats`` on the stats topic, the rest on events."""
        center, agent, kind = event.center, event.agent, event.kind  # type: ignore[attr-defined]
        if kind == STATS_KIND:
            return self.stats(center, agent)
        return self.events(center, agent, kind)

    # subscription filters -------------------------------------------------------------------
    def events_filter(self, center: str = "+", agent: str = "+") -> str:
        return f"{self.prefix}/{center}/{agent}/events/#"

    def stats_filter(self, center: str = "+", agent: str = "+") -> str:
        return f"{self.prefix}/{center}/{agent}/stats"

    def status_filter(self, center: str = "+", agent: str = "+") -> str:
        return f"{self.prefix}/{center}/{agent}/status"

    def snapshots_filter(self, center: str = "+", agent: str = "+") -> str:
        return f"{self.prefix}/{center}/{agent}/snapshots/+"

    def files_filter(self, center: str = "+", agent: str = "+") -> str:
        return f"{self.prefix}/{center}/{agent}/files"

    def registry_filter(self, center: str) -> str:
        return f"{self.prefix}/{_key(center, 'center')}/registry/bands/+"

    @staticmethod
    def shared(group: str, topic_filter: str) -> str:
        """An MQTT v5 shared subscription: workers in ``group`` split the matching messages."""
        return f"$share/{_key(group, 'share group')}/{topic_filter}"

    # parser ---------------------------------------------------------------------------------
    def parse(self, topic: str) -> Topic:
        head = self.prefix + "/"
        if not topic.startswith(head):
            raise TopicError(f"topic {topic!r} is outside prefix {self.prefix!r}")
        levels = topic[len(head) :].split("/")
        if len(levels) < 3:
            raise TopicError(f"topic {topic!r} is too short")
        center = _key(levels[0], "center")
        second, rest = levels[1], levels[2:]
        if second == "registry":
            if len(rest) == 2 and rest[0] == "bands":
                return RegistryBandTopic(center, _key(rest[1], "band"))
            raise TopicError(f"unknown registry topic {topic!r}")
        if second == "alerts":
            if len(rest) == 1:
                return AlertTopic(center, _key(rest[0], "alert id"))
            raise TopicError(f"unknown alerts topic {topic!r}")
        agent = _agent(second)
        if rest == ["status"]:
            return StatusTopic(center, agent)
        if rest == ["stats"]:
            return StatsTopic(center, agent)
        if rest == ["files"]:
            return FileTopic(center, agent)
        if rest == ["receipt"]:
            return ReceiptTopic(center, agent)
        if len(rest) == 2 and rest[0] == "snapshots":
            return SnapshotTopic(center, agent, _key(rest[1], "camera"))
        if len(rest) >= 2 and rest[0] == "events":
            kind = ".".join(rest[1:])
            if kind not in KINDS or kind == STATS_KIND:
                raise TopicError(f"unknown event kind {kind!r} in topic {topic!r}")
            return EventTopic(center, agent, kind)
        raise TopicError(f"unknown topic {topic!r}")
