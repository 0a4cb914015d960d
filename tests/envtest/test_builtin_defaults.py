"""Built-in defaulting: envtest hands back built-in objects as kube-apiserver does, with the v1 defaults filled in,
quantities in canonical form, what the default Pod admission plugins add, and the cluster IPs and node ports the
Service REST storage allocates. Every expectation here is what a real (single-stack IPv4) kube-apiserver answers."""

from __future__ import annotations

import copy
import ipaddress
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client

from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest._defaults import BuiltinDefaults, canonical_quantity, image_pull_policy
from k0smotron_core.envtest._errors import StatusError
from k0smotron_core.envtest._registry import Registry, ResourceType
from k0smotron_core.envtest._storage import RequestContext, ResourceStorage
from k0smotron_core.envtest._store import Store

from ._kube import Clients, clients_for

SERVICE_RANGE = ipaddress.IPv4Network("10.96.0.0/12")
NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
               "tolerationSeconds": 300}
PATHS = {
    "Pod": "/api/v1/namespaces/default/pods",
    "Service": "/api/v1/namespaces/default/services",
    "PersistentVolumeClaim": "/api/v1/namespaces/default/persistentvolumeclaims",
    "Deployment": "/apis/apps/v1/namespaces/default/deployments",
    "StatefulSet": "/apis/apps/v1/namespaces/default/statefulsets",
    "DaemonSet": "/apis/apps/v1/namespaces/default/daemonsets",
    "ReplicaSet": "/apis/apps/v1/namespaces/default/replicasets",
    "Job": "/apis/batch/v1/namespaces/default/jobs",
    "CronJob": "/apis/batch/v1/namespaces/default/cronjobs",
}
API_VERSIONS = {"Pod": "v1", "Service": "v1", "PersistentVolumeClaim": "v1", "Job": "batch/v1",
                "CronJob": "batch/v1"}


@pytest.fixture
def kube(envtest: EnvTest, envtest_kubeconfig: Path) -> Iterator[Clients]:
    clients = clients_for(envtest_kubeconfig)
    yield clients
    clients.close()


# --- helpers -------------------------------------------------------------------------------------------------


