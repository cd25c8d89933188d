from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import TopicError
from protocol.kinds import KINDS
from protocol.topics import (
    AlertTopic,
    EventTopic,
    RegistryBandTopic,
    SnapshotTopic,
    StatsTopic,
    StatusTopic,
    TopicLayout,
)

KEYS = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,30}\Z").filter(lambda k: k not in ("registry", "alerts"))
EVENT_KINDS = st.sampled_from(sorted(k for k in KINDS if k != "agent.stats"))


@given(center=KEYS, agent=KEYS, kind=EVENT_KINDS, prefix=st.sampled_from(["casewatch", "cw/prod", "a.b-c"]))
def test_event_topics_round_trip(center: str, agent: str, kind: str, prefix: str) -> None:
    layout = TopicLayout(prefix)
    topic = layout.events(center, agent, kind)
    assert layout.parse(topic) == EventTopic(center, agent, kind)
    assert "." not in topic.rsplit("/events/", 1)[1]  # dots become levels


@given(center=KEYS, agent=KEYS, camera=KEYS, band=KEYS)
def test_other_topics_round_trip(center: str, agent: str, camera: str, band: str) -> None:
    layout = TopicLayout()
    assert layout.parse(layout.status(center, agent)) == StatusTopic(center, agent)
    assert layout.parse(layout.stats(center, agent)) == StatsTopic(center, agent)
    assert layout.parse(layout.snapshot(center, agent, camera)) == SnapshotTopic(center, agent, camera)
    assert layout.parse(layout.registry_band(center, band)) == RegistryBandTopic(center, band)
    assert layout.parse(layout.alert(center, band)) == AlertTopic(center, band)


def test_layout_matches_the_documented_examples() -> None:
    layout = TopicLayout()
    assert layout.events("c1", "box-01", "band.vitals") == "casewatch/c1/box-01/events/band/vitals"
    assert layout.status("c1", "box-01") == "casewatch/c1/box-01/status"
    assert layout.registry_band("c1", "B0042") == "casewatch/c1/registry/bands/B0042"
    assert layout.alert("c1", "A1") == "casewatch/c1/alerts/A1"
    assert layout.events_filter("c1") == "casewatch/c1/+/events/#"
    assert layout.shared("hub", layout.events_filter()) == "$share/hub/casewatch/+/+/events/#"


@pytest.mark.parametrize(
    "topic",
    [
        "other/c1/box-01/status",
        "casewatch/c1",
        "casewatch/c1/box-01/events/no/such/kind",
        "casewatch/c1/box-01/events/agent/stats",  # stats has its own topic
        "casewatch/c1/box-01/unknown",
        "casewatch/c 1/box-01/status",
        "casewatch/c1/registry/status",
        "casewatch/c1/alerts/a/b",
        "casewatch/c1/box-01/snapshots/+",
    ],
)
def test_bad_topics_are_refused(topic: str) -> None:
    with pytest.raises(TopicError):
        TopicLayout().parse(topic)


@pytest.mark.parametrize("agent", ["registry", "alerts", "box/1", "+", "#", ""])
def test_reserved_and_unsafe_agent_ids_cannot_be_built(agent: str) -> None:
    with pytest.raises(TopicError):
        TopicLayout().status("c1", agent)


@pytest.mark.parametrize("prefix", ["", "/x", "x/", "x/+", "x#"])
def test_bad_prefixes(prefix: str) -> None:
    with pytest.raises(TopicError):
        TopicLayout(prefix)
