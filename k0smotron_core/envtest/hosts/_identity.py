"""What both kinds of simulated host show the world: an address, a port, and an SSH host key."""

from __future__ import annotations

import base64

import asyncssh


def host_key_line(key: asyncssh.SSHKey) -> str:
    """`<type> <base64>` of a key's public half, without comment."""
    return f"{key.get_algorithm()} {base64.b64encode(key.public_data).decode()}"


def known_hosts_pattern(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


class HostIdentity:
    """A host's current SSH host key, and how clients pin it."""

    address: str
    port: int

    def __init__(self) -> None:
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")

    @property
    def host_key_fingerprint(self) -> str:
        """`SHA256:...` of the current host key, as ssh prints it."""
        return str(self._host_key.get_fingerprint("sha256"))

    @property
    def host_public_key(self) -> str:
        """The current host key's public half, `ssh-ed25519 AAAA...`."""
        return host_key_line(self._host_key)

    @property
    def known_hosts_line(self) -> str:
        """A known_hosts line pinning the current host key (`[address]:port` unless the port is 22)."""
        return f"{known_hosts_pattern(self.address, self.port)} {self.host_public_key}"
