"""SSH transport for provisioning existing machines: connect with a pinned host key, run commands, move files.

```python
from k0smotron_core import ssh

target = ssh.Target("10.0.0.5", private_key, host_key=ssh.HostKeyVerification(fingerprints=("SHA256:...",)))
async with ssh.connect(target, redact=[join_token]) as session:
    result = await session.run("k0s status")
    await session.upload("/etc/k0s/k0s.yaml", config, mode=0o600)
```

The host key is checked during key exchange, before any authentication attempt. Commands run through the login
shell (through `sudo -n sh -c` with `use_sudo`); output is bounded to its tail and redacted. Every failure is an
`SSHError` whose `reason` is a Kubernetes condition reason. See docs/ssh.md.
"""

from __future__ import annotations

from k0smotron_core.api.infrastructure import HostKeyPolicy

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
    SSHError,
    UploadFailed,
)
from ._hostkeys import HostKeyVerification, fingerprint
from ._redact import REDACTED, redact
from ._session import DEFAULT_MAX_OUTPUT, Session, connect
from ._shell import CommandResult, Shell
from ._target import Target, Timeouts

__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "REDACTED",
    "AuthenticationFailed",
    "CommandFailed",
    "CommandResult",
    "CommandTimeout",
    "ConnectTimeout",
    "ConnectionLost",
    "HandshakeFailed",
    "HostKeyMismatch",
    "HostKeyNotPinned",
    "HostKeyPolicy",
    "HostKeyVerification",
    "HostUnreachable",
    "InvalidKnownHosts",
    "InvalidPrivateKey",
    "SSHError",
    "Session",
    "SessionTimeout",
    "Shell",
    "Target",
    "Timeouts",
    "UploadFailed",
    "connect",
    "fingerprint",
    "redact",
]
