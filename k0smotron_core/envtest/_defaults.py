"""Built-in defaulting: what kube-apiserver does to a built-in object between decoding it and storing it.

A real API server hands back objects that differ from what was sent: the v1 defaulting functions fill in
unset fields (pkg/apis/{core,apps,batch}/v1/defaults.go and their generated callers), quantities come back in
canonical form, the default admission plugins (ServiceAccount, Priority, DefaultTolerationSeconds) mutate
Pods, and the Service REST storage allocates cluster IPs and node ports. A controller that compares its
desired state with the live object has to cope with all of it, so envtest does the same.

`BuiltinDefaults` is a `ResourceStorage.admission` hook: it is called with (rt, old_or_None, new) for every
create, update, patch and apply, mutates `new` in place, and raises a `StatusError` where the real server
refuses the request (a cluster IP or node port already in use, a changed cluster IP, a Job template without a
restartPolicy, an unparsable quantity). Defaulting is idempotent: running it on an already defaulted object
changes nothing, and a client's GET-modify-PUT of an unchanged object stays a no-op.

The state of the IP and port allocators is derived from the stored Services on every call, so deletes free
their addresses and dry runs allocate nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
import ipaddress
import random
import re
from collections.abc import Callable, Iterator
from decimal import ROUND_UP, Context, Decimal, InvalidOperation
from typing import Any

from ._errors import FieldError, bad_request, forbidden, internal_error, invalid
from ._registry import ResourceType
from ._store import Store

Obj = dict[str, Any]

SERVICE_CIDR = "10.96.0.0/12"
NODE_PORT_RANGE = (30000, 32767)

_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
_DEFAULT_MODE = 420  # 0644, for secret, configMap, downwardAPI and projected volumes
_NOT_READY_TOLERATION = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 300}
_UNREACHABLE_TOLERATION = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                           "tolerationSeconds": 300}
_SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
_DAEMONSET_TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
_JOB_LABELS = ("batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name", "controller-uid", "job-name")
_VOLUME_SOURCES = frozenset({
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc",
    "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected",
    "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image",
})


# --- small helpers ---------------------------------------------------------------------------------------


def _dict(parent: Any, key: str) -> Obj | None:
    """parent[key] when it is an object."""
    if not isinstance(parent, dict):
        return None
    value = parent.get(key)
    return value if isinstance(value, dict) else None


def _struct(parent: Obj, key: str) -> Obj:
    """parent[key], created when absent or null as Go does for a struct; a malformed value is left alone (the
    returned object is then detached)."""
    value = parent.get(key)
    if value is None:
        value = parent[key] = {}
    return value if isinstance(value, dict) else {}


def _dicts(parent: Any, key: str) -> Iterator[Obj]:
    """The object items of the list parent[key]."""
    if isinstance(parent, dict):
        items = parent.get(key)
        if isinstance(items, list):
            yield from (item for item in items if isinstance(item, dict))


def _default(obj: Obj, key: str, value: Any) -> None:
    """Set a field whose Go zero value means unset (a nil pointer, "" or 0) when the client left it so."""
    current = obj.get(key)
    if current is None or current == "" or (current == 0 and not isinstance(current, bool)):
        obj[key] = copy.deepcopy(value)


def _default_ptr(obj: Obj, key: str, value: Any) -> None:
    """Set a pointer field (nil means unset, an explicit zero value is kept)."""
    if obj.get(key) is None:
        obj[key] = copy.deepcopy(value)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- quantities ------------------------------------------------------------------------------------------

_QUANTITY_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_QUANTITY = re.compile(_QUANTITY_RE)
_BINARY_SUFFIXES = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX_OF = {exponent: suffix for suffix, exponent in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIX_OF = {power: suffix for suffix, power in _BINARY_SUFFIXES.items()}
_DEC = Context(prec=400)
_NANO = Decimal("1e-9")
_MILLI = Decimal("1e-3")


class _QuantityError(Exception):
    """A quantity the real server's decoder would refuse (turned into a 400 naming the kind)."""


