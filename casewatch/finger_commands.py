"""``casewatch fingers enrol|list|delete``: the fingerprint library of a cabinet's module, for the
installer at the cabinet. The module is found from the agent file (``--config``, ``--device``) or
given directly (``--port`` …)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any

import click

from casewatch.exits import EXIT_CONFIG, EXIT_FAILED
from protocol.errors import CasewatchError


@dataclass(frozen=True)
class ModuleTarget:
    port: str
    baudrate: int
    password: int
    address: int
    capacity: int
    officers: dict[int, str]


def cabinet_options(config: Path, device: str) -> Any:
    """The validated ``options`` of cabinet ``device`` in agent file ``config`` (exit 2 if none)."""
    from casewatch.cli import _load_or_exit
    from devices.cabinet import CabinetOptions

    cfg = _load_or_exit(config, "agent")
    found = [d for d in cfg.devices if d.id == device]
    cabinets = [d.id for d in cfg.devices if d.driver == "dossier-cabinet"]
    if not found or found[0].driver != "dossier-cabinet":
        click.echo(f"✗ {config}: 没有卷宗柜 {device} (no dossier cabinet {device!r}; cabinets: "
                   f"{', '.join(cabinets) or 'none'})", err=True)  # fmt: skip
        sys.exit(EXIT_CONFIG)
    return CabinetOptions.model_validate(found[0].options)


def module_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--config/--device`` or ``--port`` (+ serial settings) → a ``target: ModuleTarget``."""

    @click.option("--config", "config", type=click.Path(exists=True, path_type=Path), help="center-*.yaml")
    @click.option("--device", help="The cabinet's device id in that file.")
    @click.option("--port", help="Or: the module's pyserial URL.")
    @click.option("--baudrate", default=57600, show_default=True)
    @click.option("--password", default="0", show_default=True, help="Module password (decimal or 0x…).")
    @click.option("--address", default="0xFFFFFFFF", show_default=True, help="Module address.")
    @click.option("--capacity", default=300, show_default=True, help="Library pages (with --port).")
    @wraps(command)
    def wrapper(config: Path | None, device: str | None, port: str | None, baudrate: int, password: str,
                address: str, capacity: int, **kwargs: Any) -> None:  # fmt: skip
        if config is not None and device:
            options = cabinet_options(config, device)
            fp = options.fingerprint
            target = ModuleTarget(fp.port, fp.baudrate, fp.password, fp.address, fp.library_size,
                                  dict(options.officers))  # fmt: skip
        elif port:
            target = ModuleTarget(port, baudrate, int(password, 0), int(address, 0), capacity, {})
        else:
            raise click.UsageError("give --config and --device, or --port")
        command(target=target, **kwargs)

    return wrapper


def link_to(target: ModuleTarget) -> Any:
    from devices.fingerprint_link import FingerprintLink

    return FingerprintLink(target.port, baudrate=target.baudrate, password=target.password,
                           address=target.address)  # fmt: skip


def fail(message: str) -> None:
    click.echo(f"✗ {message}", err=True)
    sys.exit(EXIT_FAILED)


@click.group()
def fingers() -> None:
    """指纹库管理：录入、列出、删除 (the fingerprint library of a cabinet's module)."""


@fingers.command("enrol")
@module_options
@click.option("--page", type=click.IntRange(0, 2999), help="Library page (default: the first free one).")
@click.option("--replace", is_flag=True, help="Overwrite a page that already holds a finger.")
@click.option("--timeout", default=20.0, show_default=True, help="Seconds to wait for the finger.")
def fingers_enrol(target: ModuleTarget, page: int | None, replace: bool, timeout: float) -> None:
    """录入指纹：按、抬起、再按同一手指 (enrol a finger: place, lift, place again; refuses a finger
    already enrolled and an occupied page), then map the page to the officer in `officers:`."""
    from devices.fingerprint import read_sys_para, system_parameters
    from devices.fingerprint_enrol import Enrolled, EnrolPlan, enrolment
    from protocol.clock import SystemClock

    link = link_to(target)
    try:
        params = system_parameters(link.request(read_sys_para()))
        capacity = params.capacity if params else target.capacity  # the module's own library size
        plan = EnrolPlan(page=page, capacity=capacity, replace=replace, finger_timeout_s=timeout,
                         mapped=frozenset(target.officers))  # fmt: skip
        outcome = link.drive(enrolment(plan, SystemClock(), lambda text: click.echo(text)))
    except CasewatchError as exc:
        fail(str(exc))
    finally:
        link.close()
    if not isinstance(outcome, Enrolled):
        fail(f"录入失败 (enrolment failed): {outcome.reason}")
    click.echo(f"✓ 已存入第 {outcome.page} 页 (stored at page {outcome.page}); "
               f"now map it: officers: {{{outcome.page}: OFFICER-ID}}")  # fmt: skip


@fingers.command("list")
@module_options
def fingers_list(target: ModuleTarget) -> None:
    """列出已录入的指纹页 (the pages holding a finger, and the officer each is mapped to)."""
    from devices.fingerprint import read_sys_para, system_parameters, template_num
    from devices.fingerprint_enrol import EnrolFailed, used_library_pages

    link = link_to(target)
    try:
        params = system_parameters(link.request(read_sys_para()))
        capacity = params.capacity if params else target.capacity
        count = link.request(template_num()).payload[1:3]
        used = link.drive(used_library_pages(capacity))
    except CasewatchError as exc:
        fail(str(exc))
    finally:
        link.close()
    if isinstance(used, EnrolFailed):
        fail(used.reason)
    click.echo(
        f"# {target.port}: {int.from_bytes(count, 'big')} 个指纹 (templates) / 容量 capacity {capacity}"
    )
    for page in sorted(used):
        officer = target.officers.get(page, "— 未映射 (not in officers:)")
        click.echo(f"{page:>5}  {officer}")
    unmapped = sorted(set(target.officers) - used)
    for page in unmapped:
        click.echo(
            f"{page:>5}  {target.officers[page]} ✗ 配置有此页但模块中为空 (mapped, but the page is empty)"
        )


@fingers.command("delete")
@module_options
@click.option("--page", required=True, type=click.IntRange(0, 2999), help="The page to clear.")
def fingers_delete(target: ModuleTarget, page: int) -> None:
    """删除一页指纹 (delete the finger at a page; remove its `officers:` entry too)."""
    from devices.fingerprint import delete
    from devices.fingerprint_link import explain

    link = link_to(target)
    try:
        ack = link.request(delete(page))
    except CasewatchError as exc:
        fail(str(exc))
    finally:
        link.close()
    if ack.code != 0:
        fail(f"删除失败 (delete failed): {explain(ack.code)}")
    officer = target.officers.get(page)
    click.echo(
        f"✓ 第 {page} 页已删除 (page {page} deleted)"
        + (f"; remove `{page}: {officer}` from officers:" if officer else "")
    )
