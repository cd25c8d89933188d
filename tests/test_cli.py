"""The installed ``casewatch`` command, run as an operator would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

CASEWATCH = str(Path(sys.executable).parent / "casewatch")
COMMANDS = [
    [],
    ["config"],
    ["config", "check"],
    ["config", "schema"],
    ["models"],
    ["models", "pull"],
    ["models", "list"],
    ["keygen"],
    ["agent"],
    ["hub"],
    ["hub", "hash-password"],
    ["hub", "verify"],
    ["hub", "rebuild"],
    ["hub", "acl"],
    ["sim"],
    ["sim", "wristbands"],
    ["sim", "cabinet"],
    ["sim", "modem"],
    ["enrol-finger"],
    ["fingers"],
    ["fingers", "enrol"],
    ["fingers", "list"],
    ["fingers", "delete"],
    ["cabinet"],
    ["cabinet", "probe"],
    ["zones"],
    ["zones", "preview"],
    ["demo"],
    ["package"],
    ["package", "verify"],
]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CASEWATCH, *args], capture_output=True, text=True, timeout=120, input=stdin, cwd=REPO, check=False
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "casewatch")
def test_every_command_has_help(command: list[str]) -> None:
    done = run(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert "Usage: casewatch" in done.stdout
    assert any("\u4e00" <= ch <= "\u9fff" for ch in done.stdout), "operators read Chinese"


def test_version() -> None:
    from casewatch import __version__

    done = run("--version")
    assert done.returncode == 0 and __version__ in done.stdout


def test_config_check_passes_on_the_demo_files() -> None:
    done = run("config", "check", "configs/center-demo.yaml", "configs/hub-demo.yaml")
    assert done.returncode == 0, done.stderr
    assert "configs/center-demo.yaml (agent)" in done.stdout
    assert "configs/hub-demo.yaml (hub)" in done.stdout


def test_config_check_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "center-bad.yaml"
    bad.write_text(
        "center: c1\nagent: box-01\nsigning: {key: 0123456789abcdef0123}\nstorage: {dir: /tmp}\n"
        "rooms:\n  - {id: r1, name: 讯问室, type: interogation}\n"
        "cameras:\n  - {id: c1, room: r9, source: {type: usb}, fps: 0}\n"
    )
    done = run("config", "check", str(bad))
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith(str(bad) + ":")]
    assert len(lines) == 3, done.stderr
    assert [line.split(":")[1] for line in lines] == ["6", "8", "8"]
    assert "3 处错误" in done.stderr


def test_agent_with_a_bad_config_starts_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "center.yaml"
    bad.write_text("center: c1\n")
    done = run("agent", "--config", str(bad))
    assert done.returncode == 2
    assert "required key is missing" in done.stderr


def test_config_schema_is_json_schema() -> None:
    for kind in ("agent", "hub"):
        done = run("config", "schema", kind)
        schema = json.loads(done.stdout)
        assert schema["$schema"].endswith("2020-12/schema")
        assert schema["additionalProperties"] is False


def test_keygen_prints_a_usable_key() -> None:
    from protocol.signing import key_from_text

    first, second = run("keygen").stdout.strip(), run("keygen").stdout.strip()
    assert first != second and len(key_from_text(first)) == 64


def test_hash_password_output_verifies() -> None:
    from hub.passwords import verify_password

    done = run("hub", "hash-password", "--password", "金盾-2026")
    assert done.returncode == 0
    assert verify_password("金盾-2026", done.stdout.strip())
    assert not verify_password("wrong", done.stdout.strip())


def test_models_list_shows_the_verified_cache(yolo_weights: Path) -> None:
    done = run("models", "list")
    assert done.returncode == 0
    assert "yolov8n" in done.stdout and "已校验 (verified)" in done.stdout


def test_models_pull_reports_source_and_hash(yolo_weights: Path) -> None:
    done = run("models", "pull")
    assert done.returncode == 0, done.stderr
    assert "sha256 f59b3d833e2ff32e" in done.stdout and "cache" in done.stdout


def test_sim_cabinet_runs_a_script_and_prints_a_usable_config(tmp_path: Path) -> None:
    script = tmp_path / "steps.yaml"
    script.write_text("- {at: 0, finger: P1001}\n- {at: 0.2, lift: true}\n- {at: 0.3, open: s01}\n")
    result = run("sim", "cabinet", "--slots", "2", "--script", str(script))
    assert result.returncode == 0, result.stderr
    assert "driver: dossier-cabinet" in result.stdout and "/dev/pts/" in result.stdout
    assert "open s01 (locked)" in result.stdout  # nobody granted it: the door stays shut


def test_sim_modem_shows_each_message_sent_through_it() -> None:
    from devices.modem import ModemLink

    process = subprocess.Popen(
        [CASEWATCH, "sim", "modem", "--fail", "1", "--seconds", "8"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().rsplit(" ", 1)[-1].strip()
        result = ModemLink(port, timeout_s=5).send("+8613800138000", "讯问室1 单人讯问，请整改")
        assert result.ok and result.attempts == 2, result  # the first try met +CMS ERROR: 500
        line = process.stdout.readline()
        assert "+8613800138000" in line and "讯问室1 单人讯问，请整改" in line
    finally:
        process.terminate()
        process.wait(5)
