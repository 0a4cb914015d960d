"""RemoteMachine: provision an existing host over SSH with its Machine's bootstrap data, and clean it on delete.

`reconcile` loads a scope, runs a flat list of phases that each may stop the pass, and writes the status once at the
end, so every pass re-asserts every condition it knows (none decays to Unknown). Provisioning itself is resumable
(see `_provision`): the host records each completed step, so a new attempt after a dropped connection or a restart
skips what is done. Failures retry with exponential backoff; the condition names the step and its exit status.

Host keys are always verified unless the user chose `hostKeyPolicy: Insecure` (see `hostkeys`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from pydantic import ValidationError

from k0smotron_core import conditions, ssh
from k0smotron_core.api import infrastructure
from k0smotron_core.runtime import MERGE_PATCH, APIError, Client, EventRecorder, Request, Result, Stop, paused_condition

from . import _cleanup, hostkeys, pool
from ._bootstrapdata import BootstrapData, InvalidBootstrapData, parse
from ._provision import Provisioner, ProvisioningError, Step, plan, records_dir

log = structlog.get_logger("k0smotron.infrastructure.remotemachine")

API_VERSION = infrastructure.RemoteMachine.crd.api_version
KIND = "RemoteMachine"
CAPI = "cluster.x-k8s.io/v1beta1"
FINALIZER = "remotemachine.k0smotron.io/finalizer"
PROVIDER_ID_PREFIX = "remote-machine://"
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"

BOOTSTRAP_EXEC_SUCCEEDED = "BootstrapExecSucceeded"
HOST_KEY_VERIFIED = "HostKeyVerified"
HOST_CLEANED_UP = "HostCleanedUp"
READY = "Ready"

CONTROLLER_CONFIG_KIND = "K0sControllerConfig"
WORKER_CONFIG_KIND = "K0sWorkerConfig"


class Connector(Protocol):
    def __call__(self, target: ssh.Target, *, timeouts: ssh.Timeouts,
                 redact: list[str]) -> AbstractAsyncContextManager[ssh.Shell]: ...


def ssh_connector(target: ssh.Target, *, timeouts: ssh.Timeouts,
                  redact: list[str]) -> AbstractAsyncContextManager[ssh.Shell]:
    return ssh.connect(target, timeouts=timeouts, redact=redact)


@dataclass(frozen=True)
class Options:
    timeouts: ssh.Timeouts = field(default_factory=ssh.Timeouts)
    retry_base_s: float = 5.0
    retry_max_s: float = 300.0
    cleanup_attempts: int = 5
    """Failed clean-up attempts (host unreachable, key rejected...) after which deletion goes on without it."""
    pool_retry_s: float = 30.0
    """How often a RemoteMachine waiting for a free pooled machine looks again (pool changes also wake it)."""
    wait_s: float = 10.0
    """How often a RemoteMachine waiting for something unwatched (a Secret) looks again."""



@dataclass
class Scope:
    obj: dict[str, Any]
    status: dict[str, Any]
    spec: infrastructure.RemoteMachineSpec = field(default_factory=infrastructure.RemoteMachineSpec)
    machine: dict[str, Any] | None = None
    cluster: dict[str, Any] | None = None
    bootstrap: BootstrapData | None = None
    target: ssh.Target | None = None
    secrets: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"]["namespace"])

    @property
    def uid(self) -> str:
        return str(self.obj["metadata"]["uid"])

    @property
    def generation(self) -> int | None:
        generation = self.obj["metadata"].get("generation")
        return int(generation) if generation is not None else None

    @property
    def provisioning(self) -> dict[str, Any]:
        provisioning: dict[str, Any] = self.status.setdefault("provisioning", {})
        return provisioning

    def condition(self, type_: str, status: conditions.Status, reason: str = "", message: str = "",
                  severity: conditions.Severity = "") -> None:
        message = ssh.redact(message, self.secrets)
        conditions.set_v1beta1(self.status, type_, status, reason if status != "True" else "", message, severity)
        conditions.set_v1beta2(self.status, type_, status, reason or type_, message, self.generation)

    def bootstrap_condition(self, status: conditions.Status, reason: str, message: str = "",
                            severity: conditions.Severity = "") -> None:
        self.condition(BOOTSTRAP_EXEC_SUCCEEDED, status, reason, message, severity)

    def waiting(self, reason: str, message: str, *, requeue_after_s: float = 0.0,
                severity: conditions.Severity = "Info") -> Stop:
        self.bootstrap_condition("False", reason, message, severity)
        return Stop(requeue_after_s)


Phase = Callable[[Scope], Awaitable[None]]


class RemoteMachineReconciler:
    def __init__(self, client: Client, events: EventRecorder, *, options: Options | None = None,
                 connector: Connector = ssh_connector) -> None:
        self._client = client
        self._events = events
        self._options = options or Options()
        self._connect = connector

    async def reconcile(self, request: Request) -> Result:
        obj = await self._client.get(API_VERSION, KIND, request.name, request.namespace)
        if obj is None:
            return Result()
        scope = Scope(obj=obj, status=copy.deepcopy(obj.get("status") or {}))
        phases = self._delete_phases() if obj["metadata"].get("deletionTimestamp") else self._phases()
        requeue_after_s = 0.0
        try:
            for phase in phases:
                await phase(scope)
        except Stop as stop:
            requeue_after_s = stop.requeue_after_s
        finally:
            if FINALIZER in (scope.obj["metadata"].get("finalizers") or ()) or not scope.obj["metadata"].get(
                    "deletionTimestamp"):
                self._summarize(scope)
                await self._write_status(scope)
        return Result(requeue_after_s=requeue_after_s)

    def _phases(self) -> list[Phase]:
        return [
            self._reconcile_spec,
            self._reconcile_finalizer,
            self._reconcile_owner,
            self._reconcile_cluster,
            self._reconcile_provisioned,
            self._reconcile_readiness,
            self._reconcile_pool,
            self._reconcile_backoff,
            self._reconcile_connection,
            self._reconcile_bootstrap_data,
            self._reconcile_provision,
        ]

    def _delete_phases(self) -> list[Phase]:
        return [
            self._reconcile_spec_for_delete,
            self._reconcile_cleanup,
            self._reconcile_release,
            self._reconcile_remove_finalizer,
        ]

    # --- phases ------------------------------------------------------------------------------------------------

    async def _reconcile_spec(self, scope: Scope) -> None:
        try:
            scope.spec = infrastructure.RemoteMachineSpec.model_validate(scope.obj.get("spec") or {})
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise scope.waiting("InvalidSpec", f"spec.{where}: {first['msg']}", severity="Error") from None

    async def _reconcile_finalizer(self, scope: Scope) -> None:
        finalizers = list(scope.obj["metadata"].get("finalizers") or ())
        if FINALIZER in finalizers:
            return
        scope.obj = await self._client.patch(API_VERSION, KIND, scope.name, scope.namespace, {"metadata": {
            "finalizers": [*finalizers, FINALIZER], "resourceVersion": scope.obj["metadata"]["resourceVersion"]}},
            patch_type=MERGE_PATCH)

    async def _reconcile_owner(self, scope: Scope) -> None:
        owner = _machine_owner(scope.obj)
        if owner is None:
            raise scope.waiting("WaitingForMachineOwner", "Waiting for a Machine to own this RemoteMachine")
        scope.machine = await self._get_fresh(CAPI, "Machine", owner["name"], scope.namespace)
        if scope.machine is None:
            raise scope.waiting("WaitingForMachineOwner", f"Machine {owner['name']} does not exist")

    async def _reconcile_cluster(self, scope: Scope) -> None:
        assert scope.machine is not None
        name = (scope.machine["metadata"].get("labels") or {}).get(CLUSTER_NAME_LABEL) or (
            scope.machine.get("spec") or {}).get("clusterName")
        scope.cluster = await self._get_fresh(CAPI, "Cluster", name, scope.namespace) if name else None
        if scope.cluster is None:
            raise scope.waiting("WaitingForCluster", f"Cluster {name} does not exist")
        paused = paused_condition(scope.cluster, scope.obj)
        conditions.set_v1beta2(scope.status, "Paused", paused["status"], paused["reason"], paused["message"],
                               scope.generation)
        if paused["status"] == "True":
            raise Stop()

    async def _reconcile_provisioned(self, scope: Scope) -> None:
        if scope.spec.provider_id and (scope.status.get("initialization") or {}).get("provisioned"):
            scope.bootstrap_condition("True", BOOTSTRAP_EXEC_SUCCEEDED)
            raise Stop()

    async def _reconcile_readiness(self, scope: Scope) -> None:
        assert scope.cluster is not None and scope.machine is not None
        cluster_status = scope.cluster.get("status") or {}
        if not (cluster_status.get("infrastructureReady")
                or (cluster_status.get("initialization") or {}).get("infrastructureProvisioned")):
            raise scope.waiting("WaitingForClusterInfrastructure", "Cluster infrastructure is not ready yet")
        if not ((scope.machine.get("spec") or {}).get("bootstrap") or {}).get("dataSecretName"):
            raise scope.waiting("WaitingForBootstrapData", "Waiting for the Machine's bootstrap data")

    async def _reconcile_pool(self, scope: Scope) -> None:
        if not scope.spec.pool or scope.spec.address:
            return
        try:
            pooled = await pool.claim(self._client, scope.obj)
        except pool.NoFreePooledMachine as error:
            raise scope.waiting("WaitingForPooledMachine", str(error),
                                requeue_after_s=self._options.pool_retry_s) from None
        fields = pool.connection_fields(pooled)
        meta = pooled["metadata"]
        patch: dict[str, Any] = {"spec": fields,
                                 "metadata": {"resourceVersion": scope.obj["metadata"]["resourceVersion"]}}
        # Upstream copies the pooled machine's labels and annotations too (without overwriting the template's).
        for key in ("labels", "annotations"):
            ours = scope.obj["metadata"].get(key) or {}
            missing = {k: v for k, v in (meta.get(key) or {}).items() if k not in ours}
            if missing:
                patch["metadata"][key] = missing
        scope.obj = await self._client.patch(API_VERSION, KIND, scope.name, scope.namespace, patch,
                                             patch_type=MERGE_PATCH)
        scope.spec = infrastructure.RemoteMachineSpec.model_validate(scope.obj["spec"])
        log.info("pooled machine reserved", remotemachine=f"{scope.namespace}/{scope.name}",
                 pooledremotemachine=meta["name"], address=scope.spec.address)

    async def _reconcile_backoff(self, scope: Scope) -> None:
        remaining = self._backoff_remaining(scope, "failedAttempts")
        if remaining > 0:
            raise Stop(remaining)

    async def _reconcile_connection(self, scope: Scope) -> None:
        spec = scope.spec
        if spec.provision_job is not None:
            raise scope.waiting("ProvisionJobNotSupported", "spec.provisionJob is not supported by this provider; "
                                "remove it to provision over SSH", severity="Error")
        missing = [name for name, value in (("address", spec.address), ("sshKeyRef.name", spec.ssh_key_ref))
                   if not value]
        if missing:
            raise scope.waiting("MissingFields", f"spec.{' and spec.'.join(missing)} must be set to provision over "
                                "SSH", severity="Error")
        try:
            scope.target = await self._target(scope)
        except _TargetUnavailable as error:
            raise scope.waiting(error.reason, str(error), requeue_after_s=self._options.wait_s,
                                severity="Warning") from None

    async def _reconcile_bootstrap_data(self, scope: Scope) -> None:
        assert scope.machine is not None
        name = scope.machine["spec"]["bootstrap"]["dataSecretName"]
        secret = await self._get_fresh("v1", "Secret", name, scope.namespace)
        value = _secret_value(secret, "value")
        if value is None:
            raise scope.waiting("WaitingForBootstrapData", f"bootstrap data Secret {name} (key value) does not "
                                "exist yet", requeue_after_s=self._options.wait_s)
        try:
            scope.bootstrap = parse(value)
        except InvalidBootstrapData as error:
            raise scope.waiting("InvalidBootstrapData", str(error), severity="Error") from None
        scope.secrets.extend(scope.bootstrap.secrets())

    async def _reconcile_provision(self, scope: Scope) -> None:
        assert scope.target is not None and scope.bootstrap is not None
        steps, uploads = plan(scope.bootstrap, working_dir=scope.spec.working_dir,
                              commands_as_script=scope.spec.commands_as_script)
        provisioning = scope.provisioning
        provisioning["totalSteps"] = len(steps)
        done: list[str] = [s for s in provisioning.get("completedSteps") or () if s in {step.id for step in steps}]

        async def record(step: Step) -> None:
            done.append(step.id)
            await self._patch_status(scope, {"provisioning": {"completedSteps": list(done),
                                                              "totalSteps": len(steps)}})

        try:
            async with self._session(scope) as shell:
                provisioner = Provisioner(shell, steps, uploads, records=records_dir(scope.spec.working_dir, scope.uid),
                                          command_timeout=self._options.timeouts.command, secrets=scope.secrets,
                                          on_step_done=record)
                completed = await provisioner.run()
        except (ssh.SSHError, ProvisioningError) as error:
            provisioning["completedSteps"] = list(done)
            raise self._failed(scope, error) from None
        provisioning["completedSteps"] = completed
        provisioning.pop("failedAttempts", None)
        await self._mark_provisioned(scope)

    # --- deletion ----------------------------------------------------------------------------------------------

    async def _reconcile_spec_for_delete(self, scope: Scope) -> None:
        if FINALIZER not in (scope.obj["metadata"].get("finalizers") or ()):
            raise Stop()
        try:
            scope.spec = infrastructure.RemoteMachineSpec.model_validate(scope.obj.get("spec") or {})
        except ValidationError:
            # Nothing can be cleaned with a spec that does not parse; it must not keep the object forever.
            scope.condition(HOST_CLEANED_UP, "False", "InvalidSpec", "the spec is invalid: host not cleaned up",
                            "Warning")
            return

    async def _reconcile_cleanup(self, scope: Scope) -> None:
        if not _touched_host(scope):
            return
        remaining = self._backoff_remaining(scope, "cleanupFailedAttempts")
        if remaining > 0:
            raise Stop(remaining)
        provisioning = scope.provisioning
        role, kubelet_root = await self._cleanup_role(scope)
        commands = _cleanup.commands(role, custom=scope.spec.custom_clean_up_commands, kubelet_root_dir=kubelet_root)
        try:
            scope.target = await self._target(scope)
            async with self._session(scope) as shell:
                result = await _cleanup.run(shell, commands, records=records_dir(scope.spec.working_dir, scope.uid),
                                            command_timeout=self._options.timeouts.command, secrets=scope.secrets)
        except (ssh.SSHError, _TargetUnavailable) as error:
            attempts = int(provisioning.get("cleanupFailedAttempts") or 0) + 1
            provisioning["cleanupFailedAttempts"] = attempts
            provisioning["lastFailureTime"] = _now_precise()
            reason = getattr(error, "reason", "CleanupFailed")
            if attempts < self._options.cleanup_attempts:
                scope.condition(HOST_CLEANED_UP, "False", reason,
                                f"clean-up attempt {attempts}/{self._options.cleanup_attempts} failed: {error}",
                                "Warning")
                raise Stop(self._backoff(attempts)) from None
            message = (f"giving up cleaning the host after {attempts} attempts ({error}); it may still run k0s "
                       "and must be reset by hand")
            scope.condition(HOST_CLEANED_UP, "False", "CleanupAbandoned", message, "Error")
            await self._events.event(scope.obj, "Warning", "CleanupAbandoned", ssh.redact(message, scope.secrets))
            return
        if result.failures:
            message = "; ".join(result.failures)
            scope.condition(HOST_CLEANED_UP, "False", "CleanupCommandFailed", message, "Warning")
            await self._events.event(scope.obj, "Warning", "CleanupCommandFailed", ssh.redact(message, scope.secrets))
        else:
            scope.condition(HOST_CLEANED_UP, "True", HOST_CLEANED_UP)
            await self._events.event(scope.obj, "Normal", "HostCleanedUp",
                                     f"cleaned up {scope.spec.address}:{scope.spec.port}")

    async def _reconcile_release(self, scope: Scope) -> None:
        released = await pool.release(self._client, scope.name, scope.namespace)
        for name in released:
            log.info("pooled machine released", remotemachine=f"{scope.namespace}/{scope.name}",
                     pooledremotemachine=name)

    async def _reconcile_remove_finalizer(self, scope: Scope) -> None:
        self._summarize(scope)
        # The last status goes out before the finalizer: once it is gone, so may be the object.
        await self._write_status(scope)
        finalizers = [f for f in scope.obj["metadata"].get("finalizers") or () if f != FINALIZER]
        try:
            scope.obj = await self._client.patch(API_VERSION, KIND, scope.name, scope.namespace, {"metadata": {
                "finalizers": finalizers or None, "resourceVersion": scope.obj["metadata"]["resourceVersion"]}},
                patch_type=MERGE_PATCH)
        except APIError as error:
            if not error.not_found:
                raise
        raise Stop()

    # --- helpers -----------------------------------------------------------------------------------------------

    async def _target(self, scope: Scope) -> ssh.Target:
        spec = scope.spec
        if not spec.address or spec.ssh_key_ref is None:
            raise _TargetUnavailable("MissingFields", "spec.address and spec.sshKeyRef must be set")
        key_secret = await self._client.get_live("v1", "Secret", spec.ssh_key_ref.name, scope.namespace)
        private_key = _secret_value(key_secret, "value")
        if private_key is None:
            raise _TargetUnavailable("SSHKeySecretNotFound", f"Secret {spec.ssh_key_ref.name} with key 'value' (the "
                                     "SSH private key) does not exist")
        scope.secrets.append(private_key.decode(errors="replace"))
        verification = await hostkeys.verification(self._client, scope.obj, spec, scope.status)
        if isinstance(verification, hostkeys.Unavailable):
            scope.condition(HOST_KEY_VERIFIED, "False", verification.reason, verification.message, "Warning")
            raise _TargetUnavailable(verification.reason, verification.message)
        return ssh.Target(address=spec.address, private_key=private_key, port=spec.port, user=spec.user,
                          use_sudo=bool(spec.use_sudo), host_key=verification)

    @contextlib.asynccontextmanager
    async def _session(self, scope: Scope) -> AsyncIterator[ssh.Shell]:
        assert scope.target is not None
        try:
            async with self._connect(scope.target, timeouts=self._options.timeouts, redact=scope.secrets) as shell:
                await self._host_key_accepted(scope, shell.host_key_fingerprint)
                yield shell
        except ssh.HostKeyMismatch as error:
            scope.condition(HOST_KEY_VERIFIED, "False", error.reason,
                            f"{error}. {hostkeys.rekey_hint(scope.spec)}", "Error")
            raise
        except ssh.HostKeyNotPinned as error:
            scope.condition(HOST_KEY_VERIFIED, "False", error.reason, str(error), "Error")
            raise

    async def _host_key_accepted(self, scope: Scope, fingerprint: str) -> None:
        scope.status["hostKeyFingerprint"] = fingerprint
        if scope.spec.host_key_policy == "Insecure":
            scope.condition(HOST_KEY_VERIFIED, "False", "HostKeyNotVerified",
                            f"hostKeyPolicy is Insecure: the host key {fingerprint} was accepted without checking; "
                            "anyone able to intercept the connection could impersonate the host", "Warning")
        else:
            scope.condition(HOST_KEY_VERIFIED, "True", HOST_KEY_VERIFIED)
        annotations = scope.obj["metadata"].get("annotations") or {}
        if hostkeys.ACCEPT_HOST_KEY_ANNOTATION in annotations:
            # The re-key is done: the accepted key is recorded in status, the one-shot annotation goes.
            await self._patch_status(scope, {"hostKeyFingerprint": fingerprint})
            scope.obj = await self._client.patch(API_VERSION, KIND, scope.name, scope.namespace, {
                "metadata": {"annotations": {hostkeys.ACCEPT_HOST_KEY_ANNOTATION: None}}}, patch_type=MERGE_PATCH)
            await self._events.event(scope.obj, "Normal", "HostKeyAccepted", f"accepted host key {fingerprint}")

    def _failed(self, scope: Scope, error: Exception) -> Stop:
        reason = getattr(error, "reason", "ProvisioningFailed")
        if isinstance(error, (ssh.HostKeyMismatch, ssh.HostKeyNotPinned)):
            # Not a failure to back off from: nothing changes until the user re-keys (an annotation or spec change
            # wakes the controller), but a changed known_hosts Secret is not watched, so look again now and then.
            message = f"{error}. {hostkeys.rekey_hint(scope.spec)}" if isinstance(error, ssh.HostKeyMismatch) else str(
                error)
            scope.bootstrap_condition("False", reason, message, "Error")
            return Stop(self._options.retry_max_s)
        attempts = int(scope.provisioning.get("failedAttempts") or 0) + 1
        scope.provisioning["failedAttempts"] = attempts
        scope.provisioning["lastFailureTime"] = _now_precise()
        delay = self._backoff(attempts)
        scope.bootstrap_condition("False", reason, f"{error} (attempt {attempts}, retrying in {delay:.0f}s)",
                                  "Warning")
        log.info("provisioning failed", remotemachine=f"{scope.namespace}/{scope.name}", reason=reason,
                 attempt=attempts, retry_in_s=delay)
        return Stop(delay)

    def _backoff_remaining(self, scope: Scope, counter: str) -> float:
        """Seconds left before the next attempt may start. Each failed attempt writes the status, which wakes the
        controller at once: the backoff must be kept here, from the recorded failure time. A spec change (a new
        generation) ends the wait."""
        provisioning = scope.status.get("provisioning") or {}
        attempts = int(provisioning.get(counter) or 0)
        last = provisioning.get("lastFailureTime")
        if not attempts or not last:
            return 0.0
        condition = next((c for c in (scope.status.get("v1beta2") or {}).get("conditions") or ()
                          if c.get("type") in (BOOTSTRAP_EXEC_SUCCEEDED, HOST_CLEANED_UP)
                          and c.get("observedGeneration") not in (None, scope.generation)), None)
        if condition is not None:
            return 0.0
        try:
            failed_at = dt.datetime.fromisoformat(str(last))
        except ValueError:
            return 0.0
        elapsed = (dt.datetime.now(dt.UTC) - failed_at).total_seconds()
        return max(self._backoff(attempts) - elapsed, 0.0)

    def _backoff(self, attempts: int) -> float:
        return float(min(self._options.retry_base_s * 2 ** max(attempts - 1, 0), self._options.retry_max_s))

    async def _mark_provisioned(self, scope: Scope) -> None:
        spec = scope.spec
        assert spec.address
        provider_id = f"{PROVIDER_ID_PREFIX}{spec.address}:{spec.port}"
        # providerID first: Cluster API reads it once the machine says it is provisioned.
        scope.obj = await self._client.patch(API_VERSION, KIND, scope.name, scope.namespace,
                                             {"spec": {"providerID": provider_id}}, patch_type=MERGE_PATCH)
        scope.status["ready"] = True
        scope.status["initialization"] = {**(scope.status.get("initialization") or {}), "provisioned": True}
        scope.status["addresses"] = [{"type": "ExternalIP", "address": spec.address}]
        scope.bootstrap_condition("True", BOOTSTRAP_EXEC_SUCCEEDED)
        await self._events.event(scope.obj, "Normal", "Provisioned", f"provisioned {spec.address}:{spec.port}")
        log.info("provisioned", remotemachine=f"{scope.namespace}/{scope.name}", providerID=provider_id)
        await self._copy_metadata_to_machine(scope)

    async def _copy_metadata_to_machine(self, scope: Scope) -> None:
        """Upstream copies the RemoteMachine's labels and annotations that the Machine lacks (pooled machines carry
        theirs this way)."""
        machine = scope.machine
        if machine is None:
            return
        patch: dict[str, Any] = {}
        for key in ("labels", "annotations"):
            missing = {k: v for k, v in (scope.obj["metadata"].get(key) or {}).items()
                       if k not in (machine["metadata"].get(key) or {}) and "cluster.x-k8s.io/" not in k
                       and k != hostkeys.ACCEPT_HOST_KEY_ANNOTATION}
            if missing:
                patch[key] = missing
        if patch:
            try:
                await self._client.patch(CAPI, "Machine", machine["metadata"]["name"], scope.namespace,
                                         {"metadata": patch}, patch_type=MERGE_PATCH)
            except APIError as error:
                if not error.not_found:
                    raise

    async def _cleanup_role(self, scope: Scope) -> tuple[_cleanup.Role, str | None]:
        machine = scope.machine
        owner = _machine_owner(scope.obj)
        if machine is None and owner is not None:
            machine = await self._get_fresh(CAPI, "Machine", owner["name"], scope.namespace)
        bootstrap = ((machine or {}).get("spec") or {}).get("bootstrap") or {}
        kind = (bootstrap.get("configRef") or {}).get("kind")
        role: _cleanup.Role = ("controller" if kind == CONTROLLER_CONFIG_KIND
                               else "worker" if kind in (WORKER_CONFIG_KIND, None) else "other")
        kubelet_root = None
        data_secret = bootstrap.get("dataSecretName")
        if data_secret:
            value = _secret_value(await self._get_fresh("v1", "Secret", data_secret, scope.namespace), "value")
            with contextlib.suppress(InvalidBootstrapData):
                if value is not None:
                    data = parse(value)
                    scope.secrets.extend(data.secrets())
                    kubelet_root = _cleanup.kubelet_root_dir(data.commands)
        return role, kubelet_root

    def _summarize(self, scope: Scope) -> None:
        ready = conditions.get(scope.status, BOOTSTRAP_EXEC_SUCCEEDED)
        if ready is None:
            scope.bootstrap_condition("False", "WaitingForBootstrapData", "Not provisioned yet", "Info")
            ready = conditions.get(scope.status, BOOTSTRAP_EXEC_SUCCEEDED)
        assert ready is not None
        scope.condition(READY, ready["status"], ready.get("reason", ""), ready.get("message", ""),
                        ready.get("severity", ""))
        scope.status.setdefault("ready", False)

    async def _patch_status(self, scope: Scope, patch: dict[str, Any]) -> None:
        try:
            scope.obj = await self._client.patch(API_VERSION, KIND, scope.name, scope.namespace, {"status": patch},
                                                 patch_type=MERGE_PATCH, subresource="status")
        except APIError as error:
            if not error.not_found:
                raise

    async def _write_status(self, scope: Scope) -> None:
        patch = _merge_diff(scope.obj.get("status") or {}, scope.status)
        if patch:
            await self._patch_status(scope, patch)

    async def _get_fresh(self, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        found = await self._client.get(api_version, kind, name, namespace)
        return found if found is not None else await self._client.get_live(api_version, kind, name, namespace)


class _TargetUnavailable(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _merge_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns `before` into `after`: removed keys become null, at any depth."""
    patch: dict[str, Any] = {key: None for key in before if key not in after}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            nested = _merge_diff(old, value)
            if nested:
                patch[key] = nested
        elif value != old:
            patch[key] = value
    return patch


