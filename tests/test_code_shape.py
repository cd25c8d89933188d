"""No function of the product runs past 60 lines: a longer one is split where names explain the
pieces (issue 17). Benchmarks' ``main`` scripts and tests are exempt."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("protocol", "foundation", "detectors", "devices", "agent", "hub", "casewatch")
LIMIT = 60


def long_functions(root: Path, packages: tuple[str, ...] = PRODUCT) -> list[str]:
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > LIMIT:
                        found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_product_function_is_longer_than_the_limit() -> None:
    assert long_functions(ROOT) == []


def test_the_check_finds_a_long_function(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    (tmp_path / "pkg" / "m.py").write_text(f"def short():\n    return 1\n\n\ndef sprawling():\n{body}\n")
    assert long_functions(tmp_path, ("pkg",)) == [f"pkg/m.py:5 sprawling ({LIMIT + 1} lines)"]
