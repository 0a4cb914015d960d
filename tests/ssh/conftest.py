"""An SSH server on 127.0.0.1 for the transport's tests: asyncssh for the protocol, `/bin/sh -c` for commands.

Commands run as real subprocesses in a temporary home directory, so shell semantics (quoting, exit statuses,
signals, stdin) are the real ones. The server records authentication attempts, commands, signal requests and exit
statuses, can drop every connection at once, and puts a fake `sudo` first on PATH that logs its arguments and runs
the rest of its command line with SUDO_FAKE=1 in the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from k0smotron_core import ssh

FAKE_SUDO = """#!/bin/sh
printf '%s\\0' "$*" >> "$SUDO_LOG"
if [ "$1" != "-n" ]; then echo "sudo: a password is required" >&2; exit 1; fi
shift
SUDO_FAKE=1 exec "$@"
"""


@dataclass(frozen=True)
class Keys:
    client: asyncssh.SSHKey
    other_client: asyncssh.SSHKey
    host: asyncssh.SSHKey
    other_host: asyncssh.SSHKey
    rsa_host: asyncssh.SSHKey

    @property
    def client_pem(self) -> bytes:
        return self.client.export_private_key()

    @property
    def other_client_pem(self) -> bytes:
        return self.other_client.export_private_key()


@pytest.fixture(scope="session")
def keys() -> Keys:
    client, other_client, host, other_host = (asyncssh.generate_private_key("ssh-ed25519") for _ in range(4))
    rsa_host = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
    return Keys(client, other_client, host, other_host, rsa_host)


@dataclass
class TestServer:
    port: int
    host_key: asyncssh.SSHKey
    client_key: asyncssh.SSHKey
    """The private key the server authorizes (the tests' client key)."""
    home: Path
    sudo_log: Path
    user: str = "root"
    auth_attempts: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    returncodes: list[int] = field(default_factory=list)
    connections: list[asyncssh.SSHServerConnection] = field(default_factory=list)
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)
    command_started: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    __test__ = False  # not a test class, whatever its name says

    @property
    def fingerprint(self) -> str:
        return ssh.fingerprint(self.host_key)

    def target(self, **overrides: Any) -> ssh.Target:
        """A Target for this server, pinned to its host key unless `host_key` is given."""
        settings: dict[str, Any] = {
            "address": "127.0.0.1",
            "port": self.port,
            "private_key": self.client_key.export_private_key(),
            "user": self.user,
            "host_key": ssh.HostKeyVerification(fingerprints=(self.fingerprint,)),
        }
        settings.update(overrides)
        return ssh.Target(**settings)

    def drop_connections(self) -> None:
        """Cut every connection without a goodbye, as a crashed host or a broken network would."""
        for conn in self.connections:
            conn.abort()

    async def wait_for_commands(self, count: int = 1) -> None:
        async with asyncio.timeout(5):
            while len(self.commands) < count:
                self.command_started.clear()
                await self.command_started.wait()

    def sudo_calls(self) -> list[str]:
        """The argument lists sudo was called with, each joined by spaces."""
        return self.sudo_log.read_text().split("\0")[:-1] if self.sudo_log.exists() else []


