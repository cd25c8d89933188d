"""``casewatch hub …``: run the hub, and the maintenance an operator needs when something is off.

- ``casewatch hub --config F`` runs the hub until SIGTERM/SIGINT.
- ``casewatch hub verify --config F [--anchor FILE]…`` walks the hash chain, checks every column
  and signature, compares with anchors kept outside the store, and names the first broken row.
- ``casewatch hub rebuild --config F`` recomputes projections, rule states and alerts from the log.
- ``casewatch hub hash-password`` makes a console password hash.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from casewatch.exits import EXIT_FAILED
from protocol.errors import CasewatchError


def _config(config_path: Path) -> Any:
    from casewatch.cli import _load_or_exit

    return _load_or_exit(config_path, "hub")


def _service(config_path: Path) -> Any:
    from hub.service import HubService

    cfg = _config(config_path)
    try:
        return HubService(cfg, config_path.resolve().parent)
    except CasewatchError as exc:
        click.echo(f"✗ 中心枢纽无法启动 (hub cannot start): {exc}", err=True)
        sys.exit(EXIT_FAILED)


@click.group(invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="hub-*.yaml")
@click.option("--log-format", type=click.Choice(["auto", "json", "text"]), default="auto", show_default=True,
              help="json: one object per line (default when not on a terminal).")  # fmt: skip
@click.option("--worker-id", default=None,
              help="A multi-centre hub's worker name (default: host-pid), unique among them.")  # fmt: skip
@click.option("--http-port", type=int, default=None,
              help="A worker's bureau console port (default: http.port; 0: any free one).")  # fmt: skip
@click.pass_context
def hub(
    ctx: click.Context,
    config_path: Path | None,
    log_format: str,
    worker_id: str | None,
    http_port: int | None,
) -> None:
    """运行中心枢纽，直到收到 SIGTERM/SIGINT；及其管理命令 (run the hub; hub maintenance commands).

    A hub file with ``centers:`` runs as one worker of a multi-centre hub (docs/scaling.md).
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = config_path
        return
    if config_path is None:
        click.echo(ctx.get_help())
        sys.exit(2)
    import signal
    import threading

    from foundation.logs import setup_logging

    if _config(config_path).centers:
        setup_logging(log_format)
        _run_worker(config_path, worker_id, http_port)
        return
    service = _service(config_path)
    setup_logging(log_format)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        service.start()
    except CasewatchError as exc:
        click.echo(f"✗ 中心枢纽无法启动 (hub cannot start): {exc}", err=True)
        sys.exit(EXIT_FAILED)
    cfg = service.cfg
    api = f", API {service.http.url}/api/v1" if service.http is not None else ""
    click.echo(
        f"✓ 中心枢纽运行中 (hub running): {cfg.center}, {len(service.rules.rules)} rules, "
        f"store {_store_name(cfg)}{api}",
        err=True,
    )
    stop.wait()
    service.stop()


def _run_worker(config_path: Path, worker_id: str | None, http_port: int | None) -> None:
    import os
    import signal
    import socket

    from hub.worker import HubWorker

    cfg = _config(config_path)
    name = worker_id or f"{socket.gethostname()}-{os.getpid()}"
    try:
        worker = HubWorker(cfg, config_path.resolve().parent, name, http_port=http_port)
    except CasewatchError as exc:
        click.echo(f"✗ 中心枢纽无法启动 (hub worker cannot start): {exc}", err=True)
        sys.exit(EXIT_FAILED)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: worker.stop())
    click.echo(
        f"✓ 中心枢纽工作进程运行中 (hub worker {name} running): {len(cfg.centers)} centres by lease "
        f"({cfg.workers.lease_s} s), store {_store_name(cfg)}",
        err=True,
    )
    worker.run()


def _store_name(cfg: Any) -> str:
    from hub.store_engines import redact

    return redact(cfg.store.dsn) if cfg.store.backend == "postgresql" else str(cfg.store.path)


def _config_option(func: Any) -> Any:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path),
        required=False,
        help="hub-*.yaml (or give it before the subcommand)",
    )(func)


def _resolve(ctx: click.Context, config_path: Path | None) -> Path:
    path = config_path or ctx.obj
    if path is None:
        raise click.UsageError("--config is required")
    return Path(path)


