"""Server-side apply and `metadata.managedFields` tracking.

Follows sigs.k8s.io/structured-merge-diff v4 (field sets, merge, compare, prune, conflicts) and the manager chain
k8s.io/apimachinery/pkg/util/managedfields wraps around it: manager identities (an updater is one entry per API
version, an applier one entry whatever version it applies with), `before-first-apply` adoption of an untracked
object, the cap of ten update entries (`ancient-changes`), the `kubectl` upgrade from client-side apply through the
last-applied annotation, managedFields sent by clients, and the conflict error.

Objects are plain JSON dicts and list semantics come from a `ListTypeResolver` instead of an OpenAPI schema, so
this is simplified where the real server needs the schema:

- Every map is treated as a map-typed field, never a struct: an empty map is a leaf; pruning removes fields but
  never their now-empty parent maps; an Update that creates a map or granular list owns it itself (`.`), as for
  custom resources (built-ins' always-present structs and null lists never get that marker on the real server).
- An empty granular list is a leaf, like an empty map (the real apply field set leaves it out).
- Only one API version exists: field sets are never converted between versions.
- The only key default known is `protocol: TCP`, which the built-in port lists key on.
- Writes to the status subresource track and change `status` only; main-resource writes with `ignore_status`
  neither track nor change `status` (the real strategies reset the same fields after the field manager ran).
- Merged maps keep live key order then applied order (the real server re-sorts keys when it encodes).
"""

from __future__ import annotations

import copy
import json
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ._errors import FieldError, StatusError, bad_request, invalid
from ._listtypes import FieldPath, ListType, ListTypeResolver

Path = tuple[str, ...]
"""A field path spelled in FieldsV1 elements, e.g. `("f:spec", 'k:{"name":"nginx"}', "f:image")`."""

MAX_FIELD_MANAGER_LENGTH = 128
APPLY = "Apply"
UPDATE = "Update"

_BEFORE_FIRST_APPLY = "before-first-apply"
_ANCIENT_CHANGES = "ancient-changes"
_UNKNOWN_MANAGER = "unknown"
_MAX_UPDATE_MANAGERS = 10
_KUBECTL = "kubectl"
_LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
# The built-in port lists key on (port, protocol) and their schema defaults protocol, so an item without one
# still has a complete key.
_KEY_FIELD_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}
_UNTRACKED_TOP_LEVEL = frozenset({"f:apiVersion", "f:kind"})
_UNTRACKED_METADATA = frozenset({
    "f:name", "f:namespace", "f:uid", "f:resourceVersion", "f:generation", "f:creationTimestamp",
    "f:managedFields", "f:deletionTimestamp", "f:selfLink", "f:clusterName",
})
_MISSING: Any = object()


# --- JSON the way Go writes it ---------------------------------------------------------------------------------
# Key and value path elements embed JSON; it must match the real server byte for byte or items stop matching.

_GO_STRING_ESCAPES = {
    '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
    "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029",
}


def _go_string(text: str) -> str:
    escaped = (_GO_STRING_ESCAPES.get(ch) or (f"\\u{ord(ch):04x}" if ord(ch) < 0x20 else ch) for ch in text)
    return '"' + "".join(escaped) + '"'


def _go_float(number: float) -> str:
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    text = repr(number)
    if "e" not in text:
        return text
    if 1e-6 <= abs(number) < 1e21:
        return format(Decimal(text), "f")
    return re.sub(r"e([+-])0(\d)$", r"e\1\2", text)


def _go_json(value: Any) -> str:
    """Compact JSON with sorted keys and HTML-safe strings, as Go's encoder writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, list):
        return "[" + ",".join(_go_json(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_go_string(key)}:{_go_json(value[key])}" for key in sorted(value)) + "}"
    raise TypeError(f"not a JSON value: {value!r}")


def _go_quote(text: str) -> str:
    """Go's %q, close enough for names and key values."""
    return json.dumps(text, ensure_ascii=False)


def _go_value_string(value: Any) -> str:
    """structured-merge-diff's value.ToString, used when printing paths."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _go_quote(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, list):
        return "[" + ",".join(_go_value_string(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}={_go_value_string(value[key])}" for key in sorted(value)) + "}"
    return "null"


def _same(left: Any, right: Any) -> bool:
    """JSON equality: 1 equals 1.0, but true never equals 1."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return False
    return bool(left == right)


# --- path elements ---------------------------------------------------------------------------------------------


def _field_element(name: str) -> str:
    return "f:" + name


def _key_element(keys: dict[str, Any]) -> str:
    return "k:" + _go_json(keys)


def _value_element(value: Any) -> str:
    return "v:" + _go_json(value)


def _canonical_element(text: str) -> str | None:
    """The element re-spelled canonically; None for element kinds this version doesn't know (the server drops them)."""
    if len(text) < 2 or text[1] != ":":
        raise ValueError(f"invalid path element {text!r}")
    kind, body = text[0], text[2:]
    if kind == "f":
        return text
    if kind == "k":
        keys = json.loads(body)
        if not isinstance(keys, dict):
            raise ValueError(f"key path element is not a JSON object: {text!r}")
        return _key_element(keys)
    if kind == "v":
        return _value_element(json.loads(body))
    if kind == "i":
        return f"i:{int(body)}"
    return None


