"""The hub's configuration file (``configs/hub-*.yaml``): one centre's (or region's) hub.

Documented key by key in ``docs/configuration.md``; ``casewatch config schema hub`` prints the
JSON Schema for editors.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    HttpUrl,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from foundation.configfile import Problem, duplicate_ids
from foundation.secrets import deployment_problems
from foundation.settings import (
    SECRET_FILES,
    AgentId,
    ConfigPath,
    ExistingFile,
    Key,
    MqttSettings,
    SecretFile,
    Settings,
    SigningKey,
    TimeZone,
    read_secret,
)
from hub.notify.policy import DEFAULT_ROLES
from hub.notify.templates import DEFAULT_ASSIGN_TEMPLATE, DEFAULT_SMS_TEMPLATE, check_template
from hub.notify.templates import Role as NotifyRole
from hub.passwords import is_password_hash
from hub.rules.levels import Level
from protocol.fields import RoomType

Role = Literal["viewer", "operator", "supervisor", "admin"]


class EmbeddedBroker(Settings):
    """The broker the hub runs itself when ``mqtt`` is absent (one centre, one process)."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=0, le=65535, description="0 picks a free port.")


class StoreSettings(Settings):
    backend: Literal["sqlite", "postgresql"] = Field(
        "sqlite",
        description="sqlite: one file, one hub process (one centre, the demo). postgresql: a server "
        "shared by several hub workers (a bureau, city or province), one hash chain per centre.",
    )
    path: ConfigPath | None = Field(None, description="SQLite file (WAL mode); backend sqlite.")
    dsn: str | None = Field(
        None,
        description="PostgreSQL connection string (libpq), e.g. `postgresql://casewatch@db1/casewatch`; "
        "backend postgresql. No password here: libpq reads it from a pgpass file "
        "(`passfile=` in the string, or PGPASSFILE) or PGPASSWORD.",
    )
    db_schema: str | None = Field(
        None,
        alias="schema",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema of the tables (created when missing); default: the connection's "
        "search_path. A multi-centre hub keeps each centre in `cw_{centre}` (docs/scaling.md).",
    )
    files: ConfigPath | None = Field(
        None,
        description="Folder of the hub's files (evidence, packages, reports, models, plans, agent files); "
        "default: the SQLite file's folder. Required with postgresql.",
    )
    synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL", description="FULL survives power loss; NORMAL survives a crash of the hub only."
    )
    anchor_every_s: int = Field(
        60,
        ge=5,
        le=86_400,
        description="How often the chain's signed head (an anchor) is published, retained, while the "
        'log grows; agents keep what they receive (docs/hub.md "Anchors").',
    )

    @model_validator(mode="after")
    def _backend_complete(self) -> StoreSettings:
        if self.backend == "sqlite" and self.path is None:
            raise ValueError("backend sqlite needs path: (the store's file)")
        if self.backend == "postgresql":
            if not self.dsn:
                raise ValueError("backend postgresql needs dsn: (the server's connection string)")
            if self.files is None:
                raise ValueError("backend postgresql needs files: (a folder for evidence, packages, reports)")
            if re.search(r"://[^/@]*:[^/@]*@|password\s*=", self.dsn):
                raise ValueError(
                    "dsn holds a password: put it in a pgpass file (passfile=… in the dsn, or PGPASSFILE) "
                    "so the hub file can be shared without it"
                )
        return self

    @property
    def folder(self) -> Path:
        """Where the hub keeps its files beside the store."""
        if self.files is not None:
            return Path(self.files)
        return Path(self.path or ".").parent


class IngestSettings(Settings):
    batch_max: int = Field(500, ge=1, le=10_000, description="Events per durable commit at most.")
    quarantine_max_rows: int = Field(
        50_000,
        ge=1_000,
        le=10_000_000,
        description="Refused messages kept; the oldest go first beyond it (counted).",
    )
    batch_ms: int = Field(50, ge=1, le=5_000, description="Longest wait to fill a batch.")
    max_future_s: int = Field(300, ge=1, le=86_400, description="Refuse events further ahead.")
    max_age_h: int = Field(720, ge=1, le=24 * 365, description="Refuse events older than this.")
    receipts: bool = Field(
        True,
        description="Publish each agent's receipt after a commit (agents delete only what it confirms). "
        "Off only when every agent runs with outbox.receipts off.",
    )


class RoomInfo(Settings):
    """A room of the centre, for the console and for rules (``room_type``)."""

    id: Key
    name: str = Field(..., min_length=1, max_length=32)
    type: RoomType


