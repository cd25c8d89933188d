"""A worker of a multi-centre hub: it runs one centre hub for each centre whose lease it holds.

A hub file with ``centers:`` is run by several ``casewatch hub`` processes (on one box or many)
sharing one PostgreSQL store and one broker. Each process is a ``HubWorker``: every ``lease_s/3``
it renews its leases and its heartbeat, reads the lease table, and takes or hands back centres by
``hub.lease_plan``. For a centre it holds it runs an ordinary ``HubService`` configured for that
centre alone (``centre_config``):

- its tables in the PostgreSQL schema ``cw_{centre}`` (its own hash chain, rule states, alerts,
  notifications): a new owner loads them as a restarted hub would, so timers fire once, late if
  they came due during the hand-over, and alert ids and notification keys stay the same;
- its MQTT client id ``{mqtt.client_id or casewatch-hub}-{centre}`` whatever the worker: the
  broker's persistent session (and the QoS 1 events queued in it while nobody held the centre)
  follows the centre to its new owner; events delivered to a dead owner but never acknowledged
  (acknowledged only after the commit) are delivered again, and the store skips those it has;
- its files (evidence, packages, reports) under ``store.files/{centre}``: shared storage when
  workers run on several boxes.

A worker that cannot renew stops its centres before their leases can expire (two thirds of the
lease time after its last renewal), so a new owner never runs beside an old one that merely lost
the database; a store write by an old owner that did not notice fails on the chain head
(``hub.store``). A clean stop hands every lease back at once.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from pathlib import Path

from hub.bureau import BureauReads
from hub.bureau_http import bureau_app
from hub.config import CentreSettings, HubConfig
from hub.errors import StoreError
from hub.http_server import HttpServer
from hub.lease_plan import Lease, plan_leases
from hub.lease_table import LeaseTable
from hub.rules.engine import load_rule_files, rule_file_paths
from hub.service import HubService
from protocol.clock import SystemClock

log = logging.getLogger(__name__)


def centre_config(cfg: HubConfig, centre: CentreSettings) -> HubConfig:
    """The hub file as one centre's hub sees it: that centre's rooms, agents, schema and session."""
    store = cfg.store.model_copy(
        update={"db_schema": f"cw_{centre.id}", "files": cfg.store.folder / centre.id}
    )
    update: dict[str, object] = {
        "center": centre.id,
        "name": centre.name,
        "rooms": centre.rooms,
        "agents": centre.agents,
        "retired_agents": centre.retired_agents,
        "centers": [],
        "store": store,
        "http": cfg.http.model_copy(update={"port": 0}),  # a free port per centre: the lease table says which
    }
    if cfg.mqtt is not None:
        update["mqtt"] = cfg.mqtt.model_copy(
            update={"client_id": f"{cfg.mqtt.client_id or 'casewatch-hub'}-{centre.id}"}
        )
    return cfg.model_copy(update=update)


class HubWorker:
    def __init__(
        self,
        cfg: HubConfig,
        base: Path,
        worker_id: str,
        *,
        table: LeaseTable | None = None,
        http_port: int | None = None,
    ) -> None:
        """``http_port``: where this worker serves the bureau console (default ``http.port``;
        workers on one box need one each; ``-1``: none)."""
        if not cfg.centers or cfg.store.dsn is None:
            raise ValueError("a hub worker needs centers: and a PostgreSQL store")
        self.cfg = cfg
        self.base = base
        self.id = worker_id
        self.lease_s = cfg.workers.lease_s
        self.table = table or LeaseTable(cfg.store.dsn, self.lease_s)
        self.centres = {c.id: c for c in cfg.centers}
        self.running: dict[str, HubService] = {}
        self.renewed_at = time.monotonic()
        self.instance = uuid.uuid4().hex
        """This process, among any that go by the same worker name."""
        self.stopping = threading.Event()
        self.taken: list[tuple[str, str | None]] = []
        """(centre, previous owner) of every take, for the log and tests."""
        self.http: HttpServer | None = None
        self.reads: BureauReads | None = None
        if http_port != -1:
            rules = load_rule_files(rule_file_paths(cfg.rules, base))
            self.reads = BureauReads(cfg.store.dsn, cfg.centers, {r.id: r for r in rules.rules})
            app = bureau_app(cfg, self.reads, SystemClock())
            port = cfg.http.port if http_port is None else http_port
            self.http = HttpServer(app, cfg.http.host, port, tls=_tls(cfg))

    # one round ----------------------------------------------------------------------------------
    def round(self) -> None:
        reading = self._renew()
        if reading is None:
            return
        now, leases, live = reading
        # its own live leases not running (a restart under the same id) come back at once
        own = [c for c, lease in sorted(leases.items()) if lease.owner == self.id and lease.expires_ms > now]
        plan = plan_leases(self.id, self.centres, leases, live, now)
        for centre in plan.release:
            self._stop(centre)
            self.table.release(centre, self.id)
            log.info("worker %s: handed centre %s back (fair share %d)", self.id, centre, plan.fair_share)
        for centre in [*(c for c in own if c not in plan.release), *plan.take]:
            idle = centre in self.centres and centre not in self.running and not self.stopping.is_set()
            if idle and self.table.take(centre, self.id):
                self._start(centre, leases.get(centre))
                self._keep()  # starting many centres takes longer than a lease: renew as it goes

    def _keep(self) -> None:
        """Renew what it holds between starts (a failure is the next round's to handle)."""
        asked = time.monotonic()
        try:
            self.table.renew(self.id, list(self.running))
        except StoreError:
            return
        self.renewed_at = asked

    def _renew(self) -> tuple[int, dict[str, Lease], list[str]] | None:
        """Renew, beat, read the table; stop centres taken by others. None: the table is out of
        reach (its centres are stopped once their leases could run out)."""
        asked = time.monotonic()  # the lease runs from when the renewal was asked, not answered
        try:
            url = None if self.http is None else self.http.url + "/bureau"
            if not self.table.heartbeat(self.id, self.instance, len(self.running), url):
                log.error("worker %s: another live process goes by this name: holding nothing", self.id)
                for centre in list(self.running):
                    self._stop(centre, lost=True)
                return None
            held = self.table.renew(self.id, list(self.running))
            reading = self.table.read()
        except StoreError as exc:
            log.error("worker %s: leases not renewed: %s", self.id, exc)
            if time.monotonic() - self.renewed_at > self.lease_s * 2 / 3 and self.running:
                log.error(
                    "worker %s: stopping its %d centres before their leases run out",
                    self.id,
                    len(self.running),
                )
                for centre in list(self.running):
                    self._stop(centre)
            return None
        self.renewed_at = asked
        for lost in sorted(set(self.running) - held):
            log.warning("worker %s: lost centre %s to another worker", self.id, lost)
            self._stop(lost, lost=True)
        for service in self.running.values():  # a status an old owner's will overwrote is put right
            if service.link is not None:
                service.link.set_status()
        return reading

    def _start(self, centre: str, previous: Lease | None) -> None:
        was = previous.owner if previous is not None and previous.owner != self.id else None
        try:
            service = HubService(
                centre_config(self.cfg, self.centres[centre]), self.base, lease=(centre, self.id)
            )
            service.start(http=self.http is not None)
            if service.http is not None:  # the centre's own console and API, on a port of its own
                self.table.set_url(centre, self.id, _reachable(service.http.url))
        except Exception:
            log.exception("worker %s: centre %s would not start; lease handed back", self.id, centre)
            self.table.release(centre, self.id)
            return
        self.running[centre] = service
        self.taken.append((centre, was))
        log.warning(
            "worker %s: owns centre %s%s", self.id, centre, f" (taken over from {was})" if was else ""
        )

    def _stop(self, centre: str, *, lost: bool = False) -> None:
        """``lost``: another worker owns it already; its status topic is the new owner's to say."""
        service = self.running.pop(centre, None)
        if service is not None:
            try:
                service.stop(handing_over=lost)
            except Exception:
                log.exception("worker %s: centre %s did not stop cleanly", self.id, centre)

    # running ------------------------------------------------------------------------------------
    def run(self) -> None:
        """Rounds every lease_s/3 until ``stop``; then every centre stops and its lease is handed back."""
        if self.http is not None:
            self.http.start()
            log.warning("worker %s: bureau console on %s/bureau", self.id, self.http.url)
        try:
            while not self.stopping.is_set():
                try:
                    self.round()
                except Exception:  # a round's fault must not end the worker: the next one retries
                    log.exception("worker %s: round failed", self.id)
                self.stopping.wait(self.lease_s / 3)
        finally:
            for centre in list(self.running):
                self._stop(centre)
            try:
                self.table.leave(self.id)
            except StoreError as exc:
                log.error(
                    "worker %s: leases not handed back (they expire in %d s): %s", self.id, self.lease_s, exc
                )
            self.table.close()
            if self.http is not None:
                self.http.stop()
            if self.reads is not None:
                self.reads.close()

    def stop(self) -> None:
        self.stopping.set()


def _tls(cfg: HubConfig) -> tuple[Path, Path] | None:
    cert, key = cfg.http.tls_cert_file, cfg.http.tls_key_file
    return (Path(cert), Path(key)) if cert is not None and key is not None else None


def _reachable(url: str) -> str:
    """A server bound to every interface is reached by the box's name, not by 0.0.0.0."""
    for wildcard in ("//0.0.0.0:", "//[::]:", "//:::"):
        if wildcard in url:
            return url.replace(wildcard, f"//{socket.getfqdn()}:")
    return url
