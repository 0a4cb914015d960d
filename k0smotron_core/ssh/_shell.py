"""The seam provisioning code is written against: a Session satisfies it, and tests can fake it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class CommandResult:
    """What a command did. A non-zero exit status is a result, not an error."""

    command: str
    """The command as given, redacted."""
    exit_status: int
    """The exit status; -1 when the command was killed by a signal."""
    stdout: str
    """At most the session's max_output bytes, keeping the tail after a `[... N bytes truncated]` line; redacted."""
    stderr: str
    """As stdout."""

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@runtime_checkable
class Shell(Protocol):
    """Run commands and move files on one machine.

    The `timeout` parameters are deliberate (hence the ASYNC109 waivers): unlike a caller's cancellation, their
    expiry kills the remote process and raises CommandTimeout, which becomes the condition's reason.
    """

    @property
    def host_key_fingerprint(self) -> str:
        """The SHA256 fingerprint of the host key the machine presented."""
        ...

    async def run(
        self, command: str, *, timeout: float | None = None, input: bytes | None = None  # noqa: ASYNC109
    ) -> CommandResult:
        """Run `command` through the login shell; never raises for a non-zero exit status."""
        ...

    async def upload(
        self, path: str, content: bytes, mode: int = 0o644, *, timeout: float | None = None  # noqa: ASYNC109
    ) -> None:
        """Atomically replace `path` with `content` and `mode`, creating its parent directories."""
        ...

    async def read(self, path: str, *, timeout: float | None = None) -> bytes | None:  # noqa: ASYNC109
        """The content of `path`, or None when it does not exist."""
        ...

    async def exists(self, path: str, *, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Whether `path` exists (following symlinks)."""
        ...