class AlertSettings(Settings):
    escalate_after_h: float = Field(48, gt=0, le=24 * 30, description="Unrectified tickets rise a level.")
    evidence_days: int = Field(365, ge=1, le=3650, description="Keep alerts' pictures this long.")


ReportFormat = Literal["html", "csv", "pdf"]


class ModelSettings(Settings):
    dir: ConfigPath | None = Field(
        None,
        description="Detector models handed to agents (`casewatch models pull --from-hub`): the .onnx/.pt "
        "files directly in this folder; default: models/ by the store.",
    )


class PackageSettings(Settings):
    """Each person's package of recordings and records (hub/packages.py, docs/recording.md)."""

    on_release: bool = Field(True, description="Build the person's package when they are released.")
    dir: ConfigPath | None = Field(None, description="Where packages go; default: packages/ by the store.")
    wait_s: float = Field(
        1800, ge=10, le=7 * 86400,
        description="Build with what arrived after this long (the segments that did not are named).",
    )  # fmt: skip


def _default_deductions() -> dict[Level, float]:
    return {"green": 0.0, "blue": 0.5, "yellow": 1.0, "orange": 2.0, "red": 4.0}


class Evaluation(Settings):
    """月考评 and 季排名: a unit's score is ``base`` less ``deduct`` per alert by its highest level
    and ``late`` per ticket not rectified within 48 h (suggested defaults)."""

    base: float = Field(100, gt=0, le=10_000)
    deduct: dict[Level, Annotated[float, Field(ge=0, le=1000)]] = Field(default_factory=_default_deductions)
    late: float = Field(3, ge=0, le=1000, description="Points lost per ticket rectified late.")

    @field_validator("deduct", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        """A level left out keeps its default deduction (not 0: that would silently pardon it)."""
        return {**_default_deductions(), **value} if isinstance(value, dict) else value


class ReportSettings(Settings):
    dir: ConfigPath | None = Field(
        None, description="Where scheduled reports are written; default: reports/ by the store."
    )
    scheduled: bool = Field(
        True, description="Write each past day's, week's and month's report once it is over."
    )
    formats: list[ReportFormat] = Field(default_factory=lambda: list[ReportFormat](["html", "csv", "pdf"]))
    patrol_views_per_day: int = Field(
        4,
        ge=1,
        le=1000,
        description="Patrol coverage counts a camera as patrolled when the wall showed it this often a day.",
    )
    evaluation: Evaluation = Field(default_factory=Evaluation)


class AgentKey(SigningKey):
    """An agent allowed to publish, with the key its events are signed with."""

    id: AgentId


class SmsSettings(Settings):
    enabled: bool = True
    port: str = Field(..., description="pyserial URL of the GSM/4G modem, e.g. /dev/ttyUSB2")
    baudrate: int = Field(115200, ge=300, le=4_000_000)
    pin: SecretStr | None = Field(None, description="SIM PIN, entered once when the modem asks for it")
    pin_file: SecretFile | None = None

    @model_validator(mode="after")
    def _pin_once(self) -> SmsSettings:
        if self.pin is not None and self.pin_file is not None:
            raise ValueError("give pin or pin_file, not both")
        pin = self.sim_pin()
        if pin is not None and not (pin.isdigit() and 4 <= len(pin) <= 8):
            raise ValueError("pin: a SIM PIN is 4–8 digits")
        return self

    def sim_pin(self) -> str | None:
        return read_secret(self.pin, self.pin_file)


class Webhook(Settings):
    id: Key
    url: HttpUrl
    secret: SecretStr | None = Field(None, description="HMAC key for the X-Casewatch-Signature header.")
    secret_file: SecretFile | None = None
    timeout_s: float = Field(5.0, gt=0, le=60)
    retries: int = Field(5, ge=0, le=20)
    min_level: Level = Field("blue", description="Only alerts reaching this level or higher.")

    @model_validator(mode="after")
    def _one_secret(self) -> Webhook:
        if self.secret is not None and self.secret_file is not None:
            raise ValueError("give secret or secret_file, not both")
        return self

    def secret_bytes(self) -> bytes | None:
        text = read_secret(self.secret, self.secret_file)
        return None if text is None else text.strip().encode()


Template = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(check_template)]


class NotifySettings(Settings):
    sms: SmsSettings | None = None
    webhooks: list[Webhook] = Field(default_factory=list)
    mqtt: bool = Field(True, description="Publish each recipient's notifications on .../notify/{officer}.")
    roles: dict[Level, list[NotifyRole]] = Field(
        default_factory=lambda: {level: list(roles) for level, roles in DEFAULT_ROLES.items()},
        description="Who hears of each level (a level left out: nobody).",
    )
    sms_template: Template = DEFAULT_SMS_TEMPLATE
    assign_template: Template = DEFAULT_ASSIGN_TEMPLATE
    max_per_recipient_per_hour: int = Field(20, ge=1, le=1000)


