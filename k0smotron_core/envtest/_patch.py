"""The three PATCH flavours of kube-apiserver: JSON patch, JSON merge patch and strategic merge patch.

Every function returns a new document and leaves both its inputs untouched. Errors carry the status code,
reason and message the real server answers with, because clients (kubectl above all) print them verbatim and
controllers branch on them:

- A body that cannot even be decoded as the patch type is `400 BadRequest`.
- JSON patch operations that do not apply are `422 Invalid` with the generic message
  "the server rejected our request due to an error in our request": the apiserver wraps the json-patch error
  in `NewGenericServerResponse`, which drops the library's own text.
- Strategic merge patch follows `interpretStrategicMergePatchError`: malformed directives are `400`, lists of
  lists are `422` (generic message), and every other merge error is passed through as a plain Go error, which
  the apiserver answers with `500` and no reason, e.g. "map: map[image:x] does not contain declared merge
  key: name".

Strategic merge patch is a port of the apply half of k8s.io/apimachinery/pkg/util/strategicpatch (v0.36),
including its ordering rules. Where the real server relies on decoding into Go structs to discard what the
patch algorithm leaves behind (null values, directive keys), this port discards them itself, so no `$patch`,
`$retainKeys`, `$setElementOrder/...` or `$deleteFromPrimitiveList/...` key ever reaches a result.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from ._errors import StatusError, bad_request
from ._listtypes import ATOMIC, SET, FieldPath, ListType, ListTypeResolver

MAX_JSON_PATCH_OPERATIONS = 10000
"""The apiserver refuses longer JSON patches (maxJSONPatchOperations)."""

_REJECTED_MESSAGE = "the server rejected our request due to an error in our request"

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"

_BAD_RETAIN_KEYS = "invalid patch format of retainKeys"
_BAD_ELEMENT_ORDER = "invalid patch format of setElementOrder list"
_BAD_PRIMITIVE_LIST = "invalid patch format of primitive list"

_GO_LIST = "[]interface {}"
_GO_MAP = "map[string]interface {}"


# --- JSON patch (RFC 6902) ---------------------------------------------------------------------------------


def apply_json_patch(doc: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Applies an RFC 6902 JSON patch (`application/json-patch+json`).

    - `patch` not a JSON array of objects: 400 with Go's decoding message, e.g.
      "json: cannot unmarshal object into Go value of type jsonpatch.Patch". A `null` body is an empty patch.
    - More than 10000 operations: 413 RequestEntityTooLarge.
    - Any operation that does not apply (a failing `test`, a missing path, an unknown `op`, a malformed
      pointer) or a result that is not an object: 422 Invalid, message "the server rejected our request due
      to an error in our request", empty details. The library's own explanation stays on `__cause__`.
    """
    operations = _json_patch_operations(patch)
    try:
        patched = jsonpatch.JsonPatch(copy.deepcopy(operations)).apply(doc)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as err:
        raise _rejected_request() from err
    if not isinstance(patched, dict):
        raise _rejected_request()
    return patched


def _json_patch_operations(patch: Any) -> list[Any]:
    if patch is None:
        return []
    if not isinstance(patch, list):
        raise bad_request(f"json: cannot unmarshal {_json_type(patch)} into Go value of type jsonpatch.Patch")
    for operation in patch:
        # Go decodes a null operation into an empty one, which then fails to apply (422), not to decode.
        if operation is not None and not isinstance(operation, dict):
            raise bad_request(
                f"json: cannot unmarshal {_json_type(operation)} into Go value of type jsonpatch.Operation"
            )
    if len(patch) > MAX_JSON_PATCH_OPERATIONS:
        raise StatusError(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(patch)}",
        )
    return patch


def _rejected_request() -> StatusError:
    return StatusError(422, "Invalid", _REJECTED_MESSAGE, {})


# --- JSON merge patch (RFC 7386) ---------------------------------------------------------------------------


