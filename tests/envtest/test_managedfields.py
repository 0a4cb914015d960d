"""Server-side apply and managedFields tracking, checked against the real server's observable behaviour."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k0smotron_core.envtest._errors import StatusError
from k0smotron_core.envtest._listtypes import ATOMIC, SET, FieldPath, ListType
from k0smotron_core.envtest._managedfields import (
    FieldSet,
    default_manager,
    fields_of,
    path_string,
    server_side_apply,
    track_update,
    validate_field_manager,
)

NOW = "2024-01-01T00:00:00Z"
LATER = "2024-01-02T00:00:00Z"
LATEST = "2024-01-03T00:00:00Z"

_LIST_TYPES = {
    ("spec", "containers"): ListType("map", ("name",)),
    ("spec", "containers", "ports"): ListType("map", ("containerPort", "protocol")),
    ("spec", "tags"): SET,
    ("metadata", "finalizers"): SET,
}


def lists(path: FieldPath) -> ListType:
    return _LIST_TYPES.get(path, ATOMIC)


def thing(spec: dict[str, Any] | None, **metadata: Any) -> dict[str, Any]:
    """A Deployment-shaped object; `spec=None` leaves spec out (an empty spec map would be an owned leaf)."""
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", **metadata}}
    return obj if spec is None else {**obj, "spec": spec}


def apply(
    live: dict[str, Any] | None,
    config: dict[str, Any],
    manager: str,
    *,
    force: bool = False,
    now: str = LATER,
    ignore_status: bool = False,
    subresource: str = "",
) -> dict[str, Any]:
    return server_side_apply(
        live, config, manager=manager, force=force, lists=lists, api_version="apps/v1", now=now,
        ignore_status=ignore_status, subresource=subresource,
    )


def update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    *,
    now: str = LATER,
    api_version: str = "apps/v1",
    ignore_status: bool = False,
    subresource: str = "",
) -> dict[str, Any]:
    return track_update(
        old, new, manager=manager, lists=lists, api_version=api_version, now=now, ignore_status=ignore_status,
        subresource=subresource,
    )


def entries(obj: dict[str, Any]) -> list[dict[str, Any]]:
    managed: list[dict[str, Any]] = obj["metadata"].get("managedFields", [])
    return managed


def owned(obj: dict[str, Any], manager: str, operation: str = "Apply", subresource: str = "") -> dict[str, Any]:
    for entry in entries(obj):
        if (entry["manager"], entry["operation"], entry.get("subresource", "")) == (manager, operation, subresource):
            fields: dict[str, Any] = entry["fieldsV1"]
            return fields
    raise AssertionError(f"no {operation} entry for {manager}: {entries(obj)}")


def managers(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(entry["manager"], entry["operation"]) for entry in entries(obj)]


def compact(fields: dict[str, Any]) -> str:
    return json.dumps(fields, separators=(",", ":"))


def conflict_of(call: Any) -> StatusError:
    with pytest.raises(StatusError) as raised:
        call()
    return raised.value


# --- FieldsV1 encoding ---------------------------------------------------------------------------------------


def test_fields_v1_encodes_maps_and_map_list_items_exactly_like_the_real_server() -> None:
    obj = thing({"replicas": 1, "containers": [{"name": "nginx", "image": "nginx"}]}, labels={"app": "web"})

    encoded = fields_of(obj, lists).to_fields_v1()

    assert compact(encoded) == (
        '{"f:metadata":{"f:labels":{"f:app":{}}},'
        '"f:spec":{"f:containers":{"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:name":{}}},"f:replicas":{}}}'
    )


def test_fields_v1_keys_multi_key_items_by_compact_json_with_sorted_keys() -> None:
    obj = thing({"containers": [{"name": "a", "ports": [{"protocol": "UDP", "containerPort": 53}]}]})

    containers = fields_of(obj, lists).to_fields_v1()["f:spec"]["f:containers"]

    assert list(containers['k:{"name":"a"}']["f:ports"]) == ['k:{"containerPort":53,"protocol":"UDP"}']


def test_a_port_without_protocol_is_keyed_by_the_schema_default_tcp() -> None:
    obj = thing({"containers": [{"name": "a", "ports": [{"containerPort": 80}]}]})

    ports = fields_of(obj, lists).to_fields_v1()["f:spec"]["f:containers"]['k:{"name":"a"}']["f:ports"]

    assert ports == {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}


def test_fields_v1_encodes_set_list_items_by_their_json_value() -> None:
    obj = thing({"tags": ["b", "a", 3]}, finalizers=["example.com/cleanup"])

    encoded = fields_of(obj, lists).to_fields_v1()

    assert encoded["f:metadata"] == {"f:finalizers": {'v:"example.com/cleanup"': {}}}
    assert compact(encoded["f:spec"]) == '{"f:tags":{"v:3":{},"v:\\"a\\"":{},"v:\\"b\\"":{}}}'


def test_atomic_lists_and_empty_maps_are_owned_whole_as_leaves() -> None:
    obj = thing({"args": ["--a", "--b"], "volume": {"emptyDir": {}}})

    assert fields_of(obj, lists).to_fields_v1()["f:spec"] == {"f:args": {}, "f:volume": {"f:emptyDir": {}}}


def test_fields_of_ignores_type_and_server_set_metadata() -> None:
    obj = thing(None, uid="u", resourceVersion="7", generation=2, creationTimestamp=NOW, namespace="ns")
    obj["metadata"]["managedFields"] = [{"manager": "x"}]

    assert fields_of(obj, lists) == FieldSet()


def test_fields_of_leaves_out_status_when_the_resource_has_a_status_subresource() -> None:
    obj = {**thing({"replicas": 1}), "status": {"ready": True}}

    assert "f:status" not in fields_of(obj, lists, ignore_status=True).to_fields_v1()
    assert list(fields_of(obj, lists, subresource="status").to_fields_v1()) == ["f:status"]


def test_parsing_fields_v1_canonicalises_keys_and_drops_unknown_element_kinds() -> None:
    parsed = FieldSet.from_fields_v1({"f:spec": {'k:{"b": 1, "a": "x"}': {".": {}, "f:c": {}}, "z:future": {}}})

    assert parsed.to_fields_v1() == {"f:spec": {'k:{"a":"x","b":1}': {".": {}, "f:c": {}}}}


@pytest.mark.parametrize("fields", [{"f:spec": 1}, {"spec": {}}, {"f:spec": {'k:{"a":': {}}}, {"f:x": {"k:[1]": {}}}])
def test_malformed_fields_v1_is_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FieldSet.from_fields_v1(fields)


def test_paths_print_like_the_real_server() -> None:
    path = ("f:spec", 'k:{"name":"a"}', "f:ports", 'k:{"containerPort":80,"protocol":"TCP"}', "f:hostPort")

    assert path_string(path) == '.spec[name="a"].ports[containerPort=80,protocol="TCP"].hostPort'
    assert path_string(("f:metadata", "f:finalizers", 'v:"x"')) == '.metadata.finalizers[="x"]'


# --- apply: ownership ----------------------------------------------------------------------------------------


def test_creating_by_apply_returns_the_configuration_with_an_apply_entry() -> None:
    config = thing({"replicas": 2})

    created = apply(None, config, "deployer")

    assert created["spec"] == {"replicas": 2}
    assert entries(created) == [{
        "manager": "deployer",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": LATER,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:replicas": {}}},
    }]


def test_reapplying_without_a_field_removes_it_from_the_object() -> None:
    live = apply(None, thing({"replicas": 2, "paused": True}), "deployer")

    reapplied = apply(live, thing({"replicas": 2}), "deployer")

    assert reapplied["spec"] == {"replicas": 2}
    assert owned(reapplied, "deployer") == {"f:spec": {"f:replicas": {}}}


def test_reapplying_without_a_field_shared_with_another_applier_keeps_it() -> None:
    live = apply(apply(None, thing({"replicas": 2}), "a"), thing({"replicas": 2}), "b")

    reapplied = apply(live, thing({"paused": True}), "a")

    assert reapplied["spec"] == {"replicas": 2, "paused": True}
    assert owned(reapplied, "a") == {"f:spec": {"f:paused": {}}}
    assert owned(reapplied, "b") == {"f:spec": {"f:replicas": {}}}


def test_reapplying_without_a_field_another_manager_has_since_updated_keeps_it() -> None:
    live = apply(None, thing({"replicas": 2, "paused": True}), "a")
    live = update(live, {**live, "spec": {"replicas": 5, "paused": True}}, "autoscaler")

    reapplied = apply(live, thing({"paused": True}), "a")

    assert reapplied["spec"] == {"replicas": 5, "paused": True}
    assert owned(reapplied, "autoscaler", "Update") == {"f:spec": {"f:replicas": {}}}


def test_applying_an_equal_value_shares_the_field_without_conflict() -> None:
    live = update(None, thing({"replicas": 3}), "kubectl-client-side-apply", now=NOW)

    applied = apply(live, thing({"replicas": 3}), "deployer")

    assert owned(applied, "deployer") == {"f:spec": {"f:replicas": {}}}
    assert owned(applied, "kubectl-client-side-apply", "Update")["f:spec"]["f:replicas"] == {}


def test_applying_an_empty_configuration_drops_the_appliers_entry() -> None:
    live = apply(None, thing({"replicas": 2}), "deployer")

    emptied = apply(live, thing(None), "deployer")

    assert "replicas" not in emptied["spec"]
    assert "managedFields" not in emptied["metadata"]


# --- apply: conflicts ----------------------------------------------------------------------------------------


def test_applying_a_field_owned_by_another_manager_with_a_different_value_conflicts() -> None:
    live = update(None, thing({"replicas": 1}), "kubectl-client-side-apply", now=NOW)

    error = conflict_of(lambda: apply(live, thing({"replicas": 3}), "deployer"))

    assert (error.code, error.reason) == (409, "Conflict")
    assert error.message == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas'
    )
    assert error.details == {"causes": [{
        "reason": "FieldManagerConflict",
        "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
        "field": ".spec.replicas",
    }]}


def test_several_conflicts_are_listed_under_each_manager_in_order() -> None:
    live = update(None, thing({"a": 1, "b": 1}), "ctrl", now=NOW)
    live = apply(live, thing({"c": 1}), "other", force=True)

    error = conflict_of(lambda: apply(live, thing({"a": 2, "b": 2, "c": 2}), "deployer"))

    assert error.message == (
        "Apply failed with 3 conflicts: "
        'conflicts with "ctrl" using apps/v1:\n- .spec.a\n- .spec.b\n'
        'conflicts with "other":\n- .spec.c'
    )
    assert [cause["field"] for cause in error.details["causes"]] == [".spec.a", ".spec.b", ".spec.c"]  # type: ignore[index]


def test_a_conflict_on_a_map_list_item_field_names_the_item_by_its_key() -> None:
    live = apply(None, thing({"containers": [{"name": "web", "image": "nginx:1"}]}), "a")

    error = conflict_of(lambda: apply(live, thing({"containers": [{"name": "web", "image": "nginx:2"}]}), "b"))

    assert error.message == 'Apply failed with 1 conflict: conflict with "a": .spec.containers[name="web"].image'


def test_forcing_a_conflicting_apply_takes_the_fields_from_the_other_manager() -> None:
    live = update(None, thing({"replicas": 1, "paused": False}), "ctrl", now=NOW)

    forced = apply(live, thing({"replicas": 3}), "deployer", force=True)

    assert forced["spec"] == {"replicas": 3, "paused": False}
    assert owned(forced, "deployer") == {"f:spec": {"f:replicas": {}}}
    assert owned(forced, "ctrl", "Update") == {"f:spec": {".": {}, "f:paused": {}}}


def test_the_first_apply_to_an_untracked_object_conflicts_with_before_first_apply() -> None:
    untracked = thing({"replicas": 1})

    error = conflict_of(lambda: apply(untracked, thing({"replicas": 2}), "deployer"))

    assert error.message == (
        'Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas'
    )


def test_kubectl_takes_over_fields_its_last_applied_configuration_still_matches() -> None:
    last_applied = json.dumps(thing({"replicas": 1}))
    annotations = {"kubectl.kubernetes.io/last-applied-configuration": last_applied}
    live = update(None, thing({"replicas": 1}, annotations=annotations), "kubectl-client-side-apply", now=NOW)
    config = thing({"replicas": 3})

    upgraded = apply(live, config, "kubectl")

    assert upgraded["spec"] == {"replicas": 3}
    assert owned(upgraded, "kubectl") == {"f:spec": {"f:replicas": {}}}
    new_annotation = upgraded["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert json.loads(new_annotation) == config and new_annotation.endswith("\n")


def test_kubectl_still_conflicts_on_fields_that_drifted_from_its_last_applied_configuration() -> None:
    annotations = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(thing({"replicas": 1}))}
    live = update(None, thing({"replicas": 5}, annotations=annotations), "kubectl-client-side-apply", now=NOW)

    error = conflict_of(lambda: apply(live, thing({"replicas": 3}), "kubectl"))

    assert error.code == 409


# --- apply: merging ------------------------------------------------------------------------------------------


def test_appliers_of_one_map_list_item_merge_into_it_and_share_the_item() -> None:
    live = apply(None, thing({"containers": [{"name": "web", "image": "nginx"}]}), "a")

    merged = apply(live, thing({"containers": [{"name": "web", "args": ["-v"]}]}), "b")

    assert merged["spec"]["containers"] == [{"name": "web", "image": "nginx", "args": ["-v"]}]
    assert owned(merged, "b")["f:spec"]["f:containers"] == {'k:{"name":"web"}': {".": {}, "f:args": {}, "f:name": {}}}


def test_reapplying_without_a_map_list_item_removes_the_whole_item() -> None:
    both = [{"name": "web", "image": "nginx"}, {"name": "log", "image": "fluentd"}]
    live = apply(None, thing({"containers": both}), "a")

    reapplied = apply(live, thing({"containers": [{"name": "web", "image": "nginx"}]}), "a")

    assert reapplied["spec"]["containers"] == [{"name": "web", "image": "nginx"}]


def test_an_item_another_applier_owns_stays_without_the_fields_only_the_leaver_owned() -> None:
    live = apply(None, thing({"containers": [{"name": "web", "image": "nginx"}]}), "a")
    live = apply(live, thing({"containers": [{"name": "web", "args": ["-v"]}]}), "b")

    reapplied = apply(live, thing({"replicas": 1}), "a")

    assert reapplied["spec"]["containers"] == [{"name": "web", "args": ["-v"]}]


def test_new_applied_items_land_before_the_shared_item_that_follows_them_in_the_configuration() -> None:
    live = apply(None, thing({"containers": [{"name": "a"}, {"name": "b"}]}), "first")

    merged = apply(live, thing({"containers": [{"name": "d"}, {"name": "a"}]}), "second")

    assert [container["name"] for container in merged["spec"]["containers"]] == ["d", "a", "b"]


def test_set_lists_merge_as_a_union() -> None:
    live = update(None, thing({"tags": ["a"]}), "ctrl", now=NOW)

    merged = apply(live, thing({"tags": ["b"]}), "deployer")

    assert merged["spec"]["tags"] == ["a", "b"]
    assert owned(merged, "deployer") == {"f:spec": {"f:tags": {'v:"b"': {}}}}


def test_atomic_lists_are_replaced_whole() -> None:
    live = apply(None, thing({"args": ["-a", "-b"]}), "deployer")

    assert apply(live, thing({"args": ["-c"]}), "deployer")["spec"]["args"] == ["-c"]


def test_a_noop_reapply_keeps_the_entry_time() -> None:
    live = apply(None, thing({"replicas": 2}), "deployer", now=NOW)

    reapplied = apply(live, thing({"replicas": 2}), "deployer", now=LATER)

    assert reapplied == live


def test_apply_to_the_main_resource_leaves_status_alone_when_there_is_a_status_subresource() -> None:
    live = {**apply(None, thing({"replicas": 1}), "deployer", ignore_status=True), "status": {"ready": True}}

    applied = apply(live, {**thing({"replicas": 2}), "status": {"ready": False}}, "deployer", ignore_status=True)

    assert applied["status"] == {"ready": True}
    assert owned(applied, "deployer") == {"f:spec": {"f:replicas": {}}}


def test_apply_to_the_status_subresource_changes_and_owns_only_status() -> None:
    live = apply(None, thing({"replicas": 1}), "deployer", ignore_status=True)
    config = {**thing({"replicas": 9}), "status": {"ready": True}}

    applied = apply(live, config, "ctrl", ignore_status=True, subresource="status")

    assert applied["spec"] == {"replicas": 1} and applied["status"] == {"ready": True}
    assert entries(applied)[0] == {
        "manager": "ctrl",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": LATER,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:status": {"f:ready": {}}},
        "subresource": "status",
    }


# --- apply: rejected configurations ------------------------------------------------------------------------


def test_apply_rejects_managed_fields_in_the_configuration() -> None:
    config = thing(None, managedFields=[])

    error = conflict_of(lambda: apply(None, config, "deployer"))

    assert (error.code, error.message) == (400, "metadata.managedFields must be nil")


def test_apply_rejects_a_configuration_of_another_api_version() -> None:
    config = {**thing(None), "apiVersion": "apps/v1beta1"}

    error = conflict_of(lambda: apply(None, config, "deployer"))

    assert (error.code, error.message) == (
        400, "Incorrect version specified in apply patch. Specified patch version: apps/v1beta1, expected: apps/v1"
    )


def test_apply_of_an_item_without_its_key_fails_like_the_real_server() -> None:
    error = conflict_of(lambda: apply(None, thing({"containers": [{"image": "nginx"}]}), "deployer"))

    assert error.code == 500
    assert error.message == (
        "failed to create typed patch object (/web; apps/v1, Kind=Deployment): .spec.containers: element 0: "
        'associative list with keys has an element that omits key field "name" (and doesn\'t have default value)'
    )


def test_apply_of_duplicate_items_fails() -> None:
    config = thing({"containers": [{"name": "a"}, {"name": "a"}]})

    error = conflict_of(lambda: apply(None, config, "deployer"))

    assert error.message.endswith('.spec.containers: duplicate entries for key [name="a"]')


# --- updates -------------------------------------------------------------------------------------------------


def test_create_gives_the_manager_every_field_and_the_maps_it_created() -> None:
    created = update(None, thing({"replicas": 1}, labels={"app": "web"}), "kubectl-create", now=NOW)

    assert entries(created) == [{
        "manager": "kubectl-create",
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": NOW,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {".": {}, "f:replicas": {}}},
    }]


def test_an_update_takes_the_fields_it_changes_from_other_managers() -> None:
    live = apply(None, thing({"replicas": 1, "paused": True}), "deployer", now=NOW)

    updated = update(live, {**live, "spec": {"replicas": 4, "paused": True}}, "autoscaler")

    assert owned(updated, "deployer") == {"f:spec": {"f:paused": {}}}
    assert owned(updated, "autoscaler", "Update") == {"f:spec": {"f:replicas": {}}}


def test_an_update_merges_into_the_managers_earlier_update_entry() -> None:
    live = update(None, thing({"replicas": 1}), "ctrl", now=NOW)

    updated = update(live, {**live, "spec": {"replicas": 1, "paused": True}}, "ctrl", now=LATER)

    assert entries(updated)[0]["time"] == LATER
    assert owned(updated, "ctrl", "Update") == {"f:spec": {".": {}, "f:paused": {}, "f:replicas": {}}}


def test_fields_an_update_deletes_leave_every_entry() -> None:
    live = apply(None, thing({"replicas": 1, "paused": True}), "deployer", now=NOW)

    updated = update(live, {**live, "spec": {"replicas": 1}}, "editor")

    assert owned(updated, "deployer") == {"f:spec": {"f:replicas": {}}}
    assert managers(updated) == [("deployer", "Apply")]


def test_a_noop_update_adds_no_entry() -> None:
    live = apply(None, thing({"replicas": 1}), "deployer", now=NOW)

    assert update(live, copy.deepcopy(live), "editor") == live


def test_updaters_get_one_entry_per_api_version() -> None:
    live = update(None, thing({"a": 1}), "ctrl", now=NOW, api_version="apps/v1beta1")

    updated = update(live, {**live, "spec": {"a": 1, "b": 1}}, "ctrl", now=LATER)

    assert [(entry["manager"], entry["apiVersion"]) for entry in entries(updated)] == [
        ("ctrl", "apps/v1beta1"), ("ctrl", "apps/v1"),
    ]


def test_managed_fields_sent_with_an_update_replace_the_tracking() -> None:
    live = apply(None, thing({"replicas": 1}), "deployer", now=NOW)
    sent = [{"manager": "someone", "operation": "Update", "apiVersion": "apps/v1", "time": NOW,
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    new = {**live, "metadata": {**live["metadata"], "managedFields": sent}}

    updated = update(live, new, "editor")

    assert managers(updated) == [("someone", "Update")]


def test_sending_empty_managed_fields_strips_tracking_from_an_existing_object() -> None:
    live = apply(None, thing({"replicas": 1}), "deployer", now=NOW)
    new = {**live, "spec": {"replicas": 2}, "metadata": {**live["metadata"], "managedFields": []}}

    stripped = update(live, new, "editor")

    assert "managedFields" not in stripped["metadata"]


def test_an_existing_object_without_managed_fields_stays_untracked_until_applied() -> None:
    untracked = thing({"replicas": 1})

    assert "managedFields" not in update(untracked, thing({"replicas": 2}), "editor")["metadata"]


def test_managed_fields_sent_to_a_subresource_are_ignored() -> None:
    live = apply(None, thing({"replicas": 1}), "deployer", now=NOW)
    new = {**live, "status": {"ready": True}, "metadata": {**live["metadata"], "managedFields": []}}

    updated = update(live, new, "ctrl", subresource="status", ignore_status=True)

    assert managers(updated) == [("deployer", "Apply"), ("ctrl", "Update")]


def test_status_subresource_updates_get_their_own_entry() -> None:
    live = update(None, thing({"replicas": 1}), "ctrl", now=NOW, ignore_status=True)

    updated = update(live, {**live, "status": {"ready": True}}, "ctrl", subresource="status", ignore_status=True)

    assert owned(updated, "ctrl", "Update") == {"f:spec": {".": {}, "f:replicas": {}}}
    assert owned(updated, "ctrl", "Update", "status") == {"f:status": {".": {}, "f:ready": {}}}


def test_more_than_ten_updaters_fold_the_oldest_into_ancient_changes() -> None:
    obj = update(None, thing({"f0": 0}), "m0", now="2024-01-01T00:00:00Z")
    for index in range(1, 11):
        changed = {**obj, "spec": {**obj["spec"], f"f{index}": index}}
        obj = update(obj, changed, f"m{index}", now=f"2024-01-01T00:00:{index:02}Z")

    assert len(entries(obj)) == 10
    assert owned(obj, "ancient-changes", "Update") == {"f:spec": {".": {}, "f:f0": {}, "f:f1": {}}}
    assert entries(obj)[0]["time"] == "2024-01-01T00:00:01Z"


def test_entries_list_appliers_first_then_oldest_first() -> None:
    obj = update(None, thing({"a": 1}), "late-updater", now=LATER)
    obj = update(obj, {**obj, "spec": {"a": 1, "b": 1}}, "early-updater", now=NOW)
    obj = apply(obj, thing({"c": 1}), "applier", now=LATEST)

    assert managers(obj) == [("applier", "Apply"), ("early-updater", "Update"), ("late-updater", "Update")]


def test_inputs_are_never_mutated() -> None:
    live = apply(None, thing({"containers": [{"name": "a", "image": "x"}], "replicas": 1}), "a", now=NOW)
    config = thing({"containers": [{"name": "a", "image": "y"}, {"name": "b"}]})
    new = {**copy.deepcopy(live), "spec": {"replicas": 2}}
    snapshots = copy.deepcopy((live, config, new))

    apply(live, config, "b", force=True)
    update(live, new, "c")

    assert (live, config, new) == snapshots


# --- field managers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "manager"),
    [
        ("kubectl/v1.30.0 (linux/amd64) kubernetes/abc", "kubectl"),
        ("Go-http-client/1.1", "Go-http-client"),
        ("my\x07tool/1.0", "mytool"),
        ("", ""),
        ("x" * 200, "x" * 128),
    ],
)
def test_the_default_manager_is_the_user_agents_program_name(user_agent: str, manager: str) -> None:
    assert default_manager(user_agent) == manager


def test_apply_requires_a_field_manager() -> None:
    error = conflict_of(lambda: validate_field_manager("", True))

    assert (error.code, error.reason) == (422, "Invalid")
    assert error.message == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    )


def test_field_managers_are_at_most_128_bytes_of_printable_characters() -> None:
    too_long = conflict_of(lambda: validate_field_manager("m" * 129, False, options_kind="CreateOptions"))
    unprintable = conflict_of(lambda: validate_field_manager("a\x07", True))

    assert too_long.message == (
        'CreateOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes'
    )
    assert unprintable.message.endswith(": invalid character U+0007 (at position 1)")
    validate_field_manager("", False)
    validate_field_manager("m" * 128, True)


# --- properties ----------------------------------------------------------------------------------------------

_texts = st.text(alphabet='ab<&"\\\né', max_size=3)
_scalars = st.one_of(st.integers(-3, 3), _texts, st.booleans(), st.none())
_containers = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["web", "db", "<&>"])},
        optional={"image": _scalars, "args": st.lists(_scalars, max_size=2)},
    ),
    max_size=3,
    unique_by=lambda container: str(container["name"]),
)
_specs = st.fixed_dictionaries(
    {},
    optional={
        "replicas": st.integers(0, 3),
        "containers": _containers,
        "tags": st.lists(st.one_of(_texts, st.integers(0, 3)), max_size=3, unique=True),
        "extra": st.dictionaries(st.sampled_from(["x", "y"]), st.one_of(_scalars, st.just({})), max_size=2),
    },
)
_configs = _specs.map(thing)


@settings(max_examples=150)
@given(_configs)
def test_fields_v1_round_trips_through_json_and_parsing(config: dict[str, Any]) -> None:
    fields = fields_of(config, lists)

    assert FieldSet.from_fields_v1(json.loads(json.dumps(fields.to_fields_v1()))) == fields


@settings(max_examples=150)
@given(_configs, _configs)
def test_applying_the_same_configuration_twice_changes_nothing(other: dict[str, Any], config: dict[str, Any]) -> None:
    live = update(None, other, "ctrl", now=NOW)

    once = apply(live, config, "deployer", force=True, now=LATER)
    twice = apply(once, config, "deployer", force=True, now=LATEST)

    assert twice == once


@settings(max_examples=150)
@given(_configs, _configs)
def test_after_a_forced_apply_the_applier_owns_exactly_its_configuration(
    other: dict[str, Any], config: dict[str, Any]
) -> None:
    live = apply(None, other, "first", now=NOW)

    applied = apply(live, config, "second", force=True)

    expected = fields_of(config, lists)
    actual = FieldSet.from_fields_v1(owned(applied, "second")) if expected else FieldSet()
    assert actual == expected
