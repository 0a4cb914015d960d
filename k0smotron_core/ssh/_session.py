"""Connecting, and what a connected Session does: commands, uploads, reads."""

from __future__ import annotations

import asyncio
import logging
import shlex
import socket
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import cast

import asyncssh
from asyncssh.known_hosts import KnownHostsArg
from asyncssh.packet import PacketDecodeError

from ._errors import (
    AuthenticationFailed,
    CommandFailed,
    CommandTimeout,
    ConnectionLost,
    ConnectTimeout,
    HandshakeFailed,
    HostKeyMismatch,
    HostKeyNotPinned,
    HostUnreachable,
    InvalidKnownHosts,
    InvalidPrivateKey,
    SessionTimeout,
    UploadFailed,
)
from ._hostkeys import HostKeyCheck, HostKeyClient, fingerprint, parse_known_hosts
from ._redact import OutputTail, Redactor
from ._shell import CommandResult
from ._target import Target, Timeouts

DEFAULT_MAX_OUTPUT = 64 * 1024
_DEFAULT_TIMEOUTS = Timeouts()

_asyncssh_logger = logging.getLogger("asyncssh")
if _asyncssh_logger.level == logging.NOTSET:
    # asyncssh logs every command line at INFO, and bootstrap commands carry join tokens; an application that set
    # asyncssh's level itself keeps its choice.
    _asyncssh_logger.setLevel(logging.WARNING)

_NOT_FOUND = 100
"""Exit status of the read and exists scripts for a missing path: sudo, sh and cat never use it."""
_CLOSE_GRACE = 2.0
"""How long closing waits for the server to acknowledge; a dead peer must not hold up the caller."""
_KEEPALIVE_COUNT = 3
_STDERR_TAIL = 200

_UPLOAD_SCRIPT = """set -e
target={path}
if [ -d "$target" ]; then echo "$target is a directory" >&2; exit 1; fi
mkdir -p -- "$(dirname -- "$target")"
tmp=$(mktemp "$target.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp"
chmod {mode} "$tmp"
mv -f -- "$tmp" "$target"
trap - EXIT
"""
# mktemp creates the file 0600 in the target's directory, so the content is never readable under another mode and
# the rename cannot cross a filesystem; `mv` over the target is the atomic, truncating replace.


def _shell_path(path: str) -> str:
    """`path` quoted for sh, and made unable to pass for an option of mkdir, mktemp or cat."""
    if not path:
        raise ValueError("path must not be empty")
    return shlex.quote(f"./{path}" if path.startswith("-") else path)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    tail = lines[-1] if lines else ""
    return tail if len(tail) <= _STDERR_TAIL else "..." + tail[-_STDERR_TAIL:]


def _key_problem(exc: ValueError) -> str:
    # asyncssh's own wording is not passed on: no version of it should ever get to quote the key.
    if "passphrase" in str(exc).lower() or "encrypt" in str(exc).lower():
        return "it is encrypted; an unencrypted OpenSSH or PEM private key is required"
    return "it is not an OpenSSH or PEM private key"


async def _pump(reader: asyncssh.SSHReader[bytes], sink: Callable[[bytes], object]) -> None:
    while chunk := await reader.read(65536):
        sink(chunk)


async def _feed(process: asyncssh.SSHClientProcess[bytes], data: bytes | None) -> None:
    # A command may exit without reading its input; whether it succeeded is for its exit status to tell.
    with suppress(OSError, asyncssh.Error):
        if data:
            process.stdin.write(data)
            await process.stdin.drain()
        process.stdin.write_eof()