def _now_precise() -> str:
    """RFC 3339 with milliseconds: backoffs start below a second."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _machine_owner(obj: dict[str, Any]) -> dict[str, Any] | None:
    return next((ref for ref in obj["metadata"].get("ownerReferences") or ()
                 if ref.get("kind") == "Machine" and str(ref.get("apiVersion", "")).startswith("cluster.x-k8s.io/")),
                None)


def _touched_host(scope: Scope) -> bool:
    """Whether provisioning may have run anything on the host (only then is there something to clean)."""
    provisioning = scope.status.get("provisioning") or {}
    return bool(scope.spec.address and scope.spec.ssh_key_ref and (
        (scope.status.get("initialization") or {}).get("provisioned") or provisioning.get("completedSteps")
        or provisioning.get("failedAttempts")))


def _secret_value(secret: dict[str, Any] | None, key: str) -> bytes | None:
    if secret is None:
        return None
    encoded = (secret.get("data") or {}).get(key)
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded)
    except (binascii.Error, ValueError):
        return None


def remote_machines_of_pool(cached: Callable[[str], list[dict[str, Any]]]) -> Callable[[dict[str, Any]], list[Request]]:
    """A pooled machine changed (added, released): wake the RemoteMachines of its pool still waiting for one."""
    def mapper(prm: dict[str, Any]) -> list[Request]:
        namespace = prm["metadata"].get("namespace") or ""
        pool_name = (prm.get("spec") or {}).get("pool")
        return [Request(namespace, rm["metadata"]["name"]) for rm in cached(namespace)
                if (rm.get("spec") or {}).get("pool") == pool_name and not (rm.get("spec") or {}).get("address")]
    return mapper


def machine_to_remote_machine(machine: dict[str, Any]) -> list[Request]:
    """The Machine's bootstrap data became available: its RemoteMachine can go on."""
    ref = (machine.get("spec") or {}).get("infrastructureRef") or {}
    if ref.get("kind") != KIND or not str(ref.get("apiVersion", "")).startswith("infrastructure.cluster.x-k8s.io/"):
        return []
    return [Request(ref.get("namespace") or machine["metadata"].get("namespace") or "", ref["name"])]
