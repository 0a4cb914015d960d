"""kubectl against envtest: client-side `kubectl apply` of Widgets, how `kubectl get` prints them (printer
columns, short names, categories), defaulting and metadata.generation, and `kubectl diff`."""

from __future__ import annotations

import json
import re

from ._kube import Kubectl, widget

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _set_ready(kubectl: Kubectl, name: str, status: str = "True") -> None:
    patch = {"status": {"conditions": [{"type": "Ready", "status": status}]}}
    kubectl.ok("patch", "widget", name, "--subresource=status", "--type=merge", "-p", json.dumps(patch))


# --- created, unchanged, configured -------------------------------------------------------------------------


def test_kubectl_apply_of_a_new_widget_prints_created(kubectl: Kubectl) -> None:
    result = kubectl.apply(widget("x"))

    assert result.code == 0, result.err
    assert result.out == "widget.example.com/x created\n"


def test_kubectl_apply_of_the_same_widget_again_prints_unchanged(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))

    result = kubectl.apply(widget("x"))

    assert result.code == 0, result.err
    assert result.out == "widget.example.com/x unchanged\n"


def test_kubectl_apply_of_a_changed_widget_prints_configured_and_changes_it(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))

    result = kubectl.apply(widget("x", mode="proxy"))

    assert result.code == 0, result.err
    assert result.out == "widget.example.com/x configured\n"
    assert kubectl.json("get", "widget", "x")["spec"]["mode"] == "proxy"


def test_kubectl_apply_of_a_v1_list_creates_every_item(kubectl: Kubectl) -> None:
    manifest = {"apiVersion": "v1", "kind": "List", "items": [widget("a"), widget("b", mode="proxy")]}

    result = kubectl("apply", "-f", "-", stdin=json.dumps(manifest))

    assert result == (0, "widget.example.com/a created\nwidget.example.com/b created\n", "")


def test_kubectl_apply_of_several_yaml_documents_creates_every_widget(kubectl: Kubectl) -> None:
    documents = "\n---\n".join(json.dumps(widget(name)) for name in ("a", "b"))

    result = kubectl("apply", "-f", "-", stdin=documents)

    assert result == (0, "widget.example.com/a created\nwidget.example.com/b created\n", "")


def test_kubectl_apply_records_the_applied_manifest_in_the_last_applied_annotation(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", port=8080))

    annotations = kubectl.json("get", "widget", "x")["metadata"]["annotations"]

    assert json.loads(annotations[LAST_APPLIED]) == {
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"annotations": {}, "name": "x", "namespace": "default"},
        "spec": {"mode": "tunnel", "port": 8080},
    }


def test_kubectl_apply_removes_a_field_that_was_dropped_from_the_manifest(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", port=8080))

    result = kubectl.apply(widget("x"))

    assert result.out == "widget.example.com/x configured\n"
    assert "port" not in kubectl.json("get", "widget", "x")["spec"]


def test_kubectl_apply_keeps_a_field_someone_else_set_that_was_never_in_the_manifest(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))
    kubectl.ok("patch", "widget", "x", "--type=merge", "-p", '{"spec":{"port":9000}}')

    result = kubectl.apply(widget("x"))

    assert result.out == "widget.example.com/x unchanged\n"
    assert kubectl.json("get", "widget", "x")["spec"]["port"] == 9000


# --- kubectl get --------------------------------------------------------------------------------------------


def test_kubectl_get_widgets_prints_the_printer_columns_with_their_values(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", mode="proxy", replicas=2))
    _set_ready(kubectl, "x")

    header, *rows = kubectl.ok("get", "widgets").splitlines()

    assert header.split() == ["NAME", "REPLICAS", "MODE", "READY", "AGE"]
    assert len(rows) == 1
    assert rows[0].split()[:4] == ["x", "2", "proxy", "True"]
    assert re.fullmatch(r"\d+s", rows[0].split()[4])


def test_kubectl_get_widgets_leaves_ready_empty_for_a_widget_without_a_ready_condition(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))

    header, *rows = kubectl.ok("get", "widgets").splitlines()

    assert header.split() == ["NAME", "REPLICAS", "MODE", "READY", "AGE"]
    assert len(rows) == 1
    assert rows[0].split()[:3] == ["x", "1", "tunnel"]
    assert len(rows[0].split()) == 4
    assert header.index("READY") < len(rows[0]) and rows[0][header.index("READY")] == " "


