"""The example's objects: loading them, pointing their machines at simulated hosts, and applying them in file order."""

from __future__ import annotations

import asyncio
import base64
import copy
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any, Protocol

import asyncssh
from ruamel.yaml import YAML

from ..envtest import EnvTest
from ..envtest._errors import StatusError

INFRA_GROUP = "infrastructure.cluster.x-k8s.io"
MACHINE_KINDS = ("RemoteMachine", "PooledRemoteMachine")

Obj = dict[str, Any]


class ExampleError(Exception):
    """The example cannot be used (missing, not YAML, an object the API server refuses); the message says why."""


class Host(Protocol):
    """What `prepare` needs of a simulated host."""

    address: str
    port: int

    @property
    def host_key_fingerprint(self) -> str: ...

    def authorize(self, public_key_openssh: str, user: str = "root") -> None: ...


@dataclass
class MachineSpec:
    """One RemoteMachine or PooledRemoteMachine of the example, and where its connection fields live."""

    kind: str
    namespace: str
    name: str
    spec: Obj
    """The dict holding address/port/user/sshKeyRef (spec, or spec.machine of a PooledRemoteMachine)."""

    @property
    def user(self) -> str:
        return str(self.spec.get("user") or "root")

    @property
    def key_secret(self) -> str | None:
        ref = self.spec.get("sshKeyRef") or {}
        name = ref.get("name") if isinstance(ref, dict) else None
        return str(name) if name else None


@dataclass
class Example:
    name: str
    path: Path
    objects: list[Obj]
    machines: list[MachineSpec] = field(default_factory=list)
    generated_secrets: list[str] = field(default_factory=list)
    """`namespace/name` of the SSH key Secrets `prepare` added."""

    @property
    def clusters(self) -> list[tuple[str, str]]:
        return [(namespace_of(o), o["metadata"]["name"]) for o in self.objects
                if o.get("kind") == "Cluster" and str(o.get("apiVersion", "")).startswith("cluster.x-k8s.io/")]


def examples_dir() -> Path | None:
    """`examples/` of the source tree this package lives in."""
    candidate = Path(__file__).resolve().parents[2] / "examples"
    return candidate if candidate.is_dir() else None


def find_example(name: str) -> Path:
    """`name` as a path to a YAML file, or the name of a file in examples/ (with or without `.yaml`)."""
    given = Path(name)
    if given.suffix in (".yaml", ".yml") and given.is_file():
        return given
    directory = examples_dir()
    if directory is None:
        raise ExampleError(f"no examples/ directory next to {Path(__file__).resolve().parents[2]}; "
                           "pass the path of a YAML file with --example")
    path = directory / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.yaml")))
        raise ExampleError(f"no example {name!r} in {directory} (known: {known})")
    return path


def namespace_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "default")


def load_example(path: Path) -> Example:
    """The file's objects in order (empty documents dropped) and its machines."""
    try:
        documents = list(YAML(typ="safe", pure=True).load_all(StringIO(path.read_text(encoding="utf-8"))))
    except Exception as error:
        raise ExampleError(f"{path}: not YAML: {error}") from None
    objects = [d for d in documents if isinstance(d, dict) and d.get("kind")]
    machines: list[MachineSpec] = []
    for obj in objects:
        if not str(obj.get("apiVersion", "")).startswith(f"{INFRA_GROUP}/") or obj["kind"] not in MACHINE_KINDS:
            continue
        if not isinstance(obj.get("spec"), dict):
            obj["spec"] = {}
        spec = obj["spec"]
        if obj["kind"] == "PooledRemoteMachine":
            if not isinstance(spec.get("machine"), dict):
                spec["machine"] = {}
            spec = spec["machine"]
        machines.append(MachineSpec(obj["kind"], namespace_of(obj), obj["metadata"]["name"], spec))
    return Example(path.stem, path, objects, machines)