def _value_order(value: Any) -> tuple[Any, ...]:
    """structured-merge-diff's total order on values: numbers, strings, booleans, lists, maps, null."""
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (3, tuple(_value_order(item) for item in value))
    if isinstance(value, dict):
        return (4, tuple((key, _value_order(value[key])) for key in sorted(value)))
    return (5,)


def _element_order(element: str) -> tuple[Any, ...]:
    """Fields sort before keys, keys before values, values before indexes."""
    kind, body = element[0], element[2:]
    if kind == "f":
        return (0, body)
    if kind == "k":
        keys = json.loads(body)
        return (1, tuple((key, _value_order(keys[key])) for key in sorted(keys)))
    if kind == "v":
        return (2, _value_order(json.loads(body)))
    return (3, int(body))


def _element_string(element: str) -> str:
    kind, body = element[0], element[2:]
    if kind == "f":
        return "." + body
    if kind == "k":
        keys = json.loads(body)
        return "[" + ",".join(f"{key}={_go_value_string(keys[key])}" for key in sorted(keys)) + "]"
    if kind == "v":
        return f"[={_go_value_string(json.loads(body))}]"
    return f"[{body}]"


def path_string(path: Path) -> str:
    """A path as the real server prints it in conflicts, e.g. `.spec.containers[name="nginx"].image`."""
    return "".join(_element_string(element) for element in path)


class _ShapeError(ValueError):
    """The object can't be read against its list types (the real server fails to build a typed value)."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(f"{path_string(path)}: {detail}")


def _item_element(item: Any, list_type: ListType, list_path: Path, index: int) -> str:
    if list_type.kind != "map" or not list_type.keys:
        return _value_element(item)
    if not isinstance(item, dict):
        raise _ShapeError(list_path, f"element {index}: associative list with keys may not have non-map elements")
    keys: dict[str, Any] = {}
    for name in list_type.keys:
        if name in item:
            keys[name] = item[name]
        elif name in _KEY_FIELD_DEFAULTS:
            keys[name] = _KEY_FIELD_DEFAULTS[name]
        else:
            raise _ShapeError(
                list_path,
                f'element {index}: associative list with keys has an element that omits key field "{name}" '
                "(and doesn't have default value)",
            )
    return _key_element(keys)


def _element_or_none(item: Any, list_type: ListType) -> str | None:
    try:
        return _item_element(item, list_type, (), 0)
    except _ShapeError:
        return None


# --- field sets ------------------------------------------------------------------------------------------------


def _trie(paths: Iterable[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        for element in path:
            node = node.setdefault(element, {})
    return root


@dataclass(frozen=True)
class FieldSet:
    """A set of field paths: leaves, map-list items (`k:`), set-list items (`v:`) and owned maps."""

    paths: frozenset[Path] = frozenset()

    def __contains__(self, path: object) -> bool:
        return path in self.paths

    def __iter__(self) -> Iterator[Path]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __bool__(self) -> bool:
        return bool(self.paths)

    def __or__(self, other: FieldSet) -> FieldSet:
        return FieldSet(self.paths | other.paths)

    def __and__(self, other: FieldSet) -> FieldSet:
        return FieldSet(self.paths & other.paths)

    def __sub__(self, other: FieldSet) -> FieldSet:
        return FieldSet(self.paths - other.paths)

    def to_fields_v1(self) -> dict[str, Any]:
        """The FieldsV1 JSON, keys in the order the real server writes them."""
        return self._encode((), _trie(self.paths))

    def _encode(self, prefix: Path, children: dict[str, Any]) -> dict[str, Any]:
        encoded: dict[str, Any] = {}
        if children and prefix in self.paths:
            encoded["."] = {}
        for element in sorted(children, key=_element_order):
            encoded[element] = self._encode((*prefix, element), children[element])
        return encoded

    @classmethod
    def from_fields_v1(cls, fields: Any) -> FieldSet:
        """Parse FieldsV1 JSON; raises ValueError when it is malformed."""
        paths: set[Path] = set()
        _decode_fields_v1(fields, (), paths)
        return cls(frozenset(paths))

    def ordered(self) -> list[Path]:
        """The paths in the real Set's iteration order (the order conflicts are listed in)."""
        ordered: list[Path] = []
        self._iterate((), _trie(self.paths), ordered)
        return ordered

    def _iterate(self, prefix: Path, children: dict[str, Any], ordered: list[Path]) -> None:
        elements = sorted(children, key=_element_order)
        ordered.extend((*prefix, element) for element in elements if (*prefix, element) in self.paths)
        for element in elements:
            if children[element]:
                self._iterate((*prefix, element), children[element], ordered)


def _decode_fields_v1(node: Any, prefix: Path, paths: set[Path]) -> None:
    if not isinstance(node, dict):
        raise ValueError(f"FieldsV1 at {path_string(prefix) or 'the root'} is not a JSON object")
    is_member = False
    has_children = False
    for key, child in node.items():
        if key == ".":
            is_member = True
            continue
        element = _canonical_element(key)
        if element is None:
            continue
        has_children = True
        _decode_fields_v1(child, (*prefix, element), paths)
    if prefix and (is_member or not has_children):
        paths.add(prefix)


