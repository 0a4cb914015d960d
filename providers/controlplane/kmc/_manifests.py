"""The objects generated for a k0smotron.io Cluster, as plain dicts (pure functions of the KMC and what was observed).

Everything here is wire contract (spec §4.2): names, labels, keys, paths, probe numbers.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import shlex
from typing import Any, Final

from k0smotron_core import pki
from k0smotron_core.api import k0smotron

from . import _names as names

K0S_CONFIG_KEY: Final = "K0SMOTRON_K0S_YAML"
ENTRYPOINT_KEY: Final = "k0smotron-entrypoint.sh"
K0S_API_VERSION: Final = "k0s.k0sproject.io/v1beta1"
KINE_PLACEHOLDER: Final = "__K0SMOTRON_KINE_DATASOURCE_URL_PLACEHOLDER__"
PKI_DIR: Final = "/var/lib/k0s/pki"
ETCD_CLIENT_PORT: Final = 2379
ETCD_PEER_PORT: Final = 2380
ETCD_DATA_VOLUME: Final = "etcd-data"
CERT_FILES: Final = {
    "ca": ("ca.crt", "ca.key"),
    "sa": ("sa.pub", "sa.key"),
    "proxy": ("front-proxy-ca.crt", "front-proxy-ca.key"),
    "etcd": ("etcd-ca.crt", "etcd-ca.key"),
    "apiserver-etcd-client": ("apiserver-etcd-client.crt", "apiserver-etcd-client.key"),
}
"""Where the k0s controller expects each certificate of `certificateRefs` (other types are not mounted)."""


class InvalidSpec(ValueError):
    """The KMC's spec cannot be turned into objects; the message says which field and why."""


def uses_etcd(spec: k0smotron.ClusterSpec) -> bool:
    """Storage is etcd unless a kine data source is given (the v1beta1 shape has no `storage.type`)."""
    return not (spec.kine_data_source_url or spec.kine_data_source_secret_name)


def host_port(host: str, port: int) -> str:
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]:{port}"
    except ValueError:
        pass
    return f"{host}:{port}"


# --- Services --------------------------------------------------------------------------------------------------------


def service(kmc: dict[str, Any], spec: k0smotron.ClusterSpec) -> dict[str, Any]:
    svc = spec.service
    labels = {**names.component_labels(kmc, spec, "control-plane"), **(svc.labels or {})}
    annotations = {**names.object_annotations(kmc, spec), **(svc.annotations or {})}
    ports: list[dict[str, Any]] = []
    for port_name, port in (("api", svc.api_port), ("konnectivity", svc.konnectivity_port)):
        entry: dict[str, Any] = {"name": port_name, "port": port, "targetPort": port, "protocol": "TCP"}
        if svc.type == "NodePort":
            entry["nodePort"] = port
        ports.append(entry)
    body: dict[str, Any] = {"type": svc.type, "selector": names.base_labels(kmc, spec), "ports": ports}
    if svc.type != "ClusterIP" and svc.external_traffic_policy:
        body["externalTrafficPolicy"] = svc.external_traffic_policy
    if svc.type == "LoadBalancer" and svc.load_balancer_class:
        body["loadBalancerClass"] = svc.load_balancer_class
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": names.metadata(kmc, names.service(kmc["metadata"]["name"], svc.type), labels, annotations),
            "spec": body}


def etcd_service(kmc: dict[str, Any], spec: k0smotron.ClusterSpec) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": names.metadata(kmc, names.etcd(kmc["metadata"]["name"]), names.etcd_labels(kmc, spec),
                                       names.object_annotations(kmc, spec)),
            "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                     "selector": names.etcd_selector(kmc, spec),
                     "ports": [{"name": "client", "port": ETCD_CLIENT_PORT, "targetPort": ETCD_CLIENT_PORT,
                                "protocol": "TCP"},
                               {"name": "peer", "port": ETCD_PEER_PORT, "targetPort": ETCD_PEER_PORT,
                                "protocol": "TCP"}]}}


# --- k0s configuration -----------------------------------------------------------------------------------------------


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge with override: maps merge recursively, anything else is replaced."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


