"""SimulatedHost: a machine reachable over real SSH, served by asyncssh in this process, running commands in a Sandbox.

Cheap (tens of milliseconds) and fully controllable: tests can take the host down, change its host key, cut its
connections, or cut one just before a given command starts. Every host listens on 127.0.0.1 with a port of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncssh
from asyncssh.channel import SSHChannel

from . import _k0s
from ._identity import HostIdentity
from ._process import DEFAULT_TIMEOUT_S, kill_group
from ._sandbox import HostUser, Sandbox, as_host_users

_READ_CHUNK = 64 * 1024


@dataclass
class ExecutedCommand:
    """A command a host ran for an SSH client. exit_status: None while it runs or when its connection was cut."""

    user: str
    command: str
    exit_status: int | None = None


def default_host_files() -> dict[str, tuple[bytes, int]]:
    """The files every simulated host starts with: the simulated k0s and its shims."""
    return _k0s.host_files(python=sys.executable)


class SimulatedHost(HostIdentity):
    """One simulated machine: SSH on 127.0.0.1:<port>, commands run by `/bin/sh -c` inside its Sandbox.

    Create with `await SimulatedHost.create(name, root_dir)`; `await host.close()` powers it off.
    """

    address = "127.0.0.1"

    def __init__(self, name: str, sandbox: Sandbox, *, command_timeout: float) -> None:
        super().__init__()
        self.name = name
        self.sandbox = sandbox
        self.port = 0
        self.commands: list[ExecutedCommand] = []
        # Set to refuse every authentication attempt, as a host with a broken authorized_keys would.
        self.refuse_auth = False
        self.command_timeout = command_timeout
        self._authorized: dict[str, set[bytes]] = {}
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._cut_on: list[str] = []
        self._sessions: set[asyncio.Task[None]] = set()

    @classmethod
    async def create(
        cls,
        name: str,
        root_dir: Path,
        *,
        users: Iterable[str | HostUser] = (),
        files: Mapping[str, tuple[bytes, int]] | None = None,
        command_timeout: float = 600.0,
    ) -> SimulatedHost:
        """Start a host whose sandbox lives in root_dir (created, must be empty).

        users: login users to create besides root (a plain name gets passwordless sudo). files: absolute path ->
        (content, mode), the host's initial files; default: the simulated k0s (`default_host_files()`).
        command_timeout: commands still running after it are killed (exit signal KILL).
        """
        sandbox = await Sandbox.create(
            root_dir, name, default_host_files() if files is None else files, address=cls.address
        )
        host = cls(name, sandbox, command_timeout=command_timeout)
        try:
            for user in as_host_users(users):
                await sandbox.add_user(user.name, sudo=user.sudo)
            await host.start()
        except BaseException:
            await sandbox.close()
            raise
        return host

    @property
    def running(self) -> bool:
        return self._acceptor is not None

    def authorize(self, public_key_openssh: str, user: str = "root") -> None:
        """Let the holder of the private key log in as user (`ssh-ed25519 AAAA... [comment]`)."""
        self.sandbox.account(user)
        key = asyncssh.import_public_key(public_key_openssh)
        self._authorized.setdefault(user, set()).add(key.public_data)

    async def add_user(self, name: str, *, sudo: bool = True) -> None:
        await self.sandbox.add_user(name, sudo=sudo)

    async def start(self) -> None:
        """Listen again (on the same port once it had one): the host is up."""
        if self._acceptor is not None:
            return
        self._acceptor = await asyncio.wait_for(
            asyncssh.create_server(
                lambda: _Server(self),
                self.address,
                self.port,
                server_host_keys=[self._host_key],
                encoding=None,
                # Without a pty there is nothing to edit; with it, sessions would get a wrapped channel.
                line_editor=False,
                agent_forwarding=False,
                x11_forwarding=False,
                reuse_address=True,
                login_timeout=DEFAULT_TIMEOUT_S,
            ),
            DEFAULT_TIMEOUT_S,
        )
        self.port = self._acceptor.get_port()

    async def stop(self) -> None:
        """Take the host down: stop listening (connecting is refused) and drop every connection."""
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None:
            acceptor.close()
            await asyncio.wait_for(acceptor.wait_closed(), DEFAULT_TIMEOUT_S)
        self.cut_connections()

    def rekey(self) -> None:
        """Replace the host key, as a reinstalled machine would; connections after this see the new key."""
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")
        if self._acceptor is not None:
            self._acceptor.update(server_host_keys=[self._host_key])

    def cut_connections(self) -> None:
        """Abort every live connection, as a network failure would. Running commands get SIGHUP."""
        for connection in list(self._connections):
            connection.abort()

    def cut_on(self, substring: str) -> None:
        """Once: abort the connection whose command contains substring, just before that command would start."""
        self._cut_on.append(substring)

    async def close(self) -> None:
        """Power the host off: SSH down, every process in it killed."""
        await self.stop()
        await self.sandbox.close()
        # The sessions notice their commands died; let them finish rather than leave them pending.
        if self._sessions:
            _, pending = await asyncio.wait(self._sessions, timeout=10)
            for task in pending:
                task.cancel()

    def _take_cut(self, command: str) -> bool:
        for substring in self._cut_on:
            if substring in command:
                self._cut_on.remove(substring)
                return True
        return False


class _Server(asyncssh.SSHServer):
    def __init__(self, host: SimulatedHost) -> None:
        self._host = host
        self._connection: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._connection = conn
        self._host._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._connection is not None:
            self._host._connections.discard(self._connection)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self._host.refuse_auth:
            return False
        return key.public_data in self._host._authorized.get(username, set())

    def session_requested(self) -> asyncssh.SSHServerSession[bytes]:
        return _Session(self._host)


class _Session(asyncssh.SSHServerSession[bytes]):
    """One exec request: the command runs as a child process; data, EOF and signals go through as sshd's would."""

    def __init__(self, host: SimulatedHost) -> None:
        self._host = host
        self._channel: asyncssh.SSHServerChannel[bytes] | None = None
        self._command: str | None = None
        self._child: asyncio.subprocess.Process | None = None
        self._stdin: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = asyncio.Event()

    def connection_made(self, chan: SSHChannel[bytes]) -> None:
        assert isinstance(chan, asyncssh.SSHServerChannel)
        self._channel = chan

    def exec_requested(self, command: str) -> bool:
        self._command = command
        return True

    def shell_requested(self) -> bool:
        return False

    def subsystem_requested(self, subsystem: str) -> bool:
        return False

    def session_started(self) -> None:
        task = asyncio.ensure_future(self._run())
        self._host._sessions.add(task)
        task.add_done_callback(self._host._sessions.discard)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._stdin.put_nowait(data)
        # Stop reading from the client while the command does not keep up with its input.
        if self._stdin.qsize() > 16 and self._channel is not None:
            self._channel.pause_reading()

    def eof_received(self) -> bool:
        self._stdin.put_nowait(None)
        # The client is done sending; the command's output still has to go back.
        return True

    def signal_received(self, signal_name: str) -> None:
        number = getattr(signal, f"SIG{signal_name}", None)
        if self._child is not None and isinstance(number, signal.Signals):
            kill_group(self._child.pid, number)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed.set()
        self._writable.set()

    async def _run(self) -> None:
        try:
            await self._serve()
        except Exception as error:
            # Where sshd would log and close the channel; the client sees why.
            if self._channel is not None and not self._closed.is_set():
                with contextlib.suppress(OSError, asyncssh.Error):
                    self._channel.write(f"simulated host: {error}\n".encode(), asyncssh.EXTENDED_DATA_STDERR)
                    self._channel.exit(255)

    async def _serve(self) -> None:
        channel, command, host = self._channel, self._command, self._host
        assert channel is not None and command is not None
        connection = channel.get_connection()
        if host._take_cut(command):
            connection.abort()
            return
        user = str(channel.get_extra_info("username"))
        record = ExecutedCommand(user, command)
        host.commands.append(record)
        peer = channel.get_extra_info("peername") or ("", 0)
        env = {
            "SSH_CLIENT": f"{peer[0]} {peer[1]} {host.port}",
            "SSH_CONNECTION": f"{peer[0]} {peer[1]} {host.address} {host.port}",
        }
        self._child = child = await asyncio.create_subprocess_exec(
            *host.sandbox.command_argv(command, user=user, env=env),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        feeding = asyncio.create_task(self._feed(child))
        finishing = asyncio.create_task(self._finish(child))
        hang_up = asyncio.create_task(self._closed.wait())
        try:
            done, _ = await asyncio.wait(
                [finishing, hang_up], timeout=host.command_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if finishing not in done:
                # A channel closed under a running command hangs up on it, as a terminal would.
                kill_group(child.pid, signal.SIGHUP if hang_up in done else signal.SIGKILL)
                await _wait_or_kill(child)
                # Background processes the command started may still hold its output open.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(finishing), 5)
        finally:
            feeding.cancel()
            hang_up.cancel()
            finishing.cancel()
        status = child.returncode
        assert status is not None
        if self._closed.is_set():
            return
        record.exit_status = status
        with contextlib.suppress(OSError, asyncssh.Error):
            if status >= 0:
                channel.exit(status)
            else:
                channel.exit_with_signal(signal.Signals(-status).name.removeprefix("SIG"))

    async def _feed(self, child: asyncio.subprocess.Process) -> None:
        assert child.stdin is not None
        with contextlib.suppress(ConnectionError):
            while (data := await self._stdin.get()) is not None:
                child.stdin.write(data)
                await child.stdin.drain()
                if self._stdin.qsize() < 4 and self._channel is not None:
                    self._channel.resume_reading()
            child.stdin.close()

    async def _finish(self, child: asyncio.subprocess.Process) -> None:
        assert child.stdout is not None and child.stderr is not None
        await asyncio.gather(
            self._pump(child.stdout, None), self._pump(child.stderr, asyncssh.EXTENDED_DATA_STDERR)
        )
        await child.wait()

    async def _pump(self, source: asyncio.StreamReader, datatype: asyncssh.DataType) -> None:
        # Reads on when the client has gone, so that the command never blocks on a full pipe.
        while data := await source.read(_READ_CHUNK):
            await self._writable.wait()
            if self._closed.is_set() or self._channel is None:
                continue
            with contextlib.suppress(OSError, asyncssh.Error):
                self._channel.write(data, datatype)


async def _wait_or_kill(child: asyncio.subprocess.Process) -> None:
    try:
        await asyncio.wait_for(child.wait(), 5)
    except TimeoutError:
        kill_group(child.pid, signal.SIGKILL)
        await asyncio.wait_for(child.wait(), 5)


@asynccontextmanager
async def simulated_hosts(
    count: int,
    root_dir: Path,
    *,
    users: Iterable[str | HostUser] = (),
    name_prefix: str = "host",
) -> AsyncIterator[list[SimulatedHost]]:
    """count hosts named <name_prefix>-1.. with sandboxes under root_dir; all powered off on exit."""
    users = list(users)
    hosts: list[SimulatedHost] = []
    try:
        for index in range(1, count + 1):
            name = f"{name_prefix}-{index}"
            hosts.append(await SimulatedHost.create(name, root_dir / name, users=users))
        yield hosts
    finally:
        for host in hosts:
            await host.close()