def parse_quantity(raw: Any) -> tuple[Decimal, str]:
    """The value and format ("BinarySI", "DecimalSI" or "DecimalExponent") of a resource.Quantity."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise _QuantityError(f"quantities must match the regular expression '{_QUANTITY_RE}'")
    text = raw if isinstance(raw, str) else str(raw)
    match = _QUANTITY.match(text)
    if not match:
        raise _QuantityError(f"quantities must match the regular expression '{_QUANTITY_RE}'")
    number, suffix = match.groups()
    digits = number.lstrip("+-")
    if digits.count(".") > 1 or not any(c.isdigit() for c in digits):
        raise _QuantityError(f"quantities must match the regular expression '{_QUANTITY_RE}'")
    try:
        value = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimal numbers
        raise _QuantityError(f"quantities must match the regular expression '{_QUANTITY_RE}'") from exc
    if suffix in _BINARY_SUFFIXES:
        value, fmt = _DEC.multiply(value, Decimal(1024 ** _BINARY_SUFFIXES[suffix])), "BinarySI"
    elif suffix in _DECIMAL_SUFFIXES:
        value, fmt = _DEC.scaleb(value, _DECIMAL_SUFFIXES[suffix]), "DecimalSI"
    elif re.fullmatch(r"[eE][-+]?[0-9]+", suffix):
        value, fmt = _DEC.scaleb(value, int(suffix[1:])), "DecimalExponent"
    else:
        raise _QuantityError("unable to parse quantity's suffix")
    # Values finer than a nano are rounded up (away from zero), as ParseQuantity does.
    return _round_up(value, _NANO), fmt


def _round_up(value: Decimal, unit: Decimal) -> Decimal:
    if value == value.quantize(unit, context=_DEC):
        return value
    return value.quantize(unit, rounding=ROUND_UP, context=_DEC)


def format_quantity(value: Decimal, fmt: str) -> str:
    """Quantity.String(): the canonical form the real server serializes (CanonicalizeBytes)."""
    if value == 0:
        return "0"
    if fmt == "BinarySI" and (-1024 < value < 1024 or value != value.to_integral_value(context=_DEC)):
        fmt = "DecimalSI"
    if fmt == "BinarySI":
        amount, power = int(value), 0
        while amount % 1024 == 0 and power < 6:
            amount //= 1024
            power += 1
        return f"{amount}{_BINARY_SUFFIX_OF.get(power, '')}"
    sign, digit_tuple, exponent = value.normalize(_DEC).as_tuple()
    assert isinstance(exponent, int)
    mantissa = int("".join(str(d) for d in digit_tuple))
    shift = exponent % 3  # down to a multiple of three, growing the mantissa (Go's AsCanonicalBytes)
    mantissa, exponent = mantissa * 10 ** shift, exponent - shift
    if sign:
        mantissa = -mantissa
    if fmt == "DecimalExponent":
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    suffix = _DECIMAL_SUFFIX_OF.get(exponent)
    return f"{mantissa}{suffix}" if suffix is not None else f"{mantissa}e{exponent}"


def canonical_quantity(raw: Any, *, resource_list: bool = False) -> str:
    """A quantity as the server echoes it; members of a ResourceList are also rounded up to milli units."""
    value, fmt = parse_quantity(raw)
    if resource_list:
        value = _round_up(value, _MILLI)
    return format_quantity(value, fmt)


def _canonical_resource_list(resources: Any) -> None:
    if isinstance(resources, dict):
        for name, quantity in list(resources.items()):
            resources[name] = canonical_quantity(quantity, resource_list=True)


def _canonical_requirements(requirements: Any) -> None:
    if isinstance(requirements, dict):
        _canonical_resource_list(requirements.get("limits"))
        _canonical_resource_list(requirements.get("requests"))


# --- pod specs -------------------------------------------------------------------------------------------


_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")


def image_pull_policy(image: Any) -> str:
    """Always for a `:latest` or untagged (and undigested) image, IfNotPresent otherwise.

    An image name the kubelet's ParseImageName cannot parse yields no tag, hence IfNotPresent.
    """
    parsed = _image_tag_and_digest(image)
    if parsed is None:
        return "IfNotPresent"
    tag, digest = parsed
    return "Always" if tag == "latest" or (not tag and not digest) else "IfNotPresent"


def _image_tag_and_digest(image: Any) -> tuple[str, str] | None:
    if not isinstance(image, str) or not image or any(c.isspace() for c in image):
        return None
    name, at, digest = image.partition("@")
    if at and not digest:
        return None
    components = name.split("/")
    repository, colon, tag = components[-1].partition(":")
    if colon and not _TAG.fullmatch(tag):
        return None
    first = components[0]
    has_domain = len(components) > 1 and ("." in first or ":" in first or first == "localhost"
                                          or first != first.lower())
    path = [*components[1 if has_domain else 0:-1], repository]
    if not all(_PATH_COMPONENT.fullmatch(part) for part in path):
        return None
    return tag, digest


def _probe(probe: Obj) -> None:
    _default(probe, "timeoutSeconds", 1)
    _default(probe, "periodSeconds", 10)
    _default(probe, "successThreshold", 1)
    _default(probe, "failureThreshold", 3)
    _handler(probe)
    grpc = _dict(probe, "grpc")
    if grpc is not None:
        _default_ptr(grpc, "service", "")


def _handler(handler: Obj) -> None:
    http_get = _dict(handler, "httpGet")
    if http_get is not None:
        _default(http_get, "path", "/")
        _default(http_get, "scheme", "HTTP")


def _field_ref(holder: Obj) -> None:
    ref = _dict(holder, "fieldRef")
    if ref is not None:
        _default(ref, "apiVersion", "v1")


def _container(container: Obj) -> None:
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = image_pull_policy(container.get("image"))
    _default(container, "terminationMessagePath", _TERMINATION_MESSAGE_PATH)
    _default(container, "terminationMessagePolicy", "File")
    for port in _dicts(container, "ports"):
        _default(port, "protocol", "TCP")
    for env in _dicts(container, "env"):
        value_from = _dict(env, "valueFrom")
        if value_from is not None:
            _field_ref(value_from)
    resources = _struct(container, "resources")
    _canonical_requirements(resources)
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = _dict(container, probe_name)
        if probe is not None:
            _probe(probe)
    lifecycle = _dict(container, "lifecycle")
    for hook_name in ("postStart", "preStop"):
        hook = _dict(lifecycle, hook_name)
        if hook is not None:
            _handler(hook)


def _pvc_spec(spec: Obj) -> None:
    _default_ptr(spec, "volumeMode", "Filesystem")
    _canonical_requirements(_struct(spec, "resources"))


def _volume(volume: Obj) -> None:
    if not any(volume.get(source) is not None for source in _VOLUME_SOURCES):
        volume["emptyDir"] = {}
    host_path = _dict(volume, "hostPath")
    if host_path is not None:
        _default_ptr(host_path, "type", "")
    empty_dir = _dict(volume, "emptyDir")
    if empty_dir is not None and empty_dir.get("sizeLimit") is not None:
        empty_dir["sizeLimit"] = canonical_quantity(empty_dir["sizeLimit"])
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        holder = _dict(volume, source)
        if holder is not None:
            _default_ptr(holder, "defaultMode", _DEFAULT_MODE)
    for item in _dicts(_dict(volume, "downwardAPI"), "items"):
        _field_ref(item)
    for projection in _dicts(_dict(volume, "projected"), "sources"):
        for item in _dicts(_dict(projection, "downwardAPI"), "items"):
            _field_ref(item)
        token = _dict(projection, "serviceAccountToken")
        if token is not None:
            _default_ptr(token, "expirationSeconds", 3600)
    _legacy_volume_sources(volume)
    claim_template = _dict(_dict(volume, "ephemeral"), "volumeClaimTemplate")
    if claim_template is not None:
        _pvc_spec(_struct(claim_template, "spec"))


def _legacy_volume_sources(volume: Obj) -> None:
    iscsi = _dict(volume, "iscsi")
    if iscsi is not None:
        _default(iscsi, "iscsiInterface", "default")
    rbd = _dict(volume, "rbd")
    if rbd is not None:
        _default(rbd, "pool", "rbd")
        _default(rbd, "user", "admin")
        _default(rbd, "keyring", "/etc/ceph/keyring")
    azure_disk = _dict(volume, "azureDisk")
    if azure_disk is not None:
        _default_ptr(azure_disk, "cachingMode", "ReadWrite")
        _default_ptr(azure_disk, "kind", "Shared")
        _default_ptr(azure_disk, "fsType", "ext4")
        _default_ptr(azure_disk, "readOnly", False)
    scale_io = _dict(volume, "scaleIO")
    if scale_io is not None:
        _default(scale_io, "storageMode", "ThinProvisioned")
        _default(scale_io, "fsType", "xfs")


def default_pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec and the generated per-field defaults: for Pods and every pod template."""
    _default(spec, "dnsPolicy", "ClusterFirst")
    _default(spec, "restartPolicy", "Always")
    _default_ptr(spec, "securityContext", {})
    _default_ptr(spec, "terminationGracePeriodSeconds", 30)
    _default(spec, "schedulerName", "default-scheduler")
    for volume in _dicts(spec, "volumes"):
        _volume(volume)
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in _dicts(spec, key):
            _container(container)
    _canonical_resource_list(spec.get("overhead"))
    _canonical_requirements(spec.get("resources"))
    # The v1 conversion keeps the deprecated serviceAccount an alias of serviceAccountName (the new field wins).
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if account:
        spec["serviceAccountName"] = spec["serviceAccount"] = account
    else:
        spec.pop("serviceAccountName", None)
        spec.pop("serviceAccount", None)