def k0s_config(kmc: dict[str, Any], spec: k0smotron.ClusterSpec, *, service_ips: list[str]) -> dict[str, Any]:
    """The k0s ClusterConfig: the user's `k0sConfig` with what k0smotron computes laid over it."""
    n, ns = kmc["metadata"]["name"], kmc["metadata"]["namespace"]
    user = dict(spec.k0s_config or {})
    api_version = user.get("apiVersion") or K0S_API_VERSION
    if api_version != K0S_API_VERSION:
        raise InvalidSpec(f"spec.k0sConfig.apiVersion must be {K0S_API_VERSION}, not {api_version}")
    svc = names.service(n, spec.service.type)
    user_sans = [str(s) for s in (((user.get("spec") or {}).get("api") or {}).get("sans") or ())]
    sans = set(user_sans) | {svc, f"{svc}.{ns}", f"{svc}.{ns}.svc", f"{svc}.{ns}.svc.cluster.local", *service_ips}
    if spec.external_address:
        sans.add(spec.external_address)
    api: dict[str, Any] = {"port": spec.service.api_port, "sans": sorted(sans)}
    if spec.external_address:
        api["externalAddress"] = spec.external_address
    storage: dict[str, Any]
    if uses_etcd(spec):
        storage = {"type": "etcd", "etcd": {"externalCluster": {
            "endpoints": [f"https://{names.etcd(n)}:{ETCD_CLIENT_PORT}"],
            "etcdPrefix": n,
            "caFile": f"{PKI_DIR}/etcd-ca.crt",
            "clientCertFile": f"{PKI_DIR}/apiserver-etcd-client.crt",
            "clientKeyFile": f"{PKI_DIR}/apiserver-etcd-client.key",
        }}}
    else:
        source = KINE_PLACEHOLDER if spec.kine_data_source_secret_name else spec.kine_data_source_url
        storage = {"type": "kine", "kine": {"dataSource": source}}
    computed = {"api": api, "konnectivity": {"agentPort": spec.service.konnectivity_port}, "storage": storage}
    config = {"apiVersion": K0S_API_VERSION, "kind": "ClusterConfig",
              "metadata": user.get("metadata") or {"name": "k0s"}}
    config["spec"] = _merge(dict(user.get("spec") or {}), computed)
    return config


def config_map(kmc: dict[str, Any], spec: k0smotron.ClusterSpec, k0s_yaml: str) -> dict[str, Any]:
    n = kmc["metadata"]["name"]
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": names.metadata(kmc, names.config_map(n), names.component_labels(kmc, spec, "config"),
                                       names.object_annotations(kmc, spec)),
            "data": {K0S_CONFIG_KEY: k0s_yaml}}


def controller_flags(spec: k0smotron.ClusterSpec) -> list[str]:
    flags = list(spec.control_plane_flags or ())
    if not any(f == "--config" or f.startswith("--config=") for f in flags):
        flags.append("--config=/etc/k0s/k0s.yaml")
    if not any(f == "--enable-dynamic-config" or f.startswith("--enable-dynamic-config=") for f in flags):
        flags.append("--enable-dynamic-config")
    return flags


def entrypoint_script(spec: k0smotron.ClusterSpec) -> str:
    lines = [
        "#!/bin/sh",
        "set -e",
        "# The k0s configuration, from the kmc-<name>-config ConfigMap (env K0SMOTRON_K0S_YAML)",
        "mkdir -p /etc/k0s",
        'printf "%s\\n" "$K0SMOTRON_K0S_YAML" > /etc/k0s/k0s.yaml',
        "# The kine data source URL, from the kineDataSourceSecretName Secret (env K0SMOTRON_KINE_DATASOURCE_URL)",
        'if [ -n "$K0SMOTRON_KINE_DATASOURCE_URL" ]; then',
        '  escaped=$(printf "%s" "$K0SMOTRON_KINE_DATASOURCE_URL" | sed -e "s/[|&\\\\]/\\\\&/g")',
        f'  sed -i "s|{KINE_PLACEHOLDER}|$escaped|g" /etc/k0s/k0s.yaml',
        "fi",
    ]
    if spec.service.api_port <= 1024:
        lines += [
            "# The API port is privileged: let kube-apiserver bind it",
            "apk add --no-cache libcap || true",
            "if [ -f /var/lib/k0s/bin/kube-apiserver ]; then",
            "  setcap cap_net_bind_service=+ep /var/lib/k0s/bin/kube-apiserver",
            "fi",
        ]
    lines.append("exec k0s controller " + " ".join(shlex.quote(f) for f in controller_flags(spec)))
    return "\n".join(lines) + "\n"