def raw(kube: Clients, method: str, path: str, body: Any = None,
        content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
    """A request as a controller working with plain JSON sends it: (status code, decoded body)."""
    headers = {"Accept": "application/json", "Content-Type": content_type}
    serialized = kube.api.param_serialize(method, path, header_params=headers, body=body,
                                          auth_settings=["BearerToken"])
    response = kube.api.call_api(*serialized)
    response.read()
    decoded: dict[str, Any] = json.loads(response.data)
    return response.status, decoded


def get(kube: Clients, kind: str, name: str) -> dict[str, Any]:
    code, body = raw(kube, "GET", f"{PATHS[kind]}/{name}")
    assert code == 200, body
    return body


def put(kube: Clients, kind: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return raw(kube, "PUT", f"{PATHS[kind]}/{body['metadata']['name']}", body)


def create(env: EnvTest, kind: str, name: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return env.create({"apiVersion": API_VERSIONS.get(kind, "apps/v1"), "kind": kind,
                       "metadata": {"name": name, **metadata}, "spec": spec})


def failure(env: EnvTest, kind: str, name: str, spec: dict[str, Any]) -> StatusError:
    with pytest.raises(StatusError) as caught:
        create(env, kind, name, spec)
    return caught.value


def container(name: str = "app", image: str = "nginx:1.27", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **fields}


def pod_template(*containers: dict[str, Any], labels: dict[str, str] | None = None,
                 **spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": labels or {"app": "web"}},
            "spec": {"containers": list(containers) or [container()], **spec}}


def workload(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"selector": {"matchLabels": {"app": "web"}}, "template": pod_template(*containers), **spec}


def job_spec(restart_policy: str | None = "Never", **spec: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [container(image="perl:5.34")]}
    if restart_policy is not None:
        pod["restartPolicy"] = restart_policy
    return {"template": {"spec": pod}, **spec}


def service(*ports: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"selector": {"app": "web"}, "ports": list(ports) or [{"port": 80}], **spec}


def cluster_ip_of(env: EnvTest, name: str) -> str:
    svc = env.get("v1", "Service", name, "default")
    assert svc is not None
    ip: str = svc["spec"]["clusterIP"]
    return ip


def node_ports_of(obj: dict[str, Any]) -> list[int]:
    return [port["nodePort"] for port in obj["spec"]["ports"] if "nodePort" in port]


def without_volatile(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"].pop("managedFields", None)
    return out


# --- Pods ----------------------------------------------------------------------------------------------------


def test_a_pod_gets_the_pod_spec_and_container_defaults(envtest: EnvTest) -> None:
    pod = create(envtest, "Pod", "p", {"containers": [container(ports=[{"containerPort": 80}])]})

    spec = pod["spec"]
    assert {k: spec[k] for k in ("restartPolicy", "dnsPolicy", "schedulerName", "terminationGracePeriodSeconds",
                                 "securityContext", "enableServiceLinks")} == {
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
        "terminationGracePeriodSeconds": 30, "securityContext": {}, "enableServiceLinks": True}
    assert spec["containers"] == [{
        "name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File", "resources": {}}]


def test_a_pod_gets_what_the_default_admission_plugins_add(envtest: EnvTest) -> None:
    spec = create(envtest, "Pod", "p", {"containers": [container()]})["spec"]

    assert (spec["serviceAccountName"], spec["serviceAccount"]) == ("default", "default")
    assert (spec["priority"], spec["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert spec["tolerations"] == [NOT_READY, UNREACHABLE]


def test_a_pod_keeps_its_own_tolerations_and_gets_the_missing_default_one_appended(envtest: EnvTest) -> None:
    own = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
           "tolerationSeconds": 5}
    spec = create(envtest, "Pod", "p", {"containers": [container()], "tolerations": [own]})["spec"]

    assert spec["tolerations"] == [own, NOT_READY]


def test_a_pod_tolerating_every_taint_gets_no_default_tolerations(envtest: EnvTest) -> None:
    spec = create(envtest, "Pod", "p", {"containers": [container()], "tolerations": [{"operator": "Exists"}]})["spec"]

    assert spec["tolerations"] == [{"operator": "Exists"}]


def test_a_pod_keeps_the_service_account_it_names(envtest: EnvTest) -> None:
    spec = create(envtest, "Pod", "p", {"containers": [container()], "serviceAccountName": "robot"})["spec"]

    assert (spec["serviceAccountName"], spec["serviceAccount"]) == ("robot", "robot")


def test_a_pod_in_a_system_priority_class_gets_its_priority(envtest: EnvTest) -> None:
    spec = create(envtest, "Pod", "p", {"containers": [container()],
                                        "priorityClassName": "system-cluster-critical"})["spec"]

    assert spec["priority"] == 2000000000


def test_a_pod_naming_a_missing_priority_class_is_forbidden(envtest: EnvTest) -> None:
    error = failure(envtest, "Pod", "p", {"containers": [container()], "priorityClassName": "gold"})

    assert (error.code, error.message) == (403, 'pods "p" is forbidden: no PriorityClass with name gold was found')


def test_a_pod_that_brings_a_priority_of_its_own_is_forbidden(envtest: EnvTest) -> None:
    error = failure(envtest, "Pod", "p", {"containers": [container()], "priority": 7})

    assert error.code == 403
    assert error.message == ('pods "p" is forbidden: the integer value of priority (7) must not be provided in pod '
                             'spec; priority admission controller computed 0 from the given PriorityClass name')


def test_a_new_pod_is_pending_with_the_qos_class_of_its_resources(envtest: EnvTest) -> None:
    pods = iter(range(10))

    def qos(resources: dict[str, Any]) -> str:
        status = create(envtest, "Pod", f"p{next(pods)}", {"containers": [container(resources=resources)]})["status"]
        assert status["phase"] == "Pending"
        result: str = status["qosClass"]
        return result

    assert qos({}) == "BestEffort"
    assert qos({"requests": {"cpu": "100m"}}) == "Burstable"
    assert qos({"limits": {"cpu": "1", "memory": "1Gi"}}) == "Guaranteed"
    assert qos({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}) == "Burstable"


def test_a_pod_with_limits_only_requests_what_it_limits(envtest: EnvTest) -> None:
    resources = {"limits": {"cpu": "0.5", "memory": "128Mi"}, "requests": {"memory": "64Mi"}}
    spec = create(envtest, "Pod", "p", {"containers": [container(resources=resources)]})["spec"]

    assert spec["containers"][0]["resources"] == {"limits": {"cpu": "500m", "memory": "128Mi"},
                                                  "requests": {"cpu": "500m", "memory": "64Mi"}}


def test_a_pod_template_does_not_request_what_it_limits(envtest: EnvTest) -> None:
    limited = container(resources={"limits": {"cpu": "1"}})
    template = create(envtest, "Deployment", "d", workload(limited))["spec"]["template"]["spec"]

    assert template["containers"][0]["resources"] == {"limits": {"cpu": "1"}}


def test_a_pod_on_the_host_network_exposes_its_container_ports_on_the_host(envtest: EnvTest) -> None:
    spec = create(envtest, "Pod", "p", {"hostNetwork": True,
                                        "containers": [container(ports=[{"containerPort": 8080}])]})["spec"]

    assert spec["containers"][0]["ports"] == [{"containerPort": 8080, "protocol": "TCP", "hostPort": 8080}]


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"),
    ("nginx:latest", "Always"),
    ("docker.io/library/nginx", "Always"),
    ("localhost:5000/team/app", "Always"),
    ("nginx:1.27", "IfNotPresent"),
    ("registry.example.com:5000/team/app:v2", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
    ("nginx:latest@sha256:" + "a" * 64, "Always"),
    ("NotAValidName", "IfNotPresent"),
    ("", "IfNotPresent"),
])
def test_the_image_pull_policy_is_always_only_for_latest_or_untagged_images(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_an_image_pull_policy_the_client_chose_is_kept(envtest: EnvTest) -> None:
    spec = create(envtest, "Pod", "p", {"containers": [container(image="nginx", imagePullPolicy="Never")]})["spec"]

    assert spec["containers"][0]["imagePullPolicy"] == "Never"


def test_volumes_get_their_default_modes_and_a_volume_without_source_is_an_empty_dir(envtest: EnvTest) -> None:
    volumes = [
        {"name": "secret", "secret": {"secretName": "s"}},
        {"name": "config", "configMap": {"name": "c", "defaultMode": 256}},
        {"name": "downward", "downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}},
        {"name": "projected", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
        {"name": "scratch"},
        {"name": "empty", "emptyDir": {}},
        {"name": "host", "hostPath": {"path": "/var/log"}},
        {"name": "memory", "emptyDir": {"medium": "Memory", "sizeLimit": "1024Mi"}},
    ]
    spec = create(envtest, "Pod", "p", {"containers": [container()], "volumes": volumes})["spec"]

    assert spec["volumes"] == [
        {"name": "secret", "secret": {"secretName": "s", "defaultMode": 420}},
        {"name": "config", "configMap": {"name": "c", "defaultMode": 256}},
        {"name": "downward", "downwardAPI": {"defaultMode": 420, "items": [
            {"path": "n", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}]}},
        {"name": "projected", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "empty", "emptyDir": {}},
        {"name": "host", "hostPath": {"path": "/var/log", "type": ""}},
        {"name": "memory", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
    ]


def test_probes_and_lifecycle_handlers_get_their_defaults(envtest: EnvTest) -> None:
    probed = container(
        livenessProbe={"httpGet": {"port": 8080}},
        readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 3},
        startupProbe={"grpc": {"port": 9090}},
        lifecycle={"preStop": {"httpGet": {"port": 8080, "path": "/quit"}}},
        env=[{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
    )
    spec = create(envtest, "Pod", "p", {"containers": [probed]})["spec"]["containers"][0]

    timing = {"timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}
    assert spec["livenessProbe"] == {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
                                     "periodSeconds": 10, **timing}
    assert spec["readinessProbe"] == {"tcpSocket": {"port": 8080}, "periodSeconds": 3, **timing}
    assert spec["startupProbe"] == {"grpc": {"port": 9090, "service": ""}, "periodSeconds": 10, **timing}
    assert spec["lifecycle"] == {"preStop": {"httpGet": {"port": 8080, "path": "/quit", "scheme": "HTTP"}}}
    assert spec["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "spec.nodeName", "apiVersion": "v1"}


def test_a_pod_status_with_a_pod_ip_gets_the_matching_pod_ips(kube: Clients) -> None:
    raw(kube, "POST", PATHS["Pod"], {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                     "spec": {"containers": [container()]}})
    live = get(kube, "Pod", "p")
    live["status"].update(phase="Running", podIP="10.244.0.7", hostIP="192.168.1.10")

    code, updated = raw(kube, "PUT", f"{PATHS['Pod']}/p/status", live)

    assert code == 200
    assert updated["status"]["podIPs"] == [{"ip": "10.244.0.7"}]
    assert updated["status"]["hostIPs"] == [{"ip": "192.168.1.10"}]


def test_custom_resources_are_left_alone() -> None:
    rt = ResourceType(group="example.com", version="v1", kind="Deployment", plural="deployments", namespaced=True,
                      custom=True)
    obj = {"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx"}]}}}}
    sent = copy.deepcopy(obj)

    _defaults()(rt, None, obj)

    assert obj == sent


# --- quantities ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("given_value", "served"), [
    ("0.5", "500m"),
    ("1000m", "1"),
    ("1500m", "1500m"),
    ("1.5", "1500m"),
    ("1000", "1k"),
    ("2000000", "2M"),
    ("1e3", "1e3"),
    ("1.5e3", "1500"),
    ("1.5Gi", "1536Mi"),
    ("2048Ki", "2Mi"),
    ("1024Mi", "1Gi"),
    ("1000Mi", "1000Mi"),
    ("0.5Ki", "512"),
    ("128974848", "128974848"),
    ("0", "0"),
    ("0.0001", "1m"),
    (2, "2"),
    (0.25, "250m"),
])
def test_resource_quantities_come_back_in_canonical_form(given_value: Any, served: str) -> None:
    assert canonical_quantity(given_value, resource_list=True) == served


def test_canonical_quantities_survive_a_round_trip_through_envtest(envtest: EnvTest) -> None:
    resources = {"limits": {"cpu": "2000m", "memory": "0.5Gi"}, "requests": {"cpu": "0.1", "memory": "1000"}}
    created = create(envtest, "Deployment", "d", workload(container(resources=resources)))

    assert created["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "2", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "1k"}}


def test_an_unparsable_quantity_is_a_bad_request(envtest: EnvTest) -> None:
    error = failure(envtest, "Deployment", "d", workload(container(resources={"limits": {"cpu": "lots"}})))

    assert error.code == 400
    assert error.message == ('Deployment in version "v1" cannot be handled as a Deployment: quantities must match '
                             "the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


# --- apps/v1 -------------------------------------------------------------------------------------------------


def test_creating_a_deployment_fills_in_every_default(envtest: EnvTest) -> None:
    created = create(envtest, "Deployment", "d", workload())

    spec = created["spec"]
    assert {k: v for k, v in spec.items() if k not in ("selector", "template")} == {
        "replicas": 1,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    }
    assert spec["template"]["spec"] == {
        "containers": [{"name": "app", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                        "resources": {}}],
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
        "terminationGracePeriodSeconds": 30, "securityContext": {},
    }
    assert created["status"] == {}


def test_a_recreate_deployment_gets_no_rolling_update_parameters(envtest: EnvTest) -> None:
    spec = create(envtest, "Deployment", "d", workload(strategy={"type": "Recreate"}))["spec"]

    assert spec["strategy"] == {"type": "Recreate"}


def test_the_values_a_client_set_on_a_deployment_are_kept(envtest: EnvTest) -> None:
    spec = create(envtest, "Deployment", "d", workload(
        replicas=0, revisionHistoryLimit=0, progressDeadlineSeconds=60,
        strategy={"rollingUpdate": {"maxSurge": 1}},
        template=pod_template(dnsPolicy="Default", terminationGracePeriodSeconds=0, restartPolicy="Always"),
    ))["spec"]

    assert (spec["replicas"], spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (0, 0, 60)
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}
    pod = spec["template"]["spec"]
    assert (pod["dnsPolicy"], pod["terminationGracePeriodSeconds"]) == ("Default", 0)


def test_a_statefulset_gets_its_defaults_and_pending_claim_templates(envtest: EnvTest) -> None:
    claim = {"metadata": {"name": "data"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1024Mi"}}}}
    created = create(envtest, "StatefulSet", "s", workload(serviceName="s", volumeClaimTemplates=[claim]))

    spec = created["spec"]
    assert {k: spec[k] for k in ("replicas", "podManagementPolicy", "updateStrategy", "revisionHistoryLimit",
                                 "persistentVolumeClaimRetentionPolicy")} == {
        "replicas": 1, "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "revisionHistoryLimit": 10,
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
    }
    assert spec["volumeClaimTemplates"] == [{
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "volumeMode": "Filesystem"},
        "status": {"phase": "Pending"},
    }]
    assert created["status"] == {"replicas": 0, "availableReplicas": 0}


def test_a_statefulset_naming_the_rolling_update_type_alone_gets_no_partition(envtest: EnvTest) -> None:
    spec = create(envtest, "StatefulSet", "s", workload(updateStrategy={"type": "RollingUpdate"}))["spec"]

    assert spec["updateStrategy"] == {"type": "RollingUpdate"}


def test_a_daemonset_gets_its_update_strategy_and_template_generation(envtest: EnvTest) -> None:
    created = create(envtest, "DaemonSet", "ds", workload())

    assert created["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                                 "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert created["spec"]["revisionHistoryLimit"] == 10
    assert created["metadata"]["annotations"] == {"deprecated.daemonset.template.generation": "1"}
    assert created["status"] == {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                                 "numberReady": 0}


def test_changing_a_daemonset_template_bumps_its_template_generation(kube: Clients) -> None:
    raw(kube, "POST", PATHS["DaemonSet"], {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds"},
                                          "spec": workload()})
    live = get(kube, "DaemonSet", "ds")
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    code, updated = put(kube, "DaemonSet", live)

    assert code == 200
    assert updated["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "2"
    assert updated["metadata"]["generation"] == 2
    live = get(kube, "DaemonSet", "ds")
    live["spec"]["revisionHistoryLimit"] = 3
    code, updated = put(kube, "DaemonSet", live)
    assert updated["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "2"
    assert updated["metadata"]["generation"] == 3


def test_a_replicaset_gets_one_replica(envtest: EnvTest) -> None:
    created = create(envtest, "ReplicaSet", "rs", workload())

    assert created["spec"]["replicas"] == 1
    assert created["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert created["status"] == {"replicas": 0}


# --- batch/v1 ------------------------------------------------------------------------------------------------


def test_a_job_gets_its_defaults_and_a_selector_generated_from_its_uid(envtest: EnvTest) -> None:
    created = create(envtest, "Job", "pi", job_spec())

    uid = created["metadata"]["uid"]
    generated = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "pi",
                 "controller-uid": uid, "job-name": "pi"}
    spec = created["spec"]
    assert {k: v for k, v in spec.items() if k != "template"} == {
        "parallelism": 1, "completions": 1, "backoffLimit": 6, "completionMode": "NonIndexed", "suspend": False,
        "manualSelector": False, "podReplacementPolicy": "TerminatingOrFailed",
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
    }
    assert spec["template"]["metadata"] == {"labels": generated}
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert created["metadata"]["labels"] == generated


def test_a_job_keeps_its_own_labels_and_adds_the_generated_ones_to_its_pods(envtest: EnvTest) -> None:
    spec = job_spec()
    spec["template"]["metadata"] = {"labels": {"app": "pi"}}
    created = create(envtest, "Job", "pi", spec, labels={"team": "math"})

    assert created["metadata"]["labels"] == {"team": "math"}
    assert created["spec"]["template"]["metadata"]["labels"]["app"] == "pi"
    assert created["spec"]["template"]["metadata"]["labels"]["job-name"] == "pi"


def test_a_parallel_job_gets_no_completions(envtest: EnvTest) -> None:
    spec = create(envtest, "Job", "work-queue", job_spec(parallelism=3))["spec"]

    assert spec["parallelism"] == 3
    assert "completions" not in spec


def test_a_job_with_a_pod_failure_policy_only_replaces_failed_pods(envtest: EnvTest) -> None:
    policy = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    spec = create(envtest, "Job", "j", job_spec(podFailurePolicy=policy))["spec"]

    assert spec["podReplacementPolicy"] == "Failed"
    assert spec["podFailurePolicy"]["rules"][0]["onPodConditions"] == [{"type": "DisruptionTarget",
                                                                        "status": "True"}]


def test_a_job_with_a_manual_selector_gets_no_generated_selector(envtest: EnvTest) -> None:
    spec = job_spec(manualSelector=True, selector={"matchLabels": {"app": "pi"}})
    spec["template"]["metadata"] = {"labels": {"app": "pi"}}
    created = create(envtest, "Job", "pi", spec)

    assert created["spec"]["selector"] == {"matchLabels": {"app": "pi"}}
    assert created["spec"]["template"]["metadata"] == {"labels": {"app": "pi"}}


@pytest.mark.parametrize("restart_policy", [None, "Always"])
def test_a_job_template_has_to_choose_its_restart_policy(envtest: EnvTest, restart_policy: str | None) -> None:
    error = failure(envtest, "Job", "pi", job_spec(restart_policy))

    assert (error.code, error.message) == (
        422, 'Job.batch "pi" is invalid: spec.template.spec.restartPolicy: Required value: valid values: '
             '"OnFailure", "Never"')


def test_a_cronjob_job_template_has_to_choose_its_restart_policy(envtest: EnvTest) -> None:
    error = failure(envtest, "CronJob", "c", {"schedule": "@hourly", "jobTemplate": {"spec": job_spec(None)}})

    assert error.message == ('CronJob.batch "c" is invalid: spec.jobTemplate.spec.template.spec.restartPolicy: '
                             'Required value: valid values: "OnFailure", "Never"')


def test_a_cronjob_gets_its_defaults_and_its_job_template_only_pod_defaults(envtest: EnvTest) -> None:
    created = create(envtest, "CronJob", "c", {"schedule": "@hourly", "jobTemplate": {"spec": job_spec()}})

    spec = created["spec"]
    assert {k: v for k, v in spec.items() if k not in ("schedule", "jobTemplate")} == {
        "concurrencyPolicy": "Allow", "suspend": False, "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 1}
    job = spec["jobTemplate"]["spec"]
    assert set(job) == {"template"}
    assert job["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


# --- PersistentVolumeClaims, PersistentVolumes, Endpoints ----------------------------------------------------


def test_a_persistent_volume_claim_gets_a_filesystem_volume_mode_and_starts_pending(envtest: EnvTest) -> None:
    created = envtest.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
                              "spec": {"accessModes": ["ReadWriteOnce"],
                                       "resources": {"requests": {"storage": "1.5Gi"}}}})

    assert created["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1536Mi"}},
                               "volumeMode": "Filesystem"}
    assert created["status"] == {"phase": "Pending"}


def test_a_persistent_volume_is_retained_and_starts_pending(envtest: EnvTest) -> None:
    created = envtest.create({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"},
                              "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
                                       "hostPath": {"path": "/data"}}})

    assert created["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert created["spec"]["volumeMode"] == "Filesystem"
    assert created["spec"]["hostPath"] == {"path": "/data", "type": ""}
    assert created["status"]["phase"] == "Pending"
    assert "lastPhaseTransitionTime" in created["status"]


def test_endpoints_ports_default_to_tcp(envtest: EnvTest) -> None:
    created = envtest.create({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e"},
                              "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]})

    assert created["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]


def test_a_namespace_a_configmap_and_a_service_account_get_nothing_new(envtest: EnvTest) -> None:
    cm = envtest.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}})
    sa = envtest.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}})

    assert set(cm) == {"apiVersion", "kind", "metadata", "data"}
    assert set(sa) == {"apiVersion", "kind", "metadata"}


# --- Services: defaults --------------------------------------------------------------------------------------


def test_a_service_gets_its_defaults_and_a_cluster_ip(envtest: EnvTest) -> None:
    created = create(envtest, "Service", "web", service({"port": 80, "name": "http"}))

    spec = created["spec"]
    ip = spec["clusterIP"]
    assert ipaddress.IPv4Address(ip) in SERVICE_RANGE
    assert spec == {
        "selector": {"app": "web"},
        "ports": [{"port": 80, "name": "http", "protocol": "TCP", "targetPort": 80}],
        "type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "clusterIP": ip, "clusterIPs": [ip],
    }
    assert created["status"] == {"loadBalancer": {}}


def test_a_named_target_port_is_kept(envtest: EnvTest) -> None:
    spec = create(envtest, "Service", "web", service({"port": 80, "targetPort": "http", "protocol": "UDP"}))["spec"]

    assert spec["ports"] == [{"port": 80, "targetPort": "http", "protocol": "UDP"}]


def test_client_ip_session_affinity_gets_a_three_hour_timeout(envtest: EnvTest) -> None:
    spec = create(envtest, "Service", "web", service(sessionAffinity="ClientIP"))["spec"]

    assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def test_a_headless_service_gets_no_cluster_ip(envtest: EnvTest) -> None:
    spec = create(envtest, "Service", "db", service(clusterIP="None"))["spec"]

    assert (spec["clusterIP"], spec["clusterIPs"]) == ("None", ["None"])
    assert (spec["ipFamilyPolicy"], spec["ipFamilies"]) == ("SingleStack", ["IPv4"])


def test_a_headless_service_without_selector_requires_dual_stack(envtest: EnvTest) -> None:
    spec = create(envtest, "Service", "external-db", {"clusterIP": "None", "ports": [{"port": 5432}]})["spec"]

    assert (spec["ipFamilyPolicy"], spec["ipFamilies"]) == ("RequireDualStack", ["IPv4", "IPv6"])


def test_an_external_name_service_gets_neither_cluster_ip_nor_traffic_policy(envtest: EnvTest) -> None:
    spec = create(envtest, "Service", "ext", {"type": "ExternalName", "externalName": "example.com"})["spec"]

    assert spec == {"type": "ExternalName", "externalName": "example.com", "sessionAffinity": "None"}


def test_a_service_asking_for_dual_stack_is_invalid_on_a_single_stack_cluster(envtest: EnvTest) -> None:
    error = failure(envtest, "Service", "web", service(ipFamilyPolicy="RequireDualStack"))

    assert error.message == ('Service "web" is invalid: spec.ipFamilyPolicy: Invalid value: "RequireDualStack": '
                             'this cluster is not configured for dual-stack services')


def test_a_service_preferring_dual_stack_gets_one_family_on_a_single_stack_cluster(envtest: EnvTest) -> None:
    spec = create(envtest, "Service", "web", service(ipFamilyPolicy="PreferDualStack"))["spec"]

    assert (spec["ipFamilyPolicy"], spec["ipFamilies"], len(spec["clusterIPs"])) == (
        "PreferDualStack", ["IPv4"], 1)


# --- Services: the cluster IP allocator ----------------------------------------------------------------------


def test_cluster_ips_are_unique_over_many_services(envtest: EnvTest) -> None:
    ips = [create(envtest, "Service", f"s{i}", service())["spec"]["clusterIP"] for i in range(300)]

    assert len(set(ips)) == len(ips)
    addresses = [ipaddress.IPv4Address(ip) for ip in ips]
    assert all(address in SERVICE_RANGE for address in addresses)
    assert not {SERVICE_RANGE.network_address, SERVICE_RANGE.broadcast_address,
                ipaddress.IPv4Address("10.96.0.1")} & set(addresses)
    # Dynamic allocation keeps off the lower band of the range, which is for static assignments.
    assert all(address >= ipaddress.IPv4Address("10.96.1.1") for address in addresses)


def test_a_requested_free_cluster_ip_is_honoured(envtest: EnvTest) -> None:
    spec = create(envtest, "Service", "dns", service(clusterIP="10.96.0.10"))["spec"]

    assert (spec["clusterIP"], spec["clusterIPs"]) == ("10.96.0.10", ["10.96.0.10"])


def test_a_requested_cluster_ip_already_in_use_is_rejected(envtest: EnvTest) -> None:
    create(envtest, "Service", "dns", service(clusterIP="10.96.0.10"))

    error = failure(envtest, "Service", "dns2", service(clusterIP="10.96.0.10"))

    assert (error.code, error.reason) == (422, "Invalid")
    assert error.message == ('Service "dns2" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: '
                             'failed to allocate IP 10.96.0.10: provided IP is already allocated')


def test_the_kubernetes_service_address_is_never_handed_out(envtest: EnvTest) -> None:
    error = failure(envtest, "Service", "s", service(clusterIP="10.96.0.1"))

    assert error.message.endswith("failed to allocate IP 10.96.0.1: provided IP is already allocated")


def test_a_cluster_ip_outside_the_service_range_is_rejected(envtest: EnvTest) -> None:
    error = failure(envtest, "Service", "s", service(clusterIP="192.168.0.10"))

    assert error.message == ('Service "s" is invalid: spec.clusterIPs: Invalid value: []string{"192.168.0.10"}: '
                             'failed to allocate IP 192.168.0.10: the provided IP (192.168.0.10) is not in the valid '
                             'range. The range of valid IPs is 10.96.0.0/12')


def test_a_malformed_cluster_ip_is_rejected(envtest: EnvTest) -> None:
    error = failure(envtest, "Service", "s", service(clusterIP="10.96.0.300"))

    assert error.message == ('Service "s" is invalid: spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a '
                             'valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)')


def test_a_deleted_service_gives_back_its_cluster_ip_and_node_port(kube: Clients) -> None:
    spec = service({"port": 80, "nodePort": 30080}, type="NodePort", clusterIP="10.96.0.20")
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": spec}
    assert raw(kube, "POST", PATHS["Service"], manifest)[0] == 201
    assert raw(kube, "POST", PATHS["Service"], {**manifest, "metadata": {"name": "b"}})[0] == 422

    assert raw(kube, "DELETE", f"{PATHS['Service']}/a")[0] == 200

    code, created = raw(kube, "POST", PATHS["Service"], {**manifest, "metadata": {"name": "b"}})
    assert code == 201
    assert (created["spec"]["clusterIP"], node_ports_of(created)) == ("10.96.0.20", [30080])


def test_a_dry_run_allocates_nothing(kube: Clients) -> None:
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"},
                "spec": service(clusterIP="10.96.0.20")}
    code, _ = raw(kube, "POST", f"{PATHS['Service']}?dryRun=All", manifest)
    assert code == 201

    assert raw(kube, "POST", PATHS["Service"], manifest)[0] == 201


def test_a_full_service_range_is_an_internal_error() -> None:
    store, registry = Store(), Registry()
    storage = ResourceStorage(store, registry)
    storage.admission.append(BuiltinDefaults(store, service_cidr="10.0.0.0/29"))
    storage.create(registry_type(registry, "", "namespaces"), "", {"metadata": {"name": "default"}},
                   RequestContext())
    services = registry_type(registry, "", "services")

    ips = [storage.create(services, "default", {"metadata": {"name": f"s{i}"}, "spec": service()},
                          RequestContext())["spec"]["clusterIP"] for i in range(5)]

    assert sorted(ips) == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    with pytest.raises(StatusError) as caught:
        storage.create(services, "default", {"metadata": {"name": "full"}, "spec": service()}, RequestContext())
    assert (caught.value.code, caught.value.message) == (
        500, "Internal error occurred: failed to allocate a serviceIP: range is full")


# --- Services: the node port allocator -----------------------------------------------------------------------


def test_a_node_port_service_gets_node_ports_and_the_cluster_traffic_policy(envtest: EnvTest) -> None:
    spec = create(envtest, "Service", "web", service({"port": 80, "name": "http"}, {"port": 443, "name": "https"},
                                                     type="NodePort"))["spec"]

    assert spec["externalTrafficPolicy"] == "Cluster"
    ports = [port["nodePort"] for port in spec["ports"]]
    assert len(set(ports)) == 2
    assert all(30000 <= port <= 32767 for port in ports)


def test_node_ports_are_unique_over_many_services(envtest: EnvTest) -> None:
    ports: list[int] = []
    for i in range(200):
        created = create(envtest, "Service", f"s{i}", service({"port": 80, "name": "a"}, {"port": 81, "name": "b"},
                                                               type="NodePort"))
        ports += node_ports_of(created)

    assert len(ports) == len(set(ports)) == 400
    assert all(30000 <= port <= 32767 for port in ports)


def test_a_requested_node_port_is_honoured(envtest: EnvTest) -> None:
    spec = create(envtest, "Service", "web", service({"port": 80, "nodePort": 30080}, type="NodePort"))["spec"]

    assert spec["ports"][0]["nodePort"] == 30080


def test_a_requested_node_port_already_in_use_is_rejected(envtest: EnvTest) -> None:
    create(envtest, "Service", "web", service({"port": 80, "nodePort": 30080}, type="NodePort"))

    error = failure(envtest, "Service", "web2", service({"port": 80, "nodePort": 30080}, type="NodePort"))

    assert (error.code, error.message) == (
        422, 'Service "web2" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already '
             'allocated')


def test_a_node_port_outside_the_range_is_rejected(envtest: EnvTest) -> None:
    error = failure(envtest, "Service", "web", service({"port": 80, "nodePort": 8080}, type="NodePort"))

    assert error.message == ('Service "web" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port '
                             'is not in the valid range. The range of valid ports is 30000-32767')


def test_ports_with_the_same_number_share_a_node_port(envtest: EnvTest) -> None:
    spec = create(envtest, "Service", "dns", service({"port": 53, "protocol": "UDP", "name": "dns"},
                                                     {"port": 53, "protocol": "TCP", "name": "dns-tcp"},
                                                     type="NodePort"))["spec"]

    assert spec["ports"][0]["nodePort"] == spec["ports"][1]["nodePort"]


def test_a_load_balancer_gets_node_ports_unless_told_otherwise(envtest: EnvTest) -> None:
    lb = create(envtest, "Service", "lb", service(type="LoadBalancer"))["spec"]
    bare = create(envtest, "Service", "bare", service(type="LoadBalancer", allocateLoadBalancerNodePorts=False))

    assert lb["allocateLoadBalancerNodePorts"] is True
    assert lb["externalTrafficPolicy"] == "Cluster"
    assert "nodePort" in lb["ports"][0]
    assert node_ports_of(bare) == []


def test_a_local_load_balancer_gets_a_health_check_node_port(envtest: EnvTest) -> None:
    spec = create(envtest, "Service", "lb", service(type="LoadBalancer", externalTrafficPolicy="Local"))["spec"]

    assert 30000 <= spec["healthCheckNodePort"] <= 32767
    assert spec["healthCheckNodePort"] != spec["ports"][0]["nodePort"]


def test_a_full_node_port_range_is_an_internal_error() -> None:
    store, registry = Store(), Registry()
    storage = ResourceStorage(store, registry)
    storage.admission.append(BuiltinDefaults(store, node_port_range=(30000, 30003)))
    storage.create(registry_type(registry, "", "namespaces"), "", {"metadata": {"name": "default"}},
                   RequestContext())
    services = registry_type(registry, "", "services")
    for i in range(2):
        storage.create(services, "default", {"metadata": {"name": f"s{i}"},
                                             "spec": service({"port": 1, "name": "a"}, {"port": 2, "name": "b"},
                                                             type="NodePort")}, RequestContext())

    with pytest.raises(StatusError) as caught:
        storage.create(services, "default", {"metadata": {"name": "full"}, "spec": service(type="NodePort")},
                       RequestContext())

    assert (caught.value.code, caught.value.message) == (
        500, "Internal error occurred: failed to allocate a nodePort: range is full")


# --- Services: updates ---------------------------------------------------------------------------------------


def _create_service(kube: Clients, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    code, body = raw(kube, "POST", PATHS["Service"], {"apiVersion": "v1", "kind": "Service",
                                                      "metadata": {"name": name}, "spec": spec})
    assert code == 201, body
    return body


def test_changing_the_cluster_ip_of_a_service_is_rejected(kube: Clients) -> None:
    _create_service(kube, "web", service(clusterIP="10.96.0.50"))
    live = get(kube, "Service", "web")
    live["spec"]["clusterIP"] = "10.96.0.51"

    code, status = put(kube, "Service", live)

    assert (code, status["message"]) == (422, 'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: '
                                              '[]string{"10.96.0.51"}: may not change once set')
    assert status["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "spec.clusterIPs[0]",
                                            "message": 'Invalid value: []string{"10.96.0.51"}: may not change once '
                                                       'set'}]


def test_an_update_that_empties_the_cluster_ip_fields_gets_the_allocated_ones_back(kube: Clients) -> None:
    created = _create_service(kube, "web", service())
    live = get(kube, "Service", "web")
    live["spec"]["clusterIP"] = ""
    live["spec"]["clusterIPs"] = []

    code, updated = put(kube, "Service", live)

    assert code == 200
    assert (updated["spec"]["clusterIP"], updated["spec"]["clusterIPs"]) == (
        created["spec"]["clusterIP"], created["spec"]["clusterIPs"])
    assert updated["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_changing_a_headless_service_to_have_a_cluster_ip_is_rejected(kube: Clients) -> None:
    _create_service(kube, "db", service(clusterIP="None"))
    live = get(kube, "Service", "db")
    live["spec"]["clusterIP"] = "10.96.0.60"
    del live["spec"]["clusterIPs"]

    code, status = put(kube, "Service", live)

    assert (code, status["message"]) == (422, 'Service "db" is invalid: spec.clusterIPs[0]: Invalid value: '
                                              '[]string{"10.96.0.60"}: may not change once set')


def test_an_update_that_leaves_out_the_allocated_values_keeps_them(kube: Clients) -> None:
    created = _create_service(kube, "web", service({"port": 80, "name": "http"}, type="NodePort"))
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                "spec": service({"port": 80, "name": "http"}, type="NodePort")}

    code, updated = put(kube, "Service", manifest)

    assert code == 200
    assert updated["spec"]["clusterIP"] == created["spec"]["clusterIP"]
    assert updated["spec"]["clusterIPs"] == created["spec"]["clusterIPs"]
    assert node_ports_of(updated) == node_ports_of(created)
    assert updated["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_node_ports_are_kept_by_port_name_when_an_update_leaves_them_out(kube: Clients) -> None:
    created = _create_service(kube, "web", service({"port": 80, "name": "http"}, {"port": 443, "name": "https"},
                                                   type="NodePort"))
    by_name = {port["name"]: port["nodePort"] for port in created["spec"]["ports"]}
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                "spec": service({"port": 8443, "name": "https"}, {"port": 9000, "name": "metrics"},
                                type="NodePort")}

    code, updated = put(kube, "Service", manifest)

    assert code == 200
    ports = {port["name"]: port["nodePort"] for port in updated["spec"]["ports"]}
    assert ports["https"] == by_name["https"]
    assert ports["metrics"] not in by_name.values()


def test_a_merge_patch_of_a_service_keeps_its_cluster_ip_and_node_ports(kube: Clients) -> None:
    created = _create_service(kube, "web", service({"port": 80}, type="NodePort"))

    code, patched = raw(kube, "PATCH", f"{PATHS['Service']}/web", {"spec": {"ports": [{"port": 80}]}},
                        content_type="application/merge-patch+json")

    assert code == 200
    assert patched["spec"]["clusterIP"] == created["spec"]["clusterIP"]
    assert node_ports_of(patched) == node_ports_of(created)


def test_applying_a_service_twice_keeps_its_cluster_ip(kube: Clients) -> None:
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": service()}
    path = f"{PATHS['Service']}/web?fieldManager=ctl"
    code, first = raw(kube, "PATCH", path, manifest, content_type="application/apply-patch+yaml")
    assert code == 201

    code, second = raw(kube, "PATCH", path, manifest, content_type="application/apply-patch+yaml")

    assert code == 200
    assert second["spec"]["clusterIP"] == first["spec"]["clusterIP"]
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_changing_a_node_port_service_to_cluster_ip_drops_its_node_ports(kube: Clients) -> None:
    _create_service(kube, "web", service({"port": 80}, type="NodePort"))
    live = get(kube, "Service", "web")
    live["spec"]["type"] = "ClusterIP"

    code, updated = put(kube, "Service", live)

    assert code == 200
    assert node_ports_of(updated) == []
    assert "externalTrafficPolicy" not in updated["spec"]


def test_changing_a_cluster_ip_service_to_node_port_allocates_node_ports(kube: Clients) -> None:
    created = _create_service(kube, "web", service({"port": 80}))
    live = get(kube, "Service", "web")
    live["spec"]["type"] = "NodePort"

    code, updated = put(kube, "Service", live)

    assert code == 200
    assert updated["spec"]["clusterIP"] == created["spec"]["clusterIP"]
    assert len(node_ports_of(updated)) == 1
    assert updated["spec"]["externalTrafficPolicy"] == "Cluster"


def test_changing_a_service_to_external_name_gives_back_its_cluster_ip(kube: Clients) -> None:
    _create_service(kube, "web", service(clusterIP="10.96.0.77"))
    live = get(kube, "Service", "web")
    live["spec"].update(type="ExternalName", externalName="example.com")
    live["spec"].pop("selector")

    code, updated = put(kube, "Service", live)

    assert code == 200
    assert not {"clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"} & set(
        updated["spec"])
    assert _create_service(kube, "other", service(clusterIP="10.96.0.77"))["spec"]["clusterIP"] == "10.96.0.77"


def test_a_status_update_of_a_load_balancer_gets_the_vip_ip_mode(kube: Clients) -> None:
    _create_service(kube, "lb", service(type="LoadBalancer"))
    live = get(kube, "Service", "lb")
    live["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}

    code, updated = raw(kube, "PUT", f"{PATHS['Service']}/lb/status", live)

    assert code == 200
    assert updated["status"]["loadBalancer"]["ingress"] == [{"ip": "192.0.2.10", "ipMode": "VIP"}]


# --- what a controller sees: GET, modify, PUT ----------------------------------------------------------------

MANIFESTS: dict[str, dict[str, Any]] = {
    "Deployment": workload(),
    "StatefulSet": workload(volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]),
    "DaemonSet": workload(),
    "ReplicaSet": workload(),
    "Job": job_spec(),
    "CronJob": {"schedule": "@daily", "jobTemplate": {"spec": job_spec()}},
    "Service": service({"port": 80}, type="LoadBalancer", externalTrafficPolicy="Local"),
    "Pod": {"containers": [container(resources={"limits": {"cpu": "1", "memory": "1Gi"}})]},
    "PersistentVolumeClaim": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
}


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_putting_back_an_object_as_read_changes_nothing(kube: Clients, kind: str) -> None:
    code, created = raw(kube, "POST", PATHS[kind], {"apiVersion": API_VERSIONS.get(kind, "apps/v1"), "kind": kind,
                                                    "metadata": {"name": "x"}, "spec": MANIFESTS[kind]})
    assert code == 201, created

    code, updated = put(kube, kind, get(kube, kind, "x"))

    assert code == 200, updated
    assert updated["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert updated["metadata"].get("generation") == created["metadata"].get("generation")


@pytest.mark.parametrize("kind", sorted(set(MANIFESTS) - {"Job", "Pod"}))
def test_putting_the_original_manifest_again_changes_nothing(kube: Clients, kind: str) -> None:
    """A controller that PUTs its desired object (no defaults, no allocated values) does not fight the server."""
    manifest = {"apiVersion": API_VERSIONS.get(kind, "apps/v1"), "kind": kind, "metadata": {"name": "x"},
                "spec": MANIFESTS[kind]}
    code, created = raw(kube, "POST", PATHS[kind], manifest)
    assert code == 201, created

    code, updated = put(kube, kind, copy.deepcopy(manifest))

    assert code == 200, updated
    assert without_volatile(updated) == without_volatile(created)


def test_a_typed_client_round_trip_of_a_deployment_changes_nothing(kube: Clients) -> None:
    created = kube.apps.create_namespaced_deployment("default", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": workload()})

    live = kube.apps.read_namespaced_deployment("web", "default")
    live.spec.template.spec.containers[0].image = live.spec.template.spec.containers[0].image
    updated = kube.apps.replace_namespaced_deployment("web", "default", live)

    assert updated.metadata.resource_version == created.metadata.resource_version
    assert updated.metadata.generation == 1


def test_a_real_change_bumps_the_generation_once(kube: Clients) -> None:
    raw(kube, "POST", PATHS["Deployment"], {"apiVersion": "apps/v1", "kind": "Deployment",
                                           "metadata": {"name": "web"}, "spec": workload()})
    live = get(kube, "Deployment", "web")
    live["spec"]["replicas"] = 3

    code, updated = put(kube, "Deployment", live)

    assert code == 200
    assert updated["metadata"]["generation"] == 2


def test_the_typed_batch_client_reads_the_generated_job_selector(kube: Clients) -> None:
    batch = client.BatchV1Api(kube.api)
    created = batch.create_namespaced_job("default", {"apiVersion": "batch/v1", "kind": "Job",
                                                      "metadata": {"name": "pi"}, "spec": job_spec()})

    assert created.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": created.metadata.uid}
    assert created.spec.backoff_limit == 6


# --- idempotence, as properties ------------------------------------------------------------------------------

REGISTRY = Registry()


def registry_type(registry: Registry, group: str, plural: str) -> ResourceType:
    rt = registry.lookup(group, "v1", plural)
    assert rt is not None
    return rt


KIND_TYPES = {
    "Pod": ("", "pods"), "Service": ("", "services"), "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "Deployment": ("apps", "deployments"), "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"), "ReplicaSet": ("apps", "replicasets"), "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
}

names = st.sampled_from(["a", "b", "web", "sidecar"])
cpu = st.sampled_from(["100m", "250m", "1", "2"])
memory = st.sampled_from(["64Mi", "128Mi", "1Gi"])


@st.composite
def containers(draw: st.DrawFn) -> list[dict[str, Any]]:
    result = []
    for name in draw(st.lists(names, min_size=1, max_size=2, unique=True)):
        c: dict[str, Any] = {"name": name, "image": draw(st.sampled_from(["nginx", "nginx:1.27", "busybox:latest"]))}
        if draw(st.booleans()):
            c["imagePullPolicy"] = draw(st.sampled_from(["Always", "IfNotPresent", "Never"]))
        if draw(st.booleans()):
            c["ports"] = [{"containerPort": 80, **draw(st.sampled_from([{}, {"protocol": "UDP"}]))}]
        if draw(st.booleans()):
            c["resources"] = {k: {"cpu": draw(cpu), "memory": draw(memory)}
                              for k in draw(st.lists(st.sampled_from(["limits", "requests"]), unique=True))}
        if draw(st.booleans()):
            c["livenessProbe"] = {"httpGet": {"port": 80, **draw(st.sampled_from([{}, {"path": "/healthz"}]))},
                                  **draw(st.sampled_from([{}, {"periodSeconds": 5}, {"failureThreshold": 1}]))}
        if draw(st.booleans()):
            c["terminationMessagePolicy"] = "FallbackToLogsOnError"
        result.append(c)
    return result


@st.composite
def pod_specs(draw: st.DrawFn, *, restart_policies: tuple[str, ...] = ("Always", "OnFailure", "Never"),
              require_restart_policy: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": draw(containers())}
    if require_restart_policy or draw(st.booleans()):
        spec["restartPolicy"] = draw(st.sampled_from(restart_policies))
    if draw(st.booleans()):
        spec["dnsPolicy"] = draw(st.sampled_from(["ClusterFirst", "Default", "ClusterFirstWithHostNet"]))
    if draw(st.booleans()):
        spec["terminationGracePeriodSeconds"] = draw(st.integers(0, 120))
    if draw(st.booleans()):
        spec["volumes"] = draw(st.sampled_from([
            [{"name": "v"}], [{"name": "v", "secret": {"secretName": "s"}}],
            [{"name": "v", "configMap": {"name": "c", "defaultMode": 511}}],
        ]))
    if draw(st.booleans()):
        spec["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    return spec


@st.composite
def objects(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(sorted(KIND_TYPES)))
    labels = {"app": "web"}
    template = {"metadata": {"labels": labels}, "spec": draw(pod_specs(restart_policies=("Always",)))}
    spec: dict[str, Any]
    if kind == "Pod":
        spec = draw(pod_specs())
        if draw(st.booleans()):
            spec["enableServiceLinks"] = False
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        spec = {"selector": {"matchLabels": labels}, "template": template}
        if kind != "DaemonSet" and draw(st.booleans()):
            spec["replicas"] = draw(st.integers(0, 5))
        if draw(st.booleans()):
            spec["revisionHistoryLimit"] = draw(st.integers(0, 5))
        if kind == "StatefulSet" and draw(st.booleans()):
            spec["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": draw(memory)}}}}]
    elif kind in ("Job", "CronJob"):
        job: dict[str, Any] = {"template": {"spec": draw(pod_specs(restart_policies=("OnFailure", "Never"),
                                                                   require_restart_policy=True))}}
        for field, values in (("parallelism", st.integers(0, 4)), ("completions", st.integers(1, 4)),
                              ("backoffLimit", st.integers(0, 10)), ("suspend", st.booleans())):
            if draw(st.booleans()):
                job[field] = draw(values)
        spec = job if kind == "Job" else {"schedule": "@daily", "jobTemplate": {"spec": job}}
    elif kind == "Service":
        service_type = draw(st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]))
        if service_type == "ExternalName":
            spec = {"type": "ExternalName", "externalName": "example.com"}
        else:
            spec = {"type": service_type, "selector": labels,
                    "ports": [{"port": 80, "name": "http", **draw(st.sampled_from([{}, {"targetPort": 8080}]))}]}
            if service_type == "ClusterIP" and draw(st.booleans()):
                spec["clusterIP"] = "None"
            if service_type == "LoadBalancer" and draw(st.booleans()):
                spec["externalTrafficPolicy"] = "Local"
            if draw(st.booleans()):
                spec["sessionAffinity"] = "ClientIP"
    else:
        spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": draw(memory)}}}
    group, _ = KIND_TYPES[kind]
    metadata = {"name": "x", "namespace": "default", "uid": "0d9c4b2e-6a1f-4c56-9d0e-3f2b1a7c8e90"}
    return kind, {"apiVersion": f"{group}/v1" if group else "v1", "kind": kind, "metadata": metadata,
                  "spec": spec}


def _defaults() -> BuiltinDefaults:
    return BuiltinDefaults(Store(), rng=random.Random(0))


def _contains(outer: Any, inner: Any) -> bool:
    """Whether every value of `inner` is in `outer` (objects may gain keys, lists may gain trailing items)."""
    if isinstance(inner, dict):
        return isinstance(outer, dict) and all(k in outer and _contains(outer[k], v) for k, v in inner.items())
    if isinstance(inner, list):
        return isinstance(outer, list) and len(outer) >= len(inner) and all(
            _contains(o, i) for o, i in zip(outer, inner, strict=False))
    return bool(outer == inner)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(objects())
def test_defaulting_an_already_defaulted_object_changes_nothing(generated: tuple[str, dict[str, Any]]) -> None:
    kind, obj = generated
    rt = registry_type(REGISTRY, *KIND_TYPES[kind])
    _defaults()(rt, None, obj)
    once = copy.deepcopy(obj)

    _defaults()(rt, None, obj)
    assert obj == once

    updated = copy.deepcopy(once)
    _defaults()(rt, once, updated)
    assert updated == once


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(objects())
def test_defaulting_keeps_every_value_the_client_set(generated: tuple[str, dict[str, Any]]) -> None:
    kind, obj = generated
    sent = copy.deepcopy(obj)

    _defaults()(registry_type(REGISTRY, *KIND_TYPES[kind]), None, obj)

    assert _contains(obj, sent)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]), min_size=1, max_size=40))
def test_allocated_addresses_and_ports_never_collide(types: list[str]) -> None:
    store, registry = Store(), Registry()
    storage = ResourceStorage(store, registry)
    storage.admission.append(BuiltinDefaults(store, service_cidr="10.0.0.0/26", node_port_range=(30000, 30099)))
    storage.create(registry_type(registry, "", "namespaces"), "", {"metadata": {"name": "default"}},
                   RequestContext())
    services = registry_type(registry, "", "services")

    for i, service_type in enumerate(types):
        storage.create(services, "default", {"metadata": {"name": f"s{i}"},
                                             "spec": service({"port": 80}, type=service_type)}, RequestContext())

    stored = store.objects(("", "services"))
    ips = [svc["spec"]["clusterIP"] for svc in stored]
    ports = [port for svc in stored for port in node_ports_of(svc)]
    assert len(ips) == len(set(ips)) == len(types)
    assert "10.0.0.1" not in ips
    assert len(ports) == len(set(ports)) == sum(t != "ClusterIP" for t in types)
