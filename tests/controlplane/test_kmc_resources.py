"""The k0smotron.io Cluster controller's generated objects, field by field against spec §4.2 (no workload
simulation: StatefulSet status is patched by the tests where readiness matters)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from ruamel.yaml import YAML

from k0smotron_core import pki
from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest._storage import RequestContext

from ..infrastructure._support import NS, condition, delete, eventually, get, patch
from .conftest import KMCController

KMC = "k0smotron.io/v1beta1"


def kmc(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": KMC, "kind": "Cluster", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def v1beta2(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for c in (((obj or {}).get("status") or {}).get("v1beta2") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return dict(c)
    return {}


def patch_status(env: EnvTest, api_version: str, kind: str, name: str, status: dict[str, Any],
                 namespace: str = NS) -> None:
    rt = env.resource_type(api_version, kind)
    env.storage.patch(rt, namespace, name, "application/merge-patch+json", {"status": status},
                      RequestContext(field_manager="test"), subresource="status")


async def wait_for(env: EnvTest, api_version: str, kind: str, name: str, timeout_s: float = 20.0) -> dict[str, Any]:
    result: dict[str, Any] = await eventually(lambda: get(env, api_version, kind, name), timeout_s,
                                              what=f"{kind} {name}")
    return result


def volume(sts: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in sts["spec"]["template"]["spec"]["volumes"] if v["name"] == name)


def mount(sts: dict[str, Any], path: str) -> dict[str, Any]:
    container = sts["spec"]["template"]["spec"]["containers"][0]
    return next(m for m in container["volumeMounts"] if m["mountPath"] == path)


def k0s_yaml(cm: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load(cm["data"]["K0SMOTRON_K0S_YAML"])
    return loaded


# --- persistence -----------------------------------------------------------------------------------------------------


async def test_emptydir_persistence_and_statefulset_shape(kmc_controller: KMCController) -> None:
    env = kmc_controller.capi.env
    env.create(kmc("k0s-a", service={"type": "ClusterIP"}, version="v1.30.2+k0s.0", replicas=2,
                   serviceAccount="kmc-sa",
                   manifests=[{"name": "addons", "configMap": {"name": "addons"}}],
                   mounts=[{"path": "/etc/extra/conf", "configMap": {"name": "extra"}}]))
    sts = await wait_for(env, "apps/v1", "StatefulSet", "kmc-k0s-a")
    owner = sts["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Cluster", "k0s-a", True)
    labels = {"app": "k0smotron", "cluster": "k0s-a", "component": "cluster",
              "cluster.x-k8s.io/control-plane": "true"}
    assert sts["spec"]["selector"]["matchLabels"] == labels
    assert sts["spec"]["replicas"] == 2
    template = sts["spec"]["template"]
    assert template["metadata"]["labels"] == {**labels, "app.kubernetes.io/component": "control-plane"}
    pod = template["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "kmc-sa"
    terms = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert [(t["weight"], t["podAffinityTerm"]["topologyKey"]) for t in terms] == [
        (100, "topology.kubernetes.io/zone"), (50, "kubernetes.io/hostname")]
    assert terms[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == {"app": "k0smotron", "cluster": "k0s-a"}
    container = pod["containers"][0]
    assert container["name"] == "controller"
    assert container["image"] == "quay.io/k0sproject/k0s:v1.30.2-k0s.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["args"] == ["/bin/sh", "-c", "/k0smotron-entrypoint.sh"]
    assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [("api", 30443), ("konnectivity", 30132)]
    assert container["envFrom"] == [{"configMapRef": {"name": "kmc-k0s-a-config"}}]
    for probe, numbers in (("readinessProbe", (60, 10, 15)), ("livenessProbe", (90, 10, 10))):
        assert container[probe]["exec"]["command"] == ["k0s", "status"]
        assert (container[probe]["initialDelaySeconds"], container[probe]["periodSeconds"],
                container[probe]["failureThreshold"]) == numbers
    entrypoint = volume(sts, "entrypoint")
    assert entrypoint["configMap"]["name"] == "kmc-entrypoint-k0s-a-config"
    assert entrypoint["configMap"]["defaultMode"] == 0o744
    assert mount(sts, "/k0smotron-entrypoint.sh") == {"name": "entrypoint", "mountPath": "/k0smotron-entrypoint.sh",
                                                      "subPath": "k0smotron-entrypoint.sh"}
    assert volume(sts, "kmc-k0s-a") == {"name": "kmc-k0s-a", "emptyDir": {}}
    assert mount(sts, "/var/lib/k0s")["name"] == "kmc-k0s-a"
    assert "volumeClaimTemplates" not in sts["spec"]
    # Certificates: projected `certs` volume and the certs-init container copying them to /var/lib/k0s/pki.
    certs = volume(sts, "certs")["projected"]["sources"]
    paths = {s["secret"]["name"]: [i["path"] for i in s["secret"]["items"]] for s in certs}
    assert paths == {"k0s-a-ca": ["ca.crt", "ca.key"], "k0s-a-proxy": ["front-proxy-ca.crt", "front-proxy-ca.key"],
                     "k0s-a-sa": ["sa.pub", "sa.key"], "k0s-a-etcd": ["etcd-ca.crt", "etcd-ca.key"],
                     "k0s-a-apiserver-etcd-client": ["apiserver-etcd-client.crt", "apiserver-etcd-client.key"]}
    init = pod["initContainers"][0]
    assert init["name"] == "certs-init" and init["image"] == container["image"]
    assert "/var/lib/k0s/pki" in init["command"][-1] and "server.*" in init["command"][-1]
    # manifests and mounts
    assert volume(sts, "addons")["configMap"] == {"name": "addons", "defaultMode": 420}
    assert mount(sts, "/var/lib/k0s/manifests/addons") == {"name": "addons", "readOnly": True,
                                                           "mountPath": "/var/lib/k0s/manifests/addons"}
    assert volume(sts, "etc-extra-conf")["configMap"]["name"] == "extra"
    assert mount(sts, "/etc/extra/conf")["readOnly"] is True


async def test_hostpath_persistence(kmc_controller: KMCController) -> None:
    env = kmc_controller.capi.env
    env.create(kmc("k0s-b", service={"type": "ClusterIP"},
                   persistence={"type": "hostPath", "hostPath": "/data/k0s-b"}))
    sts = await wait_for(env, "apps/v1", "StatefulSet", "kmc-k0s-b")
    assert volume(sts, "kmc-k0s-b")["hostPath"]["path"] == "/data/k0s-b"
    assert mount(sts, "/var/lib/k0s")["name"] == "kmc-k0s-b"
    assert "volumeClaimTemplates" not in sts["spec"]


async def test_pvc_persistence(kmc_controller: KMCController) -> None:
    env = kmc_controller.capi.env
    claim_spec = {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                  "resources": {"requests": {"storage": "5Gi"}}}
    env.create(kmc("k0s-c", service={"type": "ClusterIP"},
                   persistence={"type": "pvc", "autoDeletePVCs": True,
                                "persistentVolumeClaim": {"metadata": {"labels": {"tier": "cp"}},
                                                          "spec": claim_spec}}))
    sts = await wait_for(env, "apps/v1", "StatefulSet", "kmc-k0s-c")
    [template] = sts["spec"]["volumeClaimTemplates"]
    assert template["metadata"]["name"] == "kmc-k0s-c"
    assert template["metadata"]["labels"] == {"tier": "cp"}
    assert template["spec"]["storageClassName"] == "fast"
    assert template["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"
    assert mount(sts, "/var/lib/k0s")["name"] == "kmc-k0s-c"
    assert not any(v["name"] == "kmc-k0s-c" for v in sts["spec"]["template"]["spec"]["volumes"])


async def test_pvc_without_claim_is_a_clear_error(kmc_controller: KMCController) -> None:
    env = kmc_controller.capi.env
    env.create(kmc("k0s-d", service={"type": "ClusterIP"}, persistence={"type": "pvc"}))

    def failed() -> dict[str, Any] | None:
        available = v1beta2(get(env, KMC, "Cluster", "k0s-d"), "Available")
        return available if available.get("reason") == "InvalidSpec" else None

    available = await eventually(failed, 20, what="InvalidSpec")
    assert available["status"] == "False"
    assert "spec.persistence.persistentVolumeClaim is required" in available["message"]
    assert get(env, "apps/v1", "StatefulSet", "kmc-k0s-d") is None
    assert "Failed reconciling statefulset" in get(env, KMC, "Cluster", "k0s-d")["status"]["reconciliationStatus"]


# --- services --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("service_type", "service_name"), [
    ("ClusterIP", "kmc-k0s-s"), ("NodePort", "kmc-k0s-s-nodeport"), ("LoadBalancer", "kmc-k0s-s-lb")])
async def test_service_per_type(kmc_controller: KMCController, service_type: str, service_name: str) -> None:
    env = kmc_controller.capi.env
    env.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "mgmt-0"}})
    patch_status(env, "v1", "Node", "mgmt-0", {"addresses": [{"type": "InternalIP", "address": "10.0.0.7"},
                                                             {"type": "Hostname", "address": "mgmt-0"}]},
                 namespace="")
    env.create(kmc("k0s-s", service={"type": service_type, "apiPort": 31443, "konnectivityPort": 31132,
                                     "labels": {"extra": "yes"}}))
    svc = await wait_for(env, "v1", "Service", service_name)
    assert svc["spec"]["type"] == service_type
    assert svc["spec"]["selector"] == {"app": "k0smotron", "cluster": "k0s-s", "component": "cluster"}
    assert svc["metadata"]["labels"]["extra"] == "yes"
    assert svc["metadata"]["labels"]["app.kubernetes.io/component"] == "control-plane"
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    assert (ports["api"]["port"], ports["api"]["targetPort"]) == (31443, 31443)
    assert (ports["konnectivity"]["port"], ports["konnectivity"]["targetPort"]) == (31132, 31132)
    if service_type == "NodePort":
        assert (ports["api"]["nodePort"], ports["konnectivity"]["nodePort"]) == (31443, 31132)
        # NodePort: the management node's address (InternalIP: it has no external one), persisted in the spec.
        cluster = await eventually(lambda: (c := get(env, KMC, "Cluster", "k0s-s")) and
                                   c["spec"].get("externalAddress") and c, 20)
        assert cluster["spec"]["externalAddress"] == "10.0.0.7"
    elif service_type == "LoadBalancer":
        # No address yet: the k0s config waits for it.
        assert get(env, "v1", "ConfigMap", "kmc-k0s-s-config") is None
        patch_status(env, "v1", "Service", service_name, {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}})
        cluster = await eventually(lambda: (c := get(env, KMC, "Cluster", "k0s-s")) and
                                   c["spec"].get("externalAddress") and c, 20)
        assert cluster["spec"]["externalAddress"] == "192.0.2.10"
    else:
        assert all("nodePort" not in p for p in ports.values())
    config = k0s_yaml(await wait_for(env, "v1", "ConfigMap", "kmc-k0s-s-config"))
    assert config["spec"]["api"]["port"] == 31443
    assert config["spec"]["konnectivity"]["agentPort"] == 31132
    cluster = get(env, KMC, "Cluster", "k0s-s")
    await eventually(lambda: condition(get(env, KMC, "Cluster", "k0s-s"), "ControlPlaneExposed").get("status")
                     == ("False" if service_type == "ClusterIP" else "True"), 20)
    # A different type replaces the Service.
    if service_type == "ClusterIP":
        patch(env, KMC, "Cluster", "k0s-s", {"spec": {"service": {"type": "NodePort"}}})
        await wait_for(env, "v1", "Service", "kmc-k0s-s-nodeport")
        await eventually(lambda: get(env, "v1", "Service", "kmc-k0s-s") is None, 20)
    assert cluster is not None


# --- k0s config, entrypoint ------------------------------------------------------------------------------------------


async def test_config_and_entrypoint(kmc_controller: KMCController) -> None:
    env = kmc_controller.capi.env
    env.create(kmc("k0s-e", service={"type": "ClusterIP"}, externalAddress="k0s-e.example.com",
                   controllerPlaneFlags=["--debug"],
                   k0sConfig={"apiVersion": "k0s.k0sproject.io/v1beta1", "kind": "ClusterConfig",
                              "spec": {"api": {"sans": ["zz.example.com"], "port": 1},
                                       "network": {"provider": "calico"}}}))
    cm = await wait_for(env, "v1", "ConfigMap", "kmc-k0s-e-config")
    assert cm["metadata"]["labels"]["app.kubernetes.io/component"] == "config"
    svc = get(env, "v1", "Service", "kmc-k0s-e")
    assert svc is not None
    config = k0s_yaml(cm)
    assert config["apiVersion"] == "k0s.k0sproject.io/v1beta1" and config["kind"] == "ClusterConfig"
    spec = config["spec"]
    assert spec["api"]["port"] == 30443
    assert spec["api"]["externalAddress"] == "k0s-e.example.com"
    assert spec["api"]["sans"] == sorted({
        "zz.example.com", "k0s-e.example.com", "kmc-k0s-e", f"kmc-k0s-e.{NS}", f"kmc-k0s-e.{NS}.svc",
        f"kmc-k0s-e.{NS}.svc.cluster.local", *svc["spec"]["clusterIPs"]})
    assert spec["network"] == {"provider": "calico"}
    assert spec["konnectivity"]["agentPort"] == 30132
    assert spec["storage"] == {"type": "etcd", "etcd": {"externalCluster": {
        "endpoints": ["https://kmc-k0s-e-etcd:2379"], "etcdPrefix": "k0s-e",
        "caFile": "/var/lib/k0s/pki/etcd-ca.crt",
        "clientCertFile": "/var/lib/k0s/pki/apiserver-etcd-client.crt",
        "clientKeyFile": "/var/lib/k0s/pki/apiserver-etcd-client.key"}}}
    entry = await wait_for(env, "v1", "ConfigMap", "kmc-entrypoint-k0s-e-config")
    script = entry["data"]["k0smotron-entrypoint.sh"]
    assert '"$K0SMOTRON_K0S_YAML" > /etc/k0s/k0s.yaml' in script
    assert script.rstrip().endswith("exec k0s controller --debug --config=/etc/k0s/k0s.yaml --enable-dynamic-config")


async def test_kine_storage(kmc_controller: KMCController) -> None:
    env = kmc_controller.capi.env
    env.create(kmc("k0s-k", service={"type": "ClusterIP"}, kineDataSourceSecretName="kine-url"))
    config = k0s_yaml(await wait_for(env, "v1", "ConfigMap", "kmc-k0s-k-config"))
    assert config["spec"]["storage"] == {"type": "kine",
                                         "kine": {"dataSource": "__K0SMOTRON_KINE_DATASOURCE_URL_PLACEHOLDER__"}}
    sts = await wait_for(env, "apps/v1", "StatefulSet", "kmc-k0s-k")
    assert sts["spec"]["template"]["spec"]["containers"][0]["envFrom"][1] == {"secretRef": {"name": "kine-url"}}
    assert get(env, "apps/v1", "StatefulSet", "kmc-k0s-k-etcd") is None
    assert get(env, "v1", "Secret", "k0s-k-etcd-server") is None


# --- certificates ----------------------------------------------------------------------------------------------------


async def test_certificates_created_once_and_user_secrets_kept(kmc_controller: KMCController) -> None:
    env = kmc_controller.capi.env
    user_ca = pki.generate_ca("my-own-ca")
    env.create(pki.cluster_certificates_secret("k0s-c1", NS, "ca", user_ca))
    env.create({**kmc("k0s-c1", service={"type": "ClusterIP"}),
                "metadata": {"name": "k0s-c1", "namespace": NS,
                             "labels": {"cluster.x-k8s.io/cluster-name": "k0s-c1"}}})
    await wait_for(env, "apps/v1", "StatefulSet", "kmc-k0s-c1")
    names = ["k0s-c1-ca", "k0s-c1-proxy", "k0s-c1-sa", "k0s-c1-etcd", "k0s-c1-apiserver-etcd-client",
             "k0s-c1-etcd-server", "k0s-c1-etcd-peer"]
    secrets = {n: await wait_for(env, "v1", "Secret", n) for n in names}
    assert base64.b64decode(secrets["k0s-c1-ca"]["data"]["tls.crt"]) == user_ca.cert_pem  # never overwritten
    for n in names[1:]:
        secret = secrets[n]
        assert secret["type"] == "cluster.x-k8s.io/secret"
        assert secret["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == "k0s-c1"
        assert secret["metadata"]["ownerReferences"][0]["name"] == "k0s-c1"
        assert {"tls.crt", "tls.key"} <= set(secret["data"])
    etcd_ca = x509.load_pem_x509_certificate(base64.b64decode(secrets["k0s-c1-etcd"]["data"]["tls.crt"]))
    server = x509.load_pem_x509_certificate(base64.b64decode(secrets["k0s-c1-etcd-server"]["data"]["tls.crt"]))
    assert server.issuer == etcd_ca.subject
    server.verify_directly_issued_by(etcd_ca)
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)
    assert {"kmc-k0s-c1-etcd", f"kmc-k0s-c1-etcd.{NS}.svc", f"*.kmc-k0s-c1-etcd.{NS}.svc.cluster.local"} <= set(sans)
    await eventually(lambda: condition(get(env, KMC, "Cluster", "k0s-c1"), "CertificatesAvailable")
                     .get("status") == "True", 20)
    versions = {n: s["metadata"]["resourceVersion"] for n, s in secrets.items()}
    # Another pass (a spec change) reuses every certificate.
    patch(env, KMC, "Cluster", "k0s-c1", {"spec": {"replicas": 2}})
    await eventually(lambda: get(env, "apps/v1", "StatefulSet", "kmc-k0s-c1")["spec"]["replicas"] == 2, 20)
    assert {n: get(env, "v1", "Secret", n)["metadata"]["resourceVersion"] for n in names} == versions


async def test_missing_certificate_ref_is_reported(kmc_controller: KMCController) -> None:
    env = kmc_controller.capi.env
    env.create(kmc("k0s-c2", service={"type": "ClusterIP"}, certificateRefs=[{"type": "ca", "name": "nope"}]))
    cert = await eventually(lambda: (c := condition(get(env, KMC, "Cluster", "k0s-c2"), "CertificatesAvailable"))
                            and c.get("reason") == "NotFound" and c, 20)
    assert cert["status"] == "False" and "nope" in cert["message"]


# --- etcd ------------------------------------------------------------------------------------------------------------


async def test_etcd_grows_one_member_at_a_time_and_never_shrinks(kmc_controller: KMCController) -> None:
    env = kmc_controller.capi.env
    env.create(kmc("k0s-h", service={"type": "ClusterIP"}, etcd={"persistence": {"size": "2Gi"}}))
    sts = await wait_for(env, "apps/v1", "StatefulSet", "kmc-k0s-h-etcd")
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert sts["spec"]["serviceName"] == "kmc-k0s-h-etcd"
    [claim] = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "etcd-data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert sts["spec"]["template"]["metadata"]["labels"]["component"] == "etcd"
    headless = await wait_for(env, "v1", "Service", "kmc-k0s-h-etcd")
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    assert {p["name"]: p["port"] for p in headless["spec"]["ports"]} == {"client": 2379, "peer": 2380}

    def etcd_replicas() -> int:
        return int(get(env, "apps/v1", "StatefulSet", "kmc-k0s-h-etcd")["spec"]["replicas"])

    patch_status(env, "apps/v1", "StatefulSet", "kmc-k0s-h-etcd", {"replicas": 1, "readyReplicas": 1})
    patch(env, KMC, "Cluster", "k0s-h", {"spec": {"replicas": 3}})
    await eventually(lambda: etcd_replicas() == 2, 20, what="etcd grows to 2")
    await eventually(lambda: get(env, "apps/v1", "StatefulSet", "kmc-k0s-h")["spec"]["replicas"] == 3, 20)
    assert etcd_replicas() == 2  # the second member is not ready yet: no third one
    patch_status(env, "apps/v1", "StatefulSet", "kmc-k0s-h-etcd", {"replicas": 2, "readyReplicas": 2})
    await eventually(lambda: etcd_replicas() == 3, 20, what="etcd grows to 3")
    env_ = sts["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env_[0]["name"] == "ETCD_INITIAL_CLUSTER"
    patch_status(env, "apps/v1", "StatefulSet", "kmc-k0s-h-etcd", {"replicas": 3, "readyReplicas": 3})
    patch(env, KMC, "Cluster", "k0s-h", {"spec": {"replicas": 1}})
    await eventually(lambda: get(env, "apps/v1", "StatefulSet", "kmc-k0s-h")["spec"]["replicas"] == 1, 20)
    assert etcd_replicas() == 3  # etcd is never scaled down
    patch(env, KMC, "Cluster", "k0s-h", {"spec": {"replicas": 4}})  # 4 → 5 etcd members (odd), one at a time
    await eventually(lambda: etcd_replicas() == 4, 20)
    assert etcd_replicas() == 4


# --- deletion --------------------------------------------------------------------------------------------------------


async def test_deletion_removes_finalizer_and_children_go(kmc_controller: KMCController) -> None:
    env = kmc_controller.capi.env
    env.create(kmc("k0s-x", service={"type": "ClusterIP"}))
    await wait_for(env, "apps/v1", "StatefulSet", "kmc-k0s-x")
    await wait_for(env, "apps/v1", "StatefulSet", "kmc-k0s-x-etcd")
    cluster = get(env, KMC, "Cluster", "k0s-x")
    assert "k0smotron.io/finalizer" in cluster["metadata"]["finalizers"]
    delete(env, KMC, "Cluster", "k0s-x")
    await eventually(lambda: get(env, KMC, "Cluster", "k0s-x") is None, 20, what="KMC gone")
    await env.settle()
    children = [("apps/v1", "StatefulSet", "kmc-k0s-x"), ("apps/v1", "StatefulSet", "kmc-k0s-x-etcd"),
                ("v1", "Service", "kmc-k0s-x"), ("v1", "Service", "kmc-k0s-x-etcd"),
                ("v1", "ConfigMap", "kmc-k0s-x-config"), ("v1", "ConfigMap", "kmc-entrypoint-k0s-x-config"),
                ("v1", "Secret", "k0s-x-ca"), ("v1", "Secret", "k0s-x-etcd-server")]
    await eventually(lambda: all(get(env, *child) is None for child in children), 20, what="children collected")
