"""Hosts with the real OpenSSH sshd, each in a network namespace of its own on a private bridge."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import subprocess
from pathlib import Path

import asyncssh
import pytest

from k0smotron_core.envtest.hosts import HOST_INFO_PATH, NetnsNetwork, cleanup_stale, netns_unavailable
from k0smotron_core.envtest.hosts._netns import STATE_DIR
from k0smotron_core.envtest.hosts.pytest_plugin import NetnsHostFactory

from ._support import CLIENT_PUBLIC_KEY, assert_cut_off, connect, exists, read_text, ssh_run


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=True).stdout


async def test_a_host_is_reachable_over_ssh_at_its_own_address_with_its_pinned_key(
    netns_hosts: NetnsHostFactory,
) -> None:
    host = await netns_hosts("h1")
    host.authorize(CLIENT_PUBLIC_KEY)

    result = await ssh_run(host, "hostname; ip -4 -o addr show dev eth0")

    assert ipaddress.IPv4Address(host.address) in ipaddress.IPv4Network("198.18.0.0/15")
    assert ipaddress.IPv4Address(host.address) in netns_hosts.network.subnet
    assert host.port == 22 and host.known_hosts_line.startswith(f"{host.address} ssh-ed25519 ")
    assert result.exit_status == 0, result.stderr
    assert str(result.stdout).startswith("h1\n") and f"inet {host.address}/24" in str(result.stdout)
    assert json.loads(read_text(host.sandbox.path(HOST_INFO_PATH))) == {"name": "h1", "address": host.address}


async def test_a_host_reaches_a_server_listening_on_the_gateway(netns_hosts: NetnsHostFactory) -> None:
    host = await netns_hosts("h1")
    host.authorize(CLIENT_PUBLIC_KEY)
    greetings: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        greetings.append(await reader.readline())
        writer.write(b"welcome\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, netns_hosts.network.gateway, 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        command = (
            f"exec 3<>/dev/tcp/{netns_hosts.network.gateway}/{port}; echo hello from $(hostname) >&3; head -n1 <&3"
        )
        result = await ssh_run(host, f"bash -c '{command}'")

    assert result.stdout == "welcome\n", result.stderr
    assert greetings == [b"hello from h1\n"]


async def test_files_written_over_ssh_land_in_the_hosts_sandbox(netns_hosts: NetnsHostFactory) -> None:
    host = await netns_hosts("h1", users=["k0s"])
    host.authorize(CLIENT_PUBLIC_KEY, user="k0s")

    result = await ssh_run(host, "echo token | sudo -n tee /etc/k0s.token >/dev/null && id -un", user="k0s")

    assert result.stdout == "k0s\n", result.stderr
    assert read_text(host.sandbox.path("/etc/k0s.token")) == "token\n"
    assert not exists(Path("/etc/k0s.token"))
    assert [(c.user, c.command, c.exit_status) for c in host.commands] == [
        ("k0s", "echo token | sudo -n tee /etc/k0s.token >/dev/null && id -un", 0)
    ]


async def test_root_cannot_log_in_with_a_key_it_was_not_given(netns_hosts: NetnsHostFactory) -> None:
    host = await netns_hosts("h1", users=["k0s"])
    host.authorize(CLIENT_PUBLIC_KEY, user="k0s")

    with pytest.raises(asyncssh.PermissionDenied):
        await connect(host, user="root")


async def test_a_stopped_host_refuses_connections_until_started_again(netns_hosts: NetnsHostFactory) -> None:
    host = await netns_hosts("h1")
    host.authorize(CLIENT_PUBLIC_KEY)
    live = await connect(host)

    await host.stop()

    with pytest.raises(OSError):
        await connect(host)
    await asyncio.wait_for(live.wait_closed(), 5)
    await host.start()
    assert (await ssh_run(host, "echo back")).stdout == "back\n"


async def test_after_rekey_a_client_pinned_to_the_old_key_is_refused(netns_hosts: NetnsHostFactory) -> None:
    host = await netns_hosts("h1")
    host.authorize(CLIENT_PUBLIC_KEY)
    old_line = host.known_hosts_line
    live = await connect(host)

    await host.rekey()

    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await connect(host, known_hosts_line=old_line)
    assert (await ssh_run(host, "true")).exit_status == 0
    assert (await live.run("echo still here", timeout=10)).stdout == "still here\n"
    live.close()


async def test_cut_on_drops_the_connection_before_the_command_runs(netns_hosts: NetnsHostFactory) -> None:
    host = await netns_hosts("h1", users=["k0s"])
    host.authorize(CLIENT_PUBLIC_KEY, user="k0s")
    host.cut_on("k0s install")

    async with await connect(host, user="k0s") as connection:
        await assert_cut_off(connection.run("sudo -n touch /etc/ran && k0s install controller", timeout=10))

    assert not exists(host.sandbox.path("/etc/ran"))
    assert host.commands == []
    await ssh_run(host, "sudo -n touch /etc/ran; echo k0s install", user="k0s")
    assert exists(host.sandbox.path("/etc/ran"))


async def test_cutting_connections_keeps_the_host_listening(netns_hosts: NetnsHostFactory) -> None:
    host = await netns_hosts("h1")
    host.authorize(CLIENT_PUBLIC_KEY)
    connection = await connect(host)
    process = await connection.create_process("echo started; sleep 60")
    assert await asyncio.wait_for(process.stdout.readline(), 10) == "started\n"

    host.cut_connections()

    await assert_cut_off(process.wait(timeout=10))
    assert (await ssh_run(host, "echo up")).stdout == "up\n"


async def test_closing_the_network_removes_its_namespaces_and_interfaces(tmp_path: Path) -> None:
    if (reason := netns_unavailable()) is not None:
        pytest.skip(reason)
    network = await NetnsNetwork.create(tmp_path)
    hosts = await network.add_hosts(["h1", "h2"])
    assert {host.netns for host in hosts} <= set(_ip("netns", "list").split())
    names = [network.bridge, *(host.veth for host in hosts)]
    assert all(name in _ip("-o", "link", "show") for name in names)

    await network.close()

    assert not any(host.netns in _ip("netns", "list") for host in hosts)
    links = _ip("-o", "link", "show")
    assert not any(name in links for name in names)
    assert network.suffix not in _ip("-4", "addr", "show")


async def test_a_signal_from_the_client_reaches_the_command_of_a_non_root_user(netns_hosts: NetnsHostFactory) -> None:
    # OpenSSH 9.2 refuses to signal root's sessions ("session signalling requires privilege separation").
    host = await netns_hosts("h1", users=["k0s"])
    host.authorize(CLIENT_PUBLIC_KEY, user="k0s")

    async with await connect(host, user="k0s") as connection:
        process = await connection.create_process("echo started; sleep 60")
        assert await asyncio.wait_for(process.stdout.readline(), 10) == "started\n"
        process.send_signal("KILL")
        await asyncio.wait_for(process.wait(), 10)

    assert [c.command for c in host.commands] == ["echo started; sleep 60"]
    assert host.commands[0].exit_status is None


async def test_cleanup_stale_removes_what_a_dead_run_left_behind(tmp_path: Path) -> None:
    if (reason := netns_unavailable()) is not None:
        pytest.skip(reason)
    network = await NetnsNetwork.create(tmp_path)
    host = await network.add_host("h1")
    await host.close()
    # As if the run that owns it had been killed: its marker names a process that is gone.
    marker = STATE_DIR / f"{network.suffix}.json"
    marker.write_text(json.dumps({"pid": 2**22 + 1, "start_time": 0}))

    assert network.suffix in await cleanup_stale()

    assert host.netns not in _ip("netns", "list")
    links = _ip("-o", "link", "show")
    assert network.bridge not in links and host.veth not in links
    assert not exists(marker)
