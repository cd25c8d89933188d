"""Load a YAML configuration file into a typed model, or report every problem with its place.

A problem is reported as ``file:line:column: key.path: what was expected (got value)``, all of
them at once, so an integrator fixes a file in one pass. ``${NAME}`` and ``${NAME:-default}``
in string values are replaced from the environment (``$${`` is a literal ``${``), so secrets
need not be written inline. Relative paths in a file are relative to the file's folder.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from foundation.errors import ConfigError, ConfigIssue

ModelT = TypeVar("ModelT", bound=BaseModel)
PathKey = tuple[str | int, ...]
Mark = tuple[int, int]
Problem = tuple[PathKey, str, Any]
"""A cross-check finding: where, what is wrong, the offending value."""
CrossCheck = Callable[[dict[str, Any]], list[tuple[PathKey, str, Any]]]
"""Checks across keys (duplicate ids, dangling references) run on the raw document, so they are
reported even when other keys fail validation."""

_ENV_RE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Marks:
    """Line/column of every value (and of every mapping key) in a YAML document."""

    def __init__(self) -> None:
        self.values: dict[PathKey, Mark] = {}
        self.keys: dict[PathKey, Mark] = {}
        self.duplicates: list[PathKey] = []

    def walk(self, node: yaml.Node, path: PathKey) -> None:
        self.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                child = (*path, key)
                if key in seen:
                    self.duplicates.append(child)
                seen.add(key)
                self.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                self.walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, (*path, index))

    def find(self, path: PathKey, *, prefer_key: bool = False) -> Mark | None:
        if prefer_key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            mark = self.values.get(path[:end])
            if mark is not None:
                return mark
        return None


def mapping_items(data: dict[str, Any], section: str) -> list[tuple[int, dict[str, Any]]]:
    value = data.get(section)
    if not isinstance(value, list):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, dict)]


def duplicate_ids(data: dict[str, Any], section: str, field: str = "id") -> list[Problem]:
    items = mapping_items(data, section)
    counts = Counter(str(item.get(field)) for _, item in items if field in item)
    return [
        (
            (section, index, field),
            f"duplicate {field} (used {counts[str(item[field])]} times)",
            item[field],
        )
        for index, item in items
        if field in item and counts[str(item[field])] > 1
    ]


def format_path(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


SECRET_NAMES = frozenset(
    {
        "key",
        "password",
        "session_secret",
        "pin",
        "secret",
        "password_hash",
        "token",
        "signing",
        "registry_key",
        "agents",
    }
)
"""Keys whose values (and everything under them) are never shown in an error, whatever is wrong
with them — nor any ``*_file`` / ``*_files`` value: a secret typed where its file's path belongs."""
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def _secret_path(path: PathKey) -> bool:
    return any(
        isinstance(part, str) and (part in SECRET_NAMES or part.endswith(("_file", "_files")))
        for part in path
    )


def _show(value: Any) -> str:
    text = _USERINFO.sub("***@", repr(value))  # a password in a URL (rtsp://admin:…@, mqtt://…)
    return text if len(text) <= 80 else text[:77] + "..."


def _shown(path: PathKey, value: Any) -> str | None:
    """What an error may show of a value: nothing of a secret nor of a whole section (which may
    hold one), the value itself otherwise."""
    if _secret_path(path):
        return f"<hidden, {len(str(value))} characters>" if value is not None else None
    if isinstance(value, dict | list):
        return None
    return _show(value)


def _message(path: PathKey, message: str, value: Any) -> str:
    """A validator's message, without the secret it may quote (``file does not exist: <key>``)."""
    message = _USERINFO.sub("***@", message)
    if _secret_path(path) and isinstance(value, str) and value:
        message = message.replace(value, "<hidden>")
    return message