@hub.command("verify")
@_config_option
@click.option(
    "--anchor",
    "anchor_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A file with anchors (an agent's `casewatch anchors`, a daily report); repeatable.",
)
@click.option("--allow-empty", is_flag=True, help="A store without events is not an error.")
@click.pass_context
def hub_verify(ctx: click.Context, config_path: Path | None, anchor_files: tuple[Path, ...],
               allow_empty: bool) -> None:  # fmt: skip
    """校验事件哈希链、各列、签名与锚点，指出第一条被改动的记录 (verify the log; name the first broken row).

    Opens the store read-only: a missing, empty or damaged file is an error, never a new store.
    """
    from hub.verify_file import verify_file, verify_postgres

    cfg = _config(_resolve(ctx, config_path))
    if cfg.centers:
        if anchor_files:  # an anchor names one chain: per centre, not done yet
            click.echo("✗ --anchor is not supported with centers: yet (anchors are per centre)", err=True)
            sys.exit(EXIT_FAILED)
        _verify_centres(cfg, allow_empty)
        return
    started = time.monotonic()
    try:
        keyring = _verify_keyring(cfg)
        anchors, refused = _read_anchors(anchor_files, keyring, cfg.center)
        if cfg.store.backend == "postgresql":
            report = verify_postgres(
                cfg.store.dsn, cfg.center, schema=cfg.store.db_schema, keyring=keyring, anchors=anchors
            )
        else:
            report = verify_file(Path(cfg.store.path), keyring=keyring, anchors=anchors)
    except (CasewatchError, OSError) as exc:
        click.echo(f"✗ {exc}", err=True)
        sys.exit(EXIT_FAILED)
    took = time.monotonic() - started
    for problem in refused:  # a forged anchor proves nothing, and says someone tried: exit 1
        click.echo(f"✗ 锚点无效 (anchor refused): {problem}", err=True)
    if report.ok and (report.rows or allow_empty) and not refused:
        head = report.head[:16]
        click.echo(
            f"✓ 哈希链完整 (chain intact): {report.rows} events, {report.signatures_checked} signatures, "
            f"{report.anchors_checked} anchors, head {head}…, {took:.1f} s"
        )
        return
    if report.ok and refused:
        click.echo(f"✗ the chain checks out against the {len(anchors)} good anchors; see the refused ones",
                   err=True)  # fmt: skip
        sys.exit(EXIT_FAILED)
    if report.ok:
        click.echo("✗ 日志中没有任何事件 (the store holds no events: wiped? --allow-empty for a new hub)",
                   err=True)  # fmt: skip
        sys.exit(EXIT_FAILED)
    intact = f"rows 1–{report.rows} intact" if report.rows else "no row before it is intact"
    click.echo(
        f"✗ 哈希链在第 {report.first_broken} 条断开 (chain broken at row {report.first_broken}): "
        f"{report.reason}; {intact}",
        err=True,
    )
    sys.exit(EXIT_FAILED)


def _verify_centres(cfg: Any, allow_empty: bool) -> None:
    """A multi-centre hub: each centre's chain in its own schema, with its own agents' keys."""
    from hub.verify_file import verify_postgres
    from hub.worker import centre_config

    broken = 0
    for centre in cfg.centers:
        one = centre_config(cfg, centre)
        try:
            report = verify_postgres(
                cfg.store.dsn, centre.id, schema=one.store.db_schema, keyring=_verify_keyring(one)
            )
        except CasewatchError as exc:
            if allow_empty and "no casewatch schema" in str(exc):
                click.echo(f"· {centre.id}: never owned yet (no schema)")
                continue
            click.echo(f"✗ {centre.id}: {exc}", err=True)
            broken += 1
            continue
        if report.ok and not report.rows and not allow_empty:
            broken += 1
            click.echo(
                f"✗ {centre.id}: 日志中没有任何事件 (no events: wiped? --allow-empty for a new centre)",
                err=True,
            )
        elif report.ok:
            said = f"{report.rows} events, {report.signatures_checked} signatures"
            click.echo(f"✓ {centre.id}: 哈希链完整 (chain intact): {said}")
        else:
            broken += 1
            click.echo(f"✗ {centre.id}: 哈希链在第 {report.first_broken} 条断开 (chain broken at row "
                       f"{report.first_broken}): {report.reason}", err=True)  # fmt: skip
    if broken:
        sys.exit(EXIT_FAILED)


def _verify_keyring(cfg: Any) -> Any:
    """Every key an event in the log may be signed with: each agent's (retired ones too) and the
    hub's own records'."""
    from protocol.registry import HUB_IDENTITY
    from protocol.signing import Keyring

    keyring = Keyring({a.id: a.verify_keys() for a in (*cfg.retired_agents, *cfg.agents)})
    keyring.add(HUB_IDENTITY, cfg.signing.verify_keys())
    return keyring


def _read_anchors(files: tuple[Path, ...], keyring: Any, center: str) -> tuple[list[Any], list[str]]:
    """The anchors in files that this hub signed, and what is wrong with the others (each one named:
    a forged anchor among good ones must not hide the good ones). A file without any is an error."""
    from hub.chain import AnchorPoint
    from protocol.anchor import AnchorError, anchors_in_text, read_anchor

    points, refused = [], []
    for path in files:
        found = anchors_in_text(path.read_bytes().decode("latin-1"))
        if not found:
            raise AnchorError(f"{path}: no anchor in it")
        for index, text in enumerate(found, start=1):
            try:
                anchor = read_anchor(text, keyring, center)
            except AnchorError as exc:
                refused.append(f"{path.name} #{index}: {exc}")
                continue
            points.append(AnchorPoint(anchor.pos, anchor.hash, f"{path.name} #{index}"))
    return points, refused


