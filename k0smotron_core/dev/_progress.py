"""Progress: what the example's clusters look like now, whether they are Ready, what blocks them, and showing it.

`assess(ClusterObjects)` is pure (tests feed it fake objects); `Collector` reads the objects from the management
envtest and the child clusters' Nodes through their `<cluster>-kubeconfig` Secrets; `Display` prints a table,
redrawn in place on a terminal, a line per change otherwise.
"""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from ruamel.yaml import YAML

from ..envtest import EnvTest
from ..runtime import APIError, ConnectionFailed, Transport
from ..runtime._workload import WorkloadClusterUnavailable, transport_from_kubeconfig

Obj = dict[str, Any]
CAPI = "cluster.x-k8s.io/v1beta1"


def _nested(obj: Obj | None, *path: str) -> Any:
    value: Any = obj
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def conditions(obj: Obj | None) -> list[Obj]:
    """v1beta1 conditions (status.conditions), then v1beta2 ones (status.v1beta2.conditions) of other types."""
    v1 = [c for c in _nested(obj, "status", "conditions") or () if isinstance(c, dict)]
    seen = {c.get("type") for c in v1}
    v2 = [c for c in _nested(obj, "status", "v1beta2", "conditions") or ()
          if isinstance(c, dict) and c.get("type") not in seen]
    return v1 + v2


def condition(obj: Obj | None, type_: str) -> Obj | None:
    return next((c for c in conditions(obj) if c.get("type") == type_), None)


def is_true(obj: Obj | None, type_: str) -> bool:
    found = condition(obj, type_)
    return found is not None and found.get("status") == "True"


@dataclass(frozen=True)
class Blocker:
    """Why an object is not Ready: the condition (or check) that is not met."""

    object: str
    type: str
    reason: str
    message: str

    @property
    def what(self) -> str:
        """`<type> <reason>: <message>`, without the object."""
        message = f": {self.message}" if self.message else ""
        return f"{self.type} {self.reason or 'False'}{message}"

    def __str__(self) -> str:
        return f"{self.object}: {self.what}"


@dataclass(frozen=True)
class Row:
    cluster: str
    object: str
    state: str
    ready: bool
    blocker: Blocker | None = None


@dataclass
class ClusterObjects:
    """Everything known about one Cluster. nodes None: the child cluster could not be read (nodes_problem says
    why)."""

    namespace: str
    name: str
    cluster: Obj | None
    control_plane: Obj | None = None
    machines: list[Obj] = field(default_factory=list)
    infrastructure: dict[str, Obj] = field(default_factory=dict)
    """The machines' infrastructure objects, by Machine name."""
    nodes: list[Obj] | None = None
    nodes_problem: Blocker | None = None


@dataclass
class Snapshot:
    rows: list[Row]

    @property
    def ready(self) -> bool:
        return bool(self.rows) and all(r.ready for r in self.rows)

    @property
    def blockers(self) -> list[Blocker]:
        return [r.blocker for r in self.rows if not r.ready and r.blocker is not None]


def most_relevant(obj: Obj | None, name: str, priority: Iterable[str]) -> Blocker | None:
    """The first non-True condition in `priority` order, else any non-True condition but the summary `Ready`,
    else `Ready` itself."""
    pending = [c for c in conditions(obj) if c.get("status") != "True"]
    ordered = list(priority)
    pending.sort(key=lambda c: (ordered.index(c["type"]) if c.get("type") in ordered else len(ordered),
                                c.get("type") == "Ready"))
    for found in pending:
        return Blocker(name, str(found.get("type")), str(found.get("reason") or ""), str(found.get("message") or ""))
    return None


def _name(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('namespace') or 'default'}/{meta.get('name')}"


def _flag(value: Any) -> str:
    return "True" if value else "False"


def _cluster_row(objs: ClusterObjects) -> Row:
    label = f"Cluster {objs.namespace}/{objs.name}"
    cluster = objs.cluster
    if cluster is None:
        return Row(objs.name, label, "not found", False, Blocker(label, "Exists", "NotFound", "not created yet"))
    infra = bool(_nested(cluster, "status", "infrastructureReady")
                 or _nested(cluster, "status", "initialization", "infrastructureProvisioned"))
    control_plane = bool(_nested(cluster, "status", "controlPlaneReady"))
    state = (f"phase={_nested(cluster, 'status', 'phase') or '-'} ControlPlaneReady={_flag(control_plane)} "
             f"InfrastructureReady={_flag(infra)}")
    ready = infra and control_plane
    blocker = None
    if not ready:
        blocker = most_relevant(cluster, label, ("InfrastructureReady", "ControlPlaneInitialized", "ControlPlaneReady"))
        if blocker is None:
            blocker = Blocker(label, "InfrastructureReady" if not infra else "ControlPlaneReady", "NotReconciled",
                              "CAPI core has not reported it yet")
    return Row(objs.name, label, state, ready, blocker)


