"""The in-process host: real SSH with a pinned host key, and the failures a test can inject."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncssh
import pytest

from k0smotron_core.envtest.hosts import ExecutedCommand, SimulatedHost, sandbox_unavailable, simulated_hosts
from k0smotron_core.envtest.hosts.pytest_plugin import SimulatedHostFactory

from ._support import CLIENT_PUBLIC_KEY, assert_cut_off, connect, exists, read_text, ssh_run


async def test_a_command_runs_over_ssh_with_its_exit_status_output_and_input(
    simulated_host: SimulatedHostFactory,
) -> None:
    host = await simulated_host("h1")
    host.authorize(CLIENT_PUBLIC_KEY)

    result = await ssh_run(host, "echo out; echo err >&2; cat; hostname; exit 3", input="in\n")

    assert (result.exit_status, result.stdout, result.stderr) == (3, "out\nin\nh1\n", "err\n")
    assert host.commands == [ExecutedCommand("root", "echo out; echo err >&2; cat; hostname; exit 3", 3)]


async def test_a_command_killed_by_a_signal_reports_the_signal(simulated_host: SimulatedHostFactory) -> None:
    host = await simulated_host("h1")
    host.authorize(CLIENT_PUBLIC_KEY)

    result = await ssh_run(host, "kill -TERM $$")

    assert result.exit_signal is not None and result.exit_signal[0] == "TERM"


async def test_a_file_written_over_ssh_lands_in_the_sandbox(simulated_host: SimulatedHostFactory) -> None:
    host = await simulated_host("h1")
    host.authorize(CLIENT_PUBLIC_KEY)

    await ssh_run(host, "echo token > /etc/k0s.token")

    assert read_text(host.sandbox.path("/etc/k0s.token")) == "token\n"
    assert not exists(Path("/etc/k0s.token"))


async def test_a_user_logs_in_with_their_own_key_and_sudo(simulated_host: SimulatedHostFactory) -> None:
    host = await simulated_host("h1", users=["k0s"])
    host.authorize(CLIENT_PUBLIC_KEY, user="k0s")

    result = await ssh_run(host, "id -un; sudo -n id -un", user="k0s")

    assert result.stdout == "k0s\nroot\n"
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(host, user="root")


async def test_a_host_refuses_keys_it_was_not_given(simulated_host: SimulatedHostFactory) -> None:
    host = await simulated_host("h1")

    with pytest.raises(asyncssh.PermissionDenied):
        await connect(host)
    host.authorize(CLIENT_PUBLIC_KEY)
    host.refuse_auth = True
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(host)


async def test_a_stopped_host_refuses_connections_and_a_started_one_answers_on_the_same_port(
    simulated_host: SimulatedHostFactory,
) -> None:
    host = await simulated_host("h1")
    host.authorize(CLIENT_PUBLIC_KEY)
    port = host.port
    live = await connect(host)

    await host.stop()

    with pytest.raises(OSError):
        await connect(host)
    await asyncio.wait_for(live.wait_closed(), 5)
    await host.start()
    assert host.port == port
    assert (await ssh_run(host, "echo back")).stdout == "back\n"


async def test_after_rekey_a_client_pinned_to_the_old_key_is_refused(simulated_host: SimulatedHostFactory) -> None:
    host = await simulated_host("h1")
    host.authorize(CLIENT_PUBLIC_KEY)
    old_line, old_fingerprint = host.known_hosts_line, host.host_key_fingerprint

    host.rekey()

    assert host.host_key_fingerprint != old_fingerprint and host.host_key_fingerprint.startswith("SHA256:")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await connect(host, known_hosts_line=old_line)
    assert (await ssh_run(host, "true")).exit_status == 0


async def test_cut_on_drops_the_connection_before_the_command_runs(simulated_host: SimulatedHostFactory) -> None:
    host = await simulated_host("h1")
    host.authorize(CLIENT_PUBLIC_KEY)
    host.cut_on("k0s install")

    async with await connect(host) as connection:
        assert (await connection.run("echo first", timeout=10)).stdout == "first\n"
        await assert_cut_off(connection.run("touch /etc/ran && k0s install controller", timeout=10))

    assert not exists(host.sandbox.path("/etc/ran"))
    assert [c.command for c in host.commands] == ["echo first"]
    # One-shot: the retry goes through.
    await ssh_run(host, "touch /etc/ran && echo k0s install controller")
    assert exists(host.sandbox.path("/etc/ran"))


async def test_cutting_connections_hangs_up_on_running_commands(simulated_host: SimulatedHostFactory) -> None:
    host = await simulated_host("h1")
    host.authorize(CLIENT_PUBLIC_KEY)
    connection = await connect(host)
    process = await connection.create_process("echo started; sleep 60")
    assert await asyncio.wait_for(process.stdout.readline(), 10) == "started\n"

    host.cut_connections()

    await assert_cut_off(process.wait(timeout=10))
    await asyncio.wait_for(connection.wait_closed(), 5)
    for _ in range(100):
        if host.sandbox.processes() == [host.sandbox.pid]:
            break
        await asyncio.sleep(0.05)
    assert host.sandbox.processes() == [host.sandbox.pid]
    assert host.commands[0].exit_status is None


async def test_simulated_hosts_makes_several_and_powers_them_off(tmp_path: Path) -> None:
    if (reason := sandbox_unavailable()) is not None:
        pytest.skip(reason)
    async with simulated_hosts(3, tmp_path) as hosts:
        assert [host.name for host in hosts] == ["host-1", "host-2", "host-3"]
        assert len({host.port for host in hosts}) == 3
        for host in hosts:
            host.authorize(CLIENT_PUBLIC_KEY)
            assert (await ssh_run(host, "hostname")).stdout == f"{host.name}\n"
    assert not any(host.running for host in hosts)


async def test_a_signal_from_the_client_reaches_the_command(simulated_host: SimulatedHostFactory) -> None:
    host = await simulated_host("h1")
    host.authorize(CLIENT_PUBLIC_KEY)

    async with await connect(host) as connection:
        process = await connection.create_process("echo started; sleep 60")
        assert await asyncio.wait_for(process.stdout.readline(), 10) == "started\n"
        process.send_signal("KILL")
        result = await asyncio.wait_for(process.wait(), 10)

    assert result.exit_signal is not None and result.exit_signal[0] == "KILL"


async def test_large_input_and_output_go_through_whole(simulated_host: SimulatedHostFactory) -> None:
    host = await simulated_host("h1")
    host.authorize(CLIENT_PUBLIC_KEY)
    payload = "x" * (4 * 1024 * 1024)

    result = await ssh_run(host, "cat > /tmp/payload && wc -c < /tmp/payload && cat /tmp/payload", input=payload)

    assert result.stdout == f"{len(payload)}\n{payload}"
    assert host.sandbox.path("/tmp/payload").stat().st_size == len(payload)


async def test_a_command_outliving_the_command_timeout_is_killed(tmp_path: Path) -> None:
    if (reason := sandbox_unavailable()) is not None:
        pytest.skip(reason)
    host = await SimulatedHost.create("h1", tmp_path / "h1", command_timeout=0.3)
    try:
        host.authorize(CLIENT_PUBLIC_KEY)
        result = await ssh_run(host, "sleep 30")
    finally:
        await host.close()

    assert result.exit_signal is not None and result.exit_signal[0] == "KILL"


async def test_keys_can_only_be_authorized_for_users_the_host_has(simulated_host: SimulatedHostFactory) -> None:
    host = await simulated_host("h1")

    with pytest.raises(KeyError, match="no user 'k0s'"):
        host.authorize(CLIENT_PUBLIC_KEY, user="k0s")