@dataclass(frozen=True)
class _Scope:
    """Which paths the field manager tracks for a write."""

    ignore_status: bool
    subresource: str

    def tracks(self, path: Path) -> bool:
        if not path or path == ("f:metadata",) or path[0] in _UNTRACKED_TOP_LEVEL:
            return False
        if path[0] == "f:metadata" and path[1] in _UNTRACKED_METADATA:
            return False
        if self.subresource == "status":
            return path[0] == "f:status"
        return not (self.ignore_status and path[0] == "f:status")

    def restrict(self, paths: Iterable[Path]) -> FieldSet:
        return FieldSet(frozenset(path for path in paths if self.tracks(path)))


def fields_of(
    obj: dict[str, Any], lists: ListTypeResolver, *, ignore_status: bool = False, subresource: str = ""
) -> FieldSet:
    """The fields an object sets, as an applier of it would own them.

    `ignore_status` leaves out `status` (resources with a status subresource); `subresource="status"` keeps only
    `status`. Raises ValueError when a map-list item lacks its key fields.
    """
    return _Scope(ignore_status, subresource).restrict(_collect_fields(obj, lists, reject_duplicates=False))


def _collect_fields(obj: dict[str, Any], lists: ListTypeResolver, *, reject_duplicates: bool) -> set[Path]:
    collected: set[Path] = set()
    _collect_map_fields(obj, (), (), lists, collected, reject_duplicates)
    return collected


def _collect_map_fields(
    mapping: dict[str, Any], path: Path, schema: FieldPath, lists: ListTypeResolver, out: set[Path], strict: bool
) -> None:
    for key, child in mapping.items():
        _collect_value_fields(child, (*path, _field_element(key)), (*schema, key), lists, out, strict)


def _collect_value_fields(
    value: Any, path: Path, schema: FieldPath, lists: ListTypeResolver, out: set[Path], strict: bool
) -> None:
    if isinstance(value, dict) and value:
        _collect_map_fields(value, path, schema, lists, out, strict)
        return
    if isinstance(value, list) and value and lists(schema).kind != "atomic":
        _collect_list_fields(value, path, schema, lists, out, strict)
        return
    out.add(path)


def _collect_list_fields(
    items: list[Any], path: Path, schema: FieldPath, lists: ListTypeResolver, out: set[Path], strict: bool
) -> None:
    list_type = lists(schema)
    seen: set[str] = set()
    for index, item in enumerate(items):
        element = _item_element(item, list_type, path, index)
        if strict and element in seen:
            raise _ShapeError(path, f"duplicate entries for key {_element_string(element)}")
        seen.add(element)
        item_path = (*path, element)
        out.add(item_path)
        if list_type.kind == "map" and isinstance(item, dict):
            _collect_map_fields(item, item_path, schema, lists, out, strict)


# --- compare ---------------------------------------------------------------------------------------------------


@dataclass
class _Comparison:
    added: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)

    def restricted(self, scope: _Scope) -> _Comparison:
        return _Comparison(
            set(scope.restrict(self.added)), set(scope.restrict(self.removed)), set(scope.restrict(self.modified))
        )

    def changed(self) -> FieldSet:
        return FieldSet(frozenset(self.added | self.modified))


def _compare(old: Any, new: Any, lists: ListTypeResolver) -> _Comparison:
    """What changed from old to new; maps and list items that appear or vanish count, not only leaves."""
    comparison = _Comparison()
    _compare_values(old, new, (), (), lists, comparison)
    return comparison


def _shape(value: Any, schema: FieldPath, lists: ListTypeResolver) -> str | None:
    if value is _MISSING:
        return None
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list) and lists(schema).kind != "atomic":
        return "list"
    return "leaf"


def _empty_or_missing(value: Any) -> bool:
    return value is _MISSING or (isinstance(value, dict | list) and not value)


def _compare_values(
    old: Any, new: Any, path: Path, schema: FieldPath, lists: ListTypeResolver, out: _Comparison
) -> None:
    old_shape, new_shape = _shape(old, schema, lists), _shape(new, schema, lists)
    if {old_shape, new_shape} <= {None, "leaf"} or (_empty_or_missing(old) and _empty_or_missing(new)):
        _compare_leaves(old, new, path, out)
        return
    if old_shape and new_shape and old_shape != new_shape:
        out.modified.add(path)
        if old_shape != "leaf":
            _compare_children(old, _MISSING, path, schema, lists, out)
        if new_shape != "leaf":
            _compare_children(_MISSING, new, path, schema, lists, out)
        return
    _compare_children(old, new, path, schema, lists, out)
    if path and old is _MISSING:
        out.added.add(path)
    elif path and new is _MISSING:
        out.removed.add(path)


def _compare_leaves(old: Any, new: Any, path: Path, out: _Comparison) -> None:
    if not path:
        return
    if old is _MISSING:
        out.added.add(path)
    elif new is _MISSING:
        out.removed.add(path)
    elif not _same(old, new):
        out.modified.add(path)


