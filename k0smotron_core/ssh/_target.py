"""What to connect to, as whom, and how long each step may take."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._hostkeys import HostKeyVerification


@dataclass(frozen=True)
class Target:
    """A machine reachable over SSH and the credentials to log in to it."""

    address: str
    private_key: bytes = field(repr=False)
    """PEM or OpenSSH private key, unencrypted. Kept out of repr() so it never reaches a log line or a traceback."""
    port: int = 22
    user: str = "root"
    use_sudo: bool = False
    """Run every command through `sudo -n` (passwordless sudo is required: nobody is there to type a password)."""
    host_key: HostKeyVerification = field(default_factory=HostKeyVerification)

    def __post_init__(self) -> None:
        if not self.address:
            raise ValueError("address must not be empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is out of range")
        if not self.user:
            raise ValueError("user must not be empty")


@dataclass(frozen=True)
class Timeouts:
    """Limits in seconds."""

    connect: float = 15.0
    """TCP connect, SSH handshake and authentication together."""
    command: float = 600.0
    """Default for each command, upload and read."""
    overall: float = 1800.0
    """Deadline for the whole session, counted from the start of connect; anything past it raises SessionTimeout."""
    keepalive: float = 15.0
    """Interval of SSH keepalives; three unanswered ones close the connection (ConnectionLost) instead of leaving a
    silent command waiting for its timeout on a dead host. 0 disables them."""
    kill_grace: float = 5.0
    """After a timeout, how long the command gets to exit after SIGTERM, and then after SIGKILL, before its channel
    is closed regardless."""

    def __post_init__(self) -> None:
        for name in ("connect", "command", "overall", "kill_grace"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} timeout must be positive")
        if self.keepalive < 0:
            raise ValueError("keepalive must not be negative")
