"""Every rule of the shipped pack cites its basis in Chinese, and docs/rules.md lists it as shipped."""

from __future__ import annotations

import re

import pytest

from tests.rule_pack_harness import FILE_OF, NO_STATUTE, ROOT, RULES

CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_every_rule_has_a_chinese_title_and_a_cited_basis(rule_id: str) -> None:
    rule = RULES[rule_id]
    assert rule.title.strip() and CHINESE.search(rule.title)
    if rule_id in NO_STATUTE:
        assert "无法定" in rule.basis
    else:
        assert any(mark in rule.basis for mark in ("《", "规定", "办法", "第")), rule.basis


def _pack_table() -> dict[str, list[str]]:
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    section = text.split("## The rule pack", 1)[1]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and re.fullmatch(r"[A-Z][A-Z0-9-]+", cells[0]):
            assert cells[0] not in rows, f"{cells[0]} twice in docs/rules.md"
            rows[cells[0]] = cells
    return rows


def test_the_docs_table_matches_the_pack() -> None:
    rows = _pack_table()
    assert set(rows) == set(RULES)
    for rule_id, (_, title, shape, levels, basis, file) in rows.items():
        rule = RULES[rule_id]
        assert (title, shape, basis, file) == (rule.title, rule.shape, rule.basis, FILE_OF[rule_id])
        named = re.findall(r"\b(green|blue|yellow|orange|red)\b", levels)
        assert named == [s.level for s in rule.levels], rule_id