def _secret_value(secret: Obj) -> bytes | None:
    string_data = secret.get("stringData") or {}
    if isinstance(string_data.get("value"), str):
        return str(string_data["value"]).encode()
    data = secret.get("data") or {}
    if isinstance(data.get("value"), str):
        return base64.b64decode(data["value"])
    return None


def _find(objects: Iterable[Obj], kind: str, namespace: str, name: str) -> Obj | None:
    return next((o for o in objects if o.get("kind") == kind and namespace_of(o) == namespace
                 and (o.get("metadata") or {}).get("name") == name), None)


def prepare(example: Example, hosts: dict[str, Host]) -> None:
    """Point every machine at its host (keyed by machine name): address and port substituted, host key pinned, an
    SSH key authorized for the machine's user. The key is the one in the example's Secret named by `sshKeyRef`
    when there is one; otherwise a new ed25519 key, whose Secret (key `value`) is added before the machine."""
    keys: dict[tuple[str, str], asyncssh.SSHKey] = {}
    for machine in example.machines:
        host = hosts[machine.name]
        machine.spec["address"] = host.address
        machine.spec["port"] = host.port
        machine.spec["hostKeyFingerprint"] = host.host_key_fingerprint
        secret_name = machine.key_secret
        if secret_name is None:
            secret_name = f"{machine.name}-ssh-key"
            machine.spec["sshKeyRef"] = {"name": secret_name}
        key = keys.get((machine.namespace, secret_name))
        if key is None:
            existing = _find(example.objects, "Secret", machine.namespace, secret_name)
            value = _secret_value(existing) if existing is not None else None
            if value is not None:
                try:
                    key = asyncssh.import_private_key(value)
                except (asyncssh.KeyImportError, ValueError) as error:
                    raise ExampleError(f"Secret {machine.namespace}/{secret_name}: key `value` is not a usable SSH "
                                       f"private key ({type(error).__name__})") from None
            else:
                key = asyncssh.generate_private_key("ssh-ed25519")
                value_b64 = base64.b64encode(key.export_private_key()).decode()
                secret: Obj = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                               "metadata": {"name": secret_name, "namespace": machine.namespace},
                               "data": {"value": value_b64}}
                if existing is not None:
                    existing.setdefault("data", {})["value"] = value_b64
                else:
                    position = next(i for i, o in enumerate(example.objects)
                                    if o.get("kind") == machine.kind and namespace_of(o) == machine.namespace
                                    and o["metadata"]["name"] == machine.name)
                    example.objects.insert(position, secret)
                    example.generated_secrets.append(f"{machine.namespace}/{secret_name}")
            keys[(machine.namespace, secret_name)] = key
        host.authorize(key.export_public_key().decode().strip(), machine.user)


def _retryable(error: StatusError) -> bool:
    """A kind whose CRD is not established yet, or a namespace not created (or still terminating)."""
    return error.code == 404 or (error.code == 403 and "namespace" in str(error).lower())


def _describe(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


async def apply(env: EnvTest, objects: list[Obj], *, timeout_s: float = 30.0, retry_s: float = 0.2) -> list[str]:
    """Create the objects in order; an object whose kind or namespace is not there yet is tried again (the others
    go on) until `timeout_s`. An object that exists already is left as it is. Returns `Kind ns/name` per object."""
    pending = [copy.deepcopy(o) for o in objects]
    applied: list[str] = []
    deadline = time.monotonic() + timeout_s
    while pending:
        waiting: list[tuple[Obj, StatusError]] = []
        for obj in pending:
            try:
                env.create(obj)
            except StatusError as error:
                if error.code == 409:
                    applied.append(_describe(obj))
                    continue
                if _retryable(error):
                    waiting.append((obj, error))
                    continue
                raise ExampleError(f"{_describe(obj)}: {error}") from None
            applied.append(_describe(obj))
        if not waiting:
            break
        if time.monotonic() > deadline:
            raise ExampleError("; ".join(f"{_describe(o)}: {e}" for o, e in waiting))
        pending = [o for o, _ in waiting]
        await asyncio.sleep(retry_s)
    return applied
