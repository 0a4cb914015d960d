"""Readiness, blockers and display of k0smotron-dev up's progress, from fake objects."""

from __future__ import annotations

import io
from typing import Any

from k0smotron_core.dev._progress import ClusterObjects, Display, Snapshot, assess, table

CP = "controlplane.cluster.x-k8s.io/v1beta1"


def cond(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def cluster(**status: Any) -> dict[str, Any]:
    return {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
            "metadata": {"name": "remote-test", "namespace": "default"},
            "spec": {"controlPlaneRef": {"apiVersion": CP, "kind": "K0smotronControlPlane", "name": "remote-test"}},
            "status": status}


def control_plane(**status: Any) -> dict[str, Any]:
    return {"apiVersion": CP, "kind": "K0smotronControlPlane",
            "metadata": {"name": "remote-test", "namespace": "default"},
            "spec": {"version": "v1.27.2-k0s.0", "replicas": 1}, "status": status}


def machine(**status: Any) -> dict[str, Any]:
    return {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
            "metadata": {"name": "remote-test-0", "namespace": "default"},
            "spec": {"clusterName": "remote-test"}, "status": status}


def node(ready: str) -> dict[str, Any]:
    return {"metadata": {"name": "remote-test-0"},
            "status": {"conditions": [cond("Ready", ready, "KubeletReady" if ready == "True" else "KubeletNotReady",
                                           "" if ready == "True" else "container runtime is down")],
                       "nodeInfo": {"kubeletVersion": "v1.27.2+k0s"}}}


def ready_objects() -> ClusterObjects:
    return ClusterObjects(
        "default", "remote-test",
        cluster(phase="Provisioned", infrastructureReady=True, controlPlaneReady=True,
                conditions=[cond("Ready", "True")]),
        control_plane(ready=True, initialized=True, replicas=1, readyReplicas=1, version="v1.27.2+k0s.0",
                      conditions=[cond("Available", "True")]),
        [machine(phase="Running", nodeRef={"name": "remote-test-0"}, infrastructureReady=True, bootstrapReady=True)],
        {}, [node("True")])


def test_everything_ready_is_ready() -> None:
    snapshot = assess([ready_objects()])
    assert snapshot.ready
    assert snapshot.blockers == []
    assert [r.object for r in snapshot.rows] == [
        "Cluster default/remote-test", "K0smotronControlPlane default/remote-test", "Machine default/remote-test-0",
        "Node remote-test/remote-test-0"]


def test_an_unavailable_control_plane_blocks_with_its_condition() -> None:
    objs = ready_objects()
    objs.control_plane = control_plane(ready=False, initialized=False, conditions=[
        cond("Ready", "False", "NotReady"),
        cond("Available", "False", "WaitingForExternalAddress", "Waiting for the control plane Service")])
    snapshot = assess([objs])
    assert not snapshot.ready
    [blocker] = snapshot.blockers
    assert (blocker.object, blocker.type, blocker.reason, blocker.message) == (
        "K0smotronControlPlane default/remote-test", "Available", "WaitingForExternalAddress",
        "Waiting for the control plane Service")


def test_a_machine_waiting_for_its_host_shows_the_remote_machines_condition() -> None:
    objs = ready_objects()
    objs.machines = [machine(phase="Provisioning", bootstrapReady=True, conditions=[
        cond("InfrastructureReady", "False", "BootstrapExecFailed", "")])]
    objs.infrastructure = {"remote-test-0": {
        "kind": "RemoteMachine", "metadata": {"name": "remote-test-0", "namespace": "default"},
        "status": {"conditions": [cond("Ready", "False", "HostUnreachable"),
                                  cond("BootstrapExecSucceeded", "False", "HostUnreachable", "connection refused")]}}}
    objs.nodes = []
    [blocker] = assess([objs]).blockers
    assert str(blocker) == "RemoteMachine default/remote-test-0: BootstrapExecSucceeded HostUnreachable: " \
                           "connection refused"


def test_nodes_not_ready_or_unreadable_block() -> None:
    objs = ready_objects()
    objs.nodes = [node("False")]
    [blocker] = assess([objs]).blockers
    assert (blocker.type, blocker.reason, blocker.message) == ("Ready", "KubeletNotReady", "container runtime is down")
    objs.nodes = None
    snapshot = assess([objs])
    assert not snapshot.ready
    assert snapshot.rows[-1].object == "Nodes of remote-test"


def test_a_cluster_not_reconciled_yet_says_so() -> None:
    objs = ClusterObjects("default", "remote-test", cluster(), None, [], {}, None)
    blockers = assess([objs]).blockers
    assert [(b.object, b.reason) for b in blockers][:2] == [
        ("Cluster default/remote-test", "NotReconciled"), ("K0smotronControlPlane default/remote-test", "NotFound")]


def test_table_aligns_and_fits() -> None:
    lines = table(assess([ready_objects()]))
    assert lines[0].split() == ["OBJECT", "STATE", "WAITING", "FOR"]
    assert all(line.endswith("Ready") for line in lines[1:])
    assert lines[1].index("phase=") == lines[2].index("ready=")
    assert all(len(line) <= 40 for line in table(assess([ready_objects()]), width=40))


def test_a_terminal_gets_the_table_redrawn_in_place() -> None:
    out = io.StringIO()
    display = Display(out, tty=True)
    snapshot = assess([ready_objects()])
    display.show(snapshot, header="h")
    display.show(snapshot, header="h")
    first, second = out.getvalue().split("\x1b[6F\x1b[J")
    assert first == second
    assert first.count("\n") == 6  # header, column titles, 4 rows


def test_a_pipe_gets_a_line_per_change() -> None:
    out = io.StringIO()
    display = Display(out, tty=False)
    objs = ready_objects()
    objs.nodes = [node("False")]
    display.show(assess([objs]))
    assert len(out.getvalue().splitlines()) == 4
    display.show(assess([objs]))
    assert len(out.getvalue().splitlines()) == 4
    objs.nodes = [node("True")]
    display.show(assess([objs]))
    last = out.getvalue().splitlines()[-1]
    assert "Node remote-test/remote-test-0: Ready=True version=v1.27.2+k0s  [Ready]" in last
    assert not Snapshot([]).ready