def _data_path(data: Any, loc: tuple[Any, ...]) -> PathKey:
    """Map a pydantic error location onto the document, dropping union tags and such."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if (isinstance(node, Mapping) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            path.append(part)
            node = node[part]
        elif last and isinstance(node, Mapping) and isinstance(part, str):
            path.append(part)  # a missing key: it belongs in the path though absent
        # otherwise a union tag or validator name that the document does not contain
    return tuple(path)


def _interpolate(value: Any, path: PathKey, env: Mapping[str, str], problems: list[Any]) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append((path, f"environment variable {name} is not set", None))
            return ""

        return _ENV_RE.sub(replace, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, k), env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), env, problems) for i, v in enumerate(value)]
    return value


def load_config(
    path: str | os.PathLike[str],
    model: type[ModelT],
    *,
    env: Mapping[str, str] | None = None,
    cross_check: CrossCheck | None = None,
) -> ModelT:
    """Parse, interpolate and validate ``path`` as ``model``; raise ``ConfigError`` listing all issues."""
    file = Path(path)
    name = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{name}: 配置文件不存在 (file not found)",
            [ConfigIssue(file=name, line=None, column=None, path="", expected="file not found")],
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{name}: {exc}",
            [ConfigIssue(file=name, line=None, column=None, path="", expected=f"readable UTF-8 ({exc})")],
        ) from exc
    return parse_config(text, model, name=name, base_dir=file.parent, env=env, cross_check=cross_check)


def parse_config(
    text: str,
    model: type[ModelT],
    *,
    name: str = "<config>",
    base_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    cross_check: CrossCheck | None = None,
) -> ModelT:
    """The validated settings of a YAML text, or one ``ConfigError`` listing every problem with
    its line and column: duplicate keys, unset ``${ENV}``, schema errors, cross-checks."""
    root, data = _load_yaml(text, name)
    marks = _Marks()
    if root is not None:
        marks.walk(root, ())

    def issue(path: PathKey, expected: str, value: Any, *, prefer_key: bool = False) -> ConfigIssue:
        mark = marks.find(path, prefer_key=prefer_key)
        return ConfigIssue(
            file=name,
            line=mark[0] if mark else None,
            column=mark[1] if mark else None,
            path=format_path(path),
            expected=expected,
            value=value,
        )

    issues = [
        issue(p, "duplicate key (the earlier value would be ignored)", None, prefer_key=True)
        for p in marks.duplicates
    ]
    if not isinstance(data, dict):
        issues.append(issue((), "a mapping of settings at the top level", _show(data)))
        raise ConfigError("\n".join(map(str, issues)), issues)
    env_problems: list[tuple[PathKey, str, Any]] = []
    data = _interpolate(data, (), os.environ if env is None else env, env_problems)
    issues += [issue(p, msg, v) for p, msg, v in env_problems]
    context = {"base_dir": (base_dir or Path.cwd()).resolve()}
    result: ModelT | None = None
    try:
        result = model.model_validate(data, context=context)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            path, expected, value = _schema_problem(data, err)
            issues.append(issue(path, expected, value, prefer_key=err["type"] == "extra_forbidden"))
    if cross_check is not None:
        issues += [issue(p, msg, None if v is None else _show(v)) for p, msg, v in cross_check(data)]
    if issues:
        issues.sort(key=lambda i: (i.line or 0, i.column or 0))
        raise ConfigError("\n".join(map(str, issues)), issues)
    assert result is not None
    return result


def _load_yaml(text: str, name: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the data; a syntax error is a ``ConfigError`` at once."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        syntax = ConfigIssue(
            file=name,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            path="",
            expected=f"valid YAML: {problem}",
        )
        raise ConfigError(str(syntax), [syntax]) from exc
    return root, {} if data is None else data


def _schema_problem(data: Any, err: Any) -> tuple[PathKey, str, Any]:
    """(path, what was expected, the value shown) of one pydantic error, in an integrator's words."""
    loc = _data_path(data, tuple(err["loc"]))
    kind = err["type"]
    if kind == "extra_forbidden":
        return loc, "unknown key (not in the schema)", None
    if kind == "missing":
        return loc, "required key is missing", None
    value = err.get("input")
    return loc, _message(loc, err["msg"].removeprefix("Value error, "), value), _shown(loc, value)
