"""What one round of judgement leaves behind: derived state saved, then alerts and news sent out.

``save`` writes a round's ``Changes`` (rule states, alerts, projections, planned notifications,
the rules' progress mark) in one transaction; only after it commits are changed alerts published
(retained), band registrations re-signed for the agents, alert pictures kept and the console's
live feed told. A save that raises leaves nothing half-sent: the caller keeps the changes and
tries again (hub/ingest.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hub.core import Changes, HubCore
from hub.notify.notifier import Notifier
from hub.outbound import Outbound
from hub.state_store import DerivedStore
from hub.web.evidence import EvidenceFolder, cameras_for
from hub.web.live import LiveFeed
from hub.web.snapshots import SnapshotCache

log = logging.getLogger(__name__)


@dataclass
class Outputs:
    derived: DerivedStore
    notifier: Notifier
    outbound: Outbound
    evidence: EvidenceFolder
    snapshots: SnapshotCache
    live: LiveFeed

    def save(self, changes: Changes, core: HubCore, *, publish: bool = True, notify: bool = True) -> None:
        engine = core.engine
        due = {k: engine.state_due(k) for k in changes.rule_states}
        planned = self.notifier.plan(changes, core.projections) if notify else []
        self.derived.save(
            changes, due, also=(lambda db: self.notifier.persist(db, planned)) if planned else None
        )
        if planned:
            self.notifier.wake()
        if publish:
            try:  # saved already: a failure to send is not a failed save (it would save twice)
                self.send(changes, core)
            except Exception:
                log.exception("a round's changes were saved but not all sent out")

    def send(self, changes: Changes, core: HubCore) -> None:
        raised = {t.alert for t in changes.transitions if t.action == "raise"}
        cameras = core.projections.cameras

        def owner(camera: str) -> str | None:
            """Only the camera's own agent's picture is evidence (hub/web/snapshots.py)."""
            agent = (cameras.get(camera) or {}).get("agent")
            return str(agent) if agent else None

        for alert in changes.alerts:
            self.outbound.alert(alert)
            if alert.id in raised and not alert.context.get("finding"):  # a reminder brought its own
                self.evidence.capture(
                    alert.id, cameras_for(alert.context, core.projections.room_state), self.snapshots, owner
                )
        for band, reg in changes.registry.items():
            self.outbound.registration(band, reg)
        kinds = sorted({kind for kind, _key, _doc in changes.projections})
        if changes.alerts or kinds:
            self.live.publish({"alerts": [a.id for a in changes.alerts], "kinds": kinds})