def test_kubectl_get_wdg_lists_widgets_by_their_short_name(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))
    kubectl.apply(widget("y", mode="proxy"))

    header, *rows = kubectl.ok("get", "wdg").splitlines()

    assert header.split() == ["NAME", "REPLICAS", "MODE", "READY", "AGE"]
    assert [row.split()[:3] for row in rows] == [["x", "1", "tunnel"], ["y", "1", "proxy"]]


def test_kubectl_get_gadgets_lists_widgets_through_their_category(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))

    out = kubectl.ok("get", "gadgets", "-o", "name")

    assert out == "widget.example.com/x\n"


def test_kubectl_get_all_includes_widgets_since_they_are_in_the_all_category(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))

    out = kubectl.ok("get", "all", "-o", "name")

    assert "widget.example.com/x\n" in out


def test_kubectl_get_widget_shows_replicas_defaulted_to_1_and_generation_1(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))

    obj = kubectl.json("get", "widget", "x")

    assert obj["spec"] == {"mode": "tunnel", "replicas": 1}
    assert obj["metadata"]["generation"] == 1


def test_kubectl_get_widget_yaml_prints_the_defaulted_widget(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))

    out = kubectl.ok("get", "widget", "x", "-o", "yaml")

    assert "\nkind: Widget\n" in out
    assert "\n  generation: 1\n" in out
    assert "\nspec:\n  mode: tunnel\n  replicas: 1\n" in out


# --- generation ---------------------------------------------------------------------------------------------


def test_a_spec_change_bumps_the_generation_to_2(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))

    kubectl.apply(widget("x", mode="proxy"))

    assert kubectl.json("get", "widget", "x")["metadata"]["generation"] == 2


def test_a_label_only_change_keeps_the_generation_but_changes_the_resource_version(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))
    kubectl.apply(widget("x", mode="proxy"))
    before = kubectl.json("get", "widget", "x")["metadata"]

    result = kubectl.apply(widget("x", mode="proxy", labels={"tier": "front"}))

    after = kubectl.json("get", "widget", "x")["metadata"]
    assert result.out == "widget.example.com/x configured\n"
    assert after["labels"] == {"tier": "front"}
    assert after["generation"] == 2
    assert int(after["resourceVersion"]) > int(before["resourceVersion"])


def test_reapplying_an_unchanged_widget_keeps_its_resource_version(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))
    before = kubectl.json("get", "widget", "x")["metadata"]["resourceVersion"]

    kubectl.apply(widget("x"))

    assert kubectl.json("get", "widget", "x")["metadata"]["resourceVersion"] == before


# --- kubectl diff -------------------------------------------------------------------------------------------


def test_kubectl_diff_shows_a_pending_spec_change_and_exits_1(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))

    result = kubectl("diff", "-f", "-", stdin=json.dumps(widget("x", mode="proxy")))

    assert result.code == 1, result.err
    assert "-  mode: tunnel\n" in result.out
    assert "+  mode: proxy\n" in result.out
    assert "-  generation: 1\n" in result.out
    assert "+  generation: 2\n" in result.out
    assert kubectl.json("get", "widget", "x")["spec"]["mode"] == "tunnel"


def test_kubectl_diff_of_an_applied_manifest_prints_nothing_and_exits_0(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))

    result = kubectl("diff", "-f", "-", stdin=json.dumps(widget("x")))

    assert result == (0, "", "")
