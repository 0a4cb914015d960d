"""JSON patch, JSON merge patch and strategic merge patch, checked against what kube-apiserver does."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k0smotron_core.envtest._errors import StatusError
from k0smotron_core.envtest._listtypes import ATOMIC, SET, FieldPath, ListType, ListTypeResolver, atomic_everywhere
from k0smotron_core.envtest._patch import (
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
    builtin_list_types,
)

REJECTED = "the server rejected our request due to an error in our request"

POD = builtin_list_types("", "Pod")
DEPLOYMENT = builtin_list_types("apps", "Deployment")


def _failure(call: Any, *args: Any) -> StatusError:
    with pytest.raises(StatusError) as caught:
        call(*args)
    return caught.value


def _keys_anywhere(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, member in value.items():
            yield key
            yield from _keys_anywhere(member)
    elif isinstance(value, list):
        for item in value:
            yield from _keys_anywhere(item)


def _pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"containers": list(containers), **spec},
    }


def _sets_at(*paths: FieldPath) -> ListTypeResolver:
    return lambda path: SET if path in paths else ATOMIC


def _names(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


# --- JSON patch ---------------------------------------------------------------------------------------------


def test_a_json_patch_applies_every_operation_in_order() -> None:
    doc = {"metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {"ports": [80], "replicas": 1}}
    patch = [
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/spec/ports/-", "value": 443},
        {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
        {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/component"},
        {"op": "move", "from": "/metadata/labels/tier", "path": "/metadata/labels/layer"},
        {"op": "remove", "path": "/spec/ports/0"},
    ]

    assert apply_json_patch(doc, patch) == {
        "metadata": {"name": "web", "labels": {"app": "web", "component": "web", "layer": "front"}},
        "spec": {"ports": [443], "replicas": 3},
    }


def test_a_json_patch_leaves_the_document_and_the_patch_untouched() -> None:
    doc = {"spec": {"template": {"labels": {"app": "web"}}}}
    patch = [{"op": "add", "path": "/spec/extra", "value": {"nested": ["a"]}}]
    doc_before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)

    patched = apply_json_patch(doc, patch)
    patched["spec"]["extra"]["nested"].append("b")
    patched["spec"]["template"]["labels"]["app"] = "changed"

    assert (doc, patch) == (doc_before, patch_before)


def test_a_null_json_patch_changes_nothing() -> None:
    assert apply_json_patch({"a": 1}, None) == {"a": 1}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {"op": "add", "path": "/a", "value": 1},
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
        ),
        ("add /a", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
        (["add"], "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
        ([[{"op": "add"}]], "json: cannot unmarshal array into Go value of type jsonpatch.Operation"),
    ],
)
def test_a_json_patch_body_that_is_not_a_list_of_operations_is_a_bad_request(patch: Any, message: str) -> None:
    error = _failure(apply_json_patch, {"a": 1}, patch)

    assert (error.code, error.reason, error.message) == (400, "BadRequest", message)


def test_a_failing_json_patch_test_operation_is_rejected_as_invalid_with_the_generic_message() -> None:
    error = _failure(
        apply_json_patch, {"spec": {"replicas": 1}}, [{"op": "test", "path": "/spec/replicas", "value": 2}]
    )

    assert error.to_status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": REJECTED,
        "reason": "Invalid",
        "details": {},
        "code": 422,
    }


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "/spec/foo", "value": 1},
        {"op": "remove", "path": "/spec/foo"},
        {"op": "add", "path": "/missing/parent", "value": 1},
        {"op": "remove", "path": "/spec/ports/7"},
        {"op": "move", "from": "/spec/foo", "path": "/spec/bar"},
        {"op": "test", "path": "/spec/foo", "value": None},
        {"op": "add", "path": "/spec/replicas/0", "value": 1},
        {"op": "add", "path": "spec", "value": 1},
        {"op": "add", "path": "/spec/foo"},
        {"op": "frobnicate", "path": "/spec"},
        {"path": "/spec"},
        None,
    ],
)
def test_a_json_patch_operation_that_does_not_apply_is_rejected_as_invalid(operation: Any) -> None:
    error = _failure(apply_json_patch, {"spec": {"replicas": 1, "ports": [80]}}, [operation])

    assert (error.code, error.reason, error.message, error.details) == (422, "Invalid", REJECTED, {})


def test_a_json_patch_keeps_the_library_explanation_for_debugging() -> None:
    error = _failure(apply_json_patch, {"spec": {}}, [{"op": "replace", "path": "/spec/foo", "value": 1}])

    assert "foo" in str(error.__cause__)


def test_a_json_patch_that_turns_the_object_into_a_scalar_is_rejected_as_invalid() -> None:
    error = _failure(apply_json_patch, {"a": 1}, [{"op": "replace", "path": "", "value": 5}])

    assert (error.code, error.message) == (422, REJECTED)


def test_a_json_patch_test_operation_tells_true_from_one() -> None:
    error = _failure(apply_json_patch, {"a": 1}, [{"op": "test", "path": "/a", "value": True}])

    assert error.code == 422


def test_a_json_patch_with_more_than_ten_thousand_operations_is_too_large() -> None:
    patch = [{"op": "test", "path": "/a", "value": 1}] * 10001

    error = _failure(apply_json_patch, {"a": 1}, patch)

    assert (error.code, error.reason, error.message) == (
        413,
        "RequestEntityTooLarge",
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001",
    )


# --- JSON merge patch ---------------------------------------------------------------------------------------


def test_a_merge_patch_merges_objects_and_null_deletes_a_key() -> None:
    doc = {"metadata": {"labels": {"app": "web", "tier": "front"}}, "spec": {"replicas": 1}}
    patch = {"metadata": {"labels": {"tier": None, "team": "a"}}, "spec": {"paused": True}}

    assert apply_merge_patch(doc, patch) == {
        "metadata": {"labels": {"app": "web", "team": "a"}},
        "spec": {"replicas": 1, "paused": True},
    }


def test_a_merge_patch_replaces_lists_and_scalars_as_a_whole() -> None:
    doc = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}], "replicas": 1}}
    patch = {"spec": {"containers": [{"name": "a", "image": "y"}], "replicas": {"min": 1}}}

    assert apply_merge_patch(doc, patch) == {
        "spec": {"containers": [{"name": "a", "image": "y"}], "replicas": {"min": 1}}
    }


def test_a_merge_patch_drops_nulls_from_the_values_it_adds() -> None:
    doc: dict[str, Any] = {"spec": {}}
    patch = {"spec": {"template": {"a": None, "b": {"c": None, "d": 1}}, "items": [{"x": None, "y": 2}, None]}}

    assert apply_merge_patch(doc, patch) == {"spec": {"template": {"b": {"d": 1}}, "items": [{"y": 2}, None]}}


def test_a_merge_patch_deleting_a_missing_key_changes_nothing() -> None:
    assert apply_merge_patch({"a": 1}, {"b": None}) == {"a": 1}


@pytest.mark.parametrize("patch", [None, [], ["a"], "a", 1, True])
def test_a_merge_patch_body_that_is_not_an_object_is_a_bad_request(patch: Any) -> None:
    error = _failure(apply_merge_patch, {"a": 1}, patch)

    assert (error.code, error.reason, error.message) == (400, "BadRequest", "Invalid JSON Patch")


def test_a_merge_patch_leaves_the_document_and_the_patch_untouched() -> None:
    doc = {"spec": {"a": {"b": 1}, "list": [1]}}
    patch = {"spec": {"a": {"c": [1, 2]}, "list": [{"k": "v"}]}}
    doc_before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)

    patched = apply_merge_patch(doc, patch)
    patched["spec"]["a"]["c"].append(3)
    patched["spec"]["list"][0]["k"] = "changed"

    assert (doc, patch) == (doc_before, patch_before)


def _merge_diff(source: Any, target: dict[str, Any]) -> dict[str, Any]:
    """The RFC 7386 patch that turns source into target, as a client would compute it."""
    before = source if isinstance(source, dict) else {}
    diff: dict[str, Any] = {key: None for key in before if key not in target}
    for key, wanted in target.items():
        if isinstance(wanted, dict) and isinstance(before.get(key), dict):
            nested = _merge_diff(before[key], wanted)
            if nested:
                diff[key] = nested
        elif key not in before or _canonical(before[key]) != _canonical(wanted):
            diff[key] = wanted
    return diff


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


_KEYS = st.text(alphabet="abcd", min_size=1, max_size=2)
# Explicit alphabets keep Hypothesis from building its Unicode tables, which is slow on a cold start.
_TEXT = st.text(alphabet="xyz", max_size=3)
_NULL_FREE_SCALARS = st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, allow_infinity=False) | _TEXT
_SCALARS = st.none() | _NULL_FREE_SCALARS
_JSON = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3), max_leaves=12
)
_NULL_FREE_JSON = st.recursive(
    _NULL_FREE_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=12,
)


@given(source=st.dictionaries(_KEYS, _JSON, max_size=4), target=st.dictionaries(_KEYS, _NULL_FREE_JSON, max_size=4))
def test_a_merge_patch_built_from_a_diff_turns_the_source_into_the_target(
    source: dict[str, Any], target: dict[str, Any]
) -> None:
    patched = apply_merge_patch(source, _merge_diff(source, target))

    assert _canonical(patched) == _canonical(target)


# --- strategic merge patch: maps, lists, list types -----------------------------------------------------------


def test_a_strategic_merge_patch_merges_maps_and_null_deletes_a_key() -> None:
    doc = {"metadata": {"labels": {"app": "web", "tier": "front"}, "annotations": {"a": "1"}}}
    patch = {"metadata": {"labels": {"tier": None, "team": "blue"}, "annotations": None}}

    assert apply_strategic_merge_patch(doc, patch, POD) == {"metadata": {"labels": {"app": "web", "team": "blue"}}}


def test_a_strategic_merge_patch_merges_containers_by_name() -> None:
    doc = _pod({"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]}, {"name": "log", "image": "bb"})
    patch = {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}

    patched = apply_strategic_merge_patch(doc, patch, POD)

    assert patched["spec"]["containers"] == [
        {"name": "web", "image": "nginx:2", "ports": [{"containerPort": 80}]},
        {"name": "log", "image": "bb"},
    ]


def test_a_strategic_merge_patch_puts_a_new_container_before_the_live_ones_like_the_real_server() -> None:
    doc = _pod({"name": "web", "image": "nginx"})
    patch = {"spec": {"containers": [{"name": "sidecar", "image": "envoy"}]}}

    patched = apply_strategic_merge_patch(doc, patch, POD)

    assert _names(patched["spec"]["containers"]) == ["sidecar", "web"]


def test_a_strategic_merge_patch_keeps_live_items_in_place_around_patched_ones() -> None:
    doc = _pod({"name": "a"}, {"name": "b"}, {"name": "c"})
    patch = {"spec": {"containers": [{"name": "b", "image": "x"}]}}

    patched = apply_strategic_merge_patch(doc, patch, POD)

    assert patched["spec"]["containers"] == [{"name": "a"}, {"name": "b", "image": "x"}, {"name": "c"}]


def test_a_strategic_merge_patch_orders_items_as_the_patch_and_live_items_by_their_position() -> None:
    # The example of the "preserve order in strategic merge patch" design proposal.
    doc = _pod({"name": "B"}, {"name": "C"}, {"name": "A"})
    patch = {"spec": {"containers": [{"name": "A", "v": 1}, {"name": "B", "v": 1}, {"name": "D"}]}}

    patched = apply_strategic_merge_patch(doc, patch, POD)

    assert patched["spec"]["containers"] == [{"name": "C"}, {"name": "A", "v": 1}, {"name": "B", "v": 1}, {"name": "D"}]


def test_a_strategic_merge_patch_merges_the_lists_inside_a_container_by_their_own_keys() -> None:
    doc = _pod(
        {
            "name": "web",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
        }
    )
    patch = {
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "env": [{"name": "B", "value": "20"}],
                    "volumeMounts": [{"name": "data2", "mountPath": "/data", "readOnly": True}],
                }
            ]
        }
    }

    container = apply_strategic_merge_patch(doc, patch, POD)["spec"]["containers"][0]

    assert container["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "20"}]
    assert container["volumeMounts"] == [
        {"name": "data2", "mountPath": "/data", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]


def test_a_strategic_merge_patch_merges_container_ports_by_the_container_port_alone() -> None:
    doc = _pod({"name": "web", "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}]})
    patch = {"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 80, "protocol": "UDP"}]}]}}

    ports = apply_strategic_merge_patch(doc, patch, POD)["spec"]["containers"][0]["ports"]

    assert ports == [{"containerPort": 80, "protocol": "UDP", "name": "http"}]


def test_a_strategic_merge_patch_merges_containers_of_a_cronjob_pod_template() -> None:
    cronjob = builtin_list_types("batch", "CronJob")
    template_spec = {"containers": [{"name": "job", "image": "a"}], "restartPolicy": "Never"}
    doc = {"spec": {"jobTemplate": {"spec": {"template": {"spec": template_spec}}}}}
    patch = {
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "job", "args": ["x"]}]}}}}}
    }

    patched = apply_strategic_merge_patch(doc, patch, cronjob)

    assert patched["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"] == [
        {"name": "job", "image": "a", "args": ["x"]}
    ]


def test_a_strategic_merge_patch_merges_conditions_by_type() -> None:
    doc = {"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Synced", "status": "True"}]}}
    patch = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}

    patched = apply_strategic_merge_patch(doc, patch, builtin_list_types("apps", "Deployment"))

    assert patched["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "Synced", "status": "True"},
    ]


def test_a_strategic_merge_patch_merges_a_set_of_scalars_as_a_union_without_duplicates() -> None:
    doc = {"metadata": {"finalizers": ["a", "b"]}}
    patch = {"metadata": {"finalizers": ["b", "c"]}}

    assert apply_strategic_merge_patch(doc, patch, POD)["metadata"]["finalizers"] == ["a", "b", "c"]


def test_a_strategic_merge_patch_puts_a_new_set_value_first_like_the_real_server() -> None:
    doc = {"metadata": {"finalizers": ["a", "b"]}}

    patched = apply_strategic_merge_patch(doc, {"metadata": {"finalizers": ["c"]}}, POD)

    assert patched["metadata"]["finalizers"] == ["c", "a", "b"]


def test_a_strategic_merge_patch_replaces_atomic_lists() -> None:
    doc = _pod({"name": "web", "args": ["a", "b"]}, tolerations=[{"key": "x"}])
    patch = {"spec": {"containers": [{"name": "web", "args": ["c"]}], "tolerations": [{"key": "y"}]}}

    patched = apply_strategic_merge_patch(doc, patch, POD)

    assert patched["spec"]["containers"][0]["args"] == ["c"]
    assert patched["spec"]["tolerations"] == [{"key": "y"}]


def test_a_strategic_merge_patch_takes_the_patch_value_when_the_type_changes() -> None:
    doc = {"spec": {"a": {"b": 1}, "c": [1], "d": "text"}}
    patch = {"spec": {"a": "flat", "c": {"now": "map"}, "d": [1]}}

    assert apply_strategic_merge_patch(doc, patch, POD) == {"spec": {"a": "flat", "c": {"now": "map"}, "d": [1]}}


def test_a_strategic_merge_patch_drops_nulls_from_the_values_it_adds() -> None:
    patch = {"spec": {"containers": [{"name": "new", "image": None, "resources": {"limits": None}}]}}

    patched = apply_strategic_merge_patch(_pod({"name": "web"}), patch, POD)

    assert patched["spec"]["containers"][0] == {"name": "new", "resources": {}}


# --- strategic merge patch: directives ------------------------------------------------------------------------


def test_patch_replace_replaces_a_whole_map() -> None:
    doc = {"metadata": {"labels": {"app": "web", "tier": "front"}}}
    patch = {"metadata": {"labels": {"$patch": "replace", "team": "blue"}}}

    assert apply_strategic_merge_patch(doc, patch, POD) == {"metadata": {"labels": {"team": "blue"}}}


def test_patch_replace_replaces_a_whole_merging_list() -> None:
    doc = _pod({"name": "web", "image": "nginx"}, {"name": "log", "image": "bb"})
    patch = {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}}

    patched = apply_strategic_merge_patch(doc, patch, POD)

    assert patched["spec"]["containers"] == [{"name": "only", "image": "x"}]


def test_patch_delete_removes_the_list_item_with_that_key() -> None:
    doc = _pod({"name": "web"}, {"name": "log"}, {"name": "metrics"})
    patch = {"spec": {"containers": [{"name": "log", "$patch": "delete"}]}}

    assert _names(apply_strategic_merge_patch(doc, patch, POD)["spec"]["containers"]) == ["web", "metrics"]


def test_patch_delete_removes_a_map() -> None:
    doc = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, "replicas": 1}}

    patched = apply_strategic_merge_patch(doc, {"spec": {"strategy": {"$patch": "delete"}}}, DEPLOYMENT)

    assert patched == {"spec": {"replicas": 1}}


def test_patch_delete_at_the_top_leaves_an_empty_object() -> None:
    assert apply_strategic_merge_patch({"a": 1}, {"$patch": "delete"}, POD) == {}


def test_patch_merge_on_a_map_is_rejected_like_the_real_server() -> None:
    error = _failure(apply_strategic_merge_patch, {"spec": {"a": 1}}, {"spec": {"$patch": "merge", "a": 2}}, POD)

    assert (error.code, error.reason, error.message) == (
        500,
        "",
        "unknown patch type: merge in map: map[$patch:merge a:2]",
    )


def test_patch_merge_in_a_list_is_rejected_like_the_real_server() -> None:
    patch = {"spec": {"containers": [{"$patch": "merge"}]}}

    error = _failure(apply_strategic_merge_patch, _pod({"name": "web"}), patch, POD)

    assert (error.code, error.message) == (500, "merging lists cannot yet be specified in the patch")


def test_an_unknown_patch_directive_in_a_list_is_a_server_error() -> None:
    patch = {"spec": {"containers": [{"name": "web", "$patch": "explode"}]}}

    error = _failure(apply_strategic_merge_patch, _pod({"name": "web"}), patch, POD)

    assert (error.code, error.message) == (500, "unknown patch type: explode in map: map[$patch:explode name:web]")


def test_retain_keys_drops_the_keys_it_does_not_list() -> None:
    doc = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}

    assert apply_strategic_merge_patch(doc, patch, DEPLOYMENT) == {"spec": {"strategy": {"type": "Recreate"}}}


def test_retain_keys_must_name_every_key_the_patch_sets() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}

    error = _failure(apply_strategic_merge_patch, {"spec": {"strategy": {}}}, patch, DEPLOYMENT)

    assert (error.code, error.reason, error.message) == (400, "BadRequest", "invalid patch format of retainKeys")


def test_retain_keys_must_be_a_list() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": "type"}}}

    error = _failure(apply_strategic_merge_patch, {"spec": {"strategy": {}}}, patch, DEPLOYMENT)

    assert (error.code, error.message) == (400, "invalid patch format of retainKeys")


def test_delete_from_primitive_list_removes_values_from_a_set() -> None:
    doc = {"metadata": {"finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "z"]}}

    assert apply_strategic_merge_patch(doc, patch, POD) == {"metadata": {"finalizers": ["a", "c"]}}


def test_delete_from_primitive_list_of_a_missing_list_changes_nothing() -> None:
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}

    assert apply_strategic_merge_patch({"metadata": {"name": "x"}}, patch, POD) == {"metadata": {"name": "x"}}


def test_set_element_order_reorders_a_merging_list() -> None:
    doc = _pod({"name": "B"}, {"name": "A"})
    patch = {"spec": {"$setElementOrder/containers": [{"name": "A"}, {"name": "B"}]}}

    assert _names(apply_strategic_merge_patch(doc, patch, POD)["spec"]["containers"]) == ["A", "B"]


def test_set_element_order_keeps_an_unnamed_live_item_ahead_of_the_named_ones_that_follow_it() -> None:
    doc = _pod({"name": "x"}, {"name": "a"}, {"name": "b"})
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [{"name": "b", "image": "2"}, {"name": "a", "image": "1"}],
        }
    }

    patched = apply_strategic_merge_patch(doc, patch, POD)

    assert patched["spec"]["containers"] == [{"name": "x"}, {"name": "b", "image": "2"}, {"name": "a", "image": "1"}]


def test_set_element_order_reorders_a_set_of_scalars() -> None:
    doc = {"metadata": {"finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"]}}

    assert apply_strategic_merge_patch(doc, patch, POD) == {"metadata": {"finalizers": ["c", "b", "a"]}}


def test_set_element_order_places_a_list_that_did_not_exist_yet() -> None:
    patch = {
        "spec": {
            "$setElementOrder/volumes": [{"name": "b"}, {"name": "a"}],
            "volumes": [{"name": "b", "emptyDir": {}}, {"name": "a", "emptyDir": {}}],
        }
    }

    patched = apply_strategic_merge_patch(_pod({"name": "web"}), patch, POD)

    assert _names(patched["spec"]["volumes"]) == ["b", "a"]


def test_a_patch_list_out_of_its_set_element_order_is_a_server_error() -> None:
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b", "image": "2"}, {"name": "a", "image": "1"}],
        }
    }

    error = _failure(apply_strategic_merge_patch, _pod({"name": "a"}, {"name": "b"}), patch, POD)

    assert error.code == 500
    assert error.message == (
        "the order in patch list:\n[map[image:2 name:b] map[image:1 name:a]]\n doesn't match $setElementOrder list:\n"
        "[map[name:a] map[name:b]]"
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("$setElementOrder", "invalid patch format of setElementOrder list"),
        ("$setElementOrderX/containers", "invalid patch format of setElementOrder list"),
        ("$deleteFromPrimitiveList", "invalid patch format of primitive list"),
    ],
)
def test_a_malformed_directive_key_is_a_bad_request(key: str, message: str) -> None:
    error = _failure(apply_strategic_merge_patch, _pod({"name": "a"}), {"spec": {key: []}}, POD)

    assert (error.code, error.reason, error.message) == (400, "BadRequest", message)


def test_a_set_element_order_that_is_not_a_list_is_a_server_error() -> None:
    patch = {"spec": {"$setElementOrder/containers": "a"}}

    error = _failure(apply_strategic_merge_patch, _pod({"name": "a"}), patch, POD)

    assert (error.code, error.message) == (500, "expected a []interface {}, but received a string")


def test_kubectl_apply_of_a_changed_deployment_gives_the_new_spec() -> None:
    live = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "annotations": {
                "deployment.kubernetes.io/revision": "1",
                "kubectl.kubernetes.io/last-applied-configuration": '{"old":true}\n',
            },
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.25",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "resources": {"limits": {"cpu": "100m"}},
                        },
                        {"name": "logger", "image": "busybox", "args": ["tail"]},
                    ],
                    "dnsPolicy": "ClusterFirst",
                },
            },
        },
    }
    # What kubectl apply sends (CreateThreeWayMergePatch) after the manifest changed the image, replaced env B
    # with C, dropped the resources and the logger container, added a metrics container and switched the
    # strategy to Recreate.
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"new":true}\n'}},
        "spec": {
            "replicas": 3,
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}, {"name": "metrics"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                            "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "B"}],
                            "image": "nginx:1.27",
                            "name": "web",
                            "resources": None,
                        },
                        {"image": "prom/node-exporter", "name": "metrics", "ports": [{"containerPort": 9100}]},
                        {"$patch": "delete", "name": "logger"},
                    ],
                }
            },
        },
    }

    patched = apply_strategic_merge_patch(live, patch, DEPLOYMENT)

    assert patched["metadata"]["annotations"] == {
        "deployment.kubernetes.io/revision": "1",
        "kubectl.kubernetes.io/last-applied-configuration": '{"new":true}\n',
    }
    assert patched["spec"]["replicas"] == 3
    assert patched["spec"]["strategy"] == {"type": "Recreate"}
    assert patched["spec"]["template"]["spec"] == {
        "containers": [
            {
                "name": "web",
                "image": "nginx:1.27",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "env": [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}],
            },
            {"image": "prom/node-exporter", "name": "metrics", "ports": [{"containerPort": 9100}]},
        ],
        "dnsPolicy": "ClusterFirst",
    }
    assert not [key for key in _keys_anywhere(patched) if key.startswith("$")]


def test_no_directive_key_reaches_the_result_even_where_nothing_is_merged() -> None:
    patch = {
        "spec": {
            "volumes": [{"name": "gone", "$patch": "delete"}, {"name": "kept", "$retainKeys": ["name"]}],
            "affinity": {"$retainKeys": ["nodeAffinity"], "nodeAffinity": {"$patch": "replace", "x": 1}},
            "securityContext": {"$patch": "replace", "runAsUser": 1, "seLinuxOptions": {"$patch": "delete"}},
            "initContainers": [
                {
                    "name": "init",
                    "$setElementOrder/env": [{"name": "A"}],
                    "env": [{"name": "A", "value": "1"}],
                    "$deleteFromPrimitiveList/args": ["x"],
                }
            ],
            "nodeSelector": {"$patch": "delete"},
        },
        "metadata": {"$setElementOrder/finalizers": ["a"], "finalizers": ["a"]},
    }

    patched = apply_strategic_merge_patch(_pod({"name": "web"}), patch, POD)

    assert not [key for key in _keys_anywhere(patched) if key.startswith("$")]
    assert patched["spec"]["volumes"] == [{"name": "kept"}]
    assert patched["spec"]["initContainers"] == [{"name": "init", "env": [{"name": "A", "value": "1"}]}]
    assert patched["metadata"]["finalizers"] == ["a"]
    assert patched["spec"]["affinity"] == {}
    # A map that carries a directive is dropped when there is nothing to apply it to (strategicpatch's
    # removeDirectives), even a `$patch: replace` one.
    assert "securityContext" not in patched["spec"]
    assert "nodeSelector" not in patched["spec"]


def test_a_strategic_merge_patch_leaves_the_document_and_the_patch_untouched() -> None:
    doc = _pod({"name": "web", "env": [{"name": "A", "value": "1"}]}, {"name": "log"})
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "log"}, {"name": "web"}],
            "containers": [{"name": "web", "env": [{"name": "B", "value": "2"}]}, {"name": "log", "$patch": "delete"}],
        },
        "metadata": {"labels": {"$patch": "replace", "a": "b"}},
    }
    doc_before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)

    patched = apply_strategic_merge_patch(doc, patch, POD)
    patched["spec"]["containers"][0]["env"][0]["value"] = "changed"

    assert (doc, patch) == (doc_before, patch_before)


def test_a_null_strategic_merge_patch_changes_nothing() -> None:
    assert apply_strategic_merge_patch({"a": 1}, None, POD) == {"a": 1}


@pytest.mark.parametrize(("patch", "json_type"), [([], "array"), ("x", "string"), (3, "number"), (True, "bool")])
def test_a_strategic_merge_patch_body_that_is_not_an_object_is_a_bad_request(patch: Any, json_type: str) -> None:
    error = _failure(apply_strategic_merge_patch, {"a": 1}, patch, POD)

    assert (error.code, error.reason, error.message) == (
        400,
        "BadRequest",
        f"json: cannot unmarshal {json_type} into Go value of type map[string]interface {{}}",
    )


def test_a_list_item_without_its_merge_key_is_a_server_error() -> None:
    error = _failure(
        apply_strategic_merge_patch, _pod({"name": "web"}), {"spec": {"containers": [{"image": "x"}]}}, POD
    )

    assert (error.code, error.reason, error.message) == (
        500,
        "",
        "map: map[image:x] does not contain declared merge key: name",
    )


def test_a_list_of_lists_is_rejected_as_invalid() -> None:
    error = _failure(apply_strategic_merge_patch, {"grid": [[1]]}, {"grid": [[2]]}, _sets_at(("grid",)))

    assert (error.code, error.reason, error.message) == (422, "Invalid", REJECTED)


@pytest.mark.parametrize(("live", "patched"), [(["a"], [1]), ([1], [True]), ([1], [1.5])])
def test_list_items_of_different_json_types_are_a_server_error(live: list[Any], patched: list[Any]) -> None:
    error = _failure(apply_strategic_merge_patch, {"values": live}, {"values": patched}, _sets_at(("values",)))

    assert error.code == 500
    assert error.message.startswith("list element types are not identical: ")


def test_the_type_error_message_prints_both_lists_as_go_does() -> None:
    error = _failure(apply_strategic_merge_patch, {"values": ["a"]}, {"values": [1]}, _sets_at(("values",)))

    assert error.message == "list element types are not identical: [[a] [1]]"


def test_a_set_of_maps_cannot_be_merged() -> None:
    error = _failure(apply_strategic_merge_patch, {"items": [{"a": 1}]}, {"items": [{"a": 2}]}, _sets_at(("items",)))

    assert (error.code, error.message) == (500, "cannot merge lists without merge key for items")


_PATCH_KEYS = st.text(alphabet="abcd", min_size=1, max_size=2)
_PATCHES = st.recursive(
    st.none() | _NULL_FREE_JSON,
    lambda inner: st.dictionaries(_PATCH_KEYS, inner, max_size=3),
    max_leaves=10,
)


@given(doc=st.dictionaries(_KEYS, _JSON, max_size=4), patch=st.dictionaries(_PATCH_KEYS, _PATCHES, max_size=4))
def test_with_only_atomic_lists_a_strategic_merge_patch_agrees_with_a_merge_patch(
    doc: dict[str, Any], patch: dict[str, Any]
) -> None:
    strategic = apply_strategic_merge_patch(doc, patch, atomic_everywhere)

    assert _canonical(strategic) == _canonical(apply_merge_patch(doc, patch))


# --- list types of built-in kinds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("Pod", ("spec", "containers")),
        ("Deployment", ("spec", "template", "spec", "containers")),
        ("StatefulSet", ("spec", "template", "spec", "initContainers")),
        ("CronJob", ("spec", "jobTemplate", "spec", "template", "spec", "containers")),
        ("Pod", ("spec", "ephemeralContainers")),
        ("DaemonSet", ("spec", "template", "spec", "volumes")),
        ("Job", ("spec", "template", "spec", "containers", "env")),
        ("Pod", ("spec", "imagePullSecrets")),
        ("Pod", ("spec", "resourceClaims")),
    ],
)
def test_builtin_list_types_merge_pod_spec_lists_by_name_at_any_depth(kind: str, path: tuple[str, ...]) -> None:
    assert builtin_list_types("apps", kind)(path) == ListType("map", ("name",))


@pytest.mark.parametrize(
    ("group", "kind", "path", "expected"),
    [
        ("", "Pod", ("spec", "containers", "volumeMounts"), ListType("map", ("mountPath",))),
        ("", "Pod", ("spec", "initContainers", "volumeDevices"), ListType("map", ("devicePath",))),
        ("", "Pod", ("spec", "containers", "ports"), ListType("map", ("containerPort", "protocol"))),
        ("", "Pod", ("spec", "ephemeralContainers", "ports"), ListType("map", ("containerPort", "protocol"))),
        ("", "Service", ("spec", "ports"), ListType("map", ("port", "protocol"))),
        ("", "Pod", ("spec", "hostAliases"), ListType("map", ("ip",))),
        (
            "apps",
            "Deployment",
            ("spec", "template", "spec", "topologySpreadConstraints"),
            ListType("map", ("topologyKey", "whenUnsatisfiable")),
        ),
        ("apps", "Deployment", ("status", "conditions"), ListType("map", ("type",))),
        ("", "Node", ("status", "conditions"), ListType("map", ("type",))),
        ("", "Node", ("status", "addresses"), ListType("map", ("type",))),
        ("", "Node", ("spec", "podCIDRs"), SET),
        ("", "ServiceAccount", ("secrets",), ListType("map", ("name",))),
        ("", "ConfigMap", ("metadata", "finalizers"), SET),
        ("apps", "Deployment", ("spec", "template", "metadata", "finalizers"), SET),
        ("", "Secret", ("metadata", "ownerReferences"), ListType("map", ("uid",))),
        ("", "Namespace", ("spec", "finalizers"), SET),
    ],
)
def test_builtin_list_types_know_the_merge_keys_of_built_in_types(
    group: str, kind: str, path: tuple[str, ...], expected: ListType
) -> None:
    assert builtin_list_types(group, kind)(path) == expected


@pytest.mark.parametrize(
    ("group", "kind", "path"),
    [
        ("", "Pod", ("spec", "containers", "args")),
        ("", "Pod", ("spec", "containers", "command")),
        ("", "Pod", ("spec", "tolerations")),
        ("", "Endpoints", ("subsets",)),
        ("rbac.authorization.k8s.io", "ClusterRole", ("rules",)),
        ("", "Service", ("spec", "template", "ports")),
        ("", "Pod", ("spec", "ports")),
        ("example.com", "Widget", ("spec", "items")),
        ("", "ConfigMap", ()),
    ],
)
def test_builtin_list_types_treat_everything_else_as_atomic(group: str, kind: str, path: tuple[str, ...]) -> None:
    assert builtin_list_types(group, kind)(path) == ATOMIC
