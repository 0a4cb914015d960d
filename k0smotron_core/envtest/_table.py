"""Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get` asks for, built from printer columns."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from ._registry import ResourceType

_TOKEN = re.compile(
    r"""\.\.(?P<recurse>[A-Za-z0-9_\-]+|\*)   # ..name
    | \.(?P<field>[A-Za-z0-9_\-/]+|\*)        # .name
    | \[(?P<bracket>[^\]]*)\]                  # [...]
    """,
    re.VERBOSE,
)
_FILTER = re.compile(r"^\?\(@\.(?P<path>[A-Za-z0-9_.\-]+)\s*(?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<value>.+?))?\s*\)$")


def jsonpath(obj: Any, expression: str) -> list[Any]:
    """Evaluate the JSONPath subset used by printer columns (kubectl's flavour: `.a.b[0]`, `[*]`, `[?(@.k=="v")]`,
    `[-1:]`, `..name`); returns all matches."""
    expression = expression.strip()
    if expression.startswith("{") and expression.endswith("}"):
        expression = expression[1:-1]
    if expression.startswith("$"):
        expression = expression[1:]
    current = [obj]
    position = 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            raise ValueError(f"unrecognized JSONPath at {expression[position:]!r}")
        position = match.end()
        current = _step(current, match)
    return current


def _step(values: list[Any], match: re.Match[str]) -> list[Any]:
    result: list[Any] = []
    if match.group("recurse") is not None:
        name = match.group("recurse")
        for value in values:
            result.extend(_descend(value, name))
        return result
    if match.group("field") is not None:
        name = match.group("field")
        for value in values:
            if isinstance(value, dict):
                if name == "*":
                    result.extend(value.values())
                elif name in value:
                    result.append(value[name])
        return result
    return _bracket(values, match.group("bracket").strip())


def _descend(value: Any, name: str) -> list[Any]:
    found: list[Any] = []
    if isinstance(value, dict):
        if name in value:
            found.append(value[name])
        for child in value.values():
            found.extend(_descend(child, name))
    elif isinstance(value, list):
        for child in value:
            found.extend(_descend(child, name))
    return found


def _bracket(values: list[Any], inner: str) -> list[Any]:
    result: list[Any] = []
    filter_match = _FILTER.match(inner)
    for value in values:
        if filter_match is not None:
            if isinstance(value, list):
                result.extend(item for item in value if _filter_accepts(item, filter_match))
        elif inner in ("*", ""):
            if isinstance(value, list):
                result.extend(value)
            elif isinstance(value, dict):
                result.extend(value.values())
        elif inner[0] in "'\"":
            key = inner.strip("'\"")
            if isinstance(value, dict) and key in value:
                result.append(value[key])
        elif ":" in inner and isinstance(value, list):
            start_text, _, end_text = inner.partition(":")
            start = int(start_text) if start_text else None
            end = int(end_text.split(":")[0]) if end_text.split(":")[0] else None
            result.extend(value[start:end])
        elif isinstance(value, list):
            index = int(inner)
            if -len(value) <= index < len(value):
                result.append(value[index])
    return result


def _filter_accepts(item: Any, match: re.Match[str]) -> bool:
    found = jsonpath(item, "." + match.group("path"))
    if match.group("op") is None:
        return bool(found)
    if not found:
        return False
    raw = match.group("value").strip()
    expected: Any = raw[1:-1] if raw[:1] in "'\"" else json.loads(raw)
    actual = found[0]
    op = match.group("op")
    try:
        return bool({
            "==": lambda: actual == expected, "!=": lambda: actual != expected,
            "<": lambda: actual < expected, ">": lambda: actual > expected,
            "<=": lambda: actual <= expected, ">=": lambda: actual >= expected,
        }[op]())
    except TypeError:
        return False


def human_duration(since: dt.datetime, now: dt.datetime | None = None) -> str:
    """apimachinery's duration.HumanDuration, as `kubectl get` shows ages."""
    seconds = int(((now or dt.datetime.now(dt.UTC)) - since).total_seconds())
    if seconds < 0:
        return "<invalid>"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest_minutes = minutes % 60
        return f"{hours}h{rest_minutes}m" if rest_minutes else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest_hours = hours % 24
        return f"{days}d{rest_hours}h" if rest_hours else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years = days // 365
    return f"{years}y{days % 365}d" if days % 365 and years < 8 else f"{years}y"


def _cell(column: dict[str, Any], obj: dict[str, Any]) -> Any:
    try:
        found = jsonpath(obj, column["jsonPath"])
    except (ValueError, json.JSONDecodeError):
        return None
    if not found:
        return None
    kind = column.get("type", "string")
    if kind == "date":
        try:
            since = dt.datetime.strptime(str(found[0]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            return "<invalid>"
        return human_duration(since)
    if len(found) > 1:
        return ",".join(_plain(v) for v in found)
    value = found[0]
    if kind in ("integer", "number", "boolean") and not isinstance(value, dict | list):
        return value
    return _plain(value)


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) else str(value)


def column_definitions(rt: ResourceType) -> list[dict[str, Any]]:
    definitions = [{"name": "Name", "type": "string", "format": "name", "priority": 0,
                    "description": "Name must be unique within a namespace. More info: "
                                   "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"}]
    for column in rt.printer_columns:
        definitions.append({
            "name": column["name"],
            "type": column.get("type", "string") if column.get("type") != "date" else "string",
            "format": column.get("format", ""),
            "description": column.get("description", ""),
            "priority": column.get("priority", 0),
        })
    return definitions


def _row_object(obj: dict[str, Any], include: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return partial_object_metadata(obj)


def partial_object_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(
    rt: ResourceType,
    objects: list[dict[str, Any]],
    *,
    resource_version: str,
    continue_token: str = "",
    include_object: str = "Metadata",
    with_headers: bool = True,
) -> dict[str, Any]:
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": [obj["metadata"]["name"], *(_cell(c, obj) for c in rt.printer_columns)]}
        embedded = _row_object(obj, include_object)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    result: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}
    result["columnDefinitions"] = column_definitions(rt) if with_headers else None
    result["rows"] = rows
    return result
