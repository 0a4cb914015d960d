"""The simulated MachineDeployment and MachineSet controllers: template cloning, scaling, missing templates."""

from __future__ import annotations

from typing import Any

from k0smotron_core.envtest.capi import CAPIEnvironment
from k0smotron_core.runtime import Client

from ._support import BOOTSTRAP, CAPI, INFRA, cluster, eventually, fake, ref

DELETE_MACHINE = "cluster.x-k8s.io/delete-machine"


def _templates() -> list[dict[str, Any]]:
    config_template = {"apiVersion": BOOTSTRAP, "kind": "K0sWorkerConfigTemplate",
                       "metadata": {"name": "workers", "namespace": "default"},
                       "spec": {"template": {"metadata": {"labels": {"pool": "a"}},
                                             "spec": {"version": "v1.31.1+k0s.0"}}}}
    machine_template = fake("FakeMachineTemplate", "workers", {"template": {"spec": {"size": "small"}}})
    return [config_template, machine_template]


def _deployment(replicas: int) -> dict[str, Any]:
    return {"apiVersion": CAPI, "kind": "MachineDeployment", "metadata": {"name": "md", "namespace": "default"},
            "spec": {"clusterName": "c1", "replicas": replicas,
                     "selector": {"matchLabels": {"cluster.x-k8s.io/deployment-name": "md"}},
                     "template": {"metadata": {"labels": {"cluster.x-k8s.io/deployment-name": "md"}},
                                  "spec": {"clusterName": "c1", "version": "v1.31.1",
                                           "bootstrap": {"configRef": ref(BOOTSTRAP, "K0sWorkerConfigTemplate",
                                                                          "workers")},
                                           "infrastructureRef": ref(INFRA, "FakeMachineTemplate", "workers")}}}}


def _machines(capi: CAPIEnvironment) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in capi.env.store.objects(("cluster.x-k8s.io", "machines"), "default")
            if "deletionTimestamp" not in m["metadata"]}


async def test_machine_deployment_creates_machines_with_cloned_configs_and_scales_up_and_down(
    capi: CAPIEnvironment, kube: Client
) -> None:
    await kube.create(cluster("c1"))
    for template in _templates():
        await kube.create(template)
    await kube.create(_deployment(2))

    await eventually(lambda: len(_machines(capi)) == 2, what="2 machines")
    machine_sets = [s for s in capi.env.store.objects(("cluster.x-k8s.io", "machinesets"), "default")]
    assert len(machine_sets) == 1 and machine_sets[0]["metadata"]["name"].startswith("md-")
    set_name = machine_sets[0]["metadata"]["name"]
    for name, machine in _machines(capi).items():
        assert name.startswith(f"{set_name}-") and len(name) == len(set_name) + 6
        assert machine["metadata"]["labels"]["cluster.x-k8s.io/set-name"] == set_name
        assert machine["metadata"]["labels"]["cluster.x-k8s.io/deployment-name"] == "md"
        config_ref = machine["spec"]["bootstrap"]["configRef"]
        assert (config_ref["kind"], config_ref["name"]) == ("K0sWorkerConfig", name)
        assert machine["spec"]["infrastructureRef"]["kind"] == "FakeMachine"
        config = capi.env.get(BOOTSTRAP, "K0sWorkerConfig", name, "default")  # cloned before the Machine exists
        assert config is not None
        annotations = config["metadata"]["annotations"]
        assert annotations["cluster.x-k8s.io/cloned-from-name"] == "workers"
        assert annotations["cluster.x-k8s.io/cloned-from-groupkind"] == \
            "K0sWorkerConfigTemplate.bootstrap.cluster.x-k8s.io"
        assert config["metadata"]["labels"]["pool"] == "a"
        assert config["spec"]["version"] == "v1.31.1+k0s.0"
        infra = capi.env.get(INFRA, "FakeMachine", name, "default")
        assert infra is not None and infra["spec"] == {"size": "small"}

    def status(field: str) -> Any:
        md = capi.env.get(CAPI, "MachineDeployment", "md", "default") or {}
        return (md.get("status") or {}).get(field)

    await eventually(lambda: status("replicas") == 2 and status("phase") == "Running", what="MD status")

    await kube.patch(CAPI, "MachineDeployment", "md", "default", {"spec": {"replicas": 5}})
    await eventually(lambda: len(_machines(capi)) == 5, what="5 machines")
    await eventually(lambda: status("replicas") == 5)

    marked = sorted(_machines(capi))[0]
    await kube.patch(CAPI, "Machine", marked, "default", {"metadata": {"annotations": {DELETE_MACHINE: "yes"}}})
    await kube.patch(CAPI, "MachineDeployment", "md", "default", {"spec": {"replicas": 4}})
    await eventually(lambda: len(_machines(capi)) == 4, what="4 machines")
    assert marked not in _machines(capi)

    await kube.patch(CAPI, "MachineDeployment", "md", "default", {"spec": {"replicas": 1}})
    await eventually(lambda: len(_machines(capi)) == 1, what="1 machine")
    await eventually(lambda: status("replicas") == 1, what="MD status 1")
    # Deleted Machines take their clones with them.
    survivor = next(iter(_machines(capi)))
    configs = await eventually(
        lambda: (c := capi.env.store.objects(("bootstrap.cluster.x-k8s.io", "k0sworkerconfigs"), "default"))
        and len(c) == 1 and c, what="clones removed")
    assert configs[0]["metadata"]["name"] == survivor


async def test_machine_set_with_a_template_kind_not_installed_reports_it_and_recovers_once_installed(
    capi: CAPIEnvironment, kube: Client
) -> None:
    await kube.create(cluster("c1"))
    machine_set = {"apiVersion": CAPI, "kind": "MachineSet", "metadata": {"name": "ms", "namespace": "default"},
                   "spec": {"clusterName": "c1", "replicas": 1,
                            "selector": {"matchLabels": {"pool": "b"}},
                            "template": {"metadata": {"labels": {"pool": "b"}},
                                         "spec": {"clusterName": "c1", "bootstrap": {"dataSecretName": "static"},
                                                  "infrastructureRef": ref("infrastructure.cluster.x-k8s.io/v1alpha1",
                                                                           "OtherMachineTemplate", "t")}}}}
    await kube.create(machine_set)

    def machines_created() -> str | None:
        obj = capi.env.get(CAPI, "MachineSet", "ms", "default") or {}
        found = [c for c in (obj.get("status") or {}).get("conditions") or () if c["type"] == "MachinesCreated"]
        return found[0]["status"] if found else None

    await eventually(lambda: machines_created() == "False", what="MachinesCreated False")
    obj = capi.env.get(CAPI, "MachineSet", "ms", "default")
    assert obj is not None
    created = next(c for c in obj["status"]["conditions"] if c["type"] == "MachinesCreated")
    assert created["reason"] == "TemplateCloningFailed" and "OtherMachineTemplate" in created["message"]
    assert not _machines(capi)

    # The controller still runs: pointed at an installed kind, the MachineSet creates its Machine.
    await kube.create(fake("FakeMachineTemplate", "t", {"template": {"spec": {}}}))
    await kube.patch(CAPI, "MachineSet", "ms", "default", {"spec": {"template": {"spec": {
        "infrastructureRef": ref(INFRA, "FakeMachineTemplate", "t")}}}})
    await eventually(lambda: len(_machines(capi)) == 1, what="machine created")
    await eventually(lambda: machines_created() == "True", what="MachinesCreated True")
