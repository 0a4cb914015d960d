"""kubectl against envtest: `kubectl apply --server-side`, managedFields, conflicts with other managers
(`kubectl patch --field-manager`, `kubectl scale`), `--force-conflicts`, and removal of fields an applier drops."""

from __future__ import annotations

import json
from typing import Any

from ._kube import Kubectl, widget


def _managed_fields(kubectl: Kubectl, name: str) -> list[dict[str, Any]]:
    managed: list[dict[str, Any]] = kubectl.json("get", "widget", name, "--show-managed-fields")["metadata"][
        "managedFields"]
    return managed


def _entry(kubectl: Kubectl, name: str, manager: str) -> dict[str, Any] | None:
    return next((m for m in _managed_fields(kubectl, name) if m["manager"] == manager), None)


def _spec(kubectl: Kubectl, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = kubectl.json("get", "widget", name)["spec"]
    return spec


def test_server_side_apply_of_a_new_widget_prints_serverside_applied(kubectl: Kubectl) -> None:
    result = kubectl.apply(widget("x", replicas=2), "--server-side")

    assert result.code == 0, result.err
    assert result.out == "widget.example.com/x serverside-applied\n"


def test_server_side_apply_records_one_apply_entry_for_kubectl_owning_the_applied_fields(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", replicas=2, labels={"app": "x"}), "--server-side")

    managed = _managed_fields(kubectl, "x")

    assert len(managed) == 1
    entry = managed[0]
    assert entry["manager"] == "kubectl"
    assert entry["operation"] == "Apply"
    assert entry["apiVersion"] == "example.com/v1"
    assert entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"] == {"f:metadata": {"f:labels": {"f:app": {}}},
                                 "f:spec": {"f:mode": {}, "f:replicas": {}}}
    assert "time" in entry


def test_a_field_changed_by_another_manager_makes_a_server_side_reapply_fail_with_one_conflict(
    kubectl: Kubectl,
) -> None:
    kubectl.apply(widget("x", replicas=2), "--server-side")
    kubectl.ok("patch", "widget", "x", "--type=merge", "-p", '{"spec":{"mode":"proxy"}}', "--field-manager=other")

    result = kubectl.apply(widget("x", replicas=2), "--server-side")

    assert result.code == 1
    first = result.err.splitlines()[0]
    assert first.startswith('error: Apply failed with 1 conflict: conflict with "other" using example.com/v1')
    assert first.endswith(": .spec.mode")
    assert "--force-conflicts" in result.err
    assert _spec(kubectl, "x")["mode"] == "proxy"


def test_kubectl_scale_takes_replicas_so_a_server_side_reapply_conflicts_on_spec_replicas(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", replicas=2), "--server-side")
    kubectl.ok("scale", "widget", "x", "--replicas=5")

    result = kubectl.apply(widget("x", replicas=2), "--server-side")

    assert result.code == 1
    first = result.err.splitlines()[0]
    # kubectl scale sends no fieldManager: the server names the manager after the user agent, "kubectl".
    assert first.startswith('error: Apply failed with 1 conflict: conflict with "kubectl" with subresource '
                            '"scale" using example.com/v1')
    assert first.endswith(": .spec.replicas")
    assert _spec(kubectl, "x")["replicas"] == 5


def test_kubectl_scale_is_recorded_as_an_update_of_the_scale_subresource(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", replicas=2), "--server-side")

    kubectl.ok("scale", "widget", "x", "--replicas=5")

    entries = {(m["manager"], m["operation"], m.get("subresource", "")): m for m in _managed_fields(kubectl, "x")}
    assert sorted(entries) == [("kubectl", "Apply", ""), ("kubectl", "Update", "scale")]
    scale = entries["kubectl", "Update", "scale"]
    assert scale["apiVersion"] == "example.com/v1"
    assert scale["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert entries["kubectl", "Apply", ""]["fieldsV1"] == {"f:spec": {"f:mode": {}}}


def test_a_second_applier_setting_another_value_conflicts_with_the_first_applier(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"), "--server-side", "--field-manager=first")

    result = kubectl.apply(widget("x", mode="proxy"), "--server-side", "--field-manager=second")

    assert result.code == 1
    assert result.err.splitlines()[0] == 'error: Apply failed with 1 conflict: conflict with "first": .spec.mode'


def test_two_appliers_applying_the_same_value_share_the_field_without_conflict(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"), "--server-side", "--field-manager=first")

    result = kubectl.apply(widget("x"), "--server-side", "--field-manager=second")

    assert result.code == 0, result.err
    assert _entry(kubectl, "x", "first")["fieldsV1"] == {"f:spec": {"f:mode": {}}}  # type: ignore[index]
    assert _entry(kubectl, "x", "second")["fieldsV1"] == {"f:spec": {"f:mode": {}}}  # type: ignore[index]


def test_force_conflicts_makes_the_server_side_apply_win_and_take_the_field_over(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", replicas=2), "--server-side")
    kubectl.ok("patch", "widget", "x", "--type=merge", "-p", '{"spec":{"mode":"proxy"}}', "--field-manager=other")

    result = kubectl.apply(widget("x", replicas=2), "--server-side", "--force-conflicts")

    assert result.code == 0, result.err
    assert result.out == "widget.example.com/x serverside-applied\n"
    assert _spec(kubectl, "x")["mode"] == "tunnel"
    assert _entry(kubectl, "x", "kubectl")["fieldsV1"] == {  # type: ignore[index]
        "f:spec": {"f:mode": {}, "f:replicas": {}}}
    assert _entry(kubectl, "x", "other") is None


def test_removing_a_field_from_the_server_side_applied_manifest_removes_it_from_the_widget(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", port=8080), "--server-side")

    result = kubectl.apply(widget("x"), "--server-side")

    assert result.code == 0, result.err
    assert _spec(kubectl, "x") == {"mode": "tunnel", "replicas": 1}


def test_removing_the_last_label_from_the_applied_manifest_leaves_no_labels_map(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", labels={"app": "x"}), "--server-side")

    result = kubectl.apply(widget("x"), "--server-side")

    assert result.code == 0, result.err
    # ObjectMeta's labels are omitted when empty: a real server never returns "labels": {}.
    assert "labels" not in kubectl.json("get", "widget", "x")["metadata"]


def test_removing_replicas_from_the_applied_manifest_resets_it_to_the_schema_default(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", replicas=3), "--server-side")

    kubectl.apply(widget("x"), "--server-side")

    assert _spec(kubectl, "x")["replicas"] == 1


def test_a_field_dropped_by_an_applier_stays_when_another_manager_also_owns_it(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", port=8080), "--server-side", "--field-manager=first")
    kubectl.apply(widget("x", port=8080), "--server-side", "--field-manager=second")

    kubectl.apply(widget("x"), "--server-side", "--field-manager=first")

    assert _spec(kubectl, "x")["port"] == 8080


def test_server_side_apply_of_an_unchanged_manifest_keeps_the_resource_version(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"), "--server-side")
    before = kubectl.json("get", "widget", "x")["metadata"]["resourceVersion"]

    result = kubectl.apply(widget("x"), "--server-side")

    assert result.code == 0, result.err
    assert kubectl.json("get", "widget", "x")["metadata"]["resourceVersion"] == before


def test_server_side_apply_with_an_unknown_field_fails_as_not_declared_in_the_schema(kubectl: Kubectl) -> None:
    result = kubectl.apply(widget("x", foo=1), "--server-side")

    assert result.code == 1
    assert result.err == ("Error from server: failed to create typed patch object (default/x; example.com/v1, "
                          "Kind=Widget): .spec.foo: field not declared in schema\n")
    assert kubectl("get", "widget", "x").code == 1


def test_server_side_apply_can_take_over_a_client_side_applied_widget(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", port=8080))

    result = kubectl.apply(widget("x", port=9090), "--server-side")

    assert result.code == 0, result.err
    obj = kubectl.json("get", "widget", "x")
    assert obj.get("spec") == {"mode": "tunnel", "port": 9090, "replicas": 1}
    annotation = (obj["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/last-applied-configuration")
    assert annotation is not None
    assert json.loads(annotation)["spec"] == {"mode": "tunnel", "port": 9090}