def _compare_children(
    old: Any, new: Any, path: Path, schema: FieldPath, lists: ListTypeResolver, out: _Comparison
) -> None:
    if isinstance(old if old is not _MISSING else new, dict):
        old_map = old if old is not _MISSING else {}
        new_map = new if new is not _MISSING else {}
        for key in [*old_map, *(key for key in new_map if key not in old_map)]:
            child_path, child_schema = (*path, _field_element(key)), (*schema, key)
            old_child, new_child = old_map.get(key, _MISSING), new_map.get(key, _MISSING)
            _compare_values(old_child, new_child, child_path, child_schema, lists, out)
        return
    list_type = lists(schema)
    old_items = _items_by_element(old if old is not _MISSING else [], list_type, path)
    new_items = _items_by_element(new if new is not _MISSING else [], list_type, path)
    for element in [*old_items, *(element for element in new_items if element not in old_items)]:
        old_item, new_item = old_items.get(element, _MISSING), new_items.get(element, _MISSING)
        _compare_values(old_item, new_item, (*path, element), schema, lists, out)


def _items_by_element(items: list[Any], list_type: ListType, path: Path) -> dict[str, Any]:
    """Items by path element; a repeated element keeps its first item, as the real server reads duplicates."""
    by_element: dict[str, Any] = {}
    for index, item in enumerate(items):
        by_element.setdefault(_item_element(item, list_type, path, index), item)
    return by_element


# --- merge and prune -------------------------------------------------------------------------------------------


def _merge_values(live: Any, applied: Any, schema: FieldPath, lists: ListTypeResolver) -> Any:
    """The applied value merged over the live one: maps recursively, granular lists item by item."""
    if isinstance(live, dict) and isinstance(applied, dict):
        merged = copy.deepcopy(live)
        for key, value in applied.items():
            live_value = live.get(key, _MISSING)
            merged[key] = copy.deepcopy(value) if live_value is _MISSING else _merge_values(
                live_value, value, (*schema, key), lists
            )
        return merged
    if isinstance(live, list) and isinstance(applied, list) and lists(schema).kind != "atomic":
        return _merge_lists(live, applied, schema, lists)
    return copy.deepcopy(applied)


def _merge_lists(live: list[Any], applied: list[Any], schema: FieldPath, lists: ListTypeResolver) -> list[Any]:
    list_type = lists(schema)
    live_elements = [_item_element(item, list_type, (), index) for index, item in enumerate(live)]
    applied_elements = [_item_element(item, list_type, (), index) for index, item in enumerate(applied)]
    merged: list[Any] = []
    for live_index, applied_index in _interleave(live_elements, applied_elements):
        live_item = live[live_index] if live_index is not None else _MISSING
        applied_item = applied[applied_index] if applied_index is not None else _MISSING
        if applied_item is _MISSING:
            merged.append(copy.deepcopy(live_item))
        elif live_item is _MISSING or list_type.kind != "map":
            merged.append(copy.deepcopy(applied_item))
        else:
            merged.append(_merge_values(live_item, applied_item, schema, lists))
    return merged


def _interleave(live: list[str], applied: list[str]) -> list[tuple[int | None, int | None]]:
    """(live index, applied index) pairs in the order structured-merge-diff emits merged list items.

    Live-only items stay where they are; items both sides have follow the applied order, and applied-only items
    land just before the shared item that follows them in the applied list.
    """
    applied_set = set(applied)
    first_live: dict[str, int] = {}
    for index, element in enumerate(live):
        first_live.setdefault(element, index)
    shared = deque(element for element in applied if element in first_live)
    next_shared = shared.popleft() if shared else None
    emitted: set[str] = set()
    pairs: list[tuple[int | None, int | None]] = []
    live_at = applied_at = 0
    while live_at < len(live) or applied_at < len(applied):
        if live_at < len(live) and applied_at < len(applied):
            element = live[live_at]
            if element == applied[applied_at]:
                pairs.append((first_live[element], applied_at))
                emitted.add(element)
                live_at, applied_at = live_at + 1, applied_at + 1
                next_shared = shared.popleft() if shared else None
                continue
            if element in applied_set and next_shared is not None and next_shared != element:
                live_at += 1
                continue
        if live_at < len(live):
            element = live[live_at]
            if element not in applied_set:
                pairs.append((live_at, None))
                live_at += 1
                continue
            if element in emitted:
                live_at += 1
                continue
        element = applied[applied_at]
        pairs.append((first_live.get(element), applied_at))
        emitted.add(element)
        applied_at += 1
        if next_shared == element:
            next_shared = shared.popleft() if shared else None
    return pairs


def _remove_paths(obj: dict[str, Any], paths: Iterable[Path], lists: ListTypeResolver) -> None:
    # Parents first: once a map-list item is gone, removing its fields is a no-op.
    for path in sorted(paths, key=len):
        _remove_path(obj, path, (), lists)


