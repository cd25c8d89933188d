"""``casewatch cabinet probe``: the installer's view of a cabinet's board and fingerprint module.

It reads every input (and, on a Modbus board, every coil), checks the fingerprint module, shows
scanned codes, and — with ``--slots N`` — guides the installer slot by slot (this lock clicks open:
open its door, put a file in, take it out and shut the door) and proposes the ``slots:`` YAML with
the wiring polarity it saw. Without ``--slots`` it only watches, printing every input change.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
import yaml

from casewatch.exits import EXIT_FAILED
from protocol.errors import CasewatchError

POLL_S = 0.1


def say(text: str) -> None:
    click.echo(text)
    sys.stdout.flush()


class Watcher:
    """The board's inputs, polled; every change is printed with the time since the start."""

    def __init__(self, board: Any, inputs: int) -> None:
        self.board, self.inputs = board, inputs
        self.started = time.monotonic()
        self.bits: list[bool] = board.read_inputs(0, inputs)

    def poll(self) -> list[Any]:
        from devices.cabinet_probe import changes

        bits = self.board.read_inputs(0, self.inputs)
        found = changes(self.bits, bits)
        for change in found:
            say(f"  t={time.monotonic() - self.started:6.1f}s  输入 input {change.input}: "
                f"{int(change.before)} → {int(change.after)}")  # fmt: skip
        self.bits = bits
        return found

    def wait_change(self, timeout_s: float, skip: set[int]) -> Any | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for change in self.poll():
                if change.input not in skip:
                    return change
            time.sleep(POLL_S)
        return None

    def wait_levels(self, wanted: dict[int, bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll()
            if all(self.bits[i] == level for i, level in wanted.items()):
                return True
            time.sleep(POLL_S)
        return False


def guide_slot(watcher: Watcher, index: int, pulse_s: float, timeout_s: float) -> Any | None:
    from devices.cabinet_probe import SlotWiringFound

    slot = f"s{index + 1:02d}"
    say(f"\n[{slot}] 锁 {index} 已开锁：请打开刚弹开的柜门 (lock {index} open: open the door that unlocked)")
    watcher.board.open_lock(index)
    time.sleep(pulse_s)
    watcher.board.release_lock(index)
    door = watcher.wait_change(timeout_s, set())
    if door is None:
        say(f"✗ {slot}: 没有输入变化 (no input changed within {timeout_s:g} s): skipped")
        return None
    say(f"[{slot}] 门 = 输入 {door.input} (door input {door.input}, shut reads {int(door.before)}); "
        "请放入一份卷宗 (now put a file in)")  # fmt: skip
    sensor = watcher.wait_change(timeout_s, {door.input})
    if sensor is None:
        say(f"✗ {slot}: 放入卷宗后没有输入变化 (no slot sensor changed): skipped")
        return None
    say(f"[{slot}] 卷宗 = 输入 {sensor.input} (sensor {sensor.input}, a file reads {int(sensor.after)}); "
        "请取出卷宗并关门 (take the file out and shut the door)")  # fmt: skip
    if not watcher.wait_levels({door.input: door.before, sensor.input: sensor.before}, timeout_s):
        say(f"✗ {slot}: 门或卷宗未复原，不计入建议 (door or slot did not return to its first level: left out "
            "of the proposal — was the door open or a file in the slot before?)")  # fmt: skip
        return None
    return SlotWiringFound(slot, index, door.input, int(door.before), sensor.input, int(sensor.after))


def check_module(port: str, baudrate: int, password: int, address: int) -> None:
    from devices.fingerprint import read_sys_para, system_parameters, template_num
    from devices.fingerprint_link import FingerprintLink

    link = FingerprintLink(port, baudrate=baudrate, password=password, address=address)
    try:
        params = system_parameters(link.request(read_sys_para()))
        count = int.from_bytes(link.request(template_num()).payload[1:3], "big")
    except CasewatchError as exc:
        say(f"✗ 指纹模块 (fingerprint module): {exc}")
        return
    finally:
        link.close()
    if params is None:
        say(f"✓ 指纹模块 (fingerprint module) {port}: {count} 个指纹 (templates)")
        return
    details = f"security level {params.security_level}, address 0x{params.address:08X}, {params.baud} baud"
    say(
        f"✓ 指纹模块 (fingerprint module) {port}: {count} 个指纹 / 容量 capacity {params.capacity}, {details}"
    )


def show_scans(port: str, baudrate: int) -> Any:
    from devices.scanner import ScannerDecoder
    from devices.transport import PortReader

    decoder = ScannerDecoder()

    def got(data: bytes) -> None:
        for scan in decoder.feed(data, int(time.time() * 1000)):
            say(f"  扫码 (scan): {scan.code}")

    return PortReader(port, got, lambda online, detail: None, baudrate=baudrate, name="probe-scanner").start()


def parts_of(config: Path | None, device: str | None, given: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The board settings and the other parts' ports, from the agent file or the options."""
    from devices.cabinet import BoardPart

    if config is not None and device:
        from casewatch.finger_commands import cabinet_options

        options = cabinet_options(config, device)
        fp = options.fingerprint
        others = {"fingerprint": (fp.port, fp.baudrate, fp.password, fp.address),
                  "scanner": (options.scanner.port, options.scanner.baudrate)}  # fmt: skip
        return options.board, others
    if not given.get("port"):
        raise click.UsageError("give --config and --device, or --board-port")
    board = BoardPart.model_validate({k: v for k, v in given.items() if v is not None})
    return board, {}


@click.group()
def cabinet() -> None:
    """卷宗柜安装工具 (dossier cabinet installation tools)."""


@cabinet.command("probe")
@click.option("--config", type=click.Path(exists=True, path_type=Path), help="center-*.yaml")
@click.option("--device", help="The cabinet's device id in that file.")
@click.option("--board-port", help="Or: the board's pyserial URL.")
@click.option("--family", type=click.Choice(["modbus", "kerong-cu16"]), default="modbus", show_default=True)
@click.option("--unit", type=int, help="Modbus slave address / Kerong DIP address.")
@click.option("--baudrate", type=int, help="Board serial speed (default: the family's).")
@click.option("--inputs", default=32, show_default=True, help="Inputs to read.")
@click.option("--fingerprint-port", help="Also check this fingerprint module.")
@click.option("--scanner-port", help="Also show codes read by this scanner.")
@click.option("--slots", default=0, show_default=True, help="Guide through this many slots (0: only watch).")
@click.option("--seconds", default=0.0, help="Watch this long (0: until Ctrl-C).")
@click.option("--step-timeout", default=60.0, show_default=True, help="Seconds to wait at each guided step.")
def probe(config: Path | None, device: str | None, board_port: str | None, family: str, unit: int | None,
          baudrate: int | None, inputs: int, fingerprint_port: str | None, scanner_port: str | None,
          slots: int, seconds: float, step_timeout: float) -> None:  # fmt: skip
    """读取锁控板全部输入、检查指纹模块、引导逐格接线并生成 slots 配置 (read every input of the board,
    check the fingerprint module, guide the installer slot by slot and propose the `slots:` YAML)."""
    given = {"family": family, "port": board_port, "unit": unit, "baudrate": baudrate, "inputs": inputs}
    part, others = parts_of(config, device, given)
    if fingerprint_port or "fingerprint" in others:
        check_module(*(others.get("fingerprint") or (fingerprint_port, 57600, 0, 0xFFFFFFFF)))
    scanner = scanner_port or (others.get("scanner") or (None,))[0]
    reader = show_scans(scanner, 9600 if scanner_port else others["scanner"][1]) if scanner else None
    board = part.open()
    try:
        run_probe(board, part, slots, seconds, step_timeout)
    except CasewatchError as exc:
        say(f"✗ 锁控板 (lock board): {exc}")
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        pass
    finally:
        board.close()
        if reader is not None:
            reader.stop()


def run_probe(board: Any, part: Any, slots: int, seconds: float, step_timeout: float) -> None:
    from devices.cabinet_probe import levels_row, propose

    watcher = Watcher(board, part.inputs)
    say(f"✓ 锁控板 (lock board) {part.port} [{part.family}, unit {part.unit}]: {part.inputs} 个输入 (inputs)")
    for row in levels_row(watcher.bits):
        say(row)
    if hasattr(board, "read_coils"):
        try:
            for row in levels_row(board.read_coils(0, max(1, slots) if slots else 8)):
                say(f"coils {row}")
        except CasewatchError as exc:  # fewer outputs than asked for: only a display
            say(f"coils: 不可读 (not readable: {exc})")
    if slots:
        say("请先关好所有柜门、取出所有卷宗 (shut every door and empty every slot before the first step)")
    found = [f for i in range(slots) if (f := guide_slot(watcher, i, part.pulse_s, step_timeout)) is not None]
    if found:
        say("\n# 建议配置 (proposed options; paste under the cabinet's options:)")
        say(yaml.safe_dump(propose(found), sort_keys=False).rstrip())
        return
    say("监视中，打开柜门或放入卷宗可见变化 (watching: open doors, insert files; Ctrl-C ends)")
    deadline = time.monotonic() + seconds if seconds else float("inf")
    while time.monotonic() < deadline:
        watcher.poll()
        time.sleep(POLL_S)
