"""An SSH client that pins the host key, as the provider does."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Protocol

import asyncssh

CLIENT_KEY = asyncssh.generate_private_key("ssh-ed25519")
CLIENT_PUBLIC_KEY = CLIENT_KEY.export_public_key().decode()


class Host(Protocol):
    @property
    def address(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def known_hosts_line(self) -> str: ...


async def connect(
    host: Host, *, user: str = "root", known_hosts_line: str | None = None
) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        host.address,
        host.port,
        username=user,
        client_keys=[CLIENT_KEY],
        known_hosts=asyncssh.import_known_hosts(known_hosts_line or host.known_hosts_line),
        connect_timeout=10,
        login_timeout=10,
    )


async def ssh_run(
    host: Host, command: str, *, user: str = "root", input: str | None = None
) -> asyncssh.SSHCompletedProcess:
    connection = await connect(host, user=user)
    try:
        return await connection.run(command, input=input, timeout=20)
    finally:
        connection.close()
        await asyncio.wait_for(connection.wait_closed(), 10)


def read_text(path: Path) -> str:
    return path.read_text()


def exists(path: Path) -> bool:
    return path.exists()


async def assert_cut_off(running: Awaitable[asyncssh.SSHCompletedProcess]) -> None:
    """The command's connection was lost: asyncssh raises, or reports no exit status at all."""
    try:
        result = await running
    except (asyncssh.Error, ConnectionError):
        return
    assert (result.exit_status, result.exit_signal) == (None, None), result