MIN_SESSION_SECRET = 32


class HttpSettings(Settings):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    session_secret: SecretStr | None = None
    session_secret_file: SecretFile | None = None
    session_ttl_min: int = Field(480, ge=5, le=7 * 24 * 60)
    max_body_kb: int = Field(
        1024, ge=16, le=65_536, description="Larger request bodies are refused (413) before any route."
    )
    tls_cert_file: ExistingFile | None = Field(
        None, description="PEM certificate (chain): the hub serves HTTPS; cookies are then Secure."
    )
    tls_key_file: SecretFile | None = Field(None, description="The certificate's PEM private key.")
    secure_cookies: bool | None = Field(
        None,
        description="Mark session cookies Secure; default: with tls_cert_file. Set true behind a "
        "reverse proxy that terminates HTTPS.",
    )

    @model_validator(mode="after")
    def _one_secret(self) -> HttpSettings:
        if self.session_secret is not None and self.session_secret_file is not None:
            raise ValueError("give session_secret or session_secret_file, not both")
        secret = read_secret(self.session_secret, self.session_secret_file)
        if secret is not None and len(secret) < MIN_SESSION_SECRET:
            raise ValueError(
                f"session_secret needs at least {MIN_SESSION_SECRET} characters "
                "(make one with `casewatch keygen`)"
            )
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("give tls_cert_file and tls_key_file together")
        return self

    @property
    def https(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def cookies_secure(self) -> bool:
        return self.https if self.secure_cookies is None else self.secure_cookies


def _password_hash(value: str) -> str:
    if not is_password_hash(value):
        raise ValueError("expected a pbkdf2_sha256$… hash from `casewatch hub hash-password`")
    return value


class User(Settings):
    username: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{2,32}$")]
    display_name: str | None = Field(None, max_length=32)
    role: Role
    password_hash: Annotated[str, AfterValidator(_password_hash)]
    centers: list[Key] = Field(
        default_factory=list,
        description="A multi-centre hub: the centres this user sees (a station's officer: their own); "
        "empty: all (the bureau's legal unit).",
    )


class CentreSettings(Settings):
    """One centre of a multi-centre hub: owned by one worker at a time (docs/scaling.md)."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]{0,59}$")] = Field(
        ..., description="The centre's key in topics and its PostgreSQL schema cw_{id}."
    )
    name: str | None = Field(None, max_length=64)
    units: list[Key] = Field(
        default_factory=list, description="The units (派出所, 大队) whose cases this centre handles."
    )
    rooms: list[RoomInfo] = Field(default_factory=list)
    agents: list[AgentKey] = Field(default_factory=list)
    retired_agents: list[AgentKey] = Field(default_factory=list)


class WorkerSettings(Settings):
    lease_s: int = Field(
        15,
        ge=3,
        le=300,
        description="A worker renews its centres' leases every lease_s/3; a worker silent for lease_s "
        "loses them to the others (multi-centre hubs).",
    )
    agents: list[AgentId] = Field(
        default_factory=list,
        description="The agents this worker owns (subscribes to); empty: every agent of the centre.",
    )
    share_group: Key | None = Field(
        None,
        description="MQTT v5 shared-subscription group, for a broker that keeps each agent on one "
        "worker (EMQX hash_clientid); Mosquitto deals messages round-robin.",
    )


class HubConfig(Settings):
    """A hub: ingest, store, rules, alerts, notifications, API and console."""

    center: Key
    name: str | None = Field(None, max_length=64)
    timezone: TimeZone = "Asia/Shanghai"
    mqtt: MqttSettings | None = Field(None, description="Absent: start the embedded broker.")
    embedded_broker: EmbeddedBroker = Field(default_factory=EmbeddedBroker)
    signing: SigningKey = Field(..., description="The hub's own key (signs registry messages).")
    store: StoreSettings
    agents: list[AgentKey] = Field(default_factory=list)
    retired_agents: list[AgentKey] = Field(
        default_factory=list,
        description="Agents taken out of service: `hub verify` still checks their events in the log "
        "with these keys; nothing new is accepted from them.",
    )
    rules: list[str] = Field(default_factory=list, description="Rule files or globs, relative to this file.")
    rooms: list[RoomInfo] = Field(default_factory=list)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    packages: PackageSettings = Field(default_factory=PackageSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    users: list[User] = Field(default_factory=list)
    workers: WorkerSettings = Field(default_factory=WorkerSettings)
    centers: list[CentreSettings] = Field(
        default_factory=list,
        description="A multi-centre hub's centres, shared out among its workers by lease (PostgreSQL "
        "store, external broker); empty: this file's one centre (center, rooms, agents).",
    )

    @model_validator(mode="after")
    def _centres_deployable(self) -> HubConfig:
        if not self.centers:
            for user in self.users:  # one centre: a scope naming another would lock the user out
                if any(c != self.center for c in user.centers):
                    raise ValueError(
                        f"user {user.username}: centers may only name {self.center} (no centers: listed)"
                    )
            return self
        if self.store.backend != "postgresql":
            raise ValueError("centers: needs store backend postgresql (workers share the store)")
        if self.mqtt is None:
            raise ValueError("centers: needs mqtt: (an external broker; the embedded one serves one hub)")
        if self.agents or self.rooms:
            raise ValueError("with centers:, list agents and rooms under each centre, not at the top")
        if self.workers.agents or self.workers.share_group:
            raise ValueError(
                "with centers:, workers own whole centres: workers.agents and share_group do not apply"
            )
        if self.retired_agents or self.store.db_schema:
            raise ValueError(
                "with centers:, retired_agents go under their centre, and each centre has its schema"
            )
        if self.notify.sms is not None:  # every centre's hub would open the one modem
            raise ValueError(
                "with centers:, notify.sms is not supported yet (one modem per worker): use webhooks"
            )
        known = {c.id for c in self.centers}
        for user in self.users:
            unknown = [c for c in user.centers if c not in known]
            if unknown:
                raise ValueError(f"user {user.username}: centers {unknown} are not in centers:")
        return self

    def centre_files(self) -> list[tuple[str, list[AgentKey]]]:
        """Every agent key of the file by centre (both layouts)."""
        if not self.centers:
            return [(self.center, [*self.agents, *self.retired_agents])]
        return [(c.id, [*c.agents, *c.retired_agents]) for c in self.centers]

    @model_validator(mode="after")
    def _secrets_handled(self, info: ValidationInfo) -> HubConfig:
        keys = [("signing", self.signing.verify_keys())]
        keys += [(f"agents: {a.id}", a.verify_keys()) for _c, agents in self.centre_files() for a in agents]
        problems = deployment_problems(
            self.center,
            (info.context or {}).get(SECRET_FILES, []),
            keys,
            [(f"user {u.username}", u.password_hash) for u in self.users],
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self


def cross_check(data: dict[str, Any]) -> list[Problem]:
    """Duplicate agent ids, usernames and webhook ids; a user list without an admin."""
    problems = (
        duplicate_ids(data, "agents")
        + duplicate_ids(data, "users", "username")
        + duplicate_ids(data, "rooms")
        + duplicate_ids(data, "centers")
        + _agents_in_two_centres(data)
    )
    notify = data.get("notify")
    if isinstance(notify, dict):
        problems += [(("notify", *p), m, v) for p, m, v in duplicate_ids(notify, "webhooks")]
    workers = data.get("workers")
    agents = data.get("agents")
    if isinstance(workers, dict) and isinstance(workers.get("agents"), list) and isinstance(agents, list):
        known = {a.get("id") for a in agents if isinstance(a, dict)}
        problems += [
            (("workers", "agents", i), "not one of the ids in agents:", agent)
            for i, agent in enumerate(workers["agents"])
            if agent not in known
        ]
    users = data.get("users")
    if (
        isinstance(users, list)
        and users
        and not any(isinstance(u, dict) and u.get("role") == "admin" for u in users)
    ):
        problems.append((("users",), "at least one user needs role admin", None))
    return problems


def _agents_in_two_centres(data: dict[str, Any]) -> list[Problem]:
    """An agent belongs to one centre: its events join that centre's chain and owner."""
    centres = data.get("centers")
    if not isinstance(centres, list):
        return []
    seen: dict[str, int] = {}
    problems: list[Problem] = []
    for i, centre in enumerate(centres):
        agents = centre.get("agents") if isinstance(centre, dict) else None
        for j, agent in enumerate(agents if isinstance(agents, list) else []):
            agent_id = agent.get("id") if isinstance(agent, dict) else None
            if not isinstance(agent_id, str):
                continue
            if agent_id in seen:
                problems.append(
                    (("centers", i, "agents", j, "id"), f"also in centers[{seen[agent_id]}]", agent_id)
                )
            seen.setdefault(agent_id, i)
    return problems
