"""Whatever the models accept, the generated CRD schema accepts, and vice versa.

Documents are generated from each CRD's schema: valid ones, and valid ones with exactly one change at a random node
(a wrong type, a value out of range or off the enum, a missing required field, an unknown field), so that a
disagreement on that one node decides the outcome. The schema side is what the API
server does with `fieldValidation=Strict` (kubectl's default): drop nulls, reject unknown fields, validate.
"""

from __future__ import annotations

import copy
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from k0smotron_core import api
from k0smotron_core.crdgen import openapi_schema
from k0smotron_core.envtest import _schema

Strategy = st.SearchStrategy[Any]
_KEYS = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=6)
_ANYTHING = st.one_of(st.integers(-5, 5), st.booleans(), st.text(max_size=3), st.just([]), st.just({}))


def _integer(schema: dict[str, Any]) -> Strategy:
    low = schema.get("minimum", -(2**31) if schema.get("format") == "int32" else -(2**40))
    high = schema.get("maximum", 2**31 - 1 if schema.get("format") == "int32" else 2**40)
    low += 1 if schema.get("exclusiveMinimum") else 0
    high -= 1 if schema.get("exclusiveMaximum") else 0
    edges = [v for v in (low, high, 0, 1) if low <= v <= high]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


def _string(schema: dict[str, Any]) -> Strategy:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if schema.get("format") == "date-time":
        return st.just("2026-11-21T12:00:00Z")
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    low, high = schema.get("minLength", 0), schema.get("maxLength", 8)
    return st.text(alphabet=string.ascii_letters + string.digits + "-./", min_size=low, max_size=min(high, low + 8))


def _corruption(schema: dict[str, Any]) -> Strategy:
    """A value this node's schema rejects."""
    options: list[Strategy] = []
    kind = schema.get("type")
    if kind != "string" and not schema.get("x-kubernetes-int-or-string"):
        options.append(st.text(alphabet="xyz", min_size=1, max_size=3))
    if kind not in ("integer", "number") and not schema.get("x-kubernetes-int-or-string"):
        options.append(st.integers(2, 9))
    if kind in ("object", "array", "string", "integer", "number"):
        options.append(st.booleans())
    if "enum" in schema:
        options.append(st.sampled_from([v + "x" for v in schema["enum"] if isinstance(v, str)] or ["x"]))
    if "minimum" in schema:
        options.append(st.just(schema["minimum"] - 1))
    if "maximum" in schema:
        options.append(st.just(schema["maximum"] + 1))
    if schema.get("minLength", 0) > 0:
        options.append(st.just(""))
    return st.one_of(options) if options else st.nothing()


def _object(schema: dict[str, Any], depth: int) -> Strategy:
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    if not properties:
        if "additionalProperties" in schema:
            return st.dictionaries(_KEYS, valid_values(schema["additionalProperties"], depth + 1), max_size=2)
        return st.dictionaries(_KEYS, st.one_of(st.integers(0, 3), st.text(max_size=3)), max_size=2)
    fields = {name: valid_values(child, depth + 1) for name, child in properties.items()
              if name not in ("apiVersion", "kind", "metadata")}
    return st.fixed_dictionaries(
        {name: fields[name] for name in fields if name in required},
        optional={name: fields[name] for name in fields if name not in required},
    )


def valid_values(schema: dict[str, Any], depth: int = 0) -> Strategy:
    """Values the schema accepts."""
    if depth > 6:
        return st.nothing()
    if schema.get("x-kubernetes-int-or-string"):
        return st.one_of(st.integers(0, 100), st.text(alphabet="abc%", min_size=1, max_size=4))
    if schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
        return st.dictionaries(_KEYS, _ANYTHING, max_size=3)
    kind = schema.get("type")
    if kind == "object":
        return _object(schema, depth)
    if kind == "array":
        low, high = schema.get("minItems", 0), min(schema.get("maxItems", 2), schema.get("minItems", 0) + 2)
        unique = schema.get("x-kubernetes-list-type") in ("set", "map")
        return st.lists(valid_values(schema.get("items", {}), depth + 1), min_size=low, max_size=high,
                        unique_by=_list_key(schema) if unique else None)
    if kind == "integer":
        return _integer(schema)
    if kind == "number":
        return st.one_of(_integer(schema), st.floats(schema.get("minimum", -10), schema.get("maximum", 10)))
    if kind == "boolean":
        return st.booleans()
    return _string(schema)


def _sites(value: Any, schema: dict[str, Any], path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every node of a generated value with the schema that governs it."""
    found = [(path, schema)]
    if isinstance(value, dict):
        for key, child in value.items():
            child_schema = schema.get("properties", {}).get(key) or schema.get("additionalProperties")
            if isinstance(child_schema, dict):
                found += _sites(child, child_schema, (*path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += _sites(item, schema["items"], (*path, index))
    return found


def _mutations(schema: dict[str, Any], value: Any) -> Strategy:
    """One change the schema must reject: a corrupted value, an unknown field, or a missing required field."""
    options = [_corruption(schema).map(lambda bad: ("replace", bad))]
    if isinstance(value, dict) and schema.get("properties") and not schema.get("x-kubernetes-preserve-unknown-fields"):
        options.append(st.just(("add", "notAField")))
    required = [key for key in schema.get("required", ()) if isinstance(value, dict) and key in value]
    if required:
        options.append(st.sampled_from(required).map(lambda key: ("drop", key)))
    return st.one_of(options)


def _mutate(document: dict[str, Any], schema: dict[str, Any]) -> Strategy:
    sites = [(path, node) for path, node in _sites(document["spec"], schema["properties"]["spec"], ("spec",))]

    def apply(site: tuple[tuple[Any, ...], dict[str, Any]]) -> Strategy:
        path, node = site
        current = _get(document, path)
        return _mutations(node, current).map(lambda change: _changed(document, path, change))

    return st.sampled_from(sites).flatmap(apply)


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def _changed(document: dict[str, Any], path: tuple[Any, ...], change: tuple[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(document)
    action, argument = change
    if action == "replace":
        parent = _get(result, path[:-1])
        parent[path[-1]] = argument
    elif action == "add":
        _get(result, path)[argument] = 1
    else:
        del _get(result, path)[argument]
    return result


def _list_key(schema: dict[str, Any]) -> Any:
    keys = schema.get("x-kubernetes-list-map-keys")
    if keys:
        return lambda item: repr([item.get(k) for k in keys]) if isinstance(item, dict) else repr(item)
    return repr


def _schema_accepts(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    stored = copy.deepcopy(document)
    if _schema.prune(stored, schema):
        return False
    _schema.prune_non_nullable_nulls(stored, schema)
    _schema.apply_defaults(stored, schema)
    return not _schema.validate(stored, schema)


def _model_accepts(model: type[api.Resource], document: dict[str, Any]) -> bool:
    try:
        model.model_validate(document)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("model", api.PROVIDER_KINDS, ids=lambda m: m.crd.kind)
def test_the_model_and_its_crd_schema_accept_the_same_documents(model: type[api.Resource]) -> None:
    schema = openapi_schema(model)
    spec_schema = schema["properties"]["spec"]
    valid = valid_values(spec_schema).map(lambda spec: {
        "apiVersion": model.crd.api_version, "kind": model.crd.kind, "metadata": {"name": "x", "namespace": "d"},
        "spec": spec,
    })
    documents = st.one_of(valid, valid.flatmap(lambda document: _mutate(document, schema)))

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(documents)
    def agree(document: dict[str, Any]) -> None:
        assert _model_accepts(model, document) == _schema_accepts(document, schema), document

    agree()
