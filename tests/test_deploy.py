"""The deployment files the README points at: the systemd units verify, and the shipped Mosquitto
configuration runs — TLS only, passwords, the generated ACL — with casewatch's own MQTT link."""

from __future__ import annotations

import getpass
import shutil
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from foundation.mqtt_link import MqttLink
from foundation.settings import MqttSettings, TlsSettings
from hub.embedded_broker import free_port
from tests.brokers import mosquitto_binary, wait_for_port
from tests.hub_helpers import REPO, hub_config
from tests.test_hub_acl import acl_for
from tests.waiting import wait_until

DEPLOY = REPO / "configs" / "deploy"


@pytest.mark.parametrize("unit", ["casewatch-agent.service", "casewatch-hub.service"])
def test_systemd_units_verify(unit: str) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze (Debian's systemd) is on this machine kind"
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(DEPLOY / unit)], capture_output=True, text=True, check=False
    )
    # the only complaint allowed: the install path /opt/casewatch does not exist on a test machine
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.strip() and "/opt/casewatch/venv/bin/casewatch is not executable" not in line
    ]
    assert problems == []
    text = (DEPLOY / unit).read_text()
    assert "RestartPreventExitStatus=2" in text and "--log-format json" in text


def _certificates(folder: Path) -> None:
    folder.mkdir()

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=casewatch test CA",
        "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
        "-out", "server.csr", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-out", "server.crt", "-extfile", "san.ext")  # fmt: skip


def test_shipped_mosquitto_config_runs_tls_passwords_and_the_acl(tmp_path: Path) -> None:
    binary = mosquitto_binary()
    assert binary is not None and shutil.which("openssl"), ".ci/run installs mosquitto; openssl is on Debian"
    _certificates(tmp_path / "certs")
    config = hub_config(
        tmp_path, 8883, agent_key="k" * 64, mqtt={"host": "127.0.0.1", "port": 8883, "username": "hub"}
    )
    acl_for(config, "--output", str(tmp_path / "casewatch.acl"))
    passwords = tmp_path / "casewatch.passwd"
    passwords.write_text("")
    for user in ("hub", "box-01"):
        subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, f"{user}-pw"], check=True)
    (tmp_path / "store").mkdir()
    port = free_port("127.0.0.1")
    text = (DEPLOY / "mosquitto-casewatch.conf").read_text()
    for shipped, here in (
        ("/etc/mosquitto/casewatch.passwd", str(passwords)),
        ("/etc/mosquitto/casewatch.acl", str(tmp_path / "casewatch.acl")),
        ("/var/lib/mosquitto/", f"{tmp_path / 'store'}/"),
        ("/etc/mosquitto/certs/", f"{tmp_path / 'certs'}/"),
        ("listener 8883", f"listener {port} 127.0.0.1"),
    ):
        assert shipped in text, shipped
        text = text.replace(shipped, here)
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"{text}\nuser {getpass.getuser()}\nlog_dest file {tmp_path / 'mosquitto.log'}\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    links: list[MqttLink] = []
    try:
        wait_for_port("127.0.0.1", port)
        tls = TlsSettings(ca_file=tmp_path / "certs" / "ca.crt")

        def link(user: str, password: str) -> MqttLink:
            settings = MqttSettings(host="127.0.0.1", port=port, username=user, password=password, tls=tls)
            made = MqttLink(settings, f"deploy-{user}-{len(links)}", f"casewatch/c1/{user}/status")
            links.append(made.start())
            return made

        received: list[str] = []
        hub = link("hub", "hub-pw")
        hub.on_message = lambda topic, _payload, _retained: received.append(topic)
        assert wait_until(hub.connected.is_set, 10), "the hub user could not connect over TLS"
        hub._client.subscribe("casewatch/c1/#", 1)  # type: ignore[union-attr]
        time.sleep(0.3)
        box = link("box-01", "box-01-pw")
        assert wait_until(box.connected.is_set, 10)
        assert box.publish_wait("casewatch/c1/box-01/files", b"own topic", timeout_s=5)
        assert wait_until(lambda: "casewatch/c1/box-01/files" in received, 5)

        wrong = link("box-01", "not-the-password")
        time.sleep(2)
        assert not wrong.connected.is_set() and wrong.stats.refusals >= 1

        plain = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="plaintext")
        plain.username_pw_set("box-01", "box-01-pw")
        plain.connect_async("127.0.0.1", port, keepalive=5)
        plain.loop_start()
        time.sleep(2)
        plain.loop_stop()
        assert not plain.is_connected()  # the listener speaks TLS only
    finally:
        for made in links:
            made.stop(timeout_s=1)
        proc.terminate()
        proc.wait(10)