def _control_plane_row(objs: ClusterObjects) -> Row | None:
    ref = _nested(objs.cluster, "spec", "controlPlaneRef")
    if not isinstance(ref, dict):
        return None
    label = f"{ref.get('kind')} {ref.get('namespace') or objs.namespace}/{ref.get('name')}"
    cp = objs.control_plane
    if cp is None:
        return Row(objs.name, label, "not found", False, Blocker(label, "Exists", "NotFound", "not created yet"))
    status = cp.get("status") or {}
    initialized = bool(status.get("initialized") or _nested(status, "initialization", "controlPlaneInitialized"))
    available = condition(cp, "Available")
    available_ok = bool(status.get("ready")) or (available is not None and available.get("status") == "True")
    desired = _nested(cp, "spec", "replicas")
    replicas = f"{status.get('readyReplicas') or 0}/{desired if desired is not None else status.get('replicas', 0)}"
    state = (f"ready={_flag(status.get('ready'))} initialized={_flag(initialized)} replicas={replicas} "
             f"version={status.get('version') or _nested(cp, 'spec', 'version') or '-'} "
             f"Available={available.get('status') if available else '-'}")
    ready = initialized and available_ok
    blocker = None
    if not ready:
        blocker = most_relevant(cp, label, ("Available",)) or Blocker(
            label, "Available", "NotReconciled", "the control plane provider has not reported it yet")
    return Row(objs.name, label, state, ready, blocker)


def _machine_row(objs: ClusterObjects, machine: Obj) -> Row:
    label = _name(machine)
    status = machine.get("status") or {}
    phase = status.get("phase") or "-"
    node = _nested(status, "nodeRef", "name")
    infra = bool(status.get("infrastructureReady") or _nested(status, "initialization", "infrastructureProvisioned"))
    bootstrap = bool(status.get("bootstrapReady") or _nested(status, "initialization", "bootstrapDataSecretCreated"))
    state = (f"phase={phase} nodeRef={node or '-'} infrastructure={_flag(infra)} bootstrap={_flag(bootstrap)}")
    ready = phase == "Running" and bool(node)
    blocker = None
    if not ready:
        infra_obj = objs.infrastructure.get(machine["metadata"]["name"])
        if bootstrap and not infra and infra_obj is not None:
            blocker = most_relevant(infra_obj, _name(infra_obj), ("BootstrapExecSucceeded", "HostKeyVerified"))
        if blocker is None:
            blocker = most_relevant(machine, label, ("BootstrapReady", "InfrastructureReady", "NodeHealthy"))
        if blocker is None and phase == "-":
            blocker = Blocker(label, "Phase", "NotReconciled", "CAPI core has not reported it yet")
        if blocker is None:
            blocker = Blocker(label, "NodeRef", "WaitingForNode", f"phase {phase}, no nodeRef yet")
    return Row(objs.name, label, state, ready, blocker)


def _node_rows(objs: ClusterObjects) -> list[Row]:
    if objs.nodes is None:
        problem = objs.nodes_problem or Blocker(f"Nodes of {objs.name}", "Readable", "Unknown", "")
        return [Row(objs.name, f"Nodes of {objs.name}", "-", False, problem)]
    rows = []
    for node in objs.nodes:
        name = node["metadata"]["name"]
        label = f"Node {objs.name}/{name}"
        ready_condition = condition(node, "Ready")
        ready = ready_condition is not None and ready_condition.get("status") == "True"
        version = _nested(node, "status", "nodeInfo", "kubeletVersion") or "-"
        state = f"Ready={ready_condition.get('status') if ready_condition else '-'} version={version}"
        blocker = None
        if not ready:
            blocker = Blocker(label, "Ready", str((ready_condition or {}).get("reason") or "NotReady"),
                              str((ready_condition or {}).get("message") or ""))
        rows.append(Row(objs.name, label, state, ready, blocker))
    return rows


def assess(clusters: Iterable[ClusterObjects]) -> Snapshot:
    rows: list[Row] = []
    for objs in clusters:
        rows.append(_cluster_row(objs))
        control_plane = _control_plane_row(objs)
        if control_plane is not None:
            rows.append(control_plane)
        rows.extend(_machine_row(objs, m) for m in objs.machines)
        rows.extend(_node_rows(objs))
    return Snapshot(rows)


