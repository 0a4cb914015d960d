"""Files written on the node before any command runs (cloud-init `write_files`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from k0smotron_core.api.bootstrap import File

from .errors import BootstrapDataError

DEFAULT_PERMISSIONS = "0644"
SECRET_PERMISSIONS = "0600"
_OCTAL_MODE = re.compile(r"^0?[0-7]{3,4}$")


@dataclass(frozen=True)
class BootstrapFile:
    """A file to write on the node. `content` is left out of the repr because it may be the join token or a CA key."""

    path: str
    content: str = field(repr=False)
    permissions: str = DEFAULT_PERMISSIONS

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise BootstrapDataError(f"file path {self.path!r} is not absolute")
        if not _OCTAL_MODE.match(self.permissions):
            raise BootstrapDataError(
                f"file {self.path}: permissions {self.permissions!r} are not an octal mode such as '0644'")

    @classmethod
    def from_spec(cls, file: File, content: str | None = None) -> BootstrapFile:
        """A spec `files` entry, with `content` given when the caller resolved `contentFrom`."""
        if not file.path:
            raise BootstrapDataError("a files entry has no path")
        resolved = content if content is not None else file.content
        if resolved is None:
            raise BootstrapDataError(f"file {file.path}: neither content nor resolved contentFrom given")
        # An empty mode means "cloud-init's default", which is 0644.
        return cls(path=file.path, content=resolved, permissions=file.permissions or DEFAULT_PERMISSIONS)
