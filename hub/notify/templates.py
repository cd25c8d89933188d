"""The words of notifications: default Chinese templates and the fields they may use.

Apart from the policy so that rule files (``message:``) and the hub file (``notify.sms_template``)
can check a template when they are loaded, without importing the notification machinery.
"""

from __future__ import annotations

import string
from typing import Literal

Role = Literal["officer", "unit_leader", "duty_supervisor", "legal", "inspection", "admin"]
"""办案民警 the case's officers, 单位领导 their unit leader, 值班督察 the duty supervisor, 法制, 督察,
and 系统管理员 ``admin``: whoever keeps casewatch running (told of data loss and store faults)."""
DEFAULT_SMS_TEMPLATE = (
    "【{center_name}】{level_zh}色预警{late}：{title}。{where}{at}起。"  # what, where, since when
    "依据{basis}。请及时处置，告警号{alert_short}。"
)
DEFAULT_ASSIGN_TEMPLATE = (
    "【{center_name}】告警{alert_short}（{level_zh}色，{title}）已派给您整改。{where}{comment}"
)
TEMPLATE_FIELDS = frozenset(
    {
        "center", "center_name", "level", "level_zh", "title", "basis", "rule", "alert", "alert_short",
        "room", "where", "case", "person", "at", "reason", "comment", "late", "note",
    }
)  # fmt: skip


ALWAYS_SET = frozenset(
    {"center", "center_name", "level", "level_zh", "title", "rule", "alert", "alert_short"}
)
"""fields every alert has; the others (where, case, person, comment, …) can be empty"""


def template_problem(template: str) -> str | None:
    """Why ``template`` cannot be used (an unknown ``{field}``), or None."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        return f"not a valid template: {exc}"
    unknown = sorted(n for n in names if n not in TEMPLATE_FIELDS)
    if unknown:
        fields = ", ".join("{" + n + "}" for n in unknown)
        return f"unknown field(s) {fields}; known: {', '.join(sorted(TEMPLATE_FIELDS))}"
    try:  # every field is text when rendered: a format spec or conversion must suit text
        template.format(**dict.fromkeys(TEMPLATE_FIELDS, "示例"))
        sparse = template.format(**{name: "示例" if name in ALWAYS_SET else "" for name in TEMPLATE_FIELDS})
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        return f"the template cannot be rendered ({exc}); fields are text: use {{at}}, not {{at:%H:%M}}"
    if not sparse.strip():
        return "the message can come out empty: add fixed words or a field that is always set ({title})"
    return None


def check_template(value: str) -> str:
    """A pydantic validator: the template, or ``ValueError`` naming the unknown field."""
    problem = template_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value