def _remove_path(node: Any, path: Path, schema: FieldPath, lists: ListTypeResolver) -> None:
    head, rest = path[0], path[1:]
    if head.startswith("f:"):
        name = head[2:]
        if not isinstance(node, dict) or name not in node:
            return
        if rest:
            _remove_path(node[name], rest, (*schema, name), lists)
        else:
            del node[name]
        return
    if not isinstance(node, list) or lists(schema).kind == "atomic":
        return
    list_type = lists(schema)
    if rest:
        for item in node:
            if _element_or_none(item, list_type) == head:
                _remove_path(item, rest, schema, lists)
    else:
        node[:] = [item for item in node if _element_or_none(item, list_type) != head]


# --- managers --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Identity:
    """Who owns an entry: the real server keys entries by manager, operation, subresource and, for updaters only,
    API version."""

    manager: str
    operation: str
    api_version: str
    subresource: str

    def key(self) -> str:
        """The real manager identifier (JSON of the entry's identifying fields); orders managers in messages."""
        parts = [f'"manager":{_go_string(self.manager)}', f'"operation":{_go_string(self.operation)}']
        if self.api_version:
            parts.append(f'"apiVersion":{_go_string(self.api_version)}')
        if self.subresource:
            parts.append(f'"subresource":{_go_string(self.subresource)}')
        return "{" + ",".join(parts) + "}"

    def describe(self) -> str:
        text = _go_quote(self.manager)
        if self.subresource:
            text += f" with subresource {_go_quote(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text


@dataclass
class _Entry:
    fields: FieldSet
    api_version: str
    time: str | None


_Managers = dict[_Identity, _Entry]


def _identity(manager: str, operation: str, api_version: str, subresource: str) -> _Identity:
    return _Identity(manager or _UNKNOWN_MANAGER, operation, api_version if operation == UPDATE else "", subresource)


def _decode_managers(entries: Any) -> _Managers:
    """Parse managedFields; raises ValueError on what the real server refuses to decode."""
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    managers: _Managers = {}
    for index, entry in enumerate(entries):
        identity, decoded = _decode_entry(entry, index)
        managers[identity] = decoded
    return managers


def _decode_entry(entry: Any, index: int) -> tuple[_Identity, _Entry]:
    if not isinstance(entry, dict):
        raise ValueError(f"managed fields entry {index} is not an object")
    operation = entry.get("operation")
    if operation not in (APPLY, UPDATE):
        raise ValueError("operation must be `Apply` or `Update`")
    api_version = _entry_string(entry, "apiVersion")
    if not api_version:
        raise ValueError("apiVersion must not be empty")
    fields_type = _entry_string(entry, "fieldsType")
    if fields_type != "FieldsV1":
        raise ValueError(f"invalid fieldsType {fields_type!r} in managed fields entry {index}")
    time = entry.get("time")
    identity = _Identity(
        _entry_string(entry, "manager"),
        operation,
        api_version if operation == UPDATE else "",
        _entry_string(entry, "subresource"),
    )
    fields = FieldSet.from_fields_v1(entry.get("fieldsV1") or {})
    return identity, _Entry(fields, api_version, time if isinstance(time, str) else None)


def _entry_string(entry: dict[str, Any], name: str) -> str:
    value = entry.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"managed fields entry field {name} must be a string")
    return value


def _epoch_seconds(time: str | None) -> int:
    if not time:
        return 0
    try:
        return int(datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def _encode_managers(managers: _Managers) -> list[dict[str, Any]]:
    entries = [(identity, entry) for identity, entry in managers.items() if entry.fields]
    entries.sort(
        key=lambda pair: (
            pair[0].operation, _epoch_seconds(pair[1].time), pair[0].manager, pair[1].api_version,
            pair[0].subresource,
        )
    )
    return [_encode_entry(identity, entry) for identity, entry in entries]


def _encode_entry(identity: _Identity, entry: _Entry) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    if identity.manager:
        encoded["manager"] = identity.manager
    encoded["operation"] = identity.operation
    encoded["apiVersion"] = entry.api_version
    if entry.time is not None:
        encoded["time"] = entry.time
    encoded["fieldsType"] = "FieldsV1"
    encoded["fieldsV1"] = entry.fields.to_fields_v1()
    if identity.subresource:
        encoded["subresource"] = identity.subresource
    return encoded


def _store_managers(obj: dict[str, Any], managers: _Managers) -> dict[str, Any]:
    entries = _encode_managers(managers)
    metadata = obj.get("metadata")
    if entries:
        if not isinstance(metadata, dict):
            metadata = obj["metadata"] = {}
        metadata["managedFields"] = entries
    elif isinstance(metadata, dict):
        metadata.pop("managedFields", None)
    return obj


def _managed_fields_of(obj: dict[str, Any] | None) -> Any:
    metadata = (obj or {}).get("metadata")
    return metadata.get("managedFields") if isinstance(metadata, dict) else None


def _drop_empty(managers: _Managers) -> None:
    for identity in [identity for identity, entry in managers.items() if not entry.fields]:
        del managers[identity]


def _copy_managers(managers: _Managers) -> _Managers:
    return {identity: _Entry(entry.fields, entry.api_version, entry.time) for identity, entry in managers.items()}


# --- update ----------------------------------------------------------------------------------------------------


def track_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    lists: ListTypeResolver,
    api_version: str,
    now: str,
    ignore_status: bool,
    subresource: str = "",
) -> dict[str, Any]:
    """Record a non-apply write (create, update, patch): returns a copy of `new` with managedFields updated.

    Fields the write added or changed go to `manager`'s Update entry and leave every other entry; fields it
    deleted leave every entry. As on the real server: managedFields sent in `new` replace the tracking unless
    the write is to a subresource; `[]` (or `[{}]`) resets it, which strips managedFields from an existing
    object; and an existing object without managedFields stays untracked until its first apply.
    """
    # Only metadata.managedFields is written, so copying the top level and metadata keeps `new` untouched.
    result = dict(new)
    if isinstance(new.get("metadata"), dict):
        result["metadata"] = dict(new["metadata"])
    managers = _managers_for_update(old, new, subresource)
    if not managers and old is not None:
        return _store_managers(result, {})
    scope = _Scope(ignore_status, subresource)
    try:
        comparison = _compare(old if old is not None else {}, new, lists).restricted(scope)
    except _ShapeError:
        # The real server can't type the object then, and keeps the live managedFields rather than fail the write.
        return _store_managers(result, _decode_or_empty(_managed_fields_of(old)))
    _record_update(managers, _identity(manager, UPDATE, api_version, subresource), comparison, api_version, now)
    _cap_update_managers(managers)
    return _store_managers(result, managers)


