"""The Machine's bootstrap data as the SSH provisioner needs it: the files to write and the commands to run.

Only cloud-config output can be provisioned over SSH (as upstream): its `write_files` and `runcmd` are what
cloud-init would have done on first boot. Other formats (ignition, powershell) are refused with a clear reason.
"""

from __future__ import annotations

import base64
import gzip
import shlex
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

DEFAULT_PERMISSIONS = 0o644


class InvalidBootstrapData(Exception):
    """The bootstrap data cannot be run over SSH; the message says why (never the data itself)."""


@dataclass(frozen=True)
class File:
    path: str
    content: bytes
    mode: int


@dataclass(frozen=True)
class BootstrapData:
    files: tuple[File, ...]
    commands: tuple[str, ...]

    def secrets(self) -> list[str]:
        """Everything a command's output could leak: the contents of the files (join tokens, keys)."""
        return [line for file in self.files for line in file.content.decode(errors="replace").splitlines()
                if len(line) >= 16]


def parse(user_data: bytes) -> BootstrapData:
    text = user_data.decode("utf-8", errors="strict") if user_data else ""
    if not text.strip():
        raise InvalidBootstrapData("the bootstrap data is empty")
    first = text.lstrip().splitlines()[0]
    if first.startswith("{") or first.startswith("<powershell>") or first.startswith("#ps1"):
        raise InvalidBootstrapData("the bootstrap data is not cloud-config (ignition or powershell cannot be run "
                                   "over SSH); use the cloud-config format")
    try:
        document = YAML(typ="safe").load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidBootstrapData(f"the bootstrap data is not valid cloud-config YAML{where}") from None
    if not isinstance(document, dict):
        raise InvalidBootstrapData("the bootstrap data is not a cloud-config mapping")
    files = tuple(_file(index, entry) for index, entry in enumerate(document.get("write_files") or ()))
    commands = tuple(_command(index, entry) for index, entry in enumerate(document.get("runcmd") or ()))
    return BootstrapData(files, commands)


def display_command(line: str) -> str:
    """The user's command inside the bootstrap's `sh -c '<command>' || exit 1` wrapper, for messages."""
    try:
        words = shlex.split(line)
    except ValueError:
        return line
    if len(words) == 6 and words[:2] == ["sh", "-c"] and words[3:] == ["||", "exit", "1"]:
        return words[2]
    return line


def _file(index: int, entry: Any) -> File:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"].startswith("/"):
        raise InvalidBootstrapData(f"write_files[{index}] has no absolute path")
    content = entry.get("content") or ""
    if not isinstance(content, str):
        raise InvalidBootstrapData(f"write_files[{index}] ({entry['path']}): content is not a string")
    encoding = str(entry.get("encoding") or "").lower()
    try:
        raw = content.encode()
        if encoding in ("b64", "base64"):
            raw = base64.b64decode(content, validate=False)
        elif encoding in ("gz+b64", "gzip+base64", "gz+base64", "gzip+b64"):
            raw = gzip.decompress(base64.b64decode(content, validate=False))
        elif encoding not in ("", "text/plain"):
            raise InvalidBootstrapData(f"write_files[{index}] ({entry['path']}): unsupported encoding {encoding!r}")
    except (ValueError, OSError):
        raise InvalidBootstrapData(f"write_files[{index}] ({entry['path']}): content is not valid {encoding}") from None
    return File(entry["path"], raw, _mode(index, entry))


def _mode(index: int, entry: dict[str, Any]) -> int:
    permissions = entry.get("permissions")
    if permissions is None or permissions == "":
        return DEFAULT_PERMISSIONS
    try:
        # cloud-init reads "0644" as octal; YAML 1.1 may already have turned an unquoted 0644 into 420.
        mode = permissions if isinstance(permissions, int) else int(str(permissions), 8)
    except ValueError:
        raise InvalidBootstrapData(
            f"write_files[{index}] ({entry['path']}): permissions {permissions!r} are not octal") from None
    if not 0 <= mode <= 0o7777:
        raise InvalidBootstrapData(f"write_files[{index}] ({entry['path']}): permissions out of range")
    return mode


def _command(index: int, entry: Any) -> str:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, list) and all(isinstance(word, str) for word in entry):
        # cloud-init runs a list as argv, without a shell.
        return shlex.join(entry)
    raise InvalidBootstrapData(f"runcmd[{index}] is neither a string nor a list of strings")
