"""The errors of the SSH transport.

Each error carries a `reason` that the infrastructure provider copies into a Kubernetes condition, and a one-line
message for the condition's message. Messages are built from structured fields only (address, port, user, path,
exit status, a redacted command or stderr tail), never from key material or raw command output, because they end up
in object status that anyone allowed to read the RemoteMachine can see.
"""

from __future__ import annotations

from typing import ClassVar


def endpoint(address: str, port: int) -> str:
    """`host:port`, with IPv6 literals bracketed so the port stays unambiguous."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class SSHError(Exception):
    """Base class of every error the SSH transport raises."""

    reason: ClassVar[str] = "SSHError"
    """CamelCase, suitable as a Kubernetes condition reason."""

    def __init__(self, address: str, port: int, message: str) -> None:
        self.address = address
        self.port = port
        self.message = _one_line(message)
        super().__init__(self.message)


class HostUnreachable(SSHError):
    """The TCP connection could not be made: refused, no route, name resolution failed."""

    reason = "HostUnreachable"

    def __init__(self, address: str, port: int, detail: str) -> None:
        super().__init__(address, port, f"cannot reach {endpoint(address, port)}: {detail}")


class ConnectTimeout(SSHError):
    """TCP connect, SSH handshake and authentication did not finish in time."""

    reason = "ConnectTimeout"

    def __init__(self, address: str, port: int, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(
            address, port, f"connecting to {endpoint(address, port)} did not complete within {timeout:g}s"
        )


class AuthenticationFailed(SSHError):
    """The server rejected the private key."""

    reason = "AuthenticationFailed"

    def __init__(self, address: str, port: int, user: str) -> None:
        self.user = user
        super().__init__(address, port, f"{endpoint(address, port)} rejected the private key for user {user!r}")


class InvalidPrivateKey(SSHError):
    """The private key cannot be parsed. The message never quotes the key."""

    reason = "InvalidPrivateKey"

    def __init__(self, address: str, port: int, detail: str) -> None:
        super().__init__(address, port, f"the private key for {endpoint(address, port)} cannot be used: {detail}")


class InvalidKnownHosts(SSHError):
    """The known_hosts text cannot be parsed."""

    reason = "InvalidKnownHosts"

    def __init__(self, address: str, port: int, detail: str) -> None:
        super().__init__(address, port, f"the known_hosts for {endpoint(address, port)} cannot be parsed: {detail}")


class HostKeyMismatch(SSHError):
    """The server presented a host key that is not pinned (or is revoked). Nothing was sent to it."""

    reason = "HostKeyChanged"

    def __init__(
        self, address: str, port: int, presented: str, expected: tuple[str, ...], *, revoked: bool = False
    ) -> None:
        self.presented = presented
        self.expected = expected
        self.revoked = revoked
        if revoked:
            what = f"presented the revoked host key {presented}"
        else:
            pinned = ", ".join(expected) if expected else "no key pinned for this address"
            what = f"presented host key {presented}, expected {pinned}"
        super().__init__(address, port, f"{endpoint(address, port)} {what}; refusing to authenticate")


class HostKeyNotPinned(SSHError):
    """The Pinned policy is in force but no host key is pinned, so no connection is attempted."""

    reason = "HostKeyNotPinned"

    def __init__(self, address: str, port: int) -> None:
        super().__init__(
            address,
            port,
            f"no host key is pinned for {endpoint(address, port)}: set spec.hostKeyFingerprint or spec.hostKeyRef, "
            "or hostKeyPolicy TrustOnFirstUse or Insecure",
        )


class HandshakeFailed(SSHError):
    """The SSH protocol handshake failed for a reason other than the host key or authentication."""

    reason = "HandshakeFailed"

    def __init__(self, address: str, port: int, detail: str) -> None:
        super().__init__(address, port, f"SSH handshake with {endpoint(address, port)} failed: {detail}")


class CommandTimeout(SSHError):
    """A command ran past its timeout; it was sent SIGKILL and its channel closed."""

    reason = "CommandTimeout"

    def __init__(self, address: str, port: int, command: str, timeout: float) -> None:
        self.command = command
        self.timeout = timeout
        super().__init__(
            address, port, f"command on {endpoint(address, port)} timed out after {timeout:g}s: {command}"
        )


class SessionTimeout(SSHError):
    """The session's overall deadline passed."""

    reason = "SessionTimeout"

    def __init__(self, address: str, port: int, overall: float) -> None:
        self.overall = overall
        super().__init__(
            address, port, f"the SSH session with {endpoint(address, port)} exceeded its deadline of {overall:g}s"
        )


class ConnectionLost(SSHError):
    """The connection dropped (or the channel closed without an exit status) mid-operation."""

    reason = "ConnectionLost"

    def __init__(self, address: str, port: int, detail: str) -> None:
        super().__init__(address, port, f"connection to {endpoint(address, port)} lost: {detail}")


class UploadFailed(SSHError):
    """Writing a file on the machine failed; the previous file, if any, is untouched."""

    reason = "UploadFailed"

    def __init__(self, address: str, port: int, path: str, exit_status: int, stderr_tail: str) -> None:
        self.path = path
        self.exit_status = exit_status
        self.stderr_tail = stderr_tail
        detail = f": {stderr_tail}" if stderr_tail else ""
        super().__init__(
            address, port, f"writing {path} on {endpoint(address, port)} failed with exit status {exit_status}{detail}"
        )


class CommandFailed(SSHError):
    """A helper command of `read` or `exists` failed (for example sudo asked for a password)."""

    reason = "CommandFailed"

    def __init__(self, address: str, port: int, what: str, exit_status: int, stderr_tail: str) -> None:
        self.exit_status = exit_status
        self.stderr_tail = stderr_tail
        detail = f": {stderr_tail}" if stderr_tail else ""
        super().__init__(
            address, port, f"{what} on {endpoint(address, port)} failed with exit status {exit_status}{detail}"
        )
