"""``casewatch sim …``: device simulators on pseudo-terminals for trying a config without hardware
(and ``enrol-finger``, the old name of ``casewatch fingers enrol``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import yaml


def load_steps(path: Path, *, required: str | None = None) -> list[dict[str, Any]]:
    """A simulator script: a YAML list of mappings (each with ``required`` when given)."""
    try:
        steps = yaml.safe_load(path.read_text("utf-8")) or []
    except (OSError, yaml.YAMLError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--script") from exc
    if not isinstance(steps, list) or not all(
        isinstance(s, dict) and (required is None or required in s) for s in steps
    ):
        need = f" with `{required}`" if required else ""
        raise click.BadParameter(f"{path}: expected a YAML list of mappings{need}", param_hint="--script")
    return steps


@click.group()
def sim() -> None:
    """设备模拟器 (device simulators, for trying a config without hardware)."""


@sim.command("wristbands")
@click.option("--bands", default=3, show_default=True, help="How many bands (ids 00000001…).")
@click.option("--anchors", default="10,20", show_default=True, help="Anchor ids to move the bands between.")
@click.option("--rate", default=5.0, show_default=True, help="Frames per second per band.")
@click.option("--seconds", default=0.0, help="Stop after this long (0: until Ctrl-C).")
@click.option(
    "--script", type=click.Path(exists=True, path_type=Path),
    help="YAML timeline instead: - {at: 0, band: '00000001', anchor: '10'}, - {at: 20, heart_rate: 130, …}",
)  # fmt: skip
def sim_wristbands(bands: int, anchors: str, rate: float, seconds: float, script: Path | None) -> None:
    """模拟 RS-485 手环接收器：打印串口路径，写入定位/体征数据 (simulated wristband receiver on a PTY)."""
    import itertools
    import random
    import time

    from casewatch.simulation.wristbands import WristbandSimulator, run_wristband_script
    from devices.readings import BandSighting, BandVitalsReading
    from devices.wristband_frames import band_id

    simulator = WristbandSimulator()
    click.echo(f"串口 (port): {simulator.path}")
    click.echo(f"配置 (config): devices: [{{id: wb-sim, driver: wristband-rs485, port: {simulator.path}}}]")
    if script is not None:
        steps = yaml.safe_load(script.read_text("utf-8")) or []
        if not isinstance(steps, list) or not all(isinstance(s, dict) and "band" in s for s in steps):
            raise click.BadParameter(
                "the script must be a YAML list of mappings with a band", param_hint="--script"
            )
        try:
            run_wristband_script(simulator, steps, rate=rate, echo=click.echo)
        except KeyboardInterrupt:
            pass
        finally:
            simulator.pty.close()
        return
    anchor_ids = [a.strip() for a in anchors.split(",") if a.strip()]
    ids = [band_id(n + 1) for n in range(bands)]
    started = time.monotonic()
    try:
        for tick in itertools.count():
            for index, band in enumerate(ids):
                anchor = anchor_ids[(tick // int(30 * rate) + index) % len(anchor_ids)]
                simulator.send(
                    BandSighting(band, anchor, random.randint(-65, -50)),
                    BandVitalsReading(band, random.randint(70, 95), random.randint(95, 99), 36.5),
                )
            simulator.drain()
            if seconds and time.monotonic() - started >= seconds:
                break
            time.sleep(1 / rate)
    except KeyboardInterrupt:
        pass
    finally:
        simulator.pty.close()


@sim.command("cabinet")
@click.option("--slots", default=8, show_default=True, type=click.IntRange(1, 16), help="Slots s01…")
@click.option(
    "--officer", "officers", multiple=True, default=("7=P1001", "8=P1002"), show_default=True,
    help="PAGE=OFFICER: a finger enrolled at that page (the finger is named after the officer).",
)  # fmt: skip
@click.option("--script", type=click.Path(exists=True, path_type=Path), help="YAML list of steps.")
@click.option("--board", "family", type=click.Choice(["modbus", "kerong-cu16"]), default="modbus",
              show_default=True, help="The lock board family.")  # fmt: skip
@click.option("--door-closed-level", type=click.IntRange(0, 1), help="Wiring: door contact level when shut.")
def sim_cabinet(
    slots: int, officers: tuple[str, ...], script: Path | None, family: str, door_closed_level: int | None
) -> None:
    """模拟卷宗柜：指纹模块、锁控板、扫码枪各一个串口 (simulated dossier cabinet on three PTYs; the board
    speaks Modbus RTU or the Kerong CU16 frames).

    Steps (script or stdin, one per line: VERB VALUE): finger P1001 | lift | scan CODE | open s01 |
    force s01 | close s01 | take s01 | put s01; in a script each step may carry `at: SECONDS`.
    """
    from casewatch.simulation.cabinet import CabinetSimulator

    enrolled: dict[str, int] = {}
    for item in officers:
        page, _, name = item.partition("=")
        if not page.isdigit() or not name:
            raise click.BadParameter(f"{item!r}: expected PAGE=OFFICER, e.g. 7=P1001", param_hint="--officer")
        enrolled[name] = int(page)
    if door_closed_level is None:
        door_closed_level = 1 if family == "kerong-cu16" else 0
    simulator = CabinetSimulator(
        slots=slots, enrolled=enrolled, family=family, door_closed_level=door_closed_level
    ).start()
    for part, pty in simulator.ptys.items():
        click.echo(f"串口 (port) {part}: {pty.path}")
    device = {"id": "cab-sim", "driver": "dossier-cabinet", "options": simulator.options()}
    click.echo(
        "配置 (config):\n" + yaml.safe_dump({"devices": [device]}, allow_unicode=True, sort_keys=False)
    )
    try:
        if script is not None:
            simulator.run_script(load_steps(script), echo=click.echo)
            return
        for line in sys.stdin:
            verb, _, value = line.strip().partition(" ")
            if not verb:
                continue
            try:
                result = simulator.do(verb, value.strip() or None)
            except ValueError as exc:
                click.echo(f"✗ {exc}", err=True)
                continue
            click.echo(f"{verb} {value.strip()}" + (" (锁定 locked)" if result is False else " ✓"))
    except KeyboardInterrupt:
        pass
    finally:
        simulator.close()


@sim.command("modem")
@click.option(
    "--fail", "fail_sends", default=0, show_default=True, help="Answer +CMS ERROR: 500 this often first."
)
@click.option("--no-sim", is_flag=True, help="Report the SIM card missing.")
@click.option("--unregistered", is_flag=True, help="Report no network registration.")
@click.option("--seconds", default=0.0, help="Stop after this long (0: until Ctrl-C).")
def sim_modem(fail_sends: int, no_sim: bool, unregistered: bool, seconds: float) -> None:
    """模拟短信猫 (AT/PDU)：打印串口路径，显示收到的短信 (simulated GSM modem; shows each SMS sent)."""
    import time

    from casewatch.simulation.modem import SimulatedModem
    from casewatch.simulation.wristbands import PtyResponder
    from devices.sms_pdu import decode_submit_text

    modem = SimulatedModem(sim_ready=not no_sim, registered=not unregistered, fail_sends=fail_sends)
    responder = PtyResponder(modem.respond).start()
    click.echo(f"串口 (port): {responder.path}")
    shown = 0
    started = time.monotonic()
    try:
        while not seconds or time.monotonic() - started < seconds:
            for pdu in modem.sent[shown:]:
                number, text, part = decode_submit_text(pdu)
                click.echo(f"短信 (SMS) → {number}{f' [{part}]' if part else ''}: {text}")
            shown = len(modem.sent)
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        responder.close()


@click.command("enrol-finger", hidden=True)
@click.option("--port", required=True, help="pyserial URL of the cabinet's fingerprint module.")
@click.option("--page", required=True, type=click.IntRange(0, 2999), help="Library page to store it at.")
@click.option("--baudrate", default=57600, show_default=True)
@click.pass_context
def enrol_finger(ctx: click.Context, port: str, page: int, baudrate: int) -> None:
    """录入指纹（旧名，见 `casewatch fingers enrol`）(old name of `fingers enrol`)."""
    from casewatch.finger_commands import fingers_enrol

    ctx.invoke(fingers_enrol, port=port, page=page, baudrate=baudrate)