def entrypoint_config_map(kmc: dict[str, Any], spec: k0smotron.ClusterSpec) -> dict[str, Any]:
    n = kmc["metadata"]["name"]
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": names.metadata(kmc, names.entrypoint_config_map(n),
                                       names.component_labels(kmc, spec, "entrypoint"),
                                       names.object_annotations(kmc, spec)),
            "data": {ENTRYPOINT_KEY: entrypoint_script(spec)}}


# --- etcd ------------------------------------------------------------------------------------------------------------


def etcd_replicas(desired_kmc_replicas: int) -> int:
    """1 for a single control plane, else the KMC replicas rounded up to an odd number."""
    if desired_kmc_replicas <= 1:
        return 1
    return desired_kmc_replicas if desired_kmc_replicas % 2 else desired_kmc_replicas + 1


def etcd_hosts(n: str, namespace: str) -> list[str]:
    svc = names.etcd(n)
    hosts = ["127.0.0.1", "localhost"]
    for base in (svc, f"{svc}.{namespace}.svc", f"{svc}.{namespace}.svc.cluster.local"):
        hosts += [base, f"*.{base}"]
    return hosts


_ETCD_INIT = """set -e
if [ -d /var/lib/k0s/etcd/member/snap ] && [ -n "$(ls -A /var/lib/k0s/etcd/member/snap 2>/dev/null)" ]; then
  exit 0
fi
export ETCDCTL_ENDPOINTS=https://{svc}:2379 ETCDCTL_CACERT=/etc/etcd/pki/ca/tls.crt \\
  ETCDCTL_CERT=/etc/etcd/pki/server/tls.crt ETCDCTL_KEY=/etc/etcd/pki/server/tls.key
if etcdctl member list > /tmp/members 2>/dev/null; then
  id=$(grep "$HOSTNAME" /tmp/members | cut -d, -f1 || true)
  if [ -n "$id" ]; then etcdctl member remove "$id"; fi
  etcdctl member add "$HOSTNAME" --peer-urls="https://$HOSTNAME.{svc}:2380"
  mkdir -p /var/lib/k0s/etcd
  touch /var/lib/k0s/etcd/existing
fi
"""

_ETCD_RUN = """state=new
if [ -f /var/lib/k0s/etcd/existing ]; then state=existing; fi
exec etcd --name="$HOSTNAME" --data-dir=/var/lib/k0s/etcd \\
  --listen-client-urls=https://0.0.0.0:2379 --advertise-client-urls="https://$HOSTNAME.{svc}:2379" \\
  --listen-peer-urls=https://0.0.0.0:2380 --initial-advertise-peer-urls="https://$HOSTNAME.{svc}:2380" \\
  --initial-cluster="$ETCD_INITIAL_CLUSTER" --initial-cluster-state="$state" \\
  --client-cert-auth=true --trusted-ca-file=/etc/etcd/pki/ca/tls.crt \\
  --cert-file=/etc/etcd/pki/server/tls.crt --key-file=/etc/etcd/pki/server/tls.key \\
  --peer-client-cert-auth=true --peer-trusted-ca-file=/etc/etcd/pki/ca/tls.crt \\
  --peer-cert-file=/etc/etcd/pki/peer/tls.crt --peer-key-file=/etc/etcd/pki/peer/tls.key \\
  --auto-compaction-mode=periodic --auto-compaction-retention=5m --snapshot-count=10000{args}
"""