class Session:
    """A connected, authenticated SSH session with one machine. Get one from `connect`."""

    def __init__(
        self,
        conn: asyncssh.SSHClientConnection,
        target: Target,
        timeouts: Timeouts,
        redactor: Redactor,
        max_output: int,
        deadline: float,
        host_key_fingerprint: str,
    ) -> None:
        self._conn = conn
        self._target = target
        self._timeouts = timeouts
        self._redact = redactor
        self._max_output = max_output
        self._deadline = deadline
        self._host_key_fingerprint = host_key_fingerprint
        self._closed = False
        self._stopping: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<Session {self._target.user}@{self._target.address}:{self._target.port}>"

    @property
    def host_key_fingerprint(self) -> str:
        """The SHA256 fingerprint of the host key the server presented (and that was accepted)."""
        return self._host_key_fingerprint

    @property
    def target(self) -> Target:
        return self._target

    async def run(
        self, command: str, *, timeout: float | None = None, input: bytes | None = None  # noqa: ASYNC109
    ) -> CommandResult:
        """Run `command` through the user's login shell (through `sudo -n sh -c` with use_sudo), feeding it `input`.

        Never raises for a non-zero exit status. Raises CommandTimeout after `timeout` (default Timeouts.command)
        once the remote command was stopped (SIGTERM, then SIGKILL, then its channel closed), SessionTimeout past
        the session deadline, ConnectionLost when the connection drops.
        """
        shown = self._redact(command)
        stdout = OutputTail(self._max_output, self._redact)
        stderr = OutputTail(self._max_output, self._redact)
        status = await self._exec(command, shown, input, timeout, stdout.feed, stderr)
        return CommandResult(command=shown, exit_status=status, stdout=stdout.text(), stderr=stderr.text())

    async def upload(
        self, path: str, content: bytes, mode: int = 0o644, *, timeout: float | None = None  # noqa: ASYNC109
    ) -> None:
        """Replace `path` with `content` and `mode` atomically, creating missing parent directories.

        One exec of a small sh script (hosts may have no SFTP, and SFTP cannot sudo), through sudo with use_sudo.
        Raises UploadFailed naming the path, exit status and last stderr line.
        """
        if not 0 <= mode <= 0o7777:
            raise ValueError(f"mode {mode:o} is not a file mode")
        script = _UPLOAD_SCRIPT.format(path=_shell_path(path), mode=f"{mode:04o}")
        stderr = OutputTail(self._max_output, self._redact)
        status = await self._exec(script, f"upload {self._redact(path)}", content, timeout, lambda _: None, stderr)
        if status != 0:
            raise UploadFailed(*self._endpoint, self._redact(path), status, _last_line(stderr.text()))

    async def read(self, path: str, *, timeout: float | None = None) -> bytes | None:  # noqa: ASYNC109
        """The whole content of `path` (not bounded, not redacted), or None when it does not exist."""
        quoted = _shell_path(path)
        content = bytearray()
        stderr = OutputTail(self._max_output, self._redact)
        script = f"test -e {quoted} || exit {_NOT_FOUND}\nexec cat -- {quoted}"
        status = await self._exec(script, f"read {self._redact(path)}", None, timeout, content.extend, stderr)
        if status == _NOT_FOUND:
            return None
        if status != 0:
            raise CommandFailed(*self._endpoint, f"reading {self._redact(path)}", status, _last_line(stderr.text()))
        return bytes(content)

    async def exists(self, path: str, *, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Whether `path` exists, following symlinks (as `test -e`)."""
        stderr = OutputTail(self._max_output, self._redact)
        script = f"test -e {_shell_path(path)} || exit {_NOT_FOUND}"
        status = await self._exec(script, f"exists {self._redact(path)}", None, timeout, lambda _: None, stderr)
        if status in (0, _NOT_FOUND):
            return status == 0
        what = f"checking {self._redact(path)}"
        raise CommandFailed(*self._endpoint, what, status, _last_line(stderr.text()))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._stopping:
            # Closing the connection first would cut short the stopping of commands whose callers were cancelled.
            await asyncio.wait(self._stopping, timeout=2 * self._timeouts.kill_grace + _CLOSE_GRACE)
        self._conn.close()
        with suppress(TimeoutError, OSError, asyncssh.Error):
            async with asyncio.timeout(_CLOSE_GRACE):
                await self._conn.wait_closed()

    @property
    def _endpoint(self) -> tuple[str, int]:
        return self._target.address, self._target.port

    def _budget(self, timeout: float | None) -> tuple[float, bool]:
        """Seconds the next operation may take, and whether the session deadline (not its own timeout) binds."""
        own = self._timeouts.command if timeout is None else timeout
        if own <= 0:
            raise ValueError("timeout must be positive")
        remaining = self._deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise SessionTimeout(*self._endpoint, self._timeouts.overall)
        return (remaining, True) if remaining < own else (own, False)

    async def _exec(
        self,
        command: str,
        shown: str,
        input: bytes | None,
        limit: float | None,
        stdout: Callable[[bytes], object],
        stderr: OutputTail,
    ) -> int:
        """Run `command` to completion and return its exit status; every failure becomes an SSHError."""
        if self._closed or self._conn.is_closed():
            raise ConnectionLost(*self._endpoint, "the session is closed")
        seconds, deadline_binds = self._budget(limit)
        remote = f"sudo -n sh -c {shlex.quote(command)}" if self._target.use_sudo else command
        process: asyncssh.SSHClientProcess[bytes] | None = None
        try:
            async with asyncio.timeout(seconds):
                process = await self._conn.create_process(remote, encoding=None)
                outcomes = await asyncio.gather(
                    _feed(process, input),
                    _pump(process.stdout, stdout),
                    _pump(process.stderr, stderr.feed),
                    return_exceptions=True,
                )
                for outcome in outcomes:
                    if isinstance(outcome, BaseException):
                        raise outcome
                await process.wait_closed()
        except TimeoutError:
            await self._stop(process)
            if deadline_binds:
                raise SessionTimeout(*self._endpoint, self._timeouts.overall) from None
            raise CommandTimeout(*self._endpoint, shown, seconds) from None
        except asyncio.CancelledError:
            self._stop_later(process)
            raise
        except asyncssh.ChannelOpenError as exc:
            raise ConnectionLost(
                *self._endpoint, f"no session channel for {shown}: {self._redact(exc.reason)}"
            ) from None
        except (asyncssh.Error, OSError, PacketDecodeError) as exc:
            # PacketDecodeError: asyncssh closes the connection with it, unwrapped, when a packet is empty.
            await self._stop(process)
            raise ConnectionLost(*self._endpoint, f"during {shown}: {self._describe(exc)}") from None
        status = process.exit_status
        if status is None:
            # The channel closed with neither exit-status nor exit-signal: the connection went, or the server
            # gave up on the channel; either way nobody can say whether the command ran to the end.
            raise ConnectionLost(*self._endpoint, f"during {shown}: the channel closed without an exit status")
        return status

    def _describe(self, exc: BaseException) -> str:
        reason = exc.reason if isinstance(exc, asyncssh.Error) else (getattr(exc, "strerror", None) or str(exc))
        return self._redact(reason or type(exc).__name__)

    async def _stop(self, process: asyncssh.SSHClientProcess[bytes] | None) -> None:
        """End a command that must not run on: SIGTERM, then SIGKILL, then close its channel.

        OpenSSH delivers a signal request with killpg to the session's process group, so the shell and what it
        started go together. SIGTERM comes first because sudo relays it to a command it runs in a pty session of its
        own, where SIGKILL would kill only sudo. A server that refuses signal requests (old OpenSSH releases, or
        sshd without privilege separation) only sees the channel close, and a command that never writes outlives it.
        """
        if process is None:
            return
        for signal_name in ("TERM", "KILL"):
            with suppress(OSError, asyncssh.Error):
                process.send_signal(signal_name)
            if await _closed_within(process, self._timeouts.kill_grace):
                return
        process.close()
        await _closed_within(process, _CLOSE_GRACE)

    def _stop_later(self, process: asyncssh.SSHClientProcess[bytes] | None) -> None:
        # A cancelled caller cannot wait for the remote command to stop; close() waits for it instead.
        if process is not None:
            stopping = asyncio.get_running_loop().create_task(self._stop(process))
            self._stopping.add(stopping)
            stopping.add_done_callback(self._stopping.discard)


async def _closed_within(process: asyncssh.SSHClientProcess[bytes], seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await process.wait_closed()
    except TimeoutError:
        return False
    except (OSError, asyncssh.Error):
        pass
    return True


async def _open(target: Target, timeouts: Timeouts, secrets: tuple[str, ...], max_output: int) -> Session:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeouts.overall
    address, port = target.address, target.port
    # The private key is a secret of every session: a command that prints it must not leak it either.
    redactor = Redactor((*secrets, target.private_key.decode(errors="replace")))
    verification = target.host_key
    if verification.policy == "Pinned" and not verification.pinned:
        raise HostKeyNotPinned(address, port)
    try:
        client_key = asyncssh.import_private_key(target.private_key)
    except ValueError as exc:
        raise InvalidPrivateKey(address, port, _key_problem(exc)) from None
    known_hosts = None
    if verification.known_hosts and verification.pinned:
        try:
            known_hosts = parse_known_hosts(verification.known_hosts)
        except ValueError as exc:
            raise InvalidKnownHosts(address, port, str(exc)) from None
    check = HostKeyCheck(verification, known_hosts)
    limit = min(timeouts.connect, deadline - loop.time())
    try:
        async with asyncio.timeout(limit):
            conn = await asyncssh.connect(
                address,
                port,
                username=target.user,
                client_keys=[client_key],
                known_hosts=cast(KnownHostsArg, check.match_known_hosts),
                server_host_key_algs=check.algorithms(address, port),
                client_factory=lambda: HostKeyClient(check),
                # Nothing from the environment of the process: no ~/.ssh/config, agent, default keys or CA bundle.
                config=[],
                agent_path=None,
                x509_trusted_certs=None,
                x509_trusted_cert_paths=[],
                preferred_auth="publickey",
                password_auth=False,
                kbdint_auth=False,
                host_based_auth=False,
                gss_auth=False,
                gss_kex=False,
                pkcs11_provider=None,
                keepalive_interval=timeouts.keepalive,
                keepalive_count_max=_KEEPALIVE_COUNT,
            )
    except TimeoutError:
        if limit < timeouts.connect:
            raise SessionTimeout(address, port, timeouts.overall) from None
        raise ConnectTimeout(address, port, limit) from None
    except asyncssh.HostKeyNotVerifiable:
        presented = check.presented or "an unknown key"
        raise HostKeyMismatch(address, port, presented, check.expected, revoked=check.presented_revoked) from None
    except asyncssh.PermissionDenied:
        raise AuthenticationFailed(address, port, target.user) from None
    except asyncssh.ConnectionLost:
        raise ConnectionLost(address, port, "the server closed the connection during the SSH handshake") from None
    except asyncssh.Error as exc:
        raise HandshakeFailed(address, port, redactor(exc.reason)) from None
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
        raise ConnectionLost(address, port, f"during the SSH handshake: {exc.strerror or exc}") from None
    except socket.gaierror as exc:
        raise HostUnreachable(address, port, f"cannot resolve the address ({exc.strerror or exc})") from None
    except OSError as exc:
        raise HostUnreachable(address, port, redactor(exc.strerror or str(exc))) from None
    except ValueError as exc:
        # asyncssh lets a malformed packet's PacketDecodeError through unwrapped; its option checks raise ValueError
        # too (no local user name, for one). Either way the connection cannot be made.
        raise HandshakeFailed(address, port, redactor(str(exc) or type(exc).__name__)) from None
    server_key = conn.get_server_host_key()
    presented = fingerprint(server_key) if server_key is not None else (check.presented or "")
    return Session(conn, target, timeouts, redactor, max_output, deadline, presented)


@asynccontextmanager
async def _session(
    target: Target, timeouts: Timeouts, secrets: tuple[str, ...], max_output: int
) -> AsyncIterator[Session]:
    session = await _open(target, timeouts, secrets, max_output)
    try:
        yield session
    finally:
        await session.close()


def connect(
    target: Target,
    *,
    timeouts: Timeouts = _DEFAULT_TIMEOUTS,
    redact: Iterable[str] = (),
    max_output: int = DEFAULT_MAX_OUTPUT,
) -> AbstractAsyncContextManager[Session]:
    """Connect to `target`, verify its host key during key exchange, and authenticate with its private key.

    `redact` lists secrets (tokens, passwords) that must never appear in results or error messages; the private key
    is always one. `max_output` bounds the stdout and stderr each command keeps (the tail). Every failure is an
    SSHError whose `reason` names it.
    """
    if max_output <= 0:
        raise ValueError("max_output must be positive")
    return _session(target, timeouts, tuple(redact), max_output)