def _managers_for_update(old: dict[str, Any] | None, new: dict[str, Any], subresource: str) -> _Managers:
    live = _decode_or_empty(_managed_fields_of(old))
    if subresource:
        return live
    sent = _managed_fields_of(new)
    if _is_reset(sent):
        return {}
    try:
        decoded = _decode_managers(sent)
    except ValueError:
        return live
    return decoded or live


def _is_reset(sent: Any) -> bool:
    if not isinstance(sent, list) or len(sent) > 1:
        return False
    return not sent or (isinstance(sent[0], dict) and all(value in ("", None) for value in sent[0].values()))


def _decode_or_empty(entries: Any) -> _Managers:
    try:
        return _decode_managers(entries)
    except ValueError:
        return {}


def _record_update(
    managers: _Managers, identity: _Identity, comparison: _Comparison, api_version: str, now: str
) -> None:
    changed = comparison.changed()
    taken = changed | FieldSet(frozenset(comparison.removed))
    for entry in managers.values():
        entry.fields = entry.fields - taken
    _drop_empty(managers)
    if changed:
        previous = managers.get(identity)
        owned = changed | previous.fields if previous else changed
        managers[identity] = _Entry(owned, api_version, now)


def _cap_update_managers(managers: _Managers) -> None:
    """Merge the oldest update entries into one `ancient-changes` entry per API version, keeping at most ten."""
    updaters = [identity for identity in managers if identity.operation == UPDATE]
    if len(updaters) <= _MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda identity: (_epoch_seconds(managers[identity].time), identity.key()))
    first_by_version: dict[str, _Identity] = {}
    remaining = len(updaters)
    for identity in updaters:
        if remaining <= _MAX_UPDATE_MANAGERS:
            break
        entry = managers[identity]
        first = first_by_version.get(entry.api_version)
        if first is None:
            first_by_version[entry.api_version] = identity
            continue
        bucket = _Identity(_ANCIENT_CHANGES, UPDATE, entry.api_version, "")
        if bucket not in managers:
            managers[bucket] = managers.pop(first)
        managers[bucket] = _Entry(entry.fields | managers[bucket].fields, entry.api_version, entry.time)
        managers.pop(identity, None)
        remaining -= 1


# --- apply -----------------------------------------------------------------------------------------------------


class _ConflictsFound(Exception):
    def __init__(self, conflicts: dict[_Identity, FieldSet]) -> None:
        super().__init__("apply conflicts")
        self.conflicts = conflicts

    def outside(self, allowed: FieldSet) -> dict[_Identity, FieldSet]:
        remaining = {identity: fields - allowed for identity, fields in self.conflicts.items()}
        return {identity: fields for identity, fields in remaining.items() if fields}


def server_side_apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    *,
    manager: str,
    force: bool,
    lists: ListTypeResolver,
    api_version: str,
    now: str,
    ignore_status: bool,
    subresource: str = "",
) -> dict[str, Any]:
    """Apply a configuration: returns the new object (a copy) with managedFields updated.

    The configuration's fields become `manager`'s Apply entry; fields another manager owns with a different
    value raise a 409 Conflict unless `force` takes them; fields the manager applied before, no longer applies
    and nobody else owns are removed. With `ignore_status` the object's status stays as live has it (none on
    create); on the status subresource only status changes.
    """
    _reject_unappliable(applied, api_version)
    scope = _Scope(ignore_status, subresource)
    base = copy.deepcopy(live) if live is not None else {}
    applied_fields = scope.restrict(_typed_fields(applied, lists, "patch", strict=True))
    _typed_fields(base, lists, "live", strict=False)
    managers = _live_managers(live)
    if not managers and live is not None:
        _adopt_untracked_fields(base, managers, lists, scope, api_version, now)
    identity = _identity(manager, APPLY, api_version, subresource)
    attempt = _ApplyAttempt(base, applied, applied_fields, identity, lists, scope, api_version)
    try:
        merged, managers = attempt.run(managers, force=force)
    except _ConflictsFound as found:
        allowed = _last_applied_fields(manager, live, lists, api_version)
        remaining = found.outside(allowed)
        if remaining:
            raise _conflict_error(remaining) from None
        merged, managers = attempt.run(managers, force=True)
    if identity in managers and not _same(base, merged):
        managers[identity].time = now
    if manager == _KUBECTL:
        _sync_last_applied(merged, applied)
    return _store_managers(_keep_untracked_content(merged, live, scope), managers)


