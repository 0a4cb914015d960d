"""kubectl against envtest: installing CustomResourceDefinitions, their names and discovery, `kubectl explain`,
and deleting a CRD, compared with what a real kube-apiserver (and its apiextensions controllers) answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from k0smotron_core.envtest import EnvTest

from ._kube import (
    WIDGETS_CRD,
    Kubectl,
    conditions_of,
    eventually,
    install_widgets_with_kubectl,
    widget,
)


@pytest.fixture
def kubectl(envtest: EnvTest, envtest_kubeconfig: Path, tmp_path: Path) -> Kubectl:
    return Kubectl(envtest_kubeconfig, tmp_path / "kube-cache")


def _crd(plural: str, kind: str, *, group: str = "example.com", short_names: tuple[str, ...] = (),
         list_kind: str | None = None) -> dict[str, Any]:
    names: dict[str, Any] = {"plural": plural, "singular": plural.rstrip("s"), "kind": kind,
                             "listKind": list_kind or f"{kind}List"}
    if short_names:
        names["shortNames"] = list(short_names)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": names,
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": {"type": "object",
                                                         "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }


def _settled_crd(kubectl: Kubectl, name: str, condition: str = "NamesAccepted") -> dict[str, Any]:
    """The CRD once the naming controller has reported on it."""

    def reported() -> dict[str, Any] | None:
        crd: dict[str, Any] = kubectl.json("get", "crd", name)
        status = conditions_of(crd).get(condition, {}).get("status")
        return crd if status in ("True", "False") else None

    result: dict[str, Any] = eventually(reported, what=f"{name} has a {condition} condition")
    return result


# --- installing the CRD -------------------------------------------------------------------------------------


def test_kubectl_apply_of_the_widget_crd_prints_created(kubectl: Kubectl) -> None:
    result = kubectl("apply", "-f", str(WIDGETS_CRD))

    assert result.code == 0, result.err
    assert result.out == "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created\n"


def test_the_applied_widget_crd_becomes_established_with_its_names_accepted(kubectl: Kubectl) -> None:
    kubectl.ok("apply", "-f", str(WIDGETS_CRD))

    waited = kubectl("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=10s")

    assert waited.code == 0, waited.err
    assert waited.out == "customresourcedefinition.apiextensions.k8s.io/widgets.example.com condition met\n"
    conditions = conditions_of(kubectl.json("get", "crd", "widgets.example.com"))
    assert {k: v for k, v in conditions["NamesAccepted"].items() if k != "lastTransitionTime"} == {
        "type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"}
    assert {k: v for k, v in conditions["Established"].items() if k != "lastTransitionTime"} == {
        "type": "Established", "status": "True", "reason": "InitialNamesAccepted",
        "message": "the initial names have been accepted"}


def test_the_established_widget_crd_reports_its_accepted_names_and_stored_versions(kubectl: Kubectl) -> None:
    install_widgets_with_kubectl(kubectl)

    status = kubectl.json("get", "crd", "widgets.example.com")["status"]

    assert status["acceptedNames"] == {"plural": "widgets", "singular": "widget", "shortNames": ["wdg"],
                                       "kind": "Widget", "listKind": "WidgetList", "categories": ["all", "gadgets"]}
    assert status["storedVersions"] == ["v1"]


def test_the_server_defaults_the_crd_conversion_strategy_to_none(kubectl: Kubectl) -> None:
    install_widgets_with_kubectl(kubectl)

    assert kubectl.json("get", "crd", "widgets.example.com")["spec"]["conversion"] == {"strategy": "None"}


def test_kubectl_api_resources_lists_widgets_with_short_name_api_version_scope_and_kind(kubectl: Kubectl) -> None:
    install_widgets_with_kubectl(kubectl)

    header, *rows = kubectl.ok("api-resources", "--api-group=example.com").splitlines()

    assert header.split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert [row.split() for row in rows] == [["widgets", "wdg", "example.com/v1", "true", "Widget"]]


def test_kubectl_api_resources_wide_shows_the_widget_verbs_and_categories(kubectl: Kubectl) -> None:
    install_widgets_with_kubectl(kubectl)

    rows = kubectl.ok("api-resources", "--api-group=example.com", "-o", "wide").splitlines()[1:]

    assert [row.split()[-2:] for row in rows] == [
        ["create,delete,deletecollection,get,list,patch,update,watch", "all,gadgets"]]


def test_discovery_lists_the_status_and_scale_subresources_of_widgets(kubectl: Kubectl) -> None:
    install_widgets_with_kubectl(kubectl)

    resources = {r["name"]: r for r in json.loads(kubectl.ok("get", "--raw", "/apis/example.com/v1"))["resources"]}

    assert sorted(resources) == ["widgets", "widgets/scale", "widgets/status"]
    assert resources["widgets/scale"]["group"] == "autoscaling"
    assert resources["widgets/scale"]["version"] == "v1"
    assert resources["widgets/scale"]["kind"] == "Scale"
    assert sorted(resources["widgets/status"]["verbs"]) == ["get", "patch", "update"]


# --- names in conflict --------------------------------------------------------------------------------------


def test_a_second_crd_claiming_the_widget_kind_in_the_same_group_gets_a_kind_conflict(kubectl: Kubectl) -> None:
    install_widgets_with_kubectl(kubectl)

    kubectl.ok("apply", "-f", "-", stdin=json.dumps(_crd("gizmos", "Widget", list_kind="GizmoList")))

    conditions = conditions_of(_settled_crd(kubectl, "gizmos.example.com"))
    assert conditions["NamesAccepted"]["status"] == "False"
    assert conditions["NamesAccepted"]["reason"] == "KindConflict"
    assert conditions["NamesAccepted"]["message"] == '"Widget" is already in use'
    assert conditions["Established"]["status"] == "False"
    assert conditions["Established"]["reason"] == "NotAccepted"
    assert conditions["Established"]["message"] == "not all names are accepted"


def test_a_second_crd_claiming_the_wdg_short_name_gets_a_short_names_conflict(kubectl: Kubectl) -> None:
    install_widgets_with_kubectl(kubectl)

    kubectl.ok("apply", "-f", "-", stdin=json.dumps(_crd("sprockets", "Sprocket", short_names=("wdg",))))

    conditions = conditions_of(_settled_crd(kubectl, "sprockets.example.com"))
    assert conditions["NamesAccepted"]["status"] == "False"
    assert conditions["NamesAccepted"]["reason"] == "ShortNamesConflict"
    assert conditions["NamesAccepted"]["message"] == '"wdg" is already in use'
    assert conditions["Established"]["status"] == "False"


def test_a_crd_whose_names_are_not_accepted_is_not_served(kubectl: Kubectl, tmp_path: Path) -> None:
    install_widgets_with_kubectl(kubectl)
    kubectl.ok("apply", "-f", "-", stdin=json.dumps(_crd("gizmos", "Widget", list_kind="GizmoList")))
    _settled_crd(kubectl, "gizmos.example.com")

    result = kubectl("get", "gizmos", cache_dir=tmp_path / "fresh-cache")

    assert result.code == 1
    assert 'the server doesn\'t have a resource type "gizmos"' in result.err


def test_the_same_kind_in_another_group_is_accepted(kubectl: Kubectl) -> None:
    install_widgets_with_kubectl(kubectl)

    kubectl.ok("apply", "-f", "-", stdin=json.dumps(_crd("widgets", "Widget", group="other.example")))

    conditions = conditions_of(_settled_crd(kubectl, "widgets.other.example", "Established"))
    assert conditions["NamesAccepted"]["status"] == "True"
    assert conditions["Established"]["status"] == "True"


# --- kubectl explain ----------------------------------------------------------------------------------------


def test_kubectl_explain_widget_spec_mode_prints_the_description_and_enum_from_the_schema(kubectl: Kubectl) -> None:
    install_widgets_with_kubectl(kubectl)

    out = kubectl.ok("explain", "widget.spec.mode")

    assert "GROUP:      example.com\n" in out
    assert "KIND:       Widget\n" in out
    assert "VERSION:    v1\n" in out
    assert "FIELD: mode <string>\n" in out
    assert "ENUM:\n    tunnel\n    proxy\n" in out
    assert "DESCRIPTION:\n    Mode selects how the widget is reached.\n" in out


def test_kubectl_explain_widgets_spec_lists_each_field_with_type_description_and_required_marker(
    kubectl: Kubectl,
) -> None:
    install_widgets_with_kubectl(kubectl)

    out = kubectl.ok("explain", "widgets.spec")

    assert "FIELD: spec <Object>\n" in out
    assert "WidgetSpec is the desired state of a Widget." in out
    assert "  mode\t<string> -required-\n  enum: tunnel, proxy\n    Mode selects how the widget is reached.\n" in out
    assert "  replicas\t<integer>\n    Replicas is the number of widget copies.\n" in out
    assert "  port\t<integer>\n    Port the widget listens on.\n" in out
    assert "  config\t<Object>\n    Free-form configuration.\n" in out
    assert "  items\t<[]Object>\n" in out
    assert "  labels\t<map[string]string>\n" in out


def test_kubectl_explain_widget_shows_the_kind_description_and_the_standard_top_level_fields(
    kubectl: Kubectl,
) -> None:
    install_widgets_with_kubectl(kubectl)

    out = kubectl.ok("explain", "widget")

    assert "Widget is a test kind with every validation the conformance suite needs." in out
    assert "  apiVersion\t<string>\n    APIVersion defines the versioned schema of this representation" in out
    assert "  kind\t<string>\n    Kind is a string value representing the REST resource this object" in out
    assert "  metadata\t<ObjectMeta>\n    Standard object's metadata. More info:" in out
    assert "  spec\t<Object>\n" in out
    assert "  status\t<Object>\n" in out


def test_kubectl_explain_of_a_field_the_schema_lacks_fails_saying_it_does_not_exist(kubectl: Kubectl) -> None:
    install_widgets_with_kubectl(kubectl)

    result = kubectl("explain", "widget.spec.nope")

    assert result.code == 1
    assert 'field "nope" does not exist' in result.err


# --- deleting the CRD ---------------------------------------------------------------------------------------


def test_deleting_the_widget_crd_deletes_its_widgets_and_stops_serving_them(kubectl: Kubectl, tmp_path: Path) -> None:
    install_widgets_with_kubectl(kubectl)
    kubectl.apply(widget("doomed"))

    deleted = kubectl("delete", "crd", "widgets.example.com", "--timeout=20s")

    assert deleted.code == 0, deleted.err
    assert deleted.out.startswith('customresourcedefinition.apiextensions.k8s.io "widgets.example.com" deleted')
    gone = kubectl("get", "widgets", cache_dir=tmp_path / "fresh-cache")
    assert gone.code == 1
    assert 'the server doesn\'t have a resource type "widgets"' in gone.err
    install_widgets_with_kubectl(kubectl)
    again = kubectl("get", "widget", "doomed", cache_dir=tmp_path / "fresh-cache-2")
    assert again.code == 1
    assert again.err == 'Error from server (NotFound): widgets.example.com "doomed" not found\n'