def etcd_statefulset(kmc: dict[str, Any], spec: k0smotron.ClusterSpec, *, replicas: int,
                     etcd_ca_secret: str) -> dict[str, Any]:
    n, ns = kmc["metadata"]["name"], kmc["metadata"]["namespace"]
    name = names.etcd(n)
    svc = f"{name}.{ns}.svc"
    initial_cluster = ",".join(f"{name}-{i}=https://{name}-{i}.{name}:{ETCD_PEER_PORT}" for i in range(replicas))
    extra_args = "".join(f" \\\n  {shlex.quote(a)}" for a in spec.etcd.args or ())
    pki_mounts = [{"name": "etcd-ca", "mountPath": "/etc/etcd/pki/ca", "readOnly": True},
                  {"name": "etcd-server", "mountPath": "/etc/etcd/pki/server", "readOnly": True},
                  {"name": "etcd-peer", "mountPath": "/etc/etcd/pki/peer", "readOnly": True}]
    data_mount = {"name": ETCD_DATA_VOLUME, "mountPath": "/var/lib/k0s/etcd"}
    container: dict[str, Any] = {
        "name": "etcd", "image": spec.etcd.image, "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", _ETCD_RUN.format(svc=name, args=extra_args)],
        "env": [{"name": "ETCD_INITIAL_CLUSTER", "value": initial_cluster}],
        "ports": [{"name": "client", "containerPort": ETCD_CLIENT_PORT, "protocol": "TCP"},
                  {"name": "peer", "containerPort": ETCD_PEER_PORT, "protocol": "TCP"}],
        "readinessProbe": {"exec": {"command": [
            "/bin/sh", "-c", "etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/etcd/pki/ca/tls.crt "
            "--cert=/etc/etcd/pki/server/tls.crt --key=/etc/etcd/pki/server/tls.key endpoint health"]},
            "initialDelaySeconds": 5, "periodSeconds": 10, "failureThreshold": 6},
        "volumeMounts": [data_mount, *pki_mounts],
    }
    if spec.etcd.resources:
        container["resources"] = dict(spec.etcd.resources)
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": {"fsGroup": 1001},
        "initContainers": [
            {"name": "dns-check", "image": spec.etcd.image, "imagePullPolicy": "IfNotPresent",
             "command": ["/bin/sh", "-c",
                         f"until getent ahostsv4 $HOSTNAME.{name}.{ns}.svc; do echo waiting for DNS; sleep 2; done"]},
            {"name": "init", "image": spec.etcd.image, "imagePullPolicy": "IfNotPresent",
             "command": ["/bin/sh", "-c", _ETCD_INIT.format(svc=svc)],
             "volumeMounts": [data_mount, *pki_mounts]},
        ],
        "containers": [container],
        "volumes": [{"name": "etcd-ca", "secret": {"secretName": etcd_ca_secret, "items": [
                        {"key": "tls.crt", "path": "tls.crt"}]}},
                    {"name": "etcd-server", "secret": {"secretName": f"{n}-etcd-server"}},
                    {"name": "etcd-peer", "secret": {"secretName": f"{n}-etcd-peer"}}],
    }
    if spec.service_account:
        pod_spec["serviceAccountName"] = spec.service_account
    if spec.topology_spread_constraints:
        pod_spec["topologySpreadConstraints"] = [dict(c) for c in spec.topology_spread_constraints]
    claim_spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                                  "resources": {"requests": {"storage": str(spec.etcd.persistence.size or "1Gi")}}}
    if spec.etcd.persistence.storage_class:
        claim_spec["storageClassName"] = spec.etcd.persistence.storage_class
    sts_spec: dict[str, Any] = {
        "replicas": replicas, "serviceName": name, "podManagementPolicy": "Parallel",
        "selector": {"matchLabels": names.etcd_selector(kmc, spec)},
        "template": {"metadata": {"labels": names.etcd_labels(kmc, spec)}, "spec": pod_spec},
        "volumeClaimTemplates": [{"metadata": {"name": ETCD_DATA_VOLUME}, "spec": claim_spec}],
    }
    if spec.etcd.auto_delete_pvcs:
        sts_spec["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": "Delete", "whenScaled": "Retain"}
    return _with_hash({"apiVersion": "apps/v1", "kind": "StatefulSet",
                       "metadata": names.metadata(kmc, name, names.etcd_labels(kmc, spec),
                                                  names.object_annotations(kmc, spec)),
                       "spec": sts_spec})


# --- the k0s StatefulSet ---------------------------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def mount_volume_name(path: str) -> str:
    """`/etc/foo/bar` → `etc-foo-bar`; anything that is no DNS label is sanitised and gets a 5-hex sha256 suffix."""
    candidate = path.strip("/").replace("/", "-")
    if candidate and len(candidate) <= names.MAX_NAME and _DNS_LABEL.match(candidate):
        return candidate
    sanitised = re.sub(r"[^a-z0-9-]+", "-", candidate.lower()).strip("-")[:57].strip("-") or "mount"
    return f"{sanitised}-{hashlib.sha256(path.encode()).hexdigest()[:5]}"