def apply_merge_patch(doc: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Applies an RFC 7386 JSON merge patch (`application/merge-patch+json`).

    `null` deletes a key, objects merge recursively, anything else (lists included) replaces. Nulls inside a
    value that is put in place wholesale are dropped, as evanphx/json-patch does. A body that is not a JSON
    object is 400 "Invalid JSON Patch" (for an array body the real server fails a step later, when it decodes
    the result).
    """
    if not isinstance(patch, dict):
        raise bad_request("Invalid JSON Patch")
    merged = copy.deepcopy(doc)
    _merge_object(merged, patch)
    return merged


def _merge_object(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif target.get(key) is None:
            target[key] = _without_nulls(value)
        else:
            target[key] = _merged_value(target[key], value)


def _merged_value(current: Any, value: Any) -> Any:
    if not isinstance(current, dict):
        return _without_nulls(value)
    if not isinstance(value, dict):
        # evanphx/json-patch keeps a non-object patch value as it is when it replaces an object.
        return copy.deepcopy(value)
    _merge_object(current, value)
    return current


def _without_nulls(value: Any) -> Any:
    """A copy without null object members; null list elements stay, as in evanphx/json-patch's pruneNulls."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


# --- Strategic merge patch ---------------------------------------------------------------------------------


def apply_strategic_merge_patch(doc: dict[str, Any], patch: Any, lists: ListTypeResolver) -> dict[str, Any]:
    """Applies a Kubernetes strategic merge patch (`application/strategic-merge-patch+json`).

    Maps merge recursively and `null` deletes a key. A list merges according to `lists`, asked with the
    list's field path (field names from the root, list positions omitted): `map` lists merge items by the
    first key, `set` lists of scalars merge as a union, `atomic` lists are replaced.

    Order, as the real server computes it (normalizeElementOrder): the items the patch names come in the
    patch's order, or in `$setElementOrder/<field>`'s when given; the live items it does not name keep their
    relative order and go before a named item only when both are in the live list and they come first there.
    So a new item lands before the live items, as kubectl users know.

    Directives: `$patch: replace` (a map or a merging list is replaced by the rest of the patch),
    `$patch: delete` (in a list item: removes the items with that key; on a map: removes the map; the real
    server leaves `{}` there, which typed decoding turns into an absent map or an empty struct),
    `$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`. The real server rejects
    `$patch: merge` (500 "unknown patch type: merge in map: ..." on a map, "merging lists cannot yet be
    specified in the patch" in a list), and so does this one. A `null` body is a no-op.
    """
    if patch is None:
        return copy.deepcopy(doc)
    if not isinstance(patch, dict):
        raise bad_request(f"json: cannot unmarshal {_json_type(patch)} into Go value of type {_GO_MAP}")
    merged = _StrategicMerge(lists).merge_map(copy.deepcopy(doc), copy.deepcopy(patch), ())
    return {} if merged is None else merged


class _StrategicMerge:
    """Merges a private copy of a patch into a private copy of a document, mutating both."""

    def __init__(self, lists: ListTypeResolver) -> None:
        self._lists = lists

    def merge_map(self, original: dict[str, Any], patch: dict[str, Any], path: FieldPath) -> dict[str, Any] | None:
        """The merged map, or None when the patch deletes it."""
        if DIRECTIVE in patch:
            return _map_directive(patch)
        return self.merge_fields(original, patch, path)

    def merge_fields(self, original: dict[str, Any], patch: dict[str, Any], path: FieldPath) -> dict[str, Any]:
        _retain_keys(original, patch)
        self._apply_element_orders(original, patch, path)
        for key, value in patch.items():
            if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
                field = _directive_target(key, DELETE_FROM_PRIMITIVE_LIST, _BAD_PRIMITIVE_LIST)
                self._merge_field(original, field, value, (*path, field), deleting=True)
            else:
                self._merge_field(original, key, value, (*path, key), deleting=False)
        return original

    def _merge_field(self, original: dict[str, Any], key: str, value: Any, path: FieldPath, *, deleting: bool) -> None:
        if value is None:
            original.pop(key, None)
            return
        current = original.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged = self.merge_map(current, value, path)
            if merged is None:
                del original[key]
            else:
                original[key] = merged
        elif isinstance(current, list) and isinstance(value, list):
            original[key] = self._merge_list(current, value, path, deleting=deleting)
        elif not deleting:
            # Absent, null, a scalar, or of another type: the patch value wins as it is.
            _set_plain(original, key, value)

    def _merge_list(self, live: list[Any], patched: list[Any], path: FieldPath, *, deleting: bool) -> list[Any]:
        list_type = self._lists(path)
        if list_type.kind == "atomic" and not deleting:
            return _plain_list(patched)
        if not live and not patched:
            return live
        if _element_kind(live, patched) == "scalar":
            if deleting:
                return [item for item in live if _index(patched, item) is None]
            return _ordered(_unique(live + patched), patched, live, "")
        merge_key = _merge_key(list_type)
        if not merge_key:
            raise _go_error(f"cannot merge lists without merge key for {'.'.join(path)}")
        survivors, patch_items = _apply_item_directives(live, patched, merge_key)
        merged = self._merge_items(survivors, patch_items, merge_key, path)
        return _ordered(merged, patch_items, survivors, merge_key)

    def _merge_items(self, survivors: list[Any], patch_items: list[Any], merge_key: str, path: FieldPath) -> list[Any]:
        merged = list(survivors)
        for item in patch_items:
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            position = _find_by_key(merged, merge_key, item[merge_key])
            if position is None:
                merged.append(_plain_map(item))
            else:
                merged[position] = self.merge_fields(merged[position], item, path)
        return merged

    def _apply_element_orders(self, original: dict[str, Any], patch: dict[str, Any], path: FieldPath) -> None:
        for directive_key in [key for key in patch if key.startswith(SET_ELEMENT_ORDER)]:
            order = patch.pop(directive_key)
            if not isinstance(order, list):
                raise _bad_arg_type(_GO_LIST, order)
            field = _directive_target(directive_key, SET_ELEMENT_ORDER, _BAD_ELEMENT_ORDER)
            self._order_field(original, patch, field, order, (*path, field))

    def _order_field(
        self, original: dict[str, Any], patch: dict[str, Any], field: str, order: list[Any], path: FieldPath
    ) -> None:
        live = _list_member(original, field)
        patched = _list_member(patch, field)
        merge_key = _merge_key(self._lists(path))
        _check_patch_follows_order(patched or [], order, merge_key)
        if live is None and patched is None:
            return
        if patched is None:
            merged = live or []
        elif live is None:
            merged = _plain_list(patched)
        else:
            merged = self._merge_list(live, patched, path, deleting=False)
        original[field] = _ordered(merged, order, live or [], merge_key)
        patch.pop(field, None)


def _map_directive(patch: dict[str, Any]) -> dict[str, Any] | None:
    directive = patch[DIRECTIVE]
    if directive == "replace":
        return _plain_map(patch)
    if directive == "delete":
        return None
    raise _go_error(_unknown_patch_type(directive, patch))


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    retained = patch.pop(RETAIN_KEYS)
    if not isinstance(retained, list):
        raise bad_request(_BAD_RETAIN_KEYS)
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if key not in retained:
            raise bad_request(_BAD_RETAIN_KEYS)
    for key in [key for key in original if key not in retained]:
        del original[key]


def _directive_target(key: str, prefix: str, malformed: str) -> str:
    """The field a `<prefix>/<field>` directive key is about."""
    head, slash, field = key.partition("/")
    if not slash or head != prefix:
        raise bad_request(malformed)
    return field


def _list_member(container: dict[str, Any], field: str) -> list[Any] | None:
    if field not in container:
        return None
    value = container[field]
    if not isinstance(value, list):
        raise _bad_arg_type(_GO_LIST, value)
    return value


def _check_patch_follows_order(patched: list[Any], order: list[Any], merge_key: str) -> None:
    """The patch's items must appear in `$setElementOrder` and in the same relative order."""
    if not patched or not order:
        return
    items = [item for item in patched if not _is_delete_item(item, merge_key)]
    position = wanted = 0
    while position < len(items) and wanted < len(order):
        if isinstance(items[position], dict) and DIRECTIVE in items[position]:
            position += 1
            continue
        if _same(_identity(items[position], merge_key), _identity(order[wanted], merge_key)):
            position += 1
        wanted += 1
    if position < len(items):
        raise _go_error(
            f"the order in patch list:\n{_go_value(patched)}\n doesn't match {SET_ELEMENT_ORDER} list:\n"
            f"{_go_value(order)}"
        )


def _is_delete_item(item: Any, merge_key: str) -> bool:
    if not merge_key:
        return False
    if not isinstance(item, dict):
        raise _bad_arg_type(_GO_MAP, item)
    return bool(item.get(DIRECTIVE) == "delete")


def _apply_item_directives(live: list[Any], patched: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    """Handles `$patch` items of a merging list: the surviving live items and the ordinary patch items."""
    survivors = list(live)
    ordinary: list[Any] = []
    replace = False
    for item in patched:
        if DIRECTIVE not in item:
            ordinary.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            survivors = [kept for kept in survivors if not _has_key_value(kept, merge_key, item[merge_key])]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _go_error("merging lists cannot yet be specified in the patch")
        else:
            raise _go_error(_unknown_patch_type(directive, item))
    if replace:
        return [_plain_map(item) for item in ordinary], []
    return survivors, ordinary


def _ordered(merged: list[Any], order: list[Any], server_order: list[Any], merge_key: str) -> list[Any]:
    """strategicpatch's normalizeElementOrder: items named in `order` sorted by it, the others by
    `server_order`, then both interleaved by their live positions where both have one."""
    order_ids = [_identity(item, merge_key) for item in order]
    server_ids = [_identity(item, merge_key) for item in server_order]
    named = [item for item in merged if _index(order_ids, _identity(item, merge_key)) is not None]
    others = [item for item in merged if _index(order_ids, _identity(item, merge_key)) is None]
    return _interleave(
        _sorted_by(others, server_ids, merge_key), _sorted_by(named, order_ids, merge_key), server_ids, merge_key
    )


def _sorted_by(items: list[Any], ids: list[Any], merge_key: str) -> list[Any]:
    def position(item: Any) -> int:
        found = _index(ids, _identity(item, merge_key))
        return len(ids) if found is None else found

    return sorted(items, key=position)


def _interleave(server_only: list[Any], named: list[Any], server_ids: list[Any], merge_key: str) -> list[Any]:
    """strategicpatch's mergeSortedSlice: a server-only item goes first only when both items have a live
    position and its position is earlier; otherwise the patch item does."""
    result: list[Any] = []
    left = right = 0
    while left < len(server_only) and right < len(named):
        left_at = _index(server_ids, _identity(server_only[left], merge_key))
        right_at = _index(server_ids, _identity(named[right], merge_key))
        if left_at is not None and right_at is not None and left_at < right_at:
            result.append(server_only[left])
            left += 1
        else:
            result.append(named[right])
            right += 1
    return result + server_only[left:] + named[right:]


def _identity(item: Any, merge_key: str) -> Any:
    """What list items are matched by: the merge key's value, or the item itself in a list of scalars."""
    if not merge_key:
        return item
    if not isinstance(item, dict):
        raise _bad_arg_type(_GO_MAP, item)
    if merge_key not in item:
        raise _no_merge_key(item, merge_key)
    return item[merge_key]


def _same(left: Any, right: Any) -> bool:
    """Go's interface equality on decoded JSON: the types must match too, so 1, 1.0 and true differ."""
    return type(left) is type(right) and bool(left == right)


def _index(values: list[Any], wanted: Any) -> int | None:
    return next((position for position, value in enumerate(values) if _same(value, wanted)), None)


def _unique(values: list[Any]) -> list[Any]:
    unique: list[Any] = []
    for value in values:
        if _index(unique, value) is None:
            unique.append(value)
    return unique


def _has_key_value(item: dict[str, Any], merge_key: str, value: Any) -> bool:
    return merge_key in item and _same(item[merge_key], value)


def _find_by_key(items: list[Any], merge_key: str, value: Any) -> int | None:
    return next((position for position, item in enumerate(items) if _has_key_value(item, merge_key, value)), None)


def _element_kind(*lists: list[Any]) -> str:
    """Whether the lists hold maps or scalars; merging needs all their items to have one JSON type."""
    items = [item for items in lists for item in items]
    first = items[0]
    if isinstance(first, list):
        # mergepatch.ErrNoListOfLists: the apiserver answers it with a generic 422.
        raise _rejected_request()
    if any(type(item) is not type(first) for item in items):
        raise _go_error(f"list element types are not identical: {_go_value(list(lists))}")
    return "map" if isinstance(first, dict) else "scalar"


def _merge_key(list_type: ListType) -> str:
    """Strategic merge patch knows a single patchMergeKey: the first of the list's map keys."""
    return list_type.keys[0] if list_type.kind == "map" and list_type.keys else ""


def _set_plain(target: dict[str, Any], key: str, value: Any) -> None:
    plain, keep = _plain(value)
    if keep:
        target[key] = plain
    else:
        target.pop(key, None)


def _plain(value: Any) -> tuple[Any, bool]:
    """A patch value put in place as it is, minus what the real server's typed decoding would not keep:
    null members, directive keys, and maps that carry a `$patch` (strategicpatch's removeDirectives).
    The flag says whether the value is kept at all."""
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return None, False
        return _plain_map(value), True
    if isinstance(value, list):
        return _plain_list(value), True
    return value, True


def _plain_map(value: dict[str, Any]) -> dict[str, Any]:
    plain_map: dict[str, Any] = {}
    for key, member in value.items():
        if member is None or _is_directive_key(key):
            continue
        plain, keep = _plain(member)
        if keep:
            plain_map[key] = plain
    return plain_map


def _plain_list(values: list[Any]) -> list[Any]:
    plain_items = (_plain(value) for value in values)
    return [plain for plain, keep in plain_items if keep]


def _is_directive_key(key: str) -> bool:
    return key in (DIRECTIVE, RETAIN_KEYS) or key.startswith((SET_ELEMENT_ORDER, DELETE_FROM_PRIMITIVE_LIST))


# --- errors shaped like the Go ones ------------------------------------------------------------------------


def _go_error(message: str) -> StatusError:
    """A plain Go error that reached the apiserver's handler: 500, with no reason (StatusReasonUnknown)."""
    return StatusError(500, "", message)


def _no_merge_key(item: dict[str, Any], merge_key: str) -> StatusError:
    return _go_error(f"map: {_go_value(item)} does not contain declared merge key: {merge_key}")


def _bad_arg_type(expected: str, actual: Any) -> StatusError:
    return _go_error(f"expected a {expected}, but received a {_go_type(actual)}")


def _unknown_patch_type(directive: Any, item: dict[str, Any]) -> str:
    return f"unknown patch type: {_go_value(directive)} in map: {_go_value(item)}"


def _go_value(value: Any) -> str:
    """A decoded JSON value as Go's `%v` prints it (maps with sorted keys), for messages copied from Go."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{_go_value(value[key])}" for key in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_value(item) for item in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _go_type(value: Any) -> str:
    """The Go type a decoded JSON value has on the server (integers are kept as int64 there)."""
    if value is None:
        return "%!s(<nil>)"
    if isinstance(value, bool):
        return "bool"
    names: dict[type, str] = {dict: _GO_MAP, list: _GO_LIST, str: "string", int: "int64", float: "float64"}
    return names.get(type(value), type(value).__name__)


def _json_type(value: Any) -> str:
    """The JSON type name encoding/json puts in its UnmarshalTypeError messages."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {dict: "object", list: "array", str: "string"}
    return names.get(type(value), type(value).__name__)


# --- list types of built-in kinds --------------------------------------------------------------------------


def _by(*keys: str) -> ListType:
    return ListType("map", keys)


_CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers"})

_BY_FIELD_NAME: dict[str, ListType] = {
    "containers": _by("name"),
    "initContainers": _by("name"),
    "ephemeralContainers": _by("name"),
    "volumes": _by("name"),
    "volumeMounts": _by("mountPath"),
    "volumeDevices": _by("devicePath"),
    "env": _by("name"),
    "imagePullSecrets": _by("name"),
    "hostAliases": _by("ip"),
    "topologySpreadConstraints": _by("topologyKey", "whenUnsatisfiable"),
    "resourceClaims": _by("name"),
    "schedulingGates": _by("name"),
    "conditions": _by("type"),
}
"""Field names whose merge key is the same wherever they appear (pod specs nest at any depth)."""

_OBJECT_META_LISTS: dict[str, ListType] = {
    "finalizers": SET,
    "ownerReferences": _by("uid"),
}

_BY_KIND: dict[tuple[str, str], dict[FieldPath, ListType]] = {
    ("", "Service"): {("spec", "ports"): _by("port", "protocol")},
    ("", "Node"): {("status", "addresses"): _by("type"), ("spec", "podCIDRs"): SET},
    ("", "ServiceAccount"): {("secrets",): _by("name")},
    ("", "Namespace"): {("spec", "finalizers"): SET},
}


def builtin_list_types(group: str, kind: str) -> ListTypeResolver:
    """The list types of a built-in kind, from the patchStrategy/patchMergeKey tags of its Go types.

    Used by strategic merge patch and server-side apply alike. Container `ports` are keyed by
    (containerPort, protocol) as server-side apply does; strategic merge patch uses the first key only, like
    the real patchMergeKey. Lists not known here (args, command, tolerations, RBAC rules, ...) are atomic.
    """
    kind_lists = _BY_KIND.get((group, kind), {})

    def resolve(path: FieldPath) -> ListType:
        if path in kind_lists:
            return kind_lists[path]
        field = path[-1] if path else ""
        parent = path[-2] if len(path) >= 2 else ""
        if parent == "metadata" and field in _OBJECT_META_LISTS:
            return _OBJECT_META_LISTS[field]
        if parent in _CONTAINER_LISTS and field == "ports":
            return _by("containerPort", "protocol")
        return _BY_FIELD_NAME.get(field, ATOMIC)

    return resolve