def _reject_unappliable(applied: dict[str, Any], api_version: str) -> None:
    patch_version = applied.get("apiVersion") or ""
    if patch_version != api_version:
        raise bad_request(
            "Incorrect version specified in apply patch. "
            f"Specified patch version: {patch_version}, expected: {api_version}"
        )
    metadata = applied.get("metadata")
    if isinstance(metadata, dict) and metadata.get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")


def _typed_fields(obj: dict[str, Any], lists: ListTypeResolver, which: str, *, strict: bool) -> set[Path]:
    try:
        return _collect_fields(obj, lists, reject_duplicates=strict)
    except _ShapeError as error:
        # Not a StatusError on the real server either, so it answers 500 with the bare message.
        raise StatusError(500, "", f"failed to create typed {which} object ({_object_label(obj)}): {error}") from None


def _object_label(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    group, _, version = str(obj.get("apiVersion") or "").rpartition("/")
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}; {group}/{version}, Kind={obj.get('kind', '')}"


def _live_managers(live: dict[str, Any] | None) -> _Managers:
    try:
        return _decode_managers(_managed_fields_of(live))
    except ValueError as error:
        raise StatusError(500, "", f"failed to decode managed fields: {error}") from None


def _adopt_untracked_fields(
    live: dict[str, Any], managers: _Managers, lists: ListTypeResolver, scope: _Scope, api_version: str, now: str
) -> None:
    """Give an untracked object's existing fields to `before-first-apply`, so the first apply can conflict."""
    existing = _compare({}, live, lists).restricted(scope).changed()
    if existing:
        identity = _identity(_BEFORE_FIRST_APPLY, UPDATE, api_version, scope.subresource)
        managers[identity] = _Entry(existing, api_version, now)


@dataclass(frozen=True)
class _ApplyAttempt:
    live: dict[str, Any]
    applied: dict[str, Any]
    applied_fields: FieldSet
    identity: _Identity
    lists: ListTypeResolver
    scope: _Scope
    api_version: str

    def run(self, managers: _Managers, *, force: bool) -> tuple[dict[str, Any], _Managers]:
        """structured-merge-diff's Updater.Apply: merge, prune, then settle ownership against the live object."""
        managers = _copy_managers(managers)
        merged: dict[str, Any] = _merge_values(self.live, self.applied, (), self.lists)
        previous = managers.get(self.identity)
        managers[self.identity] = _Entry(self.applied_fields, self.api_version, previous.time if previous else None)
        if previous:
            _remove_paths(merged, _prunable(previous.fields, managers, merged, self.lists), self.lists)
        comparison = _compare(self.live, merged, self.lists).restricted(self.scope)
        conflicts = self._conflicts(managers, comparison.changed())
        if conflicts and not force:
            raise _ConflictsFound(conflicts)
        removed = FieldSet(frozenset(comparison.removed))
        for identity, entry in managers.items():
            if identity != self.identity:
                entry.fields = entry.fields - conflicts.get(identity, FieldSet()) - removed
        _drop_empty(managers)
        return merged, managers

    def _conflicts(self, managers: _Managers, changed: FieldSet) -> dict[_Identity, FieldSet]:
        others = {identity: entry for identity, entry in managers.items() if identity != self.identity}
        conflicts = {identity: entry.fields & changed for identity, entry in others.items()}
        return {identity: fields for identity, fields in conflicts.items() if fields}


def _prunable(last_applied: FieldSet, managers: _Managers, merged: dict[str, Any], lists: ListTypeResolver) -> FieldSet:
    """What the applier owned last time that nobody, itself included, owns now.

    structured-merge-diff removes the whole last applied set, then adds back what someone owns and what the last
    set did not contain. So a path that lost its owner stays when anything below it is owned or was never part of
    the last set (e.g. `.spec` owned as `.` through kubectl's client-side-apply upgrade, while `.spec.mode` is
    still applied).
    """
    owned = FieldSet()
    for entry in managers.values():
        owned = owned | entry.fields
    candidates = last_applied - owned
    if not candidates.paths:
        return candidates
    present = _compare({}, merged, lists).added
    kept = owned.paths
    last = last_applied.paths

    def must_stay(path: Path) -> bool:
        depth = len(path)
        return any(
            len(other) > depth and other[:depth] == path and (other in kept or other not in last)
            for other in present
        )

    return FieldSet(frozenset(path for path in candidates.paths if not must_stay(path)))


