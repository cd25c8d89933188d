"""The documents integrators code against say what the code does."""

from __future__ import annotations

import re
from typing import Any

from agent.config import AgentConfig
from hub.config import HubConfig
from protocol import errors
from protocol.canonical import canonical_bytes
from protocol.docgen import DOC, rewrite
from protocol.signing import signature
from tests.conftest import REPO
from tests.test_cli import COMMANDS

PROTOCOL = DOC.read_text(encoding="utf-8")
CONFIGURATION = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_kind_catalogue_in_protocol_md_is_current() -> None:
    assert rewrite(PROTOCOL) == PROTOCOL, "run `python -m protocol.docgen`"


def test_every_rejection_reason_is_documented() -> None:
    reasons = {
        cls.reason
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.ProtocolError) and cls is not errors.ProtocolError
    }
    for reason in reasons:
        assert f"`{reason}`" in PROTOCOL, reason


def test_every_topic_is_documented() -> None:
    for suffix in ("/events/{kind}", "/stats", "/status", "/snapshots/{camera}", "/files", "/receipt",
                   "/registry/bands/{band}", "/alerts/{alert_id}"):  # fmt: skip
        assert suffix + "`" in PROTOCOL, suffix


def test_test_vector_in_protocol_md_verifies() -> None:
    block = re.search(r"canonical form\n\n```\n(.+?)\n```", PROTOCOL, re.S)
    assert block is not None
    canonical = block.group(1).encode()
    sig = re.search(r"and `sig` `([0-9a-f]{64})`", PROTOCOL)
    assert sig is not None
    import json

    doc = json.loads(canonical)
    assert canonical_bytes(doc) == canonical
    assert signature(doc, b"casewatch-example-key-do-not-use") == sig.group(1)


def _keys(schema: dict[str, Any]) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, child in node.get("properties", {}).items():
                found.add(name)
                walk(child)
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    return found


def test_every_config_key_is_documented() -> None:
    for model in (AgentConfig, HubConfig):
        for key in _keys(model.model_json_schema()):
            assert f"`{key}`" in CONFIGURATION, f"{model.__name__}: {key} is not in docs/configuration.md"


def test_readme_has_the_two_commands_and_every_cli_command() -> None:
    assert "make demo" in README and "make test" in README
    for command in COMMANDS:
        if command:
            assert f"casewatch {' '.join(command)}" in README, command


def test_every_write_route_has_a_body_example_in_the_hub_docs() -> None:
    """docs/hub.md shows each body by example: every POST/PUT/PATCH with a body is in the block,
    and each one-line example is a body its route accepts (validated by the route's own model)."""
    import re

    from hub.api.app import create_app

    app = create_app(None)  # type: ignore[arg-type]
    text = (REPO / "docs" / "hub.md").read_text(encoding="utf-8")
    block = text.split("Bodies, by example", 1)[1].split("```", 2)[1]
    examples = {}
    for line in block.splitlines():
        found = re.match(r"^(POST|PUT|PATCH)\s+(\S+)\s+(\{.*\})\s*(\(.*\))?$", line.strip())
        if found:
            examples[(found.group(1), found.group(2))] = found.group(3)
    starts = [re.match(r"^(POST|PUT|PATCH)\s+(\S+)", line.strip()) for line in block.splitlines()]
    documented = {(found.group(1), found.group(2)) for found in starts if found}
    from hub.api import admin_routes, schemas

    writes = 0
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            ref = (operation.get("requestBody") or {}).get("content", {}).get("application/json", {})
            name = ref.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
            if method.upper() not in ("POST", "PUT", "PATCH") or not name:
                continue
            writes += 1
            pattern = re.sub(r"\{[^}]+\}", "[^/]+", path.removeprefix("/api/v1")) + "$"
            matches = [(m, p) for m, p in documented if m == method.upper() and re.match(pattern, p)]
            assert matches, f"{method.upper()} {path} has no example in docs/hub.md"
            model = getattr(schemas, name, None) or getattr(admin_routes, name)
            for key in matches:
                if key in examples:
                    model.model_validate_json(examples[key])
    assert writes >= 13
