"""What connecting reports when it cannot: each failure is one SSHError subclass with its condition reason."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from k0smotron_core import ssh

from .conftest import Keys, TestServer

INSECURE = ssh.HostKeyVerification(policy="Insecure")


def _target(port: int, private_key: bytes) -> ssh.Target:
    return ssh.Target("127.0.0.1", private_key, port=port, host_key=INSECURE)


async def test_a_key_the_server_does_not_accept_raises_AuthenticationFailed_naming_the_user(
    ssh_server: TestServer, keys: Keys
) -> None:
    with pytest.raises(ssh.AuthenticationFailed) as caught:
        async with ssh.connect(ssh_server.target(private_key=keys.other_client_pem)):
            pass
    assert caught.value.reason == "AuthenticationFailed"
    assert str(caught.value) == f"127.0.0.1:{ssh_server.port} rejected the private key for user 'root'"


async def test_a_user_the_server_does_not_know_raises_AuthenticationFailed(ssh_server: TestServer) -> None:
    with pytest.raises(ssh.AuthenticationFailed, match="'deploy'"):
        async with ssh.connect(ssh_server.target(user="deploy")):
            pass


async def test_a_garbage_private_key_raises_InvalidPrivateKey_without_echoing_it(ssh_server: TestServer) -> None:
    garbage = b"-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWJ1dC1icm9rZW4=\n-----END OPENSSH PRIVATE KEY-----\n"
    for key in (garbage, b"hunter2-not-a-key", b""):
        with pytest.raises(ssh.InvalidPrivateKey) as caught:
            async with ssh.connect(ssh_server.target(private_key=key)):
                pass
        message = str(caught.value)
        assert caught.value.reason == "InvalidPrivateKey"
        assert "c2VjcmV0" not in message and "hunter2" not in message and "BEGIN" not in message
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert ssh_server.connections == []


async def test_an_encrypted_private_key_raises_InvalidPrivateKey_saying_so(ssh_server: TestServer, keys: Keys) -> None:
    encrypted = keys.client.export_private_key("pkcs8-pem", passphrase="pass")
    with pytest.raises(ssh.InvalidPrivateKey, match="encrypted"):
        async with ssh.connect(ssh_server.target(private_key=encrypted)):
            pass


async def test_a_closed_port_raises_HostUnreachable(closed_port: int, keys: Keys) -> None:
    with pytest.raises(ssh.HostUnreachable) as caught:
        async with ssh.connect(_target(closed_port, keys.client_pem)):
            pass
    assert caught.value.reason == "HostUnreachable"
    assert f"127.0.0.1:{closed_port}" in str(caught.value)


async def test_a_name_that_does_not_resolve_raises_HostUnreachable(
    monkeypatch: pytest.MonkeyPatch, keys: Keys
) -> None:
    async def no_such_name(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_name)
    target = ssh.Target("machine.invalid", keys.client_pem, host_key=INSECURE)
    with pytest.raises(ssh.HostUnreachable, match="cannot resolve"):
        async with ssh.connect(target):
            pass


async def test_a_listener_that_never_answers_raises_ConnectTimeout_within_the_connect_timeout(
    silent_port: int, keys: Keys
) -> None:
    started = time.monotonic()
    with pytest.raises(ssh.ConnectTimeout) as caught:
        async with ssh.connect(_target(silent_port, keys.client_pem), timeouts=ssh.Timeouts(connect=0.3)):
            pass
    assert 0.3 <= time.monotonic() - started < 1.5
    assert caught.value.reason == "ConnectTimeout"
    assert "0.3s" in str(caught.value)


async def test_an_overall_deadline_shorter_than_the_connect_timeout_raises_SessionTimeout(
    silent_port: int, keys: Keys
) -> None:
    with pytest.raises(ssh.SessionTimeout):
        async with ssh.connect(_target(silent_port, keys.client_pem), timeouts=ssh.Timeouts(connect=5, overall=0.2)):
            pass


async def test_a_server_that_hangs_up_during_the_handshake_raises_ConnectionLost(keys: Keys) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    try:
        with pytest.raises(ssh.ConnectionLost):
            async with ssh.connect(_target(server.sockets[0].getsockname()[1], keys.client_pem)):
                pass
    finally:
        server.close()
        await server.wait_closed()


async def test_a_server_that_speaks_nonsense_raises_HandshakeFailed(keys: Keys) -> None:
    async def nonsense(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A version line, then a packet with a zero-length payload: asyncssh fails to decode it.
        try:
            writer.write(b"SSH-2.0-nonsense\r\n" + bytes([0, 0, 0, 12, 11]) + bytes(11))
            await writer.drain()
            await reader.read()
        except ConnectionError:
            pass  # the client hung up first
        finally:
            writer.close()

    server = await asyncio.start_server(nonsense, "127.0.0.1", 0)
    try:
        with pytest.raises(ssh.HandshakeFailed) as caught:
            async with ssh.connect(_target(server.sockets[0].getsockname()[1], keys.client_pem)):
                pass
        assert caught.value.reason == "HandshakeFailed"
    finally:
        server.close()
        await server.wait_closed()


def test_errors_carry_a_condition_reason_and_a_one_line_message() -> None:
    errors: list[ssh.SSHError] = [
        ssh.HostUnreachable("::1", 22, "Connection refused"),
        ssh.ConnectTimeout("h", 22, 15),
        ssh.AuthenticationFailed("h", 22, "root"),
        ssh.InvalidPrivateKey("h", 22, "bad"),
        ssh.InvalidKnownHosts("h", 22, "line 1"),
        ssh.HostKeyMismatch("h", 22, "SHA256:a", ("SHA256:b",)),
        ssh.HostKeyNotPinned("h", 22),
        ssh.HandshakeFailed("h", 22, "x"),
        ssh.CommandTimeout("h", 22, "k0s\ninstall", 600),
        ssh.SessionTimeout("h", 22, 1800),
        ssh.ConnectionLost("h", 22, "gone"),
        ssh.UploadFailed("h", 22, "/etc/x", 1, "denied"),
        ssh.CommandFailed("h", 22, "reading /x", 1, "denied"),
    ]
    reasons = [error.reason for error in errors]
    assert reasons == ["HostUnreachable", "ConnectTimeout", "AuthenticationFailed", "InvalidPrivateKey",
                       "InvalidKnownHosts", "HostKeyChanged", "HostKeyNotPinned", "HandshakeFailed",
                       "CommandTimeout", "SessionTimeout", "ConnectionLost", "UploadFailed", "CommandFailed"]
    for error in errors:
        assert "\n" not in str(error)
    assert "[::1]:22" in str(errors[0])


async def test_asyncssh_is_not_asked_for_anything_from_the_environment(
    ssh_server: TestServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # No agent, no ~/.ssh: a key or config lying around must not change what the transport does.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent.sock"))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host *\n  Port 1\n  User nobody\n")
    (tmp_path / ".ssh" / "known_hosts").write_text("* ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\n")
    async with ssh.connect(ssh_server.target()) as session:
        assert (await session.run("echo ok")).ok
