"""Hypothesis strategies from the JSON Schemas pydantic writes for our event data.

Covers what the protocol's schemas use: $ref/$defs, anyOf, enum/const, bounded integers and
numbers, patterned or length-bounded strings, booleans, arrays and objects (fixed properties or
additionalProperties maps). Anything else fails loudly, so a new schema feature gets support here.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    return _strategy(schema, schema.get("$defs", {}))


def _strategy(node: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "$ref" in node:
        return _strategy(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in node:
        return st.one_of([_strategy(option, defs) for option in node["anyOf"]])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if "const" in node:
        return st.just(node["const"])
    kind = node.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        low = node.get("minimum", node.get("exclusiveMinimum", -(2**53 - 2)) + ("exclusiveMinimum" in node))
        high = node.get("maximum", node.get("exclusiveMaximum", 2**53 - 2) - ("exclusiveMaximum" in node))
        return st.integers(low, high)
    if kind == "number":
        return st.floats(
            min_value=node.get("minimum", node.get("exclusiveMinimum", -1e12)),
            max_value=node.get("maximum", node.get("exclusiveMaximum", 1e12)),
            exclude_min="exclusiveMinimum" in node,
            exclude_max="exclusiveMaximum" in node,
            allow_nan=False,
            allow_infinity=False,
        )
    if kind == "string":
        if "pattern" in node:
            pattern = node["pattern"].replace("^", r"\A", 1).removesuffix("$") + r"\Z"
            return st.from_regex(pattern)
        return st.text(
            st.characters(blacklist_categories=("Cs",)),
            min_size=node.get("minLength", 0),
            max_size=min(node.get("maxLength", 40), 40),
        )
    if kind == "array":
        items = node.get("prefixItems")
        if items:
            return st.tuples(*[_strategy(item, defs) for item in items]).map(list)
        return st.lists(_strategy(node["items"], defs), max_size=min(node.get("maxItems", 5), 5))
    if kind == "object":
        if "properties" in node:
            required = set(node.get("required", ()))
            fixed = {k: _strategy(v, defs) for k, v in node["properties"].items() if k in required}
            optional = {k: _strategy(v, defs) for k, v in node["properties"].items() if k not in required}
            return st.fixed_dictionaries(fixed, optional=optional)
        if "patternProperties" in node:
            ((pattern, values),) = node["patternProperties"].items()
            keys = _strategy({"type": "string", "pattern": pattern}, defs)
        else:
            values = node["additionalProperties"]
            keys = _strategy(node.get("propertyNames", {"type": "string", "maxLength": 12}), defs)
        return st.dictionaries(keys, _strategy(values, defs), max_size=min(node.get("maxProperties", 3), 3))
    raise NotImplementedError(f"schema feature not covered by the test strategy: {node}")
