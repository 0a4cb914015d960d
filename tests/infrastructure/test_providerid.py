"""Which workload Node belongs to a RemoteMachine-backed Machine (the ProviderID controller's matching)."""

from __future__ import annotations

from typing import Any

from providers.infrastructure.providerid import _matching_node, _remote_machine_backed


def machine(name: str = "m-0", addresses: tuple[str, ...] = (), kind: str = "RemoteMachine") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"infrastructureRef": {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": kind, "name": name}},
        "status": {"addresses": [{"type": "ExternalIP", "address": a} for a in addresses]}}


def node(name: str, labels: dict[str, str] | None = None, addresses: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}},
            "status": {"addresses": [{"type": "InternalIP", "address": a} for a in addresses]}}


def name_of(found: dict[str, Any] | None) -> str:
    assert found is not None
    return str(found["metadata"]["name"])


class TestMatchingANode:
    def test_by_the_machine_name(self) -> None:
        assert name_of(_matching_node(machine("m-0"), [node("other"), node("m-0")])) == "m-0"

    def test_by_the_machine_name_label_when_the_node_has_the_system_hostname(self) -> None:
        nodes = [node("host-a"), node("host-b", {"k0smotron.io/machine-name": "m-0"})]
        assert name_of(_matching_node(machine("m-0"), nodes)) == "host-b"

    def test_by_an_address_of_the_machine(self) -> None:
        nodes = [node("host-a", addresses=("198.18.0.7",)), node("host-b", addresses=("198.18.0.9",))]
        assert name_of(_matching_node(machine("m-0", ("198.18.0.9",)), nodes)) == "host-b"

    def test_never_by_a_loopback_address(self) -> None:
        assert _matching_node(machine("m-0", ("127.0.0.1",)), [node("host-a", addresses=("127.0.0.1",))]) is None


class TestWhichMachines:
    def test_only_machines_on_remote_machines_are_handled(self) -> None:
        assert _remote_machine_backed(machine())
        assert not _remote_machine_backed(machine(kind="AWSMachine"))
