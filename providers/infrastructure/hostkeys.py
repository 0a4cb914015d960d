"""Which SSH host keys a RemoteMachine accepts (this project's addition: upstream does not verify host keys).

- `Pinned` (default): `spec.hostKeyFingerprint` and/or the known_hosts lines in the `spec.hostKeyRef` Secret.
- `TrustOnFirstUse`: as Pinned when something is pinned; otherwise the first key seen is recorded in
  `status.hostKeyFingerprint` and required from then on.
- `Insecure`: any key (a warning condition says so).

A changed key stops provisioning. To accept a new key after a deliberate re-key, a TrustOnFirstUse machine takes the
annotation `remotemachine.k0smotron.io/accept-host-key: SHA256:...` (the new fingerprint; it is checked, recorded
and the annotation removed); a Pinned machine gets its pin updated in spec or in the Secret.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from k0smotron_core import ssh
from k0smotron_core.api import infrastructure
from k0smotron_core.runtime import Client

ACCEPT_HOST_KEY_ANNOTATION = "remotemachine.k0smotron.io/accept-host-key"
_FINGERPRINT = re.compile(infrastructure.HOST_KEY_FINGERPRINT_PATTERN)


@dataclass(frozen=True)
class Unavailable:
    """The pinned keys cannot be read; provisioning waits."""

    reason: str
    message: str


async def verification(client: Client, obj: dict[str, Any], spec: infrastructure.RemoteMachineSpec,
                       status: dict[str, Any]) -> ssh.HostKeyVerification | Unavailable:
    fingerprints: list[str] = []
    if spec.host_key_fingerprint:
        fingerprints.append(spec.host_key_fingerprint)
    accepted = (obj["metadata"].get("annotations") or {}).get(ACCEPT_HOST_KEY_ANNOTATION)
    if spec.host_key_policy == "TrustOnFirstUse":
        if accepted:
            if not _FINGERPRINT.match(accepted):
                return Unavailable("InvalidAcceptHostKeyAnnotation",
                                   f"annotation {ACCEPT_HOST_KEY_ANNOTATION} must be a SHA256 fingerprint as "
                                   "`ssh-keygen -lf` prints it (SHA256:<43 base64 characters>)")
            # It replaces the recorded key: that one is what changed.
            fingerprints.append(accepted)
        elif status.get("hostKeyFingerprint"):
            fingerprints.append(str(status["hostKeyFingerprint"]))
    known_hosts = None
    if spec.host_key_ref is not None:
        namespace = obj["metadata"]["namespace"]
        secret = await client.get_live("v1", "Secret", spec.host_key_ref.name, namespace)
        encoded = ((secret or {}).get("data") or {}).get(spec.host_key_ref.key)
        if encoded is None:
            return Unavailable("HostKeyRefNotFound", f"Secret {spec.host_key_ref.name} with key "
                                                     f"{spec.host_key_ref.key!r} (known_hosts lines) does not exist")
        try:
            known_hosts = base64.b64decode(encoded).decode()
        except (binascii.Error, ValueError):
            return Unavailable("InvalidHostKeyRef", f"Secret {spec.host_key_ref.name} key {spec.host_key_ref.key!r} "
                                                    "is not known_hosts text")
    return ssh.HostKeyVerification(policy=spec.host_key_policy, fingerprints=tuple(fingerprints),
                                   known_hosts=known_hosts)


def rekey_hint(spec: infrastructure.RemoteMachineSpec) -> str:
    if spec.host_key_policy == "TrustOnFirstUse" and not spec.host_key_fingerprint and spec.host_key_ref is None:
        return ("If the host was re-keyed on purpose, accept the new key with the annotation "
                f"{ACCEPT_HOST_KEY_ANNOTATION}=<new fingerprint> (see docs/infrastructure.md)")
    return ("If the host was re-keyed on purpose, update spec.hostKeyFingerprint or the hostKeyRef Secret "
            "(see docs/infrastructure.md)")