def _data_volume(kmc: dict[str, Any], spec: k0smotron.ClusterSpec
                 ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str]:
    """(volume, volumeClaimTemplate, volume name) for /var/lib/k0s."""
    n = kmc["metadata"]["name"]
    persistence = spec.persistence
    if persistence.type == "hostPath":
        if not persistence.host_path:
            raise InvalidSpec("spec.persistence.hostPath is required for persistence type hostPath")
        return {"name": names.data_volume(n), "hostPath": {"path": persistence.host_path}}, None, names.data_volume(n)
    if persistence.type == "pvc":
        claim = persistence.persistent_volume_claim
        if claim is None:
            raise InvalidSpec("spec.persistence.persistentVolumeClaim is required for persistence type pvc")
        meta = claim.metadata.to_dict() if claim.metadata is not None else {}
        meta.pop("namespace", None)
        meta["name"] = meta.get("name") or names.data_volume(n)
        template: dict[str, Any] = {"metadata": meta, "spec": dict(claim.spec or {})}
        return None, template, str(meta["name"])
    return {"name": names.data_volume(n), "emptyDir": {}}, None, names.data_volume(n)


def statefulset(kmc: dict[str, Any], spec: k0smotron.ClusterSpec, *, certificate_refs: list[tuple[str, str]],
                raw_spec: dict[str, Any]) -> dict[str, Any]:
    """The k0s control plane StatefulSet `kmc-<n>`. `certificate_refs`: (type, Secret name)."""
    n = kmc["metadata"]["name"]
    sts_name = names.statefulset(n)
    selector = names.control_plane_labels(kmc, spec)
    pod_labels = {**selector, names.COMPONENT_LABEL: "control-plane"}
    data_volume, claim_template, data_name = _data_volume(kmc, spec)
    volumes: list[dict[str, Any]] = [
        {"name": "entrypoint", "configMap": {"name": names.entrypoint_config_map(n), "defaultMode": 0o744,
                                            "items": [{"key": ENTRYPOINT_KEY, "path": ENTRYPOINT_KEY}]}},
    ]
    if data_volume is not None:
        volumes.append(data_volume)
    mounts: list[dict[str, Any]] = [
        {"name": "entrypoint", "mountPath": "/k0smotron-entrypoint.sh", "subPath": ENTRYPOINT_KEY},
        {"name": data_name, "mountPath": "/var/lib/k0s"},
    ]
    init_containers: list[dict[str, Any]] = []
    sources = [{"secret": {"name": secret, "items": [{"key": "tls.crt", "path": CERT_FILES[kind][0]},
                                                     {"key": "tls.key", "path": CERT_FILES[kind][1]}]}}
               for kind, secret in certificate_refs if kind in CERT_FILES]
    if sources:
        volumes.append({"name": "certs", "projected": {"sources": sources}})
        init_containers.append({
            "name": "certs-init", "image": spec.get_image(), "imagePullPolicy": "IfNotPresent",
            "command": ["/bin/sh", "-c",
                        f"mkdir -p {PKI_DIR} && rm -f {PKI_DIR}/server.* && cp -L /certs-init/* {PKI_DIR}/ "
                        f"&& chmod 600 {PKI_DIR}/*.key"],
            "volumeMounts": [{"name": "certs", "mountPath": "/certs-init", "readOnly": True},
                             {"name": data_name, "mountPath": "/var/lib/k0s"}],
        })
    for manifest in raw_spec.get("manifests") or ():
        volumes.append(dict(manifest))
        mounts.append({"name": manifest["name"], "mountPath": f"/var/lib/k0s/manifests/{manifest['name']}",
                       "readOnly": True})
    for mount in raw_spec.get("mounts") or ():
        source = {k: v for k, v in mount.items() if k not in ("path", "readOnly")}
        volume_name = mount_volume_name(str(mount["path"]))
        volumes.append({"name": volume_name, **source})
        read_only = bool(mount.get("readOnly")) or "configMap" in source or "secret" in source
        mounts.append({"name": volume_name, "mountPath": mount["path"], "readOnly": read_only})
    env_from: list[dict[str, Any]] = [{"configMapRef": {"name": names.config_map(n)}}]
    if spec.kine_data_source_secret_name:
        env_from.append({"secretRef": {"name": spec.kine_data_source_secret_name}})
    container: dict[str, Any] = {
        "name": "controller", "image": spec.get_image(), "imagePullPolicy": "IfNotPresent",
        "args": ["/bin/sh", "-c", "/k0smotron-entrypoint.sh"],
        "ports": [{"name": "api", "containerPort": spec.service.api_port, "protocol": "TCP"},
                  {"name": "konnectivity", "containerPort": spec.service.konnectivity_port, "protocol": "TCP"}],
        "envFrom": env_from,
        "readinessProbe": {"exec": {"command": ["k0s", "status"]}, "initialDelaySeconds": 60, "periodSeconds": 10,
                           "failureThreshold": 15},
        "livenessProbe": {"exec": {"command": ["k0s", "status"]}, "initialDelaySeconds": 90, "periodSeconds": 10,
                          "failureThreshold": 10},
        "volumeMounts": mounts,
    }
    if spec.resources:
        container["resources"] = dict(spec.resources)
    match = {"app": "k0smotron", "cluster": n}
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": match},
                                                "topologyKey": "topology.kubernetes.io/zone"}},
            {"weight": 50, "podAffinityTerm": {"labelSelector": {"matchLabels": match},
                                               "topologyKey": "kubernetes.io/hostname"}},
        ]}},
        "containers": [container],
        "volumes": volumes,
    }
    if init_containers:
        pod_spec["initContainers"] = init_containers
    if spec.service_account:
        pod_spec["serviceAccountName"] = spec.service_account
    if spec.topology_spread_constraints:
        pod_spec["topologySpreadConstraints"] = [dict(c) for c in spec.topology_spread_constraints]
    template_meta: dict[str, Any] = {"labels": pod_labels}
    pod_annotations = names.object_annotations(kmc, spec)
    if pod_annotations:
        template_meta["annotations"] = pod_annotations
    sts_spec: dict[str, Any] = {
        "replicas": spec.replicas, "serviceName": names.service(n, spec.service.type),
        "selector": {"matchLabels": selector},
        "template": {"metadata": template_meta, "spec": pod_spec},
    }
    if claim_template is not None:
        sts_spec["volumeClaimTemplates"] = [claim_template]
        if spec.persistence.auto_delete_pvcs:
            sts_spec["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": "Delete", "whenScaled": "Retain"}
    return _with_hash({"apiVersion": "apps/v1", "kind": "StatefulSet",
                       "metadata": names.metadata(kmc, sts_name, pod_labels, names.object_annotations(kmc, spec)),
                       "spec": sts_spec})