def _default_pod_template(template: Obj) -> None:
    template.setdefault("metadata", {})
    default_pod_spec(_struct(template, "spec"))


def _default_pod(pod: Obj) -> None:
    """SetObjectDefaults_Pod: the pod spec defaults plus those that only a Pod (not a template) gets."""
    spec = _struct(pod, "spec")
    default_pod_spec(spec)
    for key in ("containers", "initContainers"):
        for container in _dicts(spec, key):
            resources = _dict(container, "resources")
            limits = _dict(resources, "limits")
            if resources is not None and limits:
                requests = _struct(resources, "requests")
                for name, quantity in limits.items():
                    requests.setdefault(name, quantity)
    _default_ptr(spec, "enableServiceLinks", True)
    if spec.get("hostNetwork") is True:
        for key in ("containers", "initContainers"):
            for container in _dicts(spec, key):
                for port in _dicts(container, "ports"):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")


def _pod_qos_class(spec: Obj) -> str:
    """qos.GetPodQOS over the (defaulted) container resources."""
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for key in ("initContainers", "containers"):
        for container in _dicts(spec, key):
            resources = _dict(container, "resources") or {}
            for name, raw in (_dict(resources, "requests") or {}).items():
                value = parse_quantity(raw)[0]
                if name in ("cpu", "memory") and value > 0:
                    requests[name] = requests.get(name, Decimal(0)) + value
            found = set()
            for name, raw in (_dict(resources, "limits") or {}).items():
                value = parse_quantity(raw)[0]
                if name in ("cpu", "memory") and value > 0:
                    found.add(name)
                    limits[name] = limits.get(name, Decimal(0)) + value
            if found != {"cpu", "memory"}:
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and all(limits.get(name) == value for name, value in requests.items()) \
            and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


def _pod_status_aliases(status: Obj) -> None:
    """The v1 conversion of PodStatus: podIP is podIPs[0] and hostIP is hostIPs[0]."""
    for single, plural in (("podIP", "podIPs"), ("hostIP", "hostIPs")):
        ips = status.get(plural)
        if isinstance(ips, list) and ips and isinstance(ips[0], dict) and ips[0].get("ip"):
            status[single] = ips[0]["ip"]
        elif not ips and status.get(single):
            status[plural] = [{"ip": status[single]}]


def _pvc_status(status: Obj) -> None:
    _default(status, "phase", "Pending")
    _canonical_resource_list(status.get("capacity"))
    _canonical_resource_list(status.get("allocatedResources"))


# --- the hook --------------------------------------------------------------------------------------------


