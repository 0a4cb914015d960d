"""kubectl against envtest: `kubectl delete` with finalizers, cascading deletion of owned objects (background,
orphan, foreground) and deletion of namespaces with their contents."""

from __future__ import annotations

import json
from typing import Any

from ._kube import Kubectl, Result, conditions_of, configmap, eventually, widget

HOLD = "example.com/hold"


def _get(kubectl: Kubectl, *what: str) -> Result:
    return kubectl("get", *what, "-o", "json")


def _obj(kubectl: Kubectl, *what: str) -> dict[str, Any] | None:
    result = _get(kubectl, *what)
    return json.loads(result.out) if result.code == 0 else None


def _gone(kubectl: Kubectl, *what: str) -> bool:
    return _get(kubectl, *what).code != 0


def _owner_with_dependent(kubectl: Kubectl, *, block: bool | None = None,
                          finalizers: list[str] | None = None) -> dict[str, Any]:
    kubectl.apply(widget("owner"))
    owner: dict[str, Any] = kubectl.json("get", "widget", "owner")
    kubectl.ok("create", "-f", "-", stdin=json.dumps(configmap("dependent", owner=owner, block_owner_deletion=block,
                                                                 finalizers=finalizers)))
    return owner


def _drop_finalizers(kubectl: Kubectl, *what: str) -> None:
    kubectl.ok("patch", *what, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')


# --- finalizers ---------------------------------------------------------------------------------------------


def test_deleting_a_widget_with_a_finalizer_leaves_it_terminating(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", finalizers=[HOLD]))

    result = kubectl("delete", "widget", "x", "--wait=false")

    assert result.code == 0, result.err
    assert result.out.startswith('widget.example.com "x" deleted')
    meta = kubectl.json("get", "widget", "x")["metadata"]
    assert meta["deletionTimestamp"]
    assert meta["finalizers"] == [HOLD]
    assert meta["deletionGracePeriodSeconds"] == 0


def test_removing_the_last_finalizer_of_a_terminating_widget_deletes_it(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", finalizers=[HOLD]))
    kubectl.ok("delete", "widget", "x", "--wait=false")

    kubectl.ok("patch", "widget", "x", "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')

    result = kubectl("get", "widget", "x")
    assert result.code == 1
    assert result.err == 'Error from server (NotFound): widgets.example.com "x" not found\n'


def test_kubectl_delete_waits_for_the_finalizer_and_returns_once_the_widget_is_gone(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", finalizers=[HOLD]))
    proc = kubectl.popen("delete", "widget", "x", "--timeout=20s")
    try:
        eventually(lambda: (_obj(kubectl, "widget", "x") or {}).get("metadata", {}).get("deletionTimestamp"))
        assert proc.poll() is None
        _drop_finalizers(kubectl, "widget", "x")
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_new_finalizer_cannot_be_added_to_a_terminating_widget(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x", finalizers=[HOLD]))
    kubectl.ok("delete", "widget", "x", "--wait=false")

    result = kubectl("patch", "widget", "x", "--type=json",
                     "-p", '[{"op":"add","path":"/metadata/finalizers/-","value":"example.com/another"}]')

    assert result.code == 1
    assert result.err == (
        'The Widget "x" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is '
        'being deleted, found new finalizers []string{"example.com/another"}\n')


def test_deleting_a_missing_widget_fails_with_not_found(kubectl: Kubectl) -> None:
    result = kubectl("delete", "widget", "missing")

    assert result.code == 1
    assert result.err == 'Error from server (NotFound): widgets.example.com "missing" not found\n'


def test_deleting_a_missing_widget_with_ignore_not_found_succeeds_silently(kubectl: Kubectl) -> None:
    assert kubectl("delete", "widget", "missing", "--ignore-not-found") == (0, "", "")


# --- cascading deletion -------------------------------------------------------------------------------------


def test_delete_with_the_default_background_cascade_garbage_collects_the_owned_configmap(kubectl: Kubectl) -> None:
    _owner_with_dependent(kubectl)

    kubectl.ok("delete", "widget", "owner")

    eventually(lambda: _gone(kubectl, "configmap", "dependent"), what="the dependent is collected")
    assert _gone(kubectl, "widget", "owner")


def test_delete_with_cascade_orphan_keeps_the_configmap_and_removes_its_owner_reference(kubectl: Kubectl) -> None:
    _owner_with_dependent(kubectl)

    kubectl.ok("delete", "widget", "owner", "--cascade=orphan")

    eventually(lambda: _gone(kubectl, "widget", "owner"), what="the owner is deleted")
    dependent = kubectl.json("get", "configmap", "dependent")
    assert "ownerReferences" not in dependent["metadata"]


def test_an_orphaning_delete_leaves_the_owner_terminating_with_the_orphan_finalizer_until_done(
    kubectl: Kubectl,
) -> None:
    _owner_with_dependent(kubectl)
    kubectl.ok("patch", "widget", "owner", "--type=merge", "-p", json.dumps({"metadata": {"finalizers": [HOLD]}}))

    kubectl.ok("delete", "widget", "owner", "--cascade=orphan", "--wait=false")

    def orphaned() -> dict[str, Any] | None:
        meta: dict[str, Any] = kubectl.json("get", "widget", "owner")["metadata"]
        return meta if "orphan" not in meta.get("finalizers", []) else None

    owner = eventually(orphaned, what="the garbage collector is done with the orphan finalizer")
    assert owner["finalizers"] == [HOLD]
    assert owner["deletionTimestamp"]
    assert "ownerReferences" not in kubectl.json("get", "configmap", "dependent")["metadata"]


def test_delete_with_cascade_foreground_deletes_the_blocking_dependent_before_the_owner(kubectl: Kubectl) -> None:
    _owner_with_dependent(kubectl, block=True, finalizers=[HOLD])

    kubectl.ok("delete", "widget", "owner", "--cascade=foreground", "--wait=false")

    def dependent_terminating() -> dict[str, Any] | None:
        obj = _obj(kubectl, "configmap", "dependent")
        return obj if obj and obj["metadata"].get("deletionTimestamp") else None

    dependent = eventually(dependent_terminating, what="the garbage collector deletes the dependent")
    assert dependent["metadata"]["finalizers"] == [HOLD]
    owner = kubectl.json("get", "widget", "owner")["metadata"]
    assert owner["deletionTimestamp"]
    assert owner["finalizers"] == ["foregroundDeletion"]

    _drop_finalizers(kubectl, "configmap", "dependent")

    eventually(lambda: _gone(kubectl, "widget", "owner"), what="the owner is deleted after its dependent")
    assert _gone(kubectl, "configmap", "dependent")


def test_kubectl_delete_with_cascade_foreground_waits_for_the_dependents(kubectl: Kubectl) -> None:
    _owner_with_dependent(kubectl, block=True)

    result = kubectl("delete", "widget", "owner", "--cascade=foreground", "--timeout=20s")

    assert result.code == 0, result.err
    assert _gone(kubectl, "widget", "owner")
    assert _gone(kubectl, "configmap", "dependent")


# --- namespaces ---------------------------------------------------------------------------------------------


def _namespace(kubectl: Kubectl, name: str) -> None:
    out = kubectl.ok("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": name}}))
    assert out == f"namespace/{name} created\n"


def test_deleting_a_namespace_deletes_everything_in_it(kubectl: Kubectl) -> None:
    _namespace(kubectl, "scratch")
    kubectl.apply(widget("w", namespace="scratch"))
    kubectl.ok("apply", "-f", "-", stdin=json.dumps(configmap("c", namespace="scratch")))

    result = kubectl("delete", "namespace", "scratch", "--timeout=20s")

    assert result.code == 0, result.err
    assert result.out.startswith('namespace "scratch" deleted')
    gone = kubectl("get", "namespace", "scratch")
    assert gone.err == 'Error from server (NotFound): namespaces "scratch" not found\n'
    assert kubectl.ok("get", "widgets", "--all-namespaces", "-o", "name") == ""
    assert "configmap/c\n" not in kubectl.ok("get", "configmaps", "--all-namespaces", "-o", "name")


def test_a_namespace_created_with_apply_is_active_with_the_kubernetes_finalizer(kubectl: Kubectl) -> None:
    _namespace(kubectl, "scratch")

    ns = kubectl.json("get", "namespace", "scratch")

    assert ns["status"] == {"phase": "Active"}
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "scratch"}


def test_a_terminating_namespace_refuses_new_content(kubectl: Kubectl) -> None:
    _namespace(kubectl, "scratch")
    kubectl.apply(widget("held", namespace="scratch", finalizers=[HOLD]))

    kubectl.ok("delete", "namespace", "scratch", "--wait=false")

    eventually(lambda: kubectl.json("get", "namespace", "scratch")["status"]["phase"] == "Terminating")
    result = kubectl("create", "-f", "-", stdin=json.dumps(configmap("late", namespace="scratch")))
    assert result.code == 1
    assert result.err == ('Error from server (Forbidden): error when creating "STDIN": configmaps "late" is forbidden: '
                          'unable to create new content in namespace scratch because it is being terminated\n')


def test_a_terminating_namespace_reports_the_content_and_finalizers_that_remain(kubectl: Kubectl) -> None:
    _namespace(kubectl, "scratch")
    kubectl.apply(widget("held", namespace="scratch", finalizers=[HOLD]))

    kubectl.ok("delete", "namespace", "scratch", "--wait=false")

    def reported() -> dict[str, dict[str, Any]] | None:
        conditions = conditions_of(kubectl.json("get", "namespace", "scratch"))
        return conditions if "NamespaceFinalizersRemaining" in conditions else None

    conditions = eventually(reported, timeout=5, what="the namespace reports what remains")
    assert conditions["NamespaceContentRemaining"]["status"] == "True"
    assert conditions["NamespaceContentRemaining"]["reason"] == "SomeResourcesRemain"
    assert conditions["NamespaceContentRemaining"]["message"] == (
        "Some resources are remaining: widgets.example.com has 1 resource instances")
    assert conditions["NamespaceFinalizersRemaining"]["status"] == "True"
    assert conditions["NamespaceFinalizersRemaining"]["reason"] == "SomeFinalizersRemain"
    assert conditions["NamespaceFinalizersRemaining"]["message"] == (
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")


def test_a_terminating_namespace_goes_away_once_its_last_finalizer_is_removed(kubectl: Kubectl) -> None:
    _namespace(kubectl, "scratch")
    kubectl.apply(widget("held", namespace="scratch", finalizers=[HOLD]))
    kubectl.ok("delete", "namespace", "scratch", "--wait=false")
    eventually(lambda: kubectl.json("get", "widget", "held", "-n", "scratch")["metadata"].get("deletionTimestamp"))

    _drop_finalizers(kubectl, "widget", "held", "-n", "scratch")

    eventually(lambda: _gone(kubectl, "namespace", "scratch"), what="the namespace is deleted")
