"""The layers go one way: each package imports only the layers below it (checked on the source).

::

    casewatch/                         the command line, the demo centre, scenarios (the top),
      simulation/                      the scene generator and device simulators
    hub/         agent/                the centre; the edge box (composes detectors and devices)
                 detectors/  devices/  cameras and vision; serial devices
    foundation/                        settings and config loading, logging, errors, MQTT link
    protocol/                          the wire contract (imports nothing of ours)

``hub`` may use ``devices`` (the SMS modem is a serial device driver); it never imports ``agent``
or ``detectors``. Nothing imports ``casewatch`` (so no simulator can creep into the product).
``PENDING`` would list imports allowed to go the wrong way for a while; it is empty, and the test
fails when an entry's import is gone without being struck off, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("protocol", "foundation", "detectors", "devices", "agent", "hub", "casewatch")
ALLOWED: dict[str, set[str]] = {
    "protocol": set(),
    "foundation": {"protocol"},
    "detectors": {"protocol", "foundation"},
    "devices": {"protocol", "foundation"},
    "agent": {"protocol", "foundation", "detectors", "devices"},
    "hub": {"protocol", "foundation", "devices"},
    "casewatch": set(OURS) - {"casewatch"},
}
PENDING: set[tuple[str, str]] = set()


def violations(root: Path) -> set[tuple[str, str]]:
    """``(file, module)`` for every import of one of our packages that its layer may not make."""
    found: set[tuple[str, str]] = set()
    for package, allowed in ALLOWED.items():
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in OURS and top != package and top not in allowed:
                        found.add((path.relative_to(root).as_posix(), module))
    return found


def test_every_import_goes_down_the_layers() -> None:
    found = violations(ROOT)
    assert found - PENDING == set(), f"imports against the layers: {sorted(found - PENDING)}"
    assert PENDING - found == set(), f"fixed: strike these off PENDING: {sorted(PENDING - found)}"


def test_a_forbidden_import_is_caught(tmp_path: Path) -> None:
    """The check is not vacuous: the wire contract importing the hub, the hub the agent."""
    for package in ALLOWED:
        (tmp_path / package).mkdir()
    (tmp_path / "protocol" / "codec.py").write_text("from hub.store import HubStore\n")
    (tmp_path / "hub" / "service.py").write_text("def later():\n    import agent.runtime\n")
    (tmp_path / "agent" / "runtime.py").write_text("from protocol import codec\nfrom devices import events\n")
    assert violations(tmp_path) == {("protocol/codec.py", "hub.store"), ("hub/service.py", "agent.runtime")}
