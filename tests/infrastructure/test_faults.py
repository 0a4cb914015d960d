"""What goes wrong with hosts, and how each failure ends: in the documented condition, or in a correct resume with
`k0s install` run exactly once per host."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import asyncssh

from k0smotron_core.envtest.hosts.pytest_plugin import SimulatedHostFactory

from ._support import CAPI, INFRA, condition, delete, eventually, get, objects, patch
from .conftest import Providers, installs, start_flow

NAME = "remote-test-0"


def remote_machine(providers: Providers) -> dict[str, Any]:
    return get(providers.capi.env, INFRA, "RemoteMachine", NAME) or {}


def bootstrap_condition(providers: Providers) -> dict[str, Any]:
    return condition(remote_machine(providers), "BootstrapExecSucceeded")


async def wait_for_reason(providers: Providers, reason: str, timeout_s: float = 30.0) -> dict[str, Any]:
    result: dict[str, Any] = await eventually(
        lambda: (c := bootstrap_condition(providers)).get("reason") == reason and c, timeout_s,
        what=f"BootstrapExecSucceeded reason {reason}", explain=lambda: bootstrap_condition(providers))
    return result


async def wait_running(providers: Providers, timeout_s: float = 60.0) -> dict[str, Any]:
    env = providers.capi.env
    result: dict[str, Any] = await eventually(
        lambda: (m := get(env, CAPI, "Machine", NAME)) and (m.get("status") or {}).get("phase") == "Running" and m,
        timeout_s, what="Machine Running", explain=lambda: bootstrap_condition(providers))
    return result


class TestAuthentication:
    async def test_a_wrong_key_says_authentication_failed_and_a_fixed_key_lets_it_proceed(
            self, providers: Providers, simulated_host: SimulatedHostFactory) -> None:
        host = await simulated_host(NAME)
        await start_flow(providers, host, authorize=False)
        failed = await wait_for_reason(providers, "AuthenticationFailed")
        assert failed["status"] == "False" and "root" in failed["message"]
        assert host.commands == []
        private_key = get(providers.capi.env, "v1", "Secret", "footloose-key")
        assert private_key is not None

        key = asyncssh.import_private_key(base64.b64decode(private_key["data"]["value"]))
        host.authorize(key.export_public_key().decode())
        await wait_running(providers)
        assert installs(host) == 1

    async def test_a_sudo_user_runs_every_command_through_sudo(
            self, providers: Providers, simulated_host: SimulatedHostFactory) -> None:
        host = await simulated_host(NAME, users=["k0s"])
        await start_flow(providers, host, user="k0s", remote_machine_spec={"user": "k0s", "useSudo": True})
        await wait_running(providers)
        assert installs(host) == 1
        assert host.commands and all(c.user == "k0s" for c in host.commands)
        assert all(c.command.startswith("sudo -n ") for c in host.commands)


class TestUnreachableHosts:
    async def test_a_host_that_is_down_is_retried_until_it_comes_up(
            self, providers: Providers, simulated_host: SimulatedHostFactory) -> None:
        host = await simulated_host(NAME)
        await host.stop()
        await start_flow(providers, host)
        failed = await wait_for_reason(providers, "HostUnreachable")
        assert f"{host.address}:{host.port}" in failed["message"]
        rm = remote_machine(providers)
        assert rm["status"]["provisioning"]["failedAttempts"] >= 1
        await host.start()
        await wait_running(providers)
        assert installs(host) == 1


class TestHostKeys:
    async def test_a_changed_host_key_stops_before_authentication_until_the_pin_is_updated(
            self, providers: Providers, simulated_host: SimulatedHostFactory) -> None:
        host = await simulated_host(NAME)
        old = host.host_key_fingerprint
        host.rekey()
        await start_flow(providers, host, remote_machine_spec={"hostKeyFingerprint": old})
        failed = await wait_for_reason(providers, "HostKeyChanged")
        assert host.host_key_fingerprint in failed["message"] and old in failed["message"]
        assert "spec.hostKeyFingerprint" in failed["message"]
        assert condition(remote_machine(providers), "HostKeyVerified")["reason"] == "HostKeyChanged"
        assert host.commands == []
        patch(providers.capi.env, INFRA, "RemoteMachine", NAME,
              {"spec": {"hostKeyFingerprint": host.host_key_fingerprint}})
        await wait_running(providers)
        assert installs(host) == 1

    async def test_trust_on_first_use_records_the_key_and_a_rekey_needs_the_annotation(
            self, providers: Providers, simulated_host: SimulatedHostFactory) -> None:
        host = await simulated_host(NAME)
        # The first attempt connects (the key is seen and recorded) and then fails until the gate file exists.
        await start_flow(providers, host, remote_machine_spec={"hostKeyFingerprint": None,
                                                               "hostKeyPolicy": "TrustOnFirstUse"},
                         worker_spec={"preStartCommands": ["test -e /root/gate"]})
        first = host.host_key_fingerprint
        await wait_for_reason(providers, "BootstrapCommandFailed")
        assert remote_machine(providers)["status"]["hostKeyFingerprint"] == first
        host.rekey()
        failed = await wait_for_reason(providers, "HostKeyChanged")
        assert "remotemachine.k0smotron.io/accept-host-key" in failed["message"]
        await host.sandbox.run("touch /root/gate", check=True)
        patch(providers.capi.env, INFRA, "RemoteMachine", NAME, {"metadata": {"annotations": {
            "remotemachine.k0smotron.io/accept-host-key": host.host_key_fingerprint}}})
        await wait_running(providers)
        rm = remote_machine(providers)
        assert rm["status"]["hostKeyFingerprint"] == host.host_key_fingerprint
        assert "remotemachine.k0smotron.io/accept-host-key" not in (rm["metadata"].get("annotations") or {})
        assert installs(host) == 1

    async def test_pinned_with_nothing_pinned_refuses_to_connect(
            self, providers: Providers, simulated_host: SimulatedHostFactory) -> None:
        host = await simulated_host(NAME)
        await start_flow(providers, host, remote_machine_spec={"hostKeyFingerprint": None})
        failed = await wait_for_reason(providers, "HostKeyNotPinned")
        assert "hostKeyFingerprint" in failed["message"]
        assert host.commands == []

    async def test_insecure_connects_but_keeps_a_warning_condition(
            self, providers: Providers, simulated_host: SimulatedHostFactory) -> None:
        host = await simulated_host(NAME)
        await start_flow(providers, host, remote_machine_spec={"hostKeyFingerprint": None,
                                                               "hostKeyPolicy": "Insecure"})
        await wait_running(providers)
        verified = condition(remote_machine(providers), "HostKeyVerified")
        assert verified["status"] == "False" and verified["reason"] == "HostKeyNotVerified"
        assert verified["severity"] == "Warning"


class TestFailingCommands:
    async def test_a_failing_pre_start_command_names_the_step_and_exit_status_and_k0s_is_never_installed(
            self, providers: Providers, simulated_host: SimulatedHostFactory) -> None:
        host = await simulated_host(NAME)
        await start_flow(providers, host, worker_spec={"preStartCommands": ["echo disk not ready >&2; exit 3"]})
        failed = await wait_for_reason(providers, "BootstrapCommandFailed")
        assert "step 2/" in failed["message"] and "exited 3" in failed["message"]
        assert "disk not ready" in failed["message"]
        assert condition(remote_machine(providers), "Ready")["status"] == "False"
        await asyncio.sleep(1)
        assert installs(host) == 0
        assert not (remote_machine(providers).get("spec") or {}).get("providerID")


class TestInterruptions:
    async def test_a_connection_cut_during_provisioning_resumes_without_a_second_install(
            self, providers: Providers, simulated_host: SimulatedHostFactory) -> None:
        host = await simulated_host(NAME)
        host.cut_on("systemctl start k0sworker")
        await start_flow(providers, host)
        await wait_running(providers)
        assert installs(host) == 1
        rm = remote_machine(providers)
        assert rm["status"]["provisioning"]["completedSteps"] and "failedAttempts" not in rm["status"]["provisioning"]

    async def test_a_controller_killed_in_the_middle_of_a_step_resumes_after_it(
            self, providers: Providers, simulated_host: SimulatedHostFactory) -> None:
        host = await simulated_host(NAME)
        await start_flow(providers, host, worker_spec={"preStartCommands": ["echo ran >> /root/slow.count; sleep 3"]})
        await eventually(lambda: host.sandbox.path("/root/slow.count").exists(), what="slow step started")
        await providers.restart_infrastructure()
        await wait_running(providers)
        assert host.sandbox.path("/root/slow.count").read_text() == "ran\n"
        assert installs(host) == 1


class TestDeletion:
    async def test_an_unreachable_host_does_not_block_deletion_forever(
            self, providers: Providers, simulated_host: SimulatedHostFactory) -> None:
        host = await simulated_host(NAME)
        await start_flow(providers, host)
        await wait_running(providers)
        await host.stop()
        env = providers.capi.env
        delete(env, CAPI, "Machine", NAME)
        await eventually(lambda: get(env, INFRA, "RemoteMachine", NAME) is None, 30, what="RemoteMachine gone",
                         explain=lambda: condition(remote_machine(providers), "HostCleanedUp"))
        events = [e for e in objects(env, "v1", "Event") if e["involvedObject"]["name"] == NAME]
        abandoned = [e for e in events if e["reason"] == "CleanupAbandoned"]
        assert abandoned and abandoned[0]["type"] == "Warning" and "after 3 attempts" in abandoned[0]["message"]

    async def test_custom_cleanup_commands_replace_the_default(
            self, providers: Providers, simulated_host: SimulatedHostFactory) -> None:
        host = await simulated_host(NAME)
        await start_flow(providers, host, remote_machine_spec={"customCleanUpCommands": ["touch /root/cleaned"]})
        await wait_running(providers)
        delete(providers.capi.env, CAPI, "Machine", NAME)
        await eventually(lambda: get(providers.capi.env, INFRA, "RemoteMachine", NAME) is None, what="gone")
        assert host.sandbox.path("/root/cleaned").exists()
        assert not any(c.command.endswith("reset") for c in host.commands)