def _with_hash(sts: dict[str, Any]) -> dict[str, Any]:
    """Stamp `k0smotron.io/statefulset-hash`: the desired spec without replicas, so a pass can tell whether anything
    but the replica count changed without applying."""
    spec = {k: v for k, v in sts["spec"].items() if k != "replicas"}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    sts["metadata"].setdefault("annotations", {})[names.STATEFULSET_HASH_ANNOTATION] = digest
    return sts


def statefulset_hash(sts: dict[str, Any] | None) -> str | None:
    if sts is None:
        return None
    value = (sts["metadata"].get("annotations") or {}).get(names.STATEFULSET_HASH_ANNOTATION)
    return str(value) if value is not None else None


# --- Secrets ---------------------------------------------------------------------------------------------------------


def tls_secret(kmc: dict[str, Any], name: str, pair: pki.KeyPair, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": names.CLUSTER_SECRET_TYPE,
            "metadata": names.metadata(kmc, name, labels),
            "data": {"tls.crt": _b64(pair.cert_pem), "tls.key": _b64(pair.key_pem)}}


def kubeconfig_secret(kmc: dict[str, Any], spec: k0smotron.ClusterSpec, kubeconfig_yaml: str) -> dict[str, Any]:
    n = kmc["metadata"]["name"]
    labels = {**names.component_labels(kmc, spec, "kubeconfig"), names.CLUSTER_NAME_LABEL: n}
    return {"apiVersion": "v1", "kind": "Secret", "type": names.CLUSTER_SECRET_TYPE,
            "metadata": names.metadata(kmc, names.kubeconfig_secret(n), labels, names.object_annotations(kmc, spec)),
            "data": {"value": _b64(kubeconfig_yaml.encode())}}


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")
