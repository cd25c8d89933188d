"""A Mosquitto ``acl_file`` for one centre: each agent may publish only under its own topic.

Agents log in to the broker with their agent id as the MQTT username (``mqtt.username`` in the
agent file); the hub with its own ``mqtt.username``. Generated from the hub file, so adding an
agent there and regenerating is the whole procedure (docs/hub.md "Broker access").
"""

from __future__ import annotations

from hub.config import HubConfig

DEFAULT_HUB_USER = "casewatch-hub"


def acl_text(cfg: HubConfig) -> str:
    prefix = cfg.mqtt.topic_prefix if cfg.mqtt else "casewatch"
    hub_user = (cfg.mqtt.username if cfg.mqtt else None) or DEFAULT_HUB_USER
    base = f"{prefix}/{cfg.center}"
    lines = [
        f"# Mosquitto acl_file for centre {cfg.center}, made by `casewatch hub acl`: regenerate it,",
        "# do not edit it.",
        "# Agents use their agent id as MQTT username; anything not granted here is denied.",
        "",
        f"user {hub_user}",
        f"topic readwrite {base}/#",
    ]
    for agent in cfg.agents:
        lines += [
            "",
            f"user {agent.id}",
            f"topic write {base}/{agent.id}/#",  # events, stats, status (and its will), snapshots
            f"topic read {base}/registry/bands/#",  # band roles from the hub
            f"topic read {base}/hub/status",
            f"topic read {base}/hub/anchor",  # the log's signed head, kept off the hub's disk
            f"topic read {base}/{agent.id}/receipt",  # how far the hub has stored its events
            f"topic read {base}/{agent.id}/watch",  # cameras someone is watching: pictures often
            f"topic read {base}/{agent.id}/fetch",  # recordings the hub wants for a package
        ]
    return "\n".join(lines) + "\n"
