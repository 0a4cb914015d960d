"""kubectl against envtest: the status subresource (`kubectl patch --subresource=status`) and the scale
subresource (`kubectl scale`, `kubectl get --raw .../scale`) of Widgets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from k0smotron_core.envtest import EnvTest

from ._kube import Kubectl, widget

SCALE_PATH = "/apis/example.com/v1/namespaces/default/widgets/x/scale"


@pytest.fixture
def kubectl(kubectl: Kubectl) -> Kubectl:
    kubectl.apply(widget("x"))
    return kubectl


def _get(kubectl: Kubectl) -> dict[str, Any]:
    obj: dict[str, Any] = kubectl.json("get", "widget", "x")
    return obj


def _patch_status(kubectl: Kubectl, status: dict[str, Any]) -> str:
    return kubectl.ok("patch", "widget", "x", "--subresource=status", "--type=merge",
                      "-p", json.dumps({"status": status}))


# --- status -------------------------------------------------------------------------------------------------


def test_a_status_patch_through_the_status_subresource_sets_the_status(kubectl: Kubectl) -> None:
    out = _patch_status(kubectl, {"phase": "Running"})

    assert out == "widget.example.com/x patched\n"
    assert _get(kubectl)["status"] == {"phase": "Running"}


def test_a_status_patch_does_not_bump_the_generation(kubectl: Kubectl) -> None:
    _patch_status(kubectl, {"phase": "Running", "replicas": 1})

    assert _get(kubectl)["metadata"]["generation"] == 1


def test_a_status_change_through_the_main_endpoint_is_ignored(kubectl: Kubectl) -> None:
    _patch_status(kubectl, {"phase": "Running"})
    before = _get(kubectl)

    out = kubectl.ok("patch", "widget", "x", "--type=merge", "-p", '{"status":{"phase":"Failed"}}')

    after = _get(kubectl)
    assert out == "widget.example.com/x patched (no change)\n"
    assert after["status"] == {"phase": "Running"}
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_a_status_set_when_creating_a_widget_is_dropped(kubectl: Kubectl) -> None:
    obj = widget("born-ready")
    obj["status"] = {"phase": "Running"}

    kubectl.apply(obj)

    assert "status" not in kubectl.json("get", "widget", "born-ready")


def test_a_spec_change_through_the_status_subresource_is_ignored(kubectl: Kubectl) -> None:
    out = kubectl.ok("patch", "widget", "x", "--subresource=status", "--type=merge",
                     "-p", '{"spec":{"mode":"proxy"}}')

    obj = _get(kubectl)
    assert out == "widget.example.com/x patched (no change)\n"
    assert obj["spec"]["mode"] == "tunnel"
    assert obj["metadata"]["generation"] == 1


def test_an_invalid_status_is_rejected_by_the_schema(kubectl: Kubectl) -> None:
    result = kubectl("patch", "widget", "x", "--subresource=status", "--type=merge",
                     "-p", '{"status":{"replicas":"many"}}')

    assert result.code == 1
    assert result.err == ('The Widget "x" is invalid: status.replicas: Invalid value: "string": '
                          'status.replicas in body must be of type integer: "string"\n')


def test_kubectl_get_status_subresource_returns_the_whole_widget(kubectl: Kubectl) -> None:
    _patch_status(kubectl, {"phase": "Running"})

    obj = json.loads(kubectl.ok("get", "--raw", "/apis/example.com/v1/namespaces/default/widgets/x/status"))

    assert obj["kind"] == "Widget"
    assert obj["spec"]["mode"] == "tunnel"
    assert obj["status"] == {"phase": "Running"}


# --- scale --------------------------------------------------------------------------------------------------


def test_kubectl_scale_sets_spec_replicas_through_the_scale_subresource(kubectl: Kubectl, envtest: EnvTest) -> None:
    out = kubectl.ok("scale", "widget", "x", "--replicas=3")

    obj = _get(kubectl)
    assert out == "widget.example.com/x scaled\n"
    assert obj["spec"]["replicas"] == 3
    assert obj["metadata"]["generation"] == 2
    writes = [e for e in envtest.audit.events(resource="widgets", writes_only=True) if e.subresource == "scale"]
    assert [(e.verb, e.name, e.code) for e in writes] == [("patch", "x", 200)]


def test_get_raw_of_the_scale_endpoint_returns_an_autoscaling_v1_scale(kubectl: Kubectl) -> None:
    kubectl.ok("scale", "widget", "x", "--replicas=3")
    _patch_status(kubectl, {"replicas": 2, "selector": "app=x"})
    obj = _get(kubectl)

    scale = json.loads(kubectl.ok("get", "--raw", SCALE_PATH))

    assert scale["kind"] == "Scale"
    assert scale["apiVersion"] == "autoscaling/v1"
    meta = scale["metadata"]
    assert (meta["name"], meta["namespace"], meta["uid"]) == ("x", "default", obj["metadata"]["uid"])
    assert meta["resourceVersion"] == obj["metadata"]["resourceVersion"]
    assert meta["creationTimestamp"] == obj["metadata"]["creationTimestamp"]
    assert scale["spec"] == {"replicas": 3}
    assert scale["status"] == {"replicas": 2, "selector": "app=x"}


def test_the_scale_of_a_widget_without_status_reports_zero_replicas_and_omits_the_selector(kubectl: Kubectl) -> None:
    scale = json.loads(kubectl.ok("get", "--raw", SCALE_PATH))

    assert scale["spec"] == {"replicas": 1}
    assert scale["status"] == {"replicas": 0}


def test_a_widget_scaled_to_zero_has_a_scale_without_spec_replicas(kubectl: Kubectl) -> None:
    kubectl.ok("scale", "widget", "x", "--replicas=0")

    scale = json.loads(kubectl.ok("get", "--raw", SCALE_PATH))

    assert _get(kubectl)["spec"]["replicas"] == 0
    assert scale["spec"] == {}


def test_kubectl_scale_with_a_wrong_current_replicas_precondition_changes_nothing(kubectl: Kubectl) -> None:
    result = kubectl("scale", "widget", "x", "--current-replicas=5", "--replicas=3")

    assert result.code == 1
    assert "Expected replicas to be 5, was 1" in result.err
    assert _get(kubectl)["spec"]["replicas"] == 1