class Collector:
    """Reads the example's Clusters, their control planes, Machines (and their infrastructure objects) from the
    management envtest, and each child cluster's Nodes through `<cluster>-kubeconfig`."""

    def __init__(self, env: EnvTest, clusters: list[tuple[str, str]]) -> None:
        self.env = env
        self.clusters = clusters
        self._transports: dict[tuple[str, str], tuple[str, Transport]] = {}

    def _get(self, api_version: str, kind: str, name: str, namespace: str) -> Obj | None:
        try:
            return self.env.get(api_version, kind, name, namespace)
        except Exception:  # a kind whose CRD is not installed
            return None

    def _list(self, api_version: str, kind: str, namespace: str) -> list[Obj]:
        try:
            rt = self.env.resource_type(api_version, kind)
        except Exception:
            return []
        return [self.env.storage.as_version(o, rt) for o in self.env.store.objects(rt.group_resource, namespace)]

    def kubeconfig(self, namespace: str, cluster: str) -> tuple[str, bytes] | None:
        """(resourceVersion, kubeconfig) of `<cluster>-kubeconfig`, key `value`, or None."""
        secret = self._get("v1", "Secret", f"{cluster}-kubeconfig", namespace)
        encoded = _nested(secret, "data", "value")
        if secret is None or not encoded:
            return None
        return str(secret["metadata"].get("resourceVersion", "")), base64.b64decode(encoded)

    async def _nodes(self, namespace: str, cluster: str) -> tuple[list[Obj] | None, Blocker | None]:
        label = f"Nodes of {cluster}"
        found = self.kubeconfig(namespace, cluster)
        if found is None:
            return None, Blocker(label, "Kubeconfig", "SecretNotFound",
                                 f"Secret {namespace}/{cluster}-kubeconfig (key value) does not exist yet")
        version, content = found
        cached = self._transports.get((namespace, cluster))
        try:
            if cached is None or cached[0] != version:
                if cached is not None:
                    await cached[1].close()
                    del self._transports[(namespace, cluster)]
                document = YAML(typ="safe", pure=True).load(content)
                if not isinstance(document, dict):
                    raise WorkloadClusterUnavailable("not a kubeconfig")
                transport = await transport_from_kubeconfig(document, user_agent="k0smotron-dev", qps=0.0)
                cached = (version, transport)
                self._transports[(namespace, cluster)] = cached
            listed = await cached[1].request("GET", "/api/v1/nodes", timeout_s=5.0)
        except (WorkloadClusterUnavailable, ConnectionFailed, APIError) as error:
            return None, Blocker(label, "Reachable", type(error).__name__, str(error))
        except Exception as error:  # a kubeconfig the YAML parser rejects
            return None, Blocker(label, "Reachable", type(error).__name__, "unusable kubeconfig")
        return list(listed.get("items") or ()), None

    async def collect(self) -> list[ClusterObjects]:
        result = []
        for namespace, name in self.clusters:
            cluster = self._get(CAPI, "Cluster", name, namespace)
            objs = ClusterObjects(namespace, name, cluster)
            ref = _nested(cluster, "spec", "controlPlaneRef")
            if isinstance(ref, dict) and ref.get("apiVersion") and ref.get("kind") and ref.get("name"):
                objs.control_plane = self._get(ref["apiVersion"], ref["kind"], ref["name"],
                                               ref.get("namespace") or namespace)
            objs.machines = sorted((m for m in self._list(CAPI, "Machine", namespace)
                                    if _nested(m, "spec", "clusterName") == name),
                                   key=lambda m: str(m["metadata"]["name"]))
            for machine in objs.machines:
                infra_ref = _nested(machine, "spec", "infrastructureRef")
                if isinstance(infra_ref, dict) and infra_ref.get("apiVersion") and infra_ref.get("kind"):
                    infra = self._get(infra_ref["apiVersion"], infra_ref["kind"], str(infra_ref.get("name")),
                                      namespace)
                    if infra is not None:
                        objs.infrastructure[machine["metadata"]["name"]] = infra
            objs.nodes, objs.nodes_problem = await self._nodes(namespace, name)
            if objs.nodes is not None:
                objs.nodes.sort(key=lambda n: str(n["metadata"]["name"]))
            result.append(objs)
        return result

    async def close(self) -> None:
        for _version, transport in self._transports.values():
            await transport.close()
        self._transports.clear()


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def table(snapshot: Snapshot, *, width: int | None = None) -> list[str]:
    """The snapshot as aligned lines: object, state, and for objects not Ready what they wait for."""
    header = ("OBJECT", "STATE", "WAITING FOR")
    cells = [(r.object, r.state, "Ready" if r.ready else r.blocker.what if r.blocker else "-")
             for r in snapshot.rows]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(2)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in [header, *cells]]
    return [_fit(line, width) for line in lines] if width else lines


class Display:
    """Shows snapshots: on a terminal the table is redrawn in place (ANSI); otherwise a line is printed for each
    object whose state or blocker changed."""

    def __init__(self, out: TextIO, *, tty: bool | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.started = time.monotonic()
        self._drawn = 0
        self._last: dict[str, str] = {}

    def show(self, snapshot: Snapshot, *, header: str = "") -> None:
        if self.tty:
            width = shutil.get_terminal_size((120, 40)).columns
            lines = ([_fit(header, width)] if header else []) + table(snapshot, width=width)
            erase = f"\x1b[{self._drawn}F\x1b[J" if self._drawn else ""
            self.out.write(erase + "".join(f"{line}\x1b[K\n" for line in lines))
            self._drawn = len(lines)
        else:
            elapsed = time.monotonic() - self.started
            for row in snapshot.rows:
                waiting = f"  [waiting for {row.blocker.what}]" if row.blocker else ""
                text = row.state + ("  [Ready]" if row.ready else waiting)
                if self._last.get(row.object) != text:
                    self._last[row.object] = text
                    self.out.write(f"[{elapsed:6.1f}s] {row.object}: {text}\n")
        self.out.flush()

    def release(self) -> None:
        """Further output goes below the table (it is not redrawn over)."""
        self._drawn = 0