@hub.command("registry-key")
@_config_option
@click.option("--output", type=click.Path(path_type=Path), help="Write it to this new file, mode 0600.")
@click.pass_context
def hub_registry_key(ctx: click.Context, config_path: Path | None, output: Path | None) -> None:
    """给代理的登记密钥 (the key agents verify the hub's band registrations and anchors with).

    Derived one way from the hub's own key: an edge box holding it cannot sign the hub's records
    or anchors. Give it to each agent as ``registry_key``; never give agents the hub's own key.
    """
    from casewatch.cli import write_new_secret
    from protocol.registry import registry_key

    cfg = _config(_resolve(ctx, config_path))
    key = registry_key(cfg.signing.key_bytes()).decode()
    if output is None:
        click.echo(key)
        return
    write_new_secret(output, key)


@hub.command("rebuild")
@_config_option
@click.option("--center", default=None, help="A multi-centre hub: only this centre (default: every one).")
@click.pass_context
def hub_rebuild(ctx: click.Context, config_path: Path | None, center: str | None) -> None:
    """从事件日志重建人员、手环、规则计时和告警 (recompute projections, timers and alerts from the log).

    Run it with the hub stopped. Rules replay in event time; alert actions are records in the log,
    so the closed loop is rebuilt too.
    """
    path = _resolve(ctx, config_path)
    if _config(path).centers:
        _rebuild_centres(path, center)
        return
    service = _service(path)
    started = time.monotonic()
    try:
        count = service.rebuild()
    except CasewatchError as exc:
        click.echo(f"✗ {exc}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"✓ 已重建 (rebuilt) from {count} events in {time.monotonic() - started:.1f} s")


def _rebuild_centres(path: Path, only: str | None) -> None:
    """A multi-centre hub: each centre (or ``only``) rebuilt in its schema, if no worker owns it now."""
    import os
    import socket

    from hub.lease_table import LeaseTable
    from hub.service import HubService
    from hub.worker import centre_config

    cfg = _config(path)
    chosen = [c for c in cfg.centers if only is None or c.id == only]
    if not chosen:
        click.echo(f"✗ no centre {only} in {path}", err=True)
        sys.exit(EXIT_FAILED)
    me = f"rebuild-{socket.gethostname()}-{os.getpid()}"
    table = LeaseTable(cfg.store.dsn, 3600)  # held for the rebuild: no worker takes the centre meanwhile
    try:
        for centre in chosen:
            if not table.take(centre.id, me):
                click.echo(f"✗ {centre.id}: a worker holds it: stop the workers first", err=True)
                sys.exit(EXIT_FAILED)
            started = time.monotonic()
            try:
                service = HubService(centre_config(cfg, centre), path.resolve().parent, lease=(centre.id, me))
                count = service.rebuild()
            except CasewatchError as exc:
                click.echo(f"✗ {centre.id}: {exc}", err=True)
                sys.exit(EXIT_FAILED)
            finally:
                table.release(centre.id, me)
            took = time.monotonic() - started
            click.echo(f"✓ {centre.id}: 已重建 (rebuilt) from {count} events in {took:.1f} s")
    finally:
        table.close()


@hub.command("hash-password")
@click.password_option("--password", prompt="密码 (password)", help="Read from a prompt when omitted.")
def hub_hash_password(password: str) -> None:
    """生成控制台用户的密码哈希 (hash a console password for the hub's users: list)."""
    from hub.passwords import hash_password

    click.echo(hash_password(password))


@hub.command("acl")
@_config_option
@click.option(
    "--output", type=click.Path(path_type=Path), help="Write the acl_file here (default: print it)."
)
@click.option(
    "--broker",
    type=click.Choice(["mosquitto", "rabbitmq", "emqx"]),
    default="mosquitto",
    show_default=True,
    help="mosquitto: acl_file; rabbitmq: a rabbitmqctl script; emqx: acl.conf",
)
@click.pass_context
def hub_acl(ctx: click.Context, config_path: Path | None, output: Path | None, broker: str) -> None:
    """生成代理服务器访问控制：每个边缘代理只能发布到自己的主题 (broker access rules per agent)."""
    from hub.acl import broker_rules

    cfg = _config(_resolve(ctx, config_path))
    text = broker_rules(cfg, broker)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        click.echo(f"✗ 无法写入 (cannot write) {output}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_FAILED)
    agents = sum(len(c.agents) for c in cfg.centers) if cfg.centers else len(cfg.agents)
    then = {
        "mosquitto": "point Mosquitto's acl_file at it and reload",
        "rabbitmq": "run it where rabbitmqctl works",
        "emqx": "make it EMQX's file authorizer (acl.conf) and reload",
    }[broker]
    click.echo(f"✓ {output}: {agents} agents; {then}", err=True)
