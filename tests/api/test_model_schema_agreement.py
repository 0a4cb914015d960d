"""Whatever the models accept, the generated CRD schema accepts, and vice versa.

Documents are generated from each CRD's schema: mostly valid values, with a corruption at some nodes (a wrong type,
a value out of range or off the enum, a missing required field, an unknown field). The schema side is what the API
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
            return st.dictionaries(_KEYS, values(schema["additionalProperties"], depth + 1), max_size=2)
        return st.dictionaries(_KEYS, st.one_of(st.integers(0, 3), st.text(max_size=3)), max_size=2)
    fields = {name: values(child, depth + 1) for name, child in properties.items()
              if name not in ("apiVersion", "kind", "metadata")}
    base = st.fixed_dictionaries(
        {name: fields[name] for name in fields if name in required},
        optional={name: fields[name] for name in fields if name not in required},
    )
    if not schema.get("x-kubernetes-preserve-unknown-fields"):
        unknown = st.fixed_dictionaries({"notAField": st.integers(0, 1)})
        base = st.one_of(base, st.tuples(base, unknown).map(lambda pair: {**pair[0], **pair[1]}))
    if required:
        dropped = base.flatmap(lambda doc: st.sampled_from(sorted(required)).map(
            lambda name: {k: v for k, v in doc.items() if k != name}))
        base = st.one_of(base, base, base, dropped)
    return base


def values(schema: dict[str, Any], depth: int = 0) -> Strategy:
    """Values for a schema node: valid ones, and now and then a corrupted one."""
    if depth > 6:
        return st.nothing()
    if schema.get("x-kubernetes-int-or-string"):
        valid: Strategy = st.one_of(st.integers(0, 100), st.text(alphabet="abc%", min_size=1, max_size=4))
    elif schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
        valid = st.dictionaries(_KEYS, _ANYTHING, max_size=3)
    else:
        kind = schema.get("type")
        if kind == "object":
            valid = _object(schema, depth)
        elif kind == "array":
            low, high = schema.get("minItems", 0), min(schema.get("maxItems", 2), schema.get("minItems", 0) + 2)
            items = values(schema.get("items", {}), depth + 1)
            unique = schema.get("x-kubernetes-list-type") in ("set", "map")
            valid = st.lists(items, min_size=low, max_size=high, unique_by=_list_key(schema) if unique else None)
        elif kind == "integer":
            valid = _integer(schema)
        elif kind == "number":
            valid = st.one_of(_integer(schema), st.floats(schema.get("minimum", -10), schema.get("maximum", 10)))
        elif kind == "boolean":
            valid = st.booleans()
        else:
            valid = _string(schema)
    return st.one_of(valid, valid, valid, valid, valid, _corruption(schema))


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
    body = values({k: v for k, v in schema.items()}, 0)
    documents = body.map(lambda doc: {
        **(doc if isinstance(doc, dict) else {"spec": doc}),
        "apiVersion": model.crd.api_version, "kind": model.crd.kind, "metadata": {"name": "x", "namespace": "d"},
    })

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(documents)
    def agree(document: dict[str, Any]) -> None:
        assert _model_accepts(model, document) == _schema_accepts(document, schema), document

    agree()