class _ExecSession(asyncssh.SSHServerSession[bytes]):
    """One exec channel: `/bin/sh -c <command>` with stdin, stdout and stderr wired to the channel."""

    def __init__(self, server: TestServer, env: dict[str, str]) -> None:
        self._server = server
        self._env = env
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None
        self._command = ""
        self._stdin: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._process: asyncio.subprocess.Process | None = None

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._chan = chan

    def shell_requested(self) -> bool:
        return False

    def exec_requested(self, command: str) -> bool:
        self._command = command
        return True

    def session_started(self) -> None:
        # Like sshd, closing the channel does not stop the command: only a signal request (or teardown) does.
        self._server.tasks.append(asyncio.create_task(self._run()))

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._stdin.put_nowait(data)
        if self._stdin.qsize() > 8 and self._chan is not None:
            self._chan.pause_reading()

    def eof_received(self) -> bool:
        self._stdin.put_nowait(None)
        return True

    def signal_received(self, signal_name: str) -> None:
        # As sshd: killpg on the session, whose command leads a process group of its own.
        self._server.signals.append(signal_name)
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, getattr(signal, f"SIG{signal_name}"))

    async def _run(self) -> None:
        assert self._chan is not None
        chan = self._chan
        process = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", self._command,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            cwd=self._server.home, env=self._env, start_new_session=True,
        )
        self._process = process
        self._server.processes.append(process)
        self._server.commands.append(self._command)
        self._server.command_started.set()
        feeding = asyncio.create_task(self._feed(process))
        assert process.stdout is not None and process.stderr is not None
        await asyncio.gather(self._pipe(process.stdout, chan.write), self._pipe(process.stderr, chan.write_stderr))
        returncode = await process.wait()
        feeding.cancel()
        self._server.returncodes.append(returncode)
        with contextlib.suppress(OSError):
            if returncode < 0:
                chan.exit_with_signal(signal.Signals(-returncode).name.removeprefix("SIG"))
            else:
                chan.exit(returncode)

    async def _feed(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdin is not None and self._chan is not None
        with contextlib.suppress(OSError):
            while (chunk := await self._stdin.get()) is not None:
                process.stdin.write(chunk)
                await process.stdin.drain()
                if self._stdin.qsize() < 2:
                    self._chan.resume_reading()
            process.stdin.close()

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, write: Callable[[bytes], None]) -> None:
        while chunk := await source.read(65536):
            with contextlib.suppress(OSError):
                write(chunk)


class _Server(asyncssh.SSHServer):
    def __init__(self, server: TestServer, env: dict[str, str]) -> None:
        self._server = server
        self._env = env

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._server.connections.append(conn)

    def begin_auth(self, username: str) -> bool:
        self._server.auth_attempts.append(username)
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == self._server.user and key == self._server.client_key.convert_to_public()

    def session_requested(self) -> _ExecSession:
        return _ExecSession(self._server, self._env)


ServeFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def serve(tmp_path: Path, keys: Keys) -> AsyncIterator[ServeFactory]:
    """Start test servers (default: host key `keys.host`, authorizing `keys.client`); all are stopped at teardown.

    `serve(host_key, *more_host_keys)`: `host_key` is the one `TestServer.target()` pins.
    """
    started: list[tuple[TestServer, asyncssh.SSHAcceptor]] = []
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sudo").write_text(FAKE_SUDO)
    (bin_dir / "sudo").chmod(0o755)

    async def start(host_key: asyncssh.SSHKey | None = None, *more_host_keys: asyncssh.SSHKey) -> TestServer:
        home = tmp_path / f"home{len(started)}"
        home.mkdir()
        server = TestServer(port=0, host_key=host_key or keys.host, client_key=keys.client,
                            home=home, sudo_log=tmp_path / f"sudo{len(started)}.log")
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "LC_ALL": "C", "SUDO_LOG": str(server.sudo_log)}
        acceptor = await asyncssh.create_server(
            lambda: _Server(server, env), "127.0.0.1", 0,
            server_host_keys=[*more_host_keys, server.host_key], encoding=None, x509_trusted_certs=None, config=[],
        )
        server.port = acceptor.get_port()
        started.append((server, acceptor))
        return server

    yield start
    for server, acceptor in started:
        acceptor.close()
        server.drop_connections()
        await acceptor.wait_closed()
        for process in server.processes:
            # Even when the shell is gone: what it started may still hold its output pipes open.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        await asyncio.gather(*server.tasks, return_exceptions=True)


@pytest.fixture
async def ssh_server(serve: ServeFactory) -> TestServer:
    return await serve()


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A port that accepts TCP connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
