"""Host key verification: the policy a Target carries and the per-connection check asyncssh calls during key exchange.

The check runs inside asyncssh's key exchange (its `known_hosts` callable and `SSHClient.validate_host_public_key`),
so an unverified host never sees a user authentication request, let alone a signature made with our key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import get_args

import asyncssh
from asyncssh.public_key import get_default_public_key_algs, get_public_key_algs

from k0smotron_core.api.infrastructure import HOST_KEY_FINGERPRINT_PATTERN, HostKeyPolicy

_FINGERPRINT = re.compile(HOST_KEY_FINGERPRINT_PATTERN)

_OPENSSH_ORDER = (
    b"ssh-ed25519", b"ecdsa-sha2-nistp256", b"ecdsa-sha2-nistp384", b"ecdsa-sha2-nistp521",
    b"sk-ssh-ed25519@openssh.com", b"sk-ecdsa-sha2-nistp256@openssh.com", b"rsa-sha2-512", b"rsa-sha2-256",
)


def _normalize(fingerprint: str) -> str:
    # ssh-keygen prints unpadded base64; accept a padded copy as the same fingerprint.
    return fingerprint.rstrip("=")


def fingerprint(public_key: bytes | str | asyncssh.SSHKey) -> str:
    """The `SHA256:...` fingerprint (as `ssh-keygen -lf` prints it) of an OpenSSH public key line or an asyncssh key.

    Raises ValueError when the key cannot be parsed.
    """
    key = public_key if isinstance(public_key, asyncssh.SSHKey) else asyncssh.import_public_key(public_key)
    return _normalize(key.get_fingerprint("sha256"))


def _has_entries(known_hosts: str | None) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#") for line in (known_hosts or "").splitlines())


@dataclass(frozen=True)
class HostKeyVerification:
    """How the server's host key is verified.

    Pinned: the presented key must match one of `fingerprints` or a `known_hosts` entry for the target; with nothing
    pinned the connection is refused before it is made. TrustOnFirstUse: as Pinned when anything is pinned, otherwise
    any key is accepted (record `Session.host_key_fingerprint` and pin it next time). Insecure: any key is accepted.
    A key marked `@revoked` in known_hosts is refused under every policy.
    """

    policy: HostKeyPolicy = "Pinned"
    fingerprints: tuple[str, ...] = ()
    """Accepted `SHA256:<43 base64 characters>` fingerprints."""
    known_hosts: str | None = None
    """known_hosts text, matched against the target's address and port as asyncssh (and OpenSSH) do."""

    def __post_init__(self) -> None:
        if self.policy not in get_args(HostKeyPolicy):
            raise ValueError(f"unknown host key policy {self.policy!r}")
        # A list passed by a caller would make the frozen dataclass unhashable and mutable behind our back.
        object.__setattr__(self, "fingerprints", tuple(self.fingerprints))
        for value in self.fingerprints:
            if not _FINGERPRINT.match(value):
                raise ValueError(f"{value!r} is not a SHA256 host key fingerprint (SHA256:<43 base64 characters>)")

    @property
    def pinned(self) -> bool:
        """Whether any key is pinned, by fingerprint or by a known_hosts entry (for any host)."""
        return bool(self.fingerprints) or _has_entries(self.known_hosts)


def parse_known_hosts(text: str) -> asyncssh.SSHKnownHosts:
    """Parse known_hosts text; ValueError names the first bad line by number but never quotes it (a Secret pasted
    into the wrong key could hold anything)."""
    try:
        return asyncssh.import_known_hosts(text)
    except ValueError:
        pass
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            asyncssh.import_known_hosts(line)
        except ValueError:
            raise ValueError(f"line {number} is not a known_hosts entry") from None
    raise ValueError("not in known_hosts format")


def host_key_algorithms(trusted: Iterable[asyncssh.SSHKey]) -> list[str]:
    """The host key algorithms to offer, best first: the server presents the first one it has a key for.

    The types of the known_hosts keys for this target come first, so a host with several keys presents the pinned
    one, as OpenSSH arranges. Then OpenSSH's own order (Ed25519, ECDSA, RSA) rather than asyncssh's (RSA first): the
    key `ssh` shows a user, and so the fingerprint they pin, is the one presented here too. Certificates are left
    out: a fingerprint names a plain key, and a host with a certificate would present that instead.
    """
    supported = set(get_public_key_algs())
    ranked = [*(alg for key in trusted for alg in key.sig_algorithms), *_OPENSSH_ORDER, *get_default_public_key_algs()]
    return [alg.decode() for alg in dict.fromkeys(ranked) if alg in supported]


class HostKeyCheck:
    """The verdict on one connection's host key, and what the error reports when it is refused."""

    def __init__(self, verification: HostKeyVerification, known_hosts: asyncssh.SSHKnownHosts | None) -> None:
        self._accept_any = verification.policy == "Insecure" or (
            verification.policy == "TrustOnFirstUse" and not verification.pinned
        )
        self._fingerprints = tuple(dict.fromkeys(_normalize(value) for value in verification.fingerprints))
        self._known_hosts = known_hosts
        self._trusted: list[asyncssh.SSHKey] = []
        self._revoked: list[asyncssh.SSHKey] = []
        self.presented: str | None = None
        self.presented_revoked = False

    def algorithms(self, address: str, port: int) -> list[str]:
        """`host_key_algorithms` for the target as addressed; matching by the resolved IP happens only later, in
        `match_known_hosts`, so an IP-only entry for a target given by name does not reorder the offer."""
        if self._known_hosts is None:
            return host_key_algorithms(())
        trusted, _ca_keys, revoked, *_ = asyncssh.match_known_hosts(
            self._known_hosts, address, "", None if port == 22 else port
        )
        return host_key_algorithms(key for key in trusted if key not in revoked)

    def match_known_hosts(
        self, host: str, addr: str, port: int | None
    ) -> tuple[list[asyncssh.SSHKey], list[asyncssh.SSHKey], list[asyncssh.SSHKey]]:
        """asyncssh's `known_hosts` callable: the trusted keys, trusted CA keys and revoked keys for this peer.

        Called before key exchange with the address as given, the peer's IP and the port (None for 22). Revoked keys
        are withheld from both lists so every key that is not plainly trusted reaches `validate`, which records it.
        """
        if self._known_hosts is None:
            return [], [], []
        trusted, _ca_keys, revoked, *_ = asyncssh.match_known_hosts(self._known_hosts, host, addr, port)
        self._revoked = list(revoked)
        self._trusted = [key for key in trusted if key not in self._revoked]
        return list(self._trusted), [], []

    def validate(self, key: asyncssh.SSHKey) -> bool:
        """asyncssh's last word on a key not among the trusted ones."""
        self.presented = fingerprint(key)
        if key in self._revoked:
            self.presented_revoked = True
            return False
        return self._accept_any or self.presented in self._fingerprints

    @property
    def expected(self) -> tuple[str, ...]:
        """The fingerprints that would have been accepted: the pinned ones, then the matching known_hosts keys."""
        return tuple(dict.fromkeys((*self._fingerprints, *(fingerprint(key) for key in self._trusted))))


class HostKeyClient(asyncssh.SSHClient):
    """Routes asyncssh's host key callbacks to a HostKeyCheck."""

    def __init__(self, check: HostKeyCheck) -> None:
        self._check = check

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        return self._check.validate(key)

    def validate_host_ca_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        # Unreachable while certificate algorithms are not offered (host_key_algorithms); refuse rather than trust
        # by accident.
        return False
