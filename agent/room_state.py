"""Who is in which room, fused from camera zone counts and wristbands. Pure: no I/O, no clock.

Cameras count persons; wristbands say who they are (the hub's retained registry gives each band
a role, a case key, sex and flags — never a name). Officers in a room are counted by the room's
``officer_method``:

- ``persons_minus_detainees``: persons the room's cameras see, minus bands of detainees, visitors
  and guardians in the room. Right when every non-staff person wears a band and the cameras see
  the whole room.
- ``zones``: persons in camera zones whose role is ``officers`` (behind the interrogation desk).
  Right for fixed layouts; independent of band coverage.
- ``tags``: officer bands/tags in the room. Right where officers wear tags.

A person in a camera zone whose role is ``detainee_seat`` counts as a detainee even without a
band (the interrogation chair is for the person being questioned), so an interrogation room
watched by a camera alone still raises its conditions.

Several cameras on one room: the highest count wins (they overlap; adding would double count).
A count above the room's ``capacity`` is implausible (a reflection, a poster, a broken detector):
it is clamped and reported in ``anomalies``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.config import Room
from detectors.config import Camera
from protocol.registry import BandRegistration

STAFF_ROLES = ("officer", "auxiliary")
NON_STAFF_ROLES = ("detainee", "visitor", "guardian")
HEALTHY = "online"
ENDED = "ended"
"""a file camera read to its end: neither watching nor at fault"""


@dataclass(frozen=True)
class RoomState:
    room: Room
    persons: int | None
    """Persons the cameras see (None when no camera watches the room or none works)."""
    officers: int
    staff: int
    detainees: tuple[str, ...]
    """Bands of detainees in the room."""
    seated: int
    """Persons the cameras see in ``detainee_seat`` zones: detainees even without a band."""
    bands: tuple[str, ...]
    cameras: tuple[str, ...]
    cameras_unhealthy: tuple[str, ...]
    cameras_ended: tuple[str, ...] = ()

    @property
    def source_ended(self) -> bool:
        """Every camera of the room is a file that was read to its end."""
        return bool(self.cameras) and len(self.cameras_ended) == len(self.cameras)

    @property
    def detainee_count(self) -> int:
        return max(len(self.detainees), self.seated)

    @property
    def occupied(self) -> bool:
        return self.detainee_count > 0 or bool(self.persons)


@dataclass
class Fusion:
    rooms: list[Room]
    cameras: list[Camera]
    zone_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    band_rooms: dict[str, str] = field(default_factory=dict)
    registry: dict[str, BandRegistration] = field(default_factory=dict)
    camera_health: dict[str, str] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rooms = {room.id: room for room in self.rooms}
        self._cameras = {camera.id: camera for camera in self.cameras}
        self._zone_roles = {(c.id, z.id): z.role for c in self.cameras for z in c.zones}

    # inputs --------------------------------------------------------------------------------------
    def zone(self, camera: str, zone: str, count: int) -> None:
        if (camera, zone) not in self._zone_roles:
            self.anomalies.append(f"count for unknown zone {camera}/{zone} ignored")
            return
        self.zone_counts[(camera, zone)] = count

    def band(self, band: str, room: str | None) -> None:
        """A band's room (None: lost). One room per band: a later reading replaces an earlier one."""
        if room is None:
            self.band_rooms.pop(band, None)
            return
        if room not in self._rooms:
            self.anomalies.append(f"band {band} placed in unknown room {room}")
            return
        previous = self.band_rooms.get(band)
        if previous is not None and previous != room:
            self.anomalies.append(f"band {band} moved {previous} -> {room}")
        self.band_rooms[band] = room

    def register(self, band: str, registration: BandRegistration | None) -> None:
        if registration is None:
            self.registry.pop(band, None)
        else:
            self.registry[band] = registration

    def camera(self, camera: str, state: str) -> None:
        self.camera_health[camera] = state

    # outputs -------------------------------------------------------------------------------------
    def last_count(self, camera: str) -> int:
        """Persons a camera counted last, even if it has since stopped working."""
        return sum(
            n
            for (cam, z), n in self.zone_counts.items()
            if cam == camera and self._zone_roles[(cam, z)] != "ignore"
        )

    def role(self, band: str) -> str | None:
        registration = self.registry.get(band)
        return registration.role if registration else None

    def state(self, room_id: str) -> RoomState:
        room = self._rooms[room_id]
        cameras = tuple(c.id for c in self.cameras if c.room == room_id)
        ended = tuple(c for c in cameras if self.camera_health.get(c) == ENDED)
        unhealthy = tuple(c for c in cameras if self.camera_health.get(c, HEALTHY) not in (HEALTHY, ENDED))
        bands = tuple(sorted(b for b, r in self.band_rooms.items() if r == room_id))
        roles = {b: self.role(b) for b in bands}
        detainees = tuple(b for b in bands if roles[b] == "detainee")
        working = [c for c in cameras if c not in unhealthy and c not in ended]
        persons = None
        zone_officers = seated = 0
        if working:
            seated = max(
                sum(
                    n
                    for (cam, z), n in self.zone_counts.items()
                    if cam == c and self._zone_roles[(cam, z)] == "detainee_seat"
                )
                for c in working
            )
            persons = max(
                sum(
                    n
                    for (cam, z), n in self.zone_counts.items()
                    if cam == c and self._zone_roles[(cam, z)] != "ignore"
                )
                for c in working
            )
            zone_officers = max(
                sum(
                    n
                    for (cam, z), n in self.zone_counts.items()
                    if cam == c and self._zone_roles[(cam, z)] == "officers"
                )
                for c in working
            )
            if persons > room.capacity:
                self.anomalies.append(
                    f"{room_id}: {persons} persons counted, capacity {room.capacity}; clamped"
                )
                persons = room.capacity
                zone_officers = min(zone_officers, room.capacity)
        tagged_officers = sum(1 for b in bands if roles[b] == "officer")
        tagged_staff = sum(1 for b in bands if roles[b] in STAFF_ROLES)
        non_staff = max(sum(1 for b in bands if roles[b] in NON_STAFF_ROLES), seated)
        if room.officer_method == "tags" or persons is None:
            officers, staff = tagged_officers, tagged_staff
        elif room.officer_method == "zones":
            officers = staff = zone_officers
        else:
            officers = staff = max(0, persons - non_staff)
        return RoomState(room, persons, officers, staff, detainees, seated, bands, cameras, unhealthy, ended)

    def states(self) -> dict[str, RoomState]:
        return {room_id: self.state(room_id) for room_id in self._rooms}