def _conflict_error(conflicts: dict[_Identity, FieldSet]) -> StatusError:
    identities = sorted(conflicts, key=_Identity.key)
    listed = [(identity, path) for identity in identities for path in conflicts[identity].ordered()]
    causes = [
        {"reason": "FieldManagerConflict", "message": f"conflict with {who.describe()}", "field": path_string(path)}
        for who, path in listed
    ]
    if len(listed) == 1:
        identity, path = listed[0]
        message = f"Apply failed with 1 conflict: conflict with {identity.describe()}: {path_string(path)}"
    else:
        lines: list[str] = []
        for identity in identities:
            lines.append(f"conflicts with {identity.describe()}:")
            lines.extend(f"- {path_string(path)}" for path in conflicts[identity].ordered())
        message = f"Apply failed with {len(listed)} conflicts: " + "\n".join(lines)
    return StatusError(409, "Conflict", message, {"causes": causes})


def _last_applied_fields(
    manager: str, live: dict[str, Any] | None, lists: ListTypeResolver, api_version: str
) -> FieldSet:
    """Fields `kubectl apply --server-side` may take over because its client-side last-applied configuration
    still matches them on the live object."""
    metadata = (live or {}).get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if manager != _KUBECTL or live is None or not isinstance(annotations, dict):
        return FieldSet()
    try:
        last_applied = json.loads(annotations.get(_LAST_APPLIED_ANNOTATION) or "")
        if not isinstance(last_applied, dict) or last_applied.get("apiVersion") != api_version:
            return FieldSet()
        drift = _compare(last_applied, live, lists)
        fields = _collect_fields(last_applied, lists, reject_duplicates=False)
    except ValueError:
        return FieldSet()
    return FieldSet(frozenset(fields - drift.added - drift.removed - drift.modified))


def _sync_last_applied(obj: dict[str, Any], applied: dict[str, Any]) -> None:
    """Keep an existing client-side last-applied annotation in step with what kubectl now applies server-side."""
    annotations = (obj.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict) or not annotations.get(_LAST_APPLIED_ANNOTATION):
        return
    configuration = copy.deepcopy(applied)
    applied_annotations = (configuration.get("metadata") or {}).get("annotations")
    if isinstance(applied_annotations, dict):
        applied_annotations.pop(_LAST_APPLIED_ANNOTATION, None)
    annotations[_LAST_APPLIED_ANNOTATION] = _go_json(configuration) + "\n"


def _keep_untracked_content(merged: dict[str, Any], live: dict[str, Any] | None, scope: _Scope) -> dict[str, Any]:
    """What the real status/main strategies let the write change, after the field manager has run."""
    if scope.subresource == "status":
        result = copy.deepcopy(live) if live is not None else {}
        _copy_status(merged, result)
        return result
    if scope.ignore_status:
        _copy_status(live or {}, merged)
    return merged


def _copy_status(source: dict[str, Any], target: dict[str, Any]) -> None:
    if "status" in source:
        target["status"] = copy.deepcopy(source["status"])
    else:
        target.pop("status", None)


# --- managers' names -------------------------------------------------------------------------------------------


def default_manager(user_agent: str) -> str:
    """The manager of a write without `fieldManager`: the user agent's program name (up to the first `/`),
    without unprintable characters, cut to 128 bytes."""
    kept: list[str] = []
    size = 0
    for character in user_agent.split("/", 1)[0]:
        if not character.isprintable():
            continue
        width = len(character.encode("utf-8", "surrogatepass"))
        if size + width > MAX_FIELD_MANAGER_LENGTH:
            break
        kept.append(character)
        size += width
    return "".join(kept)


def validate_field_manager(manager: str, is_apply: bool, *, options_kind: str | None = None) -> None:
    """The real options validation of `fieldManager`: raises 422 Invalid on `<options_kind>.meta.k8s.io ""`.

    `options_kind` is the request's options type (CreateOptions, UpdateOptions, PatchOptions); it defaults to
    PatchOptions for apply and UpdateOptions otherwise.
    """
    errors: list[FieldError] = []
    if is_apply and not manager:
        errors.append(FieldError("FieldValueRequired", "fieldManager", "is required for apply patch"))
    if len(manager.encode("utf-8", "surrogatepass")) > MAX_FIELD_MANAGER_LENGTH:
        detail = f"may not be more than {MAX_FIELD_MANAGER_LENGTH} bytes"
        errors.append(FieldError("FieldValueTooLong", "fieldManager", detail))
    errors.extend(_unprintable_character_errors(manager))
    if errors:
        kind = options_kind or ("PatchOptions" if is_apply else "UpdateOptions")
        raise invalid("meta.k8s.io", kind, "", errors)


def _unprintable_character_errors(manager: str) -> list[FieldError]:
    errors: list[FieldError] = []
    position = 0
    for character in manager:
        if not character.isprintable():
            detail = f"invalid character U+{ord(character):04X} (at position {position})"
            errors.append(FieldError("FieldValueInvalid", "fieldManager", detail, manager))
        position += len(character.encode("utf-8", "surrogatepass"))
    return errors
