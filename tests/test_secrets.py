"""Secrets handled as secrets (issue 16 finding 4): the shipped demo keys and password refused
outside the demo, key files nobody else can read, ``keygen --output`` at mode 0600, and no secret
value in any error message."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from foundation.secrets import DEMO_KEY_DIGESTS, DEMO_PASSWORD_HASHES, key_digest
from protocol.signing import key_from_text, new_key
from tests.agent_process import CASEWATCH
from tests.hub_helpers import REPO
from tests.secret_files import write_secret

CONFIGS = REPO / "configs"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CASEWATCH, *args], capture_output=True, text=True, timeout=60, check=False)


def copied(tmp_path: Path, name: str, **changes: object) -> Path:
    """A shipped demo config moved to a real centre, with its key files beside it."""
    (tmp_path / "keys").mkdir(exist_ok=True)
    for key in (CONFIGS / "keys").glob("demo-*.key"):
        write_secret(tmp_path / "keys" / key.name, key.read_text())
    data = yaml.safe_load((CONFIGS / name).read_text())
    data.update(changes)
    path = tmp_path / name.replace("demo", "real")
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def test_the_digests_match_the_shipped_demo_secrets() -> None:
    shipped = {key_digest(key_from_text(p.read_text())) for p in (CONFIGS / "keys").glob("demo-*.key")}
    assert shipped == DEMO_KEY_DIGESTS
    users = yaml.safe_load((CONFIGS / "hub-demo.yaml").read_text())["users"]
    assert {u["password_hash"] for u in users} == DEMO_PASSWORD_HASHES


def test_the_demo_itself_still_checks_out() -> None:
    done = run("config", "check", str(CONFIGS / "center-demo.yaml"), str(CONFIGS / "hub-demo.yaml"))
    assert done.returncode == 0, done.stderr


def test_demo_keys_and_password_are_refused_for_a_real_centre(tmp_path: Path) -> None:
    agent = copied(tmp_path, "center-demo.yaml", center="county-a")
    hub = copied(tmp_path, "hub-demo.yaml", center="county-a")
    done = run("config", "check", str(agent), str(hub))
    assert done.returncode == 2
    assert done.stderr.count("demo key shipped with casewatch") >= 3  # agent, hub, the hub's agent entry
    assert "user demo uses the demo password" in done.stderr and "casewatch keygen --output" in done.stderr
    for key in (CONFIGS / "keys").glob("demo-*.key"):
        assert key.read_text().strip() not in done.stderr + done.stdout
    started = run("hub", "--config", str(hub))  # refused at start too, not only by the check
    assert started.returncode == 2 and "demo key" in started.stderr


def test_a_key_file_every_user_can_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    agent = copied(tmp_path, "center-demo.yaml", center="county-a")
    data = yaml.safe_load(agent.read_text())
    own = write_secret(tmp_path / "keys" / "box.key", new_key())
    data["signing"] = {"key_file": "keys/box.key"}
    agent.write_text(yaml.safe_dump(data, allow_unicode=True))
    assert run("config", "check", str(agent)).returncode == 0
    own.chmod(0o644)
    done = run("config", "check", str(agent))
    assert done.returncode == 2 and f"chmod 600 {own}" in done.stderr and "mode 0644" in done.stderr
    own.chmod(0o640)  # group casewatch may read it
    assert run("config", "check", str(agent)).returncode == 0


def test_keygen_writes_a_file_only_its_owner_reads_and_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "box-07.key"
    done = run("keygen", "--output", str(target))
    assert done.returncode == 0 and stat.S_IMODE(target.stat().st_mode) == 0o600
    key = target.read_text()
    assert len(key.strip()) == 64 and key.strip() not in done.stdout
    again = run("keygen", "--output", str(target))
    assert again.returncode == 1 and "exists" in again.stderr and target.read_text() == key


@pytest.mark.parametrize(
    "section, secret",
    [
        ({"signing": {"key": "short-secret1"}}, "short-secret1"),
        ({"http": {"session_secret": "tooshort-secret"}}, "tooshort-secret"),
        ({"mqtt": {"password": "hunter2-pw", "password_file": "nowhere"}}, "hunter2-pw"),
        ({"http": {"session_secret": "hidden-in-a-section", "port": "not-a-port"}}, "hidden-in-a-section"),
        # a key typed where a section or a file's path belongs (found by the independent review)
        ({"signing": "0123456789abcdef0123456789abcdef"}, "0123456789abcdef0123456789abcdef"),
        ({"signing": {"key_file": "fedcba9876543210fedcba9876543210"}}, "fedcba9876543210fedcba9876543210"),
        ({"http": {"session_secret_file": "my-session-secret-text"}}, "my-session-secret-text"),
        ({"mqtt": "mqtt://user:S3cr3tPw@broker"}, "S3cr3tPw"),
        ({"agents": ["abcdefabcdefabcdef0011223344"]}, "abcdefabcdefabcdef0011223344"),
    ],
)
def test_no_secret_value_appears_in_a_config_error(tmp_path: Path, section: dict, secret: str) -> None:
    hub = copied(tmp_path, "hub-demo.yaml", **section)
    done = run("config", "check", str(hub))
    assert done.returncode == 2, done.stdout
    assert secret not in done.stderr + done.stdout


def test_a_short_session_secret_is_refused(tmp_path: Path) -> None:
    hub = copied(tmp_path, "hub-demo.yaml", http={"session_secret": "a"})
    done = run("config", "check", str(hub))
    assert done.returncode == 2 and "session_secret needs at least 32 characters" in done.stderr