class BuiltinDefaults:
    """The `ResourceStorage.admission` hook that defaults built-in kinds as kube-apiserver does."""

    def __init__(
        self,
        store: Store,
        *,
        service_cidr: str = SERVICE_CIDR,
        node_port_range: tuple[int, int] = NODE_PORT_RANGE,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.service_network = ipaddress.IPv4Network(service_cidr)
        self.kubernetes_service_ip = self.service_network.network_address + 1
        """The first address of the range belongs to the `kubernetes` Service of the default namespace."""
        self.node_port_range = node_port_range
        self._random = rng or random.Random()
        self._kinds: dict[tuple[str, str], Callable[[ResourceType, Obj | None, Obj], None]] = {
            ("", "pods"): self._pod,
            ("", "services"): self._service,
            ("", "persistentvolumeclaims"): self._persistent_volume_claim,
            ("", "persistentvolumes"): self._persistent_volume,
            ("", "endpoints"): self._endpoints,
            ("apps", "deployments"): self._deployment,
            ("apps", "statefulsets"): self._stateful_set,
            ("apps", "daemonsets"): self._daemon_set,
            ("apps", "replicasets"): self._replica_set,
            ("batch", "jobs"): self._job,
            ("batch", "cronjobs"): self._cron_job,
        }

    def __call__(self, rt: ResourceType, old: Obj | None, obj: Obj) -> None:
        if rt.custom:
            return
        handler = self._kinds.get(rt.group_resource)
        if handler is None:
            return
        try:
            handler(rt, old, obj)
        except _QuantityError as exc:
            raise bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {exc}') \
                from None

    # --- core/v1 -----------------------------------------------------------------------------------------

    def _pod(self, rt: ResourceType, old: Obj | None, pod: Obj) -> None:
        _default_pod(pod)
        spec = _dict(pod, "spec")
        if spec is None:
            return
        name = (pod.get("metadata") or {}).get("name", "")
        if old is None:
            # The ServiceAccount admission plugin (its token volume is not mounted by envtest).
            if not spec.get("serviceAccountName"):
                spec["serviceAccountName"] = spec["serviceAccount"] = "default"
            self._admit_priority(name, spec)
            pod["status"] = {"phase": "Pending", "qosClass": _pod_qos_class(spec)}
        # DefaultTolerationSeconds (on create and update).
        tolerations = spec.get("tolerations")
        if tolerations is None or isinstance(tolerations, list):
            added = list(tolerations or [])
            for default in (_NOT_READY_TOLERATION, _UNREACHABLE_TOLERATION):
                if not any(isinstance(t, dict) and t.get("key") in (default["key"], "", None)
                           and t.get("effect") in ("NoExecute", "", None) for t in added):
                    added.append(dict(default))
            spec["tolerations"] = added
        status = _dict(pod, "status")
        if status is not None:
            _pod_status_aliases(status)

    @staticmethod
    def _admit_priority(name: str, spec: Obj) -> None:
        """The Priority admission plugin (no PriorityClass objects exist in envtest but the system ones)."""
        class_name = spec.get("priorityClassName") or ""
        if class_name and class_name not in _SYSTEM_PRIORITY_CLASSES:
            raise forbidden("", "pods", name, f"no PriorityClass with name {class_name} was found")
        priority = _SYSTEM_PRIORITY_CLASSES.get(class_name, 0)
        requested = spec.get("priority")
        if requested is not None and requested != priority:
            raise forbidden("", "pods", name, f"the integer value of priority ({requested}) must not be provided in "
                                              f"pod spec; priority admission controller computed {priority} from "
                                              "the given PriorityClass name")
        spec["priority"] = priority
        policy = spec.get("preemptionPolicy")
        if policy is not None and policy != "PreemptLowerPriority":
            raise forbidden("", "pods", name, f"the string value of PreemptionPolicy ({policy}) must not be provided "
                                              "in pod spec; priority admission controller computed "
                                              "PreemptLowerPriority from the given PriorityClass name")
        spec["preemptionPolicy"] = "PreemptLowerPriority"

    @staticmethod
    def _persistent_volume_claim(rt: ResourceType, old: Obj | None, pvc: Obj) -> None:
        _pvc_spec(_struct(pvc, "spec"))
        _pvc_status(_struct(pvc, "status"))

    @staticmethod
    def _persistent_volume(rt: ResourceType, old: Obj | None, pv: Obj) -> None:
        spec = _struct(pv, "spec")
        _default(spec, "persistentVolumeReclaimPolicy", "Retain")
        _default_ptr(spec, "volumeMode", "Filesystem")
        _canonical_resource_list(spec.get("capacity"))
        host_path = _dict(spec, "hostPath")
        if host_path is not None:
            _default_ptr(host_path, "type", "")
        status = _struct(pv, "status")
        if old is None:
            _default_ptr(status, "lastPhaseTransitionTime", _now())
        _default(status, "phase", "Pending")

    @staticmethod
    def _endpoints(rt: ResourceType, old: Obj | None, endpoints: Obj) -> None:
        for subset in _dicts(endpoints, "subsets"):
            for port in _dicts(subset, "ports"):
                _default(port, "protocol", "TCP")

    # --- apps/v1 -----------------------------------------------------------------------------------------

    @staticmethod
    def _deployment(rt: ResourceType, old: Obj | None, deployment: Obj) -> None:
        spec = _struct(deployment, "spec")
        _default_ptr(spec, "replicas", 1)
        strategy = _struct(spec, "strategy")
        _default(strategy, "type", "RollingUpdate")
        if strategy.get("type") == "RollingUpdate":
            rolling = _struct(strategy, "rollingUpdate")
            _default_ptr(rolling, "maxUnavailable", "25%")
            _default_ptr(rolling, "maxSurge", "25%")
        _default_ptr(spec, "revisionHistoryLimit", 10)
        _default_ptr(spec, "progressDeadlineSeconds", 600)
        _default_pod_template(_struct(spec, "template"))
        deployment.setdefault("status", {})

    @staticmethod
    def _stateful_set(rt: ResourceType, old: Obj | None, sts: Obj) -> None:
        spec = _struct(sts, "spec")
        _default(spec, "podManagementPolicy", "OrderedReady")
        strategy = _struct(spec, "updateStrategy")
        if not strategy.get("type"):
            strategy["type"] = "RollingUpdate"
            _struct(strategy, "rollingUpdate")
        rolling = _dict(strategy, "rollingUpdate")
        if strategy["type"] == "RollingUpdate" and rolling is not None:
            _default_ptr(rolling, "partition", 0)
        retention = _struct(spec, "persistentVolumeClaimRetentionPolicy")
        _default(retention, "whenDeleted", "Retain")
        _default(retention, "whenScaled", "Retain")
        _default_ptr(spec, "replicas", 1)
        _default_ptr(spec, "revisionHistoryLimit", 10)
        _default_pod_template(_struct(spec, "template"))
        for claim in _dicts(spec, "volumeClaimTemplates"):
            # The apps/v1 conversion stamps apiVersion and kind on each claim template (issue 87583).
            claim["apiVersion"], claim["kind"] = "v1", "PersistentVolumeClaim"
            claim.setdefault("metadata", {})
            _pvc_spec(_struct(claim, "spec"))
            _pvc_status(_struct(claim, "status"))
        status = _struct(sts, "status")
        status.setdefault("replicas", 0)
        status.setdefault("availableReplicas", 0)

    @staticmethod
    def _daemon_set(rt: ResourceType, old: Obj | None, ds: Obj) -> None:
        spec = _struct(ds, "spec")
        strategy = _struct(spec, "updateStrategy")
        _default(strategy, "type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = _struct(strategy, "rollingUpdate")
            _default_ptr(rolling, "maxUnavailable", 1)
            _default_ptr(rolling, "maxSurge", 0)
        _default_ptr(spec, "revisionHistoryLimit", 10)
        template = _struct(spec, "template")
        _default_pod_template(template)
        # spec.templateGeneration of the internal type round-trips through this annotation.
        meta = _struct(ds, "metadata")
        annotations = _struct(meta, "annotations")
        if old is None:
            generation = max(_template_generation(rt, annotations.get(_DAEMONSET_TEMPLATE_GENERATION)), 1)
        else:
            old_annotations = (old.get("metadata") or {}).get("annotations") or {}
            generation = _template_generation(rt, old_annotations.get(_DAEMONSET_TEMPLATE_GENERATION))
            if template != (old.get("spec") or {}).get("template"):
                generation += 1
        annotations[_DAEMONSET_TEMPLATE_GENERATION] = str(generation)
        status = _struct(ds, "status")
        for counter in ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"):
            status.setdefault(counter, 0)

    @staticmethod
    def _replica_set(rt: ResourceType, old: Obj | None, rs: Obj) -> None:
        spec = _struct(rs, "spec")
        _default_ptr(spec, "replicas", 1)
        _default_pod_template(_struct(spec, "template"))
        status = _struct(rs, "status")
        status.setdefault("replicas", 0)

    # --- batch/v1 ----------------------------------------------------------------------------------------

    def _job(self, rt: ResourceType, old: Obj | None, job: Obj) -> None:
        spec = _struct(job, "spec")
        meta = _struct(job, "metadata")
        _default_job_spec(spec)
        _copy_template_labels(meta, spec)
        template = _struct(spec, "template")
        _default_pod_template(template)
        if old is None and not spec.get("manualSelector"):
            _generate_job_selector(meta, spec, template)
        # Read-time defaulting copies the (now generated) template labels onto a Job that has none.
        _copy_template_labels(meta, spec)
        job.setdefault("status", {})
        _require_job_restart_policy(rt, meta.get("name", ""), spec, "spec")

    @staticmethod
    def _cron_job(rt: ResourceType, old: Obj | None, cron_job: Obj) -> None:
        spec = _struct(cron_job, "spec")
        _default(spec, "concurrencyPolicy", "Allow")
        _default_ptr(spec, "suspend", False)
        _default_ptr(spec, "successfulJobsHistoryLimit", 3)
        _default_ptr(spec, "failedJobsHistoryLimit", 1)
        job_template = _struct(spec, "jobTemplate")
        job_template.setdefault("metadata", {})
        job_spec = _struct(job_template, "spec")
        _default_pod_failure_policy(job_spec)
        _default_pod_template(_struct(job_spec, "template"))
        cron_job.setdefault("status", {})
        name = (cron_job.get("metadata") or {}).get("name", "")
        _require_job_restart_policy(rt, name, job_spec, "spec.jobTemplate.spec")

    # --- Services: defaults and the REST storage's allocators --------------------------------------------

    def _service(self, rt: ResourceType, old: Obj | None, svc: Obj) -> None:
        spec = _struct(svc, "spec")
        _default_service(svc, spec)
        name = (svc.get("metadata") or {}).get("name", "")
        namespace = (svc.get("metadata") or {}).get("namespace", "")
        allocation = _Allocation(self, name, namespace, old)
        if old is None:
            _normalize_cluster_ips(spec, None)
            self._init_ip_family_fields(name, spec, None)
            allocation.cluster_ips(spec)
            allocation.node_ports(spec)
            if _needs_health_check(spec):
                allocation.health_check_node_port(spec)
        else:
            old_spec = old.get("spec") or {}
            _patch_allocated_values(spec, old_spec)
            _normalize_cluster_ips(spec, old_spec)
            self._init_ip_family_fields(name, spec, old_spec)
            allocation.update_cluster_ips(spec, old_spec)
            allocation.update_node_ports(spec, old_spec)
            allocation.update_health_check_node_port(spec, old_spec)
            _drop_type_dependent_fields(svc, spec, old_spec)
            errors = _validate_cluster_ips_update(old_spec, spec)
            if errors:
                raise invalid("", "Service", name, errors)
        if spec.get("type") == "ExternalName":
            # defaultOnRead: internalTrafficPolicy was once defaulted for ExternalName too, and is hidden.
            spec.pop("internalTrafficPolicy", None)

    def _init_ip_family_fields(self, name: str, spec: Obj, old_spec: Obj | None) -> None:
        """initIPFamilyFields of a single-stack IPv4 cluster."""
        if spec.get("type") == "ExternalName" or _matching_prefer_dual_stack(spec, old_spec):
            return
        headless_selectorless = spec.get("clusterIP") == "None" and not spec.get("selector")
        if not spec.get("ipFamilyPolicy"):
            if old_spec is not None and old_spec.get("ipFamilyPolicy"):
                spec["ipFamilyPolicy"] = old_spec["ipFamilyPolicy"]
            elif headless_selectorless:
                spec["ipFamilyPolicy"] = "RequireDualStack"
            else:
                spec["ipFamilyPolicy"] = "SingleStack"
        errors = _validate_cluster_ips_related_fields(spec)
        if errors:
            raise invalid("", "Service", name, errors)
        cluster_ips: list[str] = spec.get("clusterIPs") or []
        families = spec.get("ipFamilies")
        if not isinstance(families, list):
            families = spec["ipFamilies"] = []
        policy = spec["ipFamilyPolicy"]
        if old_spec is not None and policy == "SingleStack":
            if cluster_ips == (old_spec.get("clusterIPs") or []) and len(cluster_ips) > 1:
                spec["clusterIPs"] = cluster_ips = cluster_ips[:1]
            if families == (old_spec.get("ipFamilies") or []) and len(families) > 1:
                spec["ipFamilies"] = families = families[:1]
        errors = []
        if policy == "SingleStack":
            if len(cluster_ips) == 2:
                errors.append(FieldError("FieldValueInvalid", "spec.ipFamilyPolicy", "must be 'RequireDualStack' or "
                                         "'PreferDualStack' when multiple cluster IPs are specified", policy))
            if len(families) == 2:
                errors.append(FieldError("FieldValueInvalid", "spec.ipFamilyPolicy", "must be 'RequireDualStack' or "
                                         "'PreferDualStack' when multiple IP families are specified", policy))
        for i, ip in enumerate(cluster_ips):
            if ip == "None":
                break
            family = _family_of(ip)
            if i >= len(families):
                if family == "IPv4":
                    families.append(family)
                else:
                    errors.append(FieldError("FieldValueInvalid", f"spec.clusterIPs[{i}]",
                                             f"{family} is not configured on this cluster", list(cluster_ips)))
        if errors:
            raise invalid("", "Service", name, errors)
        if headless_selectorless:
            if not families:
                families.append("IPv4")
            if len(families) < 2 and policy != "SingleStack":
                families.append("IPv6" if families[0] == "IPv4" else "IPv4")
            return
        if policy == "RequireDualStack":
            errors.append(FieldError("FieldValueInvalid", "spec.ipFamilyPolicy",
                                     "this cluster is not configured for dual-stack services", policy))
        for i, family in enumerate(families):
            if family != "IPv4":
                errors.append(FieldError("FieldValueInvalid", f"spec.ipFamilies[{i}]", "not configured on this cluster",
                                         family))
        if errors:
            raise invalid("", "Service", name, errors)
        if not families:
            families.append("IPv4")

    # --- allocator state ---------------------------------------------------------------------------------

    def used_cluster_ips(self, exclude: tuple[str, str] | None) -> set[ipaddress.IPv4Address]:
        used = set()
        for other in self.store.objects(("", "services")):
            meta = other.get("metadata") or {}
            if exclude is not None and (meta.get("namespace", ""), meta.get("name")) == exclude:
                continue
            for ip in (other.get("spec") or {}).get("clusterIPs") or ():
                try:
                    used.add(ipaddress.IPv4Address(ip))
                except ValueError:
                    continue
        return used

    def used_node_ports(self, exclude: tuple[str, str] | None) -> set[int]:
        used = set()
        for other in self.store.objects(("", "services")):
            meta = other.get("metadata") or {}
            if exclude is not None and (meta.get("namespace", ""), meta.get("name")) == exclude:
                continue
            used |= _service_node_ports(other.get("spec") or {})
        return used


# --- Service helpers -------------------------------------------------------------------------------------


def _default_service(svc: Obj, spec: Obj) -> None:
    """SetObjectDefaults_Service."""
    _default(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        config = spec.get("sessionAffinityConfig")
        client_ip = config.get("clientIP") if isinstance(config, dict) else None
        if not isinstance(client_ip, dict) or client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    _default(spec, "type", "ClusterIP")
    for port in _dicts(spec, "ports"):
        _default(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if _externally_accessible(spec):
        _default(spec, "externalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer", "ClusterIP"):
        _default_ptr(spec, "internalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        _default_ptr(spec, "allocateLoadBalancerNodePorts", True)
    status = _struct(svc, "status")
    load_balancer = _struct(status, "loadBalancer")
    if spec["type"] == "LoadBalancer":
        for ingress in _dicts(load_balancer, "ingress"):
            if ingress.get("ip") and ingress.get("ipMode") is None:
                ingress["ipMode"] = "VIP"


def _externally_accessible(spec: Obj) -> bool:
    kind = spec.get("type")
    return kind in ("LoadBalancer", "NodePort") or (kind == "ClusterIP" and bool(spec.get("externalIPs")))


def _needs_cluster_ip(spec: Obj) -> bool:
    return spec.get("type") != "ExternalName"


def _needs_node_port(spec: Obj) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


def _needs_health_check(spec: Obj) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def _should_allocate_node_ports(spec: Obj) -> bool:
    if spec.get("type") == "NodePort":
        return True
    if spec.get("type") == "LoadBalancer":
        return spec.get("allocateLoadBalancerNodePorts") is not False
    return False


def _service_node_ports(spec: Obj) -> set[int]:
    ports = {p["nodePort"] for p in _dicts(spec, "ports") if isinstance(p.get("nodePort"), int) and p["nodePort"]}
    health = spec.get("healthCheckNodePort")
    if isinstance(health, int) and health:
        ports.add(health)
    return ports


def _family_of(ip: str) -> str:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return "IPv4"


def _normalize_cluster_ips(spec: Obj, old_spec: Obj | None) -> None:
    """normalizeClusterIPs: keep the singular clusterIP and the plural clusterIPs in step."""
    if old_spec is None:
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        return
    old_ips = old_spec.get("clusterIPs") or []
    if old_ips and not spec.get("clusterIPs") and old_spec.get("clusterIP", "") == spec.get("clusterIP", ""):
        spec["clusterIPs"] = list(old_ips)
    if old_spec.get("clusterIP", "") != spec.get("clusterIP", ""):
        same = (spec.get("clusterIPs") or []) == old_ips
        if old_spec.get("clusterIP") and not spec.get("clusterIP"):
            if same:
                spec.pop("clusterIPs", None)
        elif same:
            spec["clusterIPs"] = [spec["clusterIP"]]


def _patch_allocated_values(spec: Obj, old_spec: Obj) -> None:
    """patchAllocatedValues: an update that leaves out what the server allocated keeps it."""
    if _needs_cluster_ip(old_spec) and _needs_cluster_ip(spec):
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        if not spec.get("clusterIPs") and old_spec.get("clusterIPs"):
            spec["clusterIPs"] = list(old_spec["clusterIPs"])
    if _needs_node_port(old_spec) and _needs_node_port(spec):
        def used_by(s: Obj) -> set[int]:
            return {p["nodePort"] for p in _dicts(s, "ports") if p.get("nodePort")}

        used = used_by(old_spec) & used_by(spec)
        # Mapped by port name: the client may have changed other properties of the port.
        by_name = {p.get("name", ""): p.get("nodePort") for p in _dicts(old_spec, "ports")}
        for port in _dicts(spec, "ports"):
            if not port.get("nodePort"):
                previous = by_name.get(port.get("name", ""))
                if previous and previous not in used:
                    port["nodePort"] = previous
    if _needs_health_check(old_spec) and _needs_health_check(spec) and not spec.get("healthCheckNodePort"):
        if old_spec.get("healthCheckNodePort"):
            spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]


def _matching_prefer_dual_stack(spec: Obj, old_spec: Obj | None) -> bool:
    if old_spec is None or not spec.get("ipFamilyPolicy") or old_spec.get("type") != spec.get("type"):
        return False
    if spec.get("type") not in ("ClusterIP", "NodePort", "LoadBalancer"):
        return False
    if spec["ipFamilyPolicy"] != "PreferDualStack" or old_spec.get("ipFamilyPolicy") not in (None, "PreferDualStack"):
        return False
    return bool((old_spec.get("clusterIPs") or []) == (spec.get("clusterIPs") or [])
                and (old_spec.get("ipFamilies") or []) == (spec.get("ipFamilies") or []))


def _validate_cluster_ips_related_fields(spec: Obj) -> list[FieldError]:
    """The part of ValidateServiceClusterIPsRelatedFields the allocators rely on."""
    errors: list[FieldError] = []
    cluster_ip = spec.get("clusterIP") or ""
    cluster_ips = spec.get("clusterIPs") or []
    if not isinstance(cluster_ips, list) or not all(isinstance(ip, str) for ip in cluster_ips):
        return [FieldError("FieldValueInvalid", "spec.clusterIPs", "must be a list of IP addresses", cluster_ips)]
    if cluster_ip:
        if not cluster_ips:
            errors.append(FieldError("FieldValueRequired", "spec.clusterIPs"))
        elif cluster_ips[0] != cluster_ip:
            errors.append(FieldError("FieldValueInvalid", "spec.clusterIPs", "first value must match `clusterIP`",
                                     list(cluster_ips)))
    elif cluster_ips:
        errors.append(FieldError("FieldValueInvalid", "spec.clusterIPs",
                                 "must be empty when `clusterIP` is not specified", list(cluster_ips)))
    policy = spec.get("ipFamilyPolicy")
    if policy not in ("SingleStack", "PreferDualStack", "RequireDualStack"):
        errors.append(FieldError("FieldValueNotSupported", "spec.ipFamilyPolicy",
                                 'supported values: "PreferDualStack", "RequireDualStack", "SingleStack"', policy))
    for i, family in enumerate(spec.get("ipFamilies") or []):
        if family not in ("IPv4", "IPv6"):
            errors.append(FieldError("FieldValueNotSupported", f"spec.ipFamilies[{i}]",
                                     'supported values: "IPv4", "IPv6"', family))
    for i, ip in enumerate(cluster_ips):
        if i == 0 and ip == "None":
            if len(cluster_ips) > 1:
                errors.append(FieldError("FieldValueInvalid", "spec.clusterIPs", "'None' must be the first and only "
                                         "value", list(cluster_ips)))
            continue
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            errors.append(FieldError("FieldValueInvalid", f"spec.clusterIPs[{i}]",
                                     "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)", ip))
    if len(cluster_ips) > 2:
        errors.append(FieldError("FieldValueInvalid", "spec.clusterIPs", "may only hold up to 2 values",
                                 list(cluster_ips)))
    return errors


def _validate_cluster_ips_update(old_spec: Obj, spec: Obj) -> list[FieldError]:
    """validateUpgradeDowngradeClusterIPs: a Service's cluster IPs cannot change once set."""
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    old_ips: list[str] = old_spec.get("clusterIPs") or []
    new_ips: list[str] = spec.get("clusterIPs") or []
    if old_ips[:1] == ["None"] and new_ips[:1] == ["None"]:
        return []
    errors = []
    if len(old_ips) == len(new_ips):
        errors += [FieldError("FieldValueInvalid", f"spec.clusterIPs[{i}]", "may not change once set", list(new_ips))
                   for i, ip in enumerate(old_ips) if ip != new_ips[i]]
    elif len(old_ips) > len(new_ips):
        if not new_ips:
            errors.append(FieldError("FieldValueInvalid", "spec.clusterIPs[0]", "primary clusterIP can not be unset",
                                     []))
        elif new_ips[0] != old_ips[0]:
            errors.append(FieldError("FieldValueInvalid", "spec.clusterIPs[0]", "may not change once set",
                                     list(new_ips)))
        if len(new_ips) == 1 and spec.get("ipFamilyPolicy") != "SingleStack":
            errors.append(FieldError("FieldValueInvalid", "spec.ipFamilyPolicy", "must be set to 'SingleStack' when "
                                     "releasing the secondary clusterIP", spec.get("ipFamilyPolicy")))
    elif old_ips and new_ips[0] != old_ips[0]:
        errors.append(FieldError("FieldValueInvalid", "spec.clusterIPs[0]", "may not change once set", list(new_ips)))
    return errors


def _drop_type_dependent_fields(svc: Obj, spec: Obj, old_spec: Obj) -> None:
    """dropTypeDependentFields: a type change wipes what the old type had allocated, unless the client changed it."""
    if _needs_cluster_ip(old_spec) and not _needs_cluster_ip(spec):
        if (spec.get("clusterIPs") or []) == (old_spec.get("clusterIPs") or []):
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        if (spec.get("ipFamilies") or []) == (old_spec.get("ipFamilies") or []):
            spec.pop("ipFamilies", None)
        if spec.get("ipFamilyPolicy") == old_spec.get("ipFamilyPolicy"):
            spec.pop("ipFamilyPolicy", None)
    if _needs_node_port(old_spec) and not _needs_node_port(spec):
        old_ports = {p["nodePort"] for p in _dicts(old_spec, "ports") if p.get("nodePort")}
        new_ports = {p["nodePort"] for p in _dicts(spec, "ports") if p.get("nodePort")}
        if new_ports <= old_ports:
            for port in _dicts(spec, "ports"):
                port.pop("nodePort", None)
    if _needs_health_check(old_spec) and not _needs_health_check(spec):
        if spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort"):
            spec.pop("healthCheckNodePort", None)
    if old_spec.get("type") == "LoadBalancer" and spec.get("type") != "LoadBalancer":
        if spec.get("allocateLoadBalancerNodePorts") is not None \
                and spec.get("allocateLoadBalancerNodePorts") == old_spec.get("allocateLoadBalancerNodePorts"):
            spec.pop("allocateLoadBalancerNodePorts", None)
        if spec.get("loadBalancerClass") == old_spec.get("loadBalancerClass"):
            spec.pop("loadBalancerClass", None)
        status = _struct(svc, "status")
        status["loadBalancer"] = {}
    if _externally_accessible(old_spec) and not _externally_accessible(spec):
        if spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
            spec.pop("externalTrafficPolicy", None)


class _Allocation:
    """One write's use of the cluster IP and node port allocators (alloc.go), against the stored Services."""

    def __init__(self, defaults: BuiltinDefaults, name: str, namespace: str, old: Obj | None) -> None:
        self.defaults = defaults
        self.name = name
        self.key = (namespace, name)
        self.old = old
        self.network = defaults.service_network
        self._used_ips: set[ipaddress.IPv4Address] | None = None
        self._used_ports: set[int] | None = None
        self.allocated_ports: set[int] = set()

    # --- cluster IPs ---

    def _ips_in_use(self) -> set[ipaddress.IPv4Address]:
        if self._used_ips is None:
            self._used_ips = self.defaults.used_cluster_ips(self.key)
            if self.key != ("default", "kubernetes"):
                self._used_ips.add(self.defaults.kubernetes_service_ip)
        return self._used_ips

    def cluster_ips(self, spec: Obj) -> None:
        """allocClusterIPs on create (or on a change from ExternalName)."""
        if spec.get("type") == "ExternalName":
            return
        ips: list[str] = list(spec.get("clusterIPs") or [])
        if ips[:1] == ["None"]:
            return
        families = spec.get("ipFamilies") or ["IPv4"]
        while len(ips) < len(families):
            ips.append("")
        for i, ip in enumerate(ips[:len(families)]):
            ips[i] = self._allocate_ip(ip, spec) if ip else str(self._next_ip())
        spec["clusterIPs"] = ips
        spec["clusterIP"] = ips[0]

    def _allocate_ip(self, ip: str, spec: Obj) -> str:
        def failure(reason: str) -> Exception:
            return invalid("", "Service", self.name, [FieldError(
                "FieldValueInvalid", "spec.clusterIPs", f"failed to allocate IP {ip}: {reason}",
                list(spec.get("clusterIPs") or []))])

        address = ipaddress.ip_address(ip)
        if not isinstance(address, ipaddress.IPv4Address) or address not in self.network \
                or address in (self.network.network_address, self.network.broadcast_address):
            raise failure(f"the provided IP ({ip}) is not in the valid range. The range of valid IPs is "
                          f"{self.network}")
        if address in self._ips_in_use():
            raise failure("provided IP is already allocated")
        self._ips_in_use().add(address)
        return str(address)

    def _next_ip(self) -> ipaddress.IPv4Address:
        """AllocateNext: at random, preferring the upper band (the lower one is for static assignments)."""
        size = self.network.num_addresses - 2
        offset = min(max(16, size // 16), 256) if size > 16 else 0
        used = self._ips_in_use()
        first = int(self.network.network_address) + 1
        index = _pick_free(self.defaults, size, offset, lambda i: ipaddress.IPv4Address(first + i) in used)
        if index is None:
            raise internal_error("failed to allocate a serviceIP: range is full")
        address = ipaddress.IPv4Address(first + index)
        used.add(address)
        return address

    def update_cluster_ips(self, spec: Obj, old_spec: Obj) -> None:
        """updateClusterIPs: an update allocates only when a Service starts to need an IP."""
        if _matching_prefer_dual_stack(spec, old_spec):
            return
        if old_spec.get("type") == "ExternalName" and spec.get("type") != "ExternalName":
            self.cluster_ips(spec)

    # --- node ports ---

    def _ports_in_use(self) -> set[int]:
        if self._used_ports is None:
            self._used_ports = self.defaults.used_node_ports(self.key)
            if self.old is not None:
                # The Service's own ports stay allocated until the update is committed.
                self._used_ports |= _service_node_ports(self.old.get("spec") or {})
        return self._used_ports

    def _port_problem(self, port: Any) -> str | None:
        """Why a requested node port cannot be allocated (None: it can, and now is)."""
        low, high = self.defaults.node_port_range
        if not isinstance(port, int) or not low <= port <= high:
            return f"provided port is not in the valid range. The range of valid ports is {low}-{high}"
        if port in self._ports_in_use() or port in self.allocated_ports:
            return "provided port is already allocated"
        self.allocated_ports.add(port)
        return None

    def _allocate_port(self, port: Any, field: str) -> None:
        problem = self._port_problem(port)
        if problem is not None:
            raise invalid("", "Service", self.name, [FieldError("FieldValueInvalid", field, problem, port)])

    def _next_port(self) -> int:
        low, high = self.defaults.node_port_range
        size = high - low + 1
        offset = min(max(16, size // 32), 128) if size > 16 else 0
        taken = self._ports_in_use() | self.allocated_ports
        index = _pick_free(self.defaults, size, offset, lambda i: low + i in taken)
        if index is None:
            raise internal_error("failed to allocate a nodePort: range is full")
        self.allocated_ports.add(low + index)
        return low + index

    def node_ports(self, spec: Obj) -> None:
        """initNodePorts on create; ports of the same number (TCP and UDP 53) share one node port."""
        if not _needs_node_port(spec):
            return
        ports = list(_dicts(spec, "ports"))
        by_port: dict[Any, int] = {}
        for i, port in enumerate(ports):
            if not port.get("nodePort") and not _should_allocate_node_ports(spec):
                continue
            allocated = by_port.get(port.get("port"))
            if allocated is None:
                requested = next((p.get("nodePort") for p in ports[i:]
                                  if p.get("port") == port.get("port") and p.get("nodePort")), None)
                if requested:
                    self._allocate_port(requested, f"spec.ports[{i}].nodePort")
                    port["nodePort"] = by_port[port.get("port")] = requested
                else:
                    port["nodePort"] = by_port[port.get("port")] = self._next_port()
            elif not port.get("nodePort"):
                port["nodePort"] = allocated
            elif port["nodePort"] != allocated:
                self._allocate_port(port["nodePort"], f"spec.ports[{i}].nodePort")

    def update_node_ports(self, spec: Obj, old_spec: Obj) -> None:
        """updateNodePorts: keep the Service's own ports, allocate new ones, release the rest on commit."""
        if not _needs_node_port(spec):
            return
        old_ports = {p.get("nodePort") for p in _dicts(old_spec, "ports") if p.get("nodePort")}
        for i, port in enumerate(_dicts(spec, "ports")):
            requested = port.get("nodePort")
            if not requested and not _should_allocate_node_ports(spec):
                continue
            if requested:
                if requested not in old_ports and requested not in self.allocated_ports:
                    self._allocate_port(requested, f"spec.ports[{i}].nodePort")
            else:
                port["nodePort"] = self._next_port()

    def health_check_node_port(self, spec: Obj) -> None:
        """allocHealthCheckNodePort (for LoadBalancers with externalTrafficPolicy Local); failures are 500s."""
        requested = spec.get("healthCheckNodePort")
        if not requested:
            spec["healthCheckNodePort"] = self._next_port()
            return
        problem = self._port_problem(requested)
        if problem is not None:
            raise internal_error(f"failed to allocate requested HealthCheck NodePort {requested}: {problem}")

    def update_health_check_node_port(self, spec: Obj, old_spec: Obj) -> None:
        if not _needs_health_check(old_spec) and _needs_health_check(spec):
            self.health_check_node_port(spec)


def _pick_free(defaults: BuiltinDefaults, size: int, offset: int, taken: Callable[[int], bool]) -> int | None:
    """A random free index of [0, size), trying the upper band [offset, size) before the lower one."""
    for start, end in ((offset, size), (0, offset)):
        if start >= end:
            continue
        first = defaults._random.randrange(start, end)
        for step in range(end - start):
            index = start + (first - start + step) % (end - start)
            if not taken(index):
                return index
    return None


# --- workload helpers ------------------------------------------------------------------------------------


def _template_generation(rt: ResourceType, raw: Any) -> int:
    if raw is None or raw == "":
        return 0
    try:
        return int(str(raw))
    except ValueError:
        raise bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                          f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None


def _default_pod_failure_policy(job_spec: Obj) -> None:
    for rule in _dicts(_dict(job_spec, "podFailurePolicy"), "rules"):
        for pattern in _dicts(rule, "onPodConditions"):
            _default(pattern, "status", "True")


def _default_job_spec(spec: Obj) -> None:
    """SetDefaults_Job (less the label copy, which needs the metadata)."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    _default_ptr(spec, "parallelism", 1)
    _default_ptr(spec, "backoffLimit", 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6)
    _default_ptr(spec, "completionMode", "NonIndexed")
    _default_ptr(spec, "suspend", False)
    _default_pod_failure_policy(spec)
    _default_ptr(spec, "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") is not None
                 else "TerminatingOrFailed")
    _default_ptr(spec, "manualSelector", False)


def _copy_template_labels(meta: Obj, spec: Obj) -> None:
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if isinstance(labels, dict) and not meta.get("labels"):
        meta["labels"] = dict(labels)


def _generate_job_selector(meta: Obj, spec: Obj, template: Obj) -> None:
    """generateSelector of the Job strategy: the pods and the selector carry the Job's uid."""
    template_meta = _struct(template, "metadata")
    labels = _struct(template_meta, "labels")
    uid, name = meta.get("uid", ""), meta.get("name", "")
    for key in _JOB_LABELS:
        labels.setdefault(key, uid if key.endswith("controller-uid") else name)
    selector = _struct(spec, "selector")
    match_labels = _struct(selector, "matchLabels")
    match_labels.setdefault("batch.kubernetes.io/controller-uid", uid)


def _require_job_restart_policy(rt: ResourceType, name: str, job_spec: Obj, path: str) -> None:
    """The pod spec default (Always) is not a Job's: a Job template has to choose OnFailure or Never."""
    pod_spec = (job_spec.get("template") or {}).get("spec") or {}
    if pod_spec.get("restartPolicy") in ("Always", "", None):
        raise invalid(rt.group, rt.kind, name, [FieldError(
            "FieldValueRequired", f"{path}.template.spec.restartPolicy", 'valid values: "OnFailure", "Never"')])
