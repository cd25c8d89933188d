"""Broker access rules made from the hub file: each agent may publish only under its own topic.

Agents log in to the broker with their agent id as the MQTT username (``mqtt.username`` in the
agent file); the hub (every worker of a multi-centre hub) with its own ``mqtt.username``.
Generated from the hub file, so adding an agent there and regenerating is the whole procedure
(docs/hub.md "Broker access", docs/scaling.md "Brokers"). Three brokers:

- ``mosquitto``: an ``acl_file``;
- ``rabbitmq``: a shell script of ``rabbitmqctl`` commands — the MQTT plugin's vhost permissions
  (its own queues) and *topic permissions* on ``amq.topic``, whose routing keys are the MQTT
  topics with ``/`` written ``.`` (so ``casewatch.c01.box-01.events.occupancy``);
- ``emqx``: an ``acl.conf`` of EMQX's file authorizer (``{allow, {username, …}, publish, […]}.``).

What an agent reads (its centre's band registry, the hub's status and anchor, its own receipt,
watch and fetch requests) is the same in each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hub.config import AgentKey, HubConfig

DEFAULT_HUB_USER = "casewatch-hub"
BROKERS = ("mosquitto", "rabbitmq", "emqx")


def _centres(cfg: HubConfig) -> Iterator[tuple[str, list[AgentKey]]]:
    if cfg.centers:
        yield from ((c.id, list(c.agents)) for c in cfg.centers)
    else:
        yield cfg.center, list(cfg.agents)


def _reads(base: str, agent: str) -> list[str]:
    """Topics an agent reads: what the hub tells it."""
    return [
        f"{base}/registry/bands/#",  # band roles from the hub
        f"{base}/hub/status",
        f"{base}/hub/anchor",  # the log's signed head, kept off the hub's disk
        f"{base}/{agent}/receipt",  # how far the hub has stored its events
        f"{base}/{agent}/watch",  # cameras someone is watching: pictures often
        f"{base}/{agent}/fetch",  # recordings the hub wants for a package
    ]


def _names(cfg: HubConfig) -> tuple[str, str, str]:
    prefix = cfg.mqtt.topic_prefix if cfg.mqtt else "casewatch"
    hub_user = (cfg.mqtt.username if cfg.mqtt else None) or DEFAULT_HUB_USER
    scope = f"{prefix}/{cfg.center}" if not cfg.centers else prefix
    return prefix, hub_user, scope


def acl_text(cfg: HubConfig) -> str:
    """A Mosquitto ``acl_file``: anything not granted is denied."""
    prefix, hub_user, scope = _names(cfg)
    what = f"centre {cfg.center}" if not cfg.centers else f"{len(cfg.centers)} centres of {cfg.center}"
    lines = [
        f"# Mosquitto acl_file for {what}, made by `casewatch hub acl`: regenerate it,",
        "# do not edit it.",
        "# Agents use their agent id as MQTT username; anything not granted here is denied.",
        "",
        f"user {hub_user}",
        f"topic readwrite {scope}/#",
    ]
    for centre, agents in _centres(cfg):
        base = f"{prefix}/{centre}"
        for agent in agents:
            lines += [
                "",
                f"user {agent.id}",
                f"topic write {base}/{agent.id}/#",
            ]  # events, stats, status, snapshots
            lines += [f"topic read {topic}" for topic in _reads(base, agent.id)]
    return "\n".join(lines) + "\n"


def _routing(topic: str) -> str:
    """An MQTT topic filter as a regular expression over RabbitMQ routing keys (``/`` → ``.``)."""
    parts = [re.escape(p) if p not in ("#", "+") else p for p in topic.split("/")]
    key = r"\.".join(parts)
    return key.replace(r"\.#", r"(\..*)?").replace("+", r"[^.]+")


def rabbitmq_script(cfg: HubConfig) -> str:
    """``rabbitmqctl`` commands granting each user its topics (users made beforehand, each with
    its own password: ``rabbitmqctl add_user box-01`` reads it from the prompt)."""
    prefix, hub_user, scope = _names(cfg)
    lines = [
        "#!/bin/sh",
        "# RabbitMQ MQTT plugin permissions, made by `casewatch hub acl --broker rabbitmq`:",
        "# regenerate and run again after changing the hub file. Agents keep their default client id",
        "# (casewatch-{centre}-{agent}): their session queues are named after it. Users must exist first:",
        "#   rabbitmqctl add_user <agent id>   (asks for the password; the agent file's mqtt.password)",
        "set -e",
        'VHOST="${VHOST:-/}"',
        "",
    ]

    def grant(user: str, client: str, write: list[str], read: list[str]) -> None:
        own = f"^(amq\\.topic|mqtt-subscription-{client}qos[01])$"  # its own session's queues only
        lines.append(f"rabbitmqctl set_permissions -p \"$VHOST\" '{user}' '{own}' '{own}' '{own}'")
        writes = "|".join(_routing(t) for t in write) or "^$"
        reads = "|".join(_routing(t) for t in read) or "^$"
        lines.append(
            f"rabbitmqctl set_topic_permissions -p \"$VHOST\" '{user}' amq.topic '^({writes})$' '^({reads})$'"
        )

    hub_client = (cfg.mqtt.client_id if cfg.mqtt else None) or "casewatch-hub"
    if cfg.centers:  # each centre's hub: {client_id}-{centre}, on whichever worker
        hub_queues = re.escape(hub_client) + "-[a-z0-9_]+"
    else:
        hub_queues = re.escape((cfg.mqtt.client_id if cfg.mqtt else None) or f"casewatch-hub-{cfg.center}")
    grant(hub_user, hub_queues, [f"{scope}/#"], [f"{scope}/#"])
    for centre, agents in _centres(cfg):
        for agent in agents:  # an agent's default client id (agent file mqtt.client_id unset)
            client = re.escape(f"casewatch-{centre}-{agent.id}")
            grant(
                agent.id, client, [f"{prefix}/{centre}/{agent.id}/#"], _reads(f"{prefix}/{centre}", agent.id)
            )
    return "\n".join(lines) + "\n"


def emqx_acl(cfg: HubConfig) -> str:
    """An EMQX ``acl.conf`` (file authorizer): the listed rules, then deny everything else."""
    prefix, hub_user, scope = _names(cfg)
    lines = [
        "%% EMQX acl.conf, made by `casewatch hub acl --broker emqx`: regenerate it, do not edit it.",
        f'{{allow, {{username, "{hub_user}"}}, all, ["{scope}/#"]}}.',
    ]
    for centre, agents in _centres(cfg):
        base = f"{prefix}/{centre}"
        for agent in agents:
            reads = ", ".join(f'"{t}"' for t in _reads(base, agent.id))
            lines.append(f'{{allow, {{username, "{agent.id}"}}, publish, ["{base}/{agent.id}/#"]}}.')
            lines.append(f'{{allow, {{username, "{agent.id}"}}, subscribe, [{reads}]}}.')
    lines.append("{deny, all}.")
    return "\n".join(lines) + "\n"


def broker_rules(cfg: HubConfig, broker: str) -> str:
    if broker == "rabbitmq":
        return rabbitmq_script(cfg)
    if broker == "emqx":
        return emqx_acl(cfg)
    return acl_text(cfg)
