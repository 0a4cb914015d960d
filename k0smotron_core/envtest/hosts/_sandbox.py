"""Sandbox: the filesystem view of one simulated host, so that what it writes never reaches the real machine.

A holder process (`sleep infinity`) owns a private mount namespace and UTS namespace. In the mount namespace,
overlays cover the directories a machine's software writes to (OVERLAID_DIRS): the real directory is the lower
layer, an upper directory inside the sandbox directory takes every write. Commands enter the namespaces with
`nsenter` (`Sandbox.enter_argv()`); processes that outlive the holder are killed on close by their namespace.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import posixpath
import re
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ._process import (
    DEFAULT_TIMEOUT_S,
    HostsError,
    RunResult,
    kill,
    namespace_id,
    pids_in_namespace,
    run,
)

# Where a provisioned machine's software writes: configuration, state, logs, installed binaries, runtime files.
OVERLAID_DIRS = ("/etc", "/var/lib", "/var/log", "/usr/local", "/run", "/root", "/home", "/opt", "/tmp")
HOST_INFO_PATH = "/etc/k0smotron-sim/host.json"
SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_HOSTNAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")
# overlayfs takes its layers as one comma- and colon-separated mount option.
_MOUNT_OPTION_UNSAFE = re.compile(r"[,:\s\\]")
_READY = b"k0smotron-sandbox-ready\n"


# Root's dotfiles and credentials on the machine running the tests are not the host's: shell sessions there would
# source the runner's .bashrc (pyenv, PATH tweaks), and kubectl would find the runner's kubeconfig. Hosts start
# with Debian's stock dotfiles instead; the rest of the real /root stays visible (the tests' Python may live there).
_HIDDEN = ("/root/.bash_profile", "/root/.bash_login", "/root/.bash_logout", "/root/.kube", "/root/.ssh")


def _stock_root_dotfiles() -> dict[str, tuple[bytes, int]]:
    stock = {}
    for name, sources in ((".bashrc", ("/usr/share/base-files/dot.bashrc", "/etc/skel/.bashrc")),
                          (".profile", ("/usr/share/base-files/dot.profile", "/etc/skel/.profile"))):
        for source in sources:
            if os.path.isfile(source):
                stock[f"/root/{name}"] = (Path(source).read_bytes(), 0o644)
                break
        else:
            stock[f"/root/{name}"] = (b"", 0o644)
    return stock


class SandboxUnavailable(Exception):
    """This machine cannot run sandboxed hosts (not root, tools missing, overlays or namespaces not permitted)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class HostUser:
    """A login user to create on a host. sudo: passwordless sudo to root, like a cloud image's default user."""

    name: str
    sudo: bool = True


@dataclass(frozen=True)
class Account:
    """A user as it exists inside a host (from its /etc/passwd)."""

    name: str
    uid: int
    gid: int
    home: str
    shell: str


ROOT = Account("root", 0, 0, "/root", "/bin/sh")


def as_host_users(users: Iterable[str | HostUser]) -> list[HostUser]:
    return [HostUser(user) if isinstance(user, str) else user for user in users]


@functools.cache
def sandbox_unavailable() -> str | None:
    """Why sandboxes cannot be created here, or None when they can. Probes once per process."""
    if os.geteuid() != 0:
        return "simulated hosts need root (mount namespaces and overlayfs)"
    for tool in ("unshare", "nsenter", "setpriv", "mount", "useradd"):
        if shutil.which(tool) is None:
            return f"simulated hosts need `{tool}` (util-linux/passwd), which is not installed"
    with tempfile.TemporaryDirectory(prefix="k0smotron-sandbox-probe-") as scratch:
        for part in ("lower", "upper", "work"):
            os.mkdir(os.path.join(scratch, part))
        script = (
            f"mount -t overlay overlay -o lowerdir={scratch}/lower,upperdir={scratch}/upper,"
            f"workdir={scratch}/work {scratch}/lower"
        )
        try:
            probe = subprocess.run(
                ["unshare", "--mount", "--uts", "--propagation", "private", "/bin/sh", "-c", script],
                capture_output=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"cannot probe mount namespaces: {error}"
        if probe.returncode != 0:
            return f"overlayfs in a private mount namespace is not permitted: {probe.stderr.decode().strip()}"
    return None


class Sandbox:
    """The filesystem, hostname and (optionally) network namespace of one simulated host."""

    def __init__(
        self,
        *,
        root_dir: Path,
        hostname: str,
        address: str,
        holder: asyncio.subprocess.Process,
        binds: Mapping[str, Path],
        in_netns: bool,
    ) -> None:
        self.root_dir = root_dir
        self.hostname = hostname
        self.address = address
        self._holder = holder
        self._binds = dict(binds)
        self._in_netns = in_netns
        self._mount_ns = namespace_id(holder.pid, "mnt")
        self._accounts: dict[str, Account] = {"root": ROOT}
        self._closed = False

    @classmethod
    async def create(
        cls,
        root_dir: Path,
        hostname: str,
        files: Mapping[str, tuple[bytes, int]] | None = None,
        *,
        address: str,
        directories: Mapping[str, int] | None = None,
        binds: Mapping[str, Path] | None = None,
        netns: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,  # noqa: ASYNC109 - bounds the holder's start, not the whole call
    ) -> Sandbox:
        """Create the sandbox in root_dir (created; must be empty) and start its holder.

        files: absolute path inside the host -> (content, mode), written before the host starts; so are
        directories (path -> mode). binds: path inside the host -> a real directory mounted there, which the caller
        may change from outside while the host runs (overlay layers must not be changed under a mounted overlay).
        netns: the path of a network namespace (`/run/netns/<name>`) the host lives in; default: the caller's.
        """
        reason = sandbox_unavailable()
        if reason is not None:
            raise SandboxUnavailable(reason)
        if not _HOSTNAME.match(hostname):
            raise ValueError(f"{hostname!r} is not a valid host name (lower-case RFC 1123)")
        files = {
            "/etc/hostname": (f"{hostname}\n".encode(), 0o644),
            HOST_INFO_PATH: (json.dumps({"name": hostname, "address": address}).encode() + b"\n", 0o644),
            **(files or {}),
        }
        root_dir, binds, script = _prepare(root_dir, hostname, files, directories or {}, binds or {})
        argv = ["setpriv", "--pdeathsig", "KILL", "--"]
        if netns is not None:
            argv += ["nsenter", f"--net={netns}", "--"]
        argv += ["unshare", "--mount", "--uts", "--propagation", "private", "--", "/bin/sh", "-c", script]
        log_path = root_dir / "sandbox.log"
        with open(log_path, "ab") as log:  # noqa: ASYNC230 - opening a local file does not block
            # The holder lives as long as the host; setpriv --pdeathsig takes it down with this process.
            holder = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
        assert holder.stdout is not None
        try:
            line = await asyncio.wait_for(holder.stdout.readline(), timeout)
        except TimeoutError:
            line = b""
        if line != _READY:
            kill(holder.pid, signal.SIGKILL)
            await asyncio.wait_for(holder.wait(), 5)
            raise HostsError(f"sandbox for {hostname} did not start: {tail(log_path)}")
        return cls(
            root_dir=root_dir,
            hostname=hostname,
            address=address,
            holder=holder,
            binds=binds,
            in_netns=netns is not None,
        )

    @property
    def pid(self) -> int:
        """The holder process: its namespaces are the host's."""
        return self._holder.pid

    def path(self, path: str) -> Path:
        """Where the absolute path, as written inside the host, is stored on the real filesystem."""
        normal = posixpath.normpath(path)
        for target, source in self._binds.items():
            if _is_within(normal, target):
                return source / posixpath.relpath(normal, target)
        if _overlay_root(normal) is None:
            raise ValueError(f"{path} is not sandboxed: writes there would reach the real filesystem")
        return self.root_dir / "upper" / normal.lstrip("/")

    def enter_argv(self, *, workdir: str = "/") -> list[str]:
        """The command prefix that runs a program inside the host as root."""
        argv = ["nsenter", f"--target={self.pid}", "--mount", "--uts"]
        if self._in_netns:
            argv.append("--net")
        return [*argv, f"--wdns={workdir}", "--"]

    def account(self, user: str) -> Account:
        """A user created with add_user, or root."""
        try:
            return self._accounts[user]
        except KeyError:
            raise KeyError(f"host {self.hostname} has no user {user!r} (add it with add_user)") from None

    def command_argv(self, command: str, *, user: str = "root", env: Mapping[str, str] | None = None) -> list[str]:
        """argv that runs `/bin/sh -c command` inside the host as user, in their home, with a login-like env."""
        account = self.account(user)
        environment = {
            "PATH": SESSION_PATH,
            "HOME": account.home,
            "USER": account.name,
            "LOGNAME": account.name,
            "SHELL": account.shell,
            **(env or {}),
        }
        argv = self.enter_argv(workdir=account.home)
        if account.uid != 0:
            argv += ["setpriv", f"--reuid={account.uid}", f"--regid={account.gid}", "--init-groups", "--"]
        return [*argv, "env", "-i", *(f"{k}={v}" for k, v in environment.items()), "/bin/sh", "-c", command]

    async def run(
        self,
        command: str,
        *,
        user: str = "root",
        input: bytes | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,  # noqa: ASYNC109 - the command is killed on timeout, not just left
        check: bool = False,
    ) -> RunResult:
        """Run a shell command inside the host (not over SSH)."""
        return await run(self.command_argv(command, user=user), input=input, timeout=timeout, check=check)

    async def add_user(self, name: str, *, sudo: bool, shell: str = "/bin/bash") -> Account:
        """Create a login user (home /home/<name>, no password); sudo: passwordless sudo to root."""
        if name in self._accounts:
            raise ValueError(f"host {self.hostname} already has user {name!r}")
        if not re.match(r"^[a-z_][a-z0-9_-]{0,31}$", name):
            raise ValueError(f"{name!r} is not a valid user name")
        # A locked password ("!") would make sshd refuse the account even for key authentication.
        script = (
            f"useradd --create-home --home-dir /home/{name} --shell {shlex.quote(shell)} --user-group"
            f" --password '*' {name}"
        )
        if sudo:
            script += (
                f" && printf '%s\\n' '{name} ALL=(ALL:ALL) NOPASSWD:ALL' > /etc/sudoers.d/{name}"
                f" && chmod 0440 /etc/sudoers.d/{name}"
            )
        result = await run([*self.enter_argv(), "/bin/sh", "-c", f"{script} && getent passwd {name}"])
        fields = result.stdout.decode().strip().split(":")
        account = Account(name, int(fields[2]), int(fields[3]), fields[5], fields[6])
        self._accounts[name] = account
        return account

    async def write_file(self, path: str, content: bytes, mode: int = 0o644) -> None:
        """Write a file inside the running host as root (creating its directory)."""
        script = 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"'
        await run([*self.enter_argv(), "/bin/sh", "-c", script, "sh", path, f"{mode:o}"], input=content)

    def processes(self) -> list[int]:
        """Every process running inside the host, the holder included."""
        if self._mount_ns is None:
            return []
        return pids_in_namespace(self._mount_ns, "mnt")

    async def close(self) -> None:
        """Power the host off: kill everything running in it. The mounts go with the namespace."""
        if self._closed:
            return
        self._closed = True
        kill(self.pid, signal.SIGKILL)
        await asyncio.wait_for(self._holder.wait(), DEFAULT_TIMEOUT_S)
        # Processes may enter the namespace (nsenter) while others die: kill until none is left.
        deadline = asyncio.get_running_loop().time() + DEFAULT_TIMEOUT_S
        while remaining := self.processes():
            if asyncio.get_running_loop().time() > deadline:
                raise HostsError(f"processes {remaining} of host {self.hostname} survive SIGKILL")
            for pid in remaining:
                kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.01)


def _prepare(
    root_dir: Path,
    hostname: str,
    files: Mapping[str, tuple[bytes, int]],
    directories: Mapping[str, int],
    binds: Mapping[str, Path],
) -> tuple[Path, dict[str, Path], str]:
    """Lay out the sandbox directory before the host starts; return it and the binds, absolute, and the holder's
    script."""
    root_dir = root_dir.absolute()
    binds = {posixpath.normpath(target): source.absolute() for target, source in binds.items()}
    if _MOUNT_OPTION_UNSAFE.search(str(root_dir)):
        raise ValueError(f"sandbox directory {root_dir} must not contain commas, colons, spaces or backslashes")
    root_dir.mkdir(parents=True, exist_ok=True)
    if any(root_dir.iterdir()):
        raise ValueError(f"sandbox directory {root_dir} is not empty")
    # Overlays whose directory holds the sandbox itself go last: mounted earlier, they would hide the real
    # upper directories of the overlays after them behind an overlay view.
    holding = [d for d in OVERLAID_DIRS if _is_within(str(root_dir), d)]
    order = [d for d in OVERLAID_DIRS if d not in holding] + holding
    for target in binds:
        covering = _overlay_root(target)
        if covering is None or covering in holding:
            raise ValueError(f"bind target {target} must lie in one of {OVERLAID_DIRS} but not in {holding}")

    everything: dict[str, tuple[bytes, int]] = {
        # sudo and others resolve the host's own name.
        "/etc/hosts": (_read_or_empty("/etc/hosts") + f"127.0.1.1\t{hostname}\n".encode(), 0o644),
        **_stock_root_dotfiles(),
        **files,
    }
    layout = _Layout(root_dir)
    for directory in OVERLAID_DIRS:
        layout.prepare_overlay(directory)
    for path in _HIDDEN:
        if os.path.lexists(path) and path not in everything:
            layout.whiteout(path)
    for path, mode in {**{target: 0o755 for target in binds}, **directories}.items():
        layout.make_dirs(path, mode)
    for path, (content, mode) in everything.items():
        layout.write_file(path, content, mode)
    return root_dir, binds, _holder_script(layout, order, binds, hostname)


class _Layout:
    """The upper and work directories of the overlays, prepared before the host starts."""

    def __init__(self, root_dir: Path) -> None:
        self.root_dir = root_dir

    def upper(self, directory: str) -> Path:
        return self.root_dir / "upper" / directory.lstrip("/")

    def work(self, directory: str) -> Path:
        return self.root_dir / "work" / directory.lstrip("/")

    def prepare_overlay(self, directory: str) -> None:
        self.work(directory).mkdir(parents=True)
        # The merged directory shows the upper directory's owner and mode (/tmp 1777, /root 0700).
        _mirror_dir(self.upper(directory), directory)

    def make_dirs(self, path: str, mode: int) -> Path:
        """Create path's directories in its overlay's upper layer, copying owner and mode of existing ones."""
        path = posixpath.normpath(path)
        root = _overlay_root(path)
        if root is None:
            raise ValueError(f"{path} is not in a sandboxed directory {OVERLAID_DIRS}")
        current = root
        for part in posixpath.relpath(path, root).split("/"):
            if part == ".":
                continue
            current = posixpath.join(current, part)
            upper = self.upper(root) / posixpath.relpath(current, root)
            if not upper.exists():
                if os.path.isdir(current):
                    _mirror_dir(upper, current)
                else:
                    upper.mkdir()
                    os.chmod(upper, mode if current == path else 0o755)
        return self.upper(root) / posixpath.relpath(path, root)

    def whiteout(self, path: str) -> None:
        """Hide path of the real directory from the host (an overlayfs whiteout: a 0/0 character device)."""
        directory = self.make_dirs(posixpath.dirname(posixpath.normpath(path)), 0o755)
        os.mknod(directory / posixpath.basename(path), stat.S_IFCHR | 0o600, os.makedev(0, 0))

    def write_file(self, path: str, content: bytes, mode: int) -> None:
        if not posixpath.isabs(path):
            raise ValueError(f"host file paths must be absolute: {path}")
        directory = self.make_dirs(posixpath.dirname(posixpath.normpath(path)), 0o755)
        target = directory / posixpath.basename(path)
        target.write_bytes(content)
        os.chmod(target, mode)


def _mirror_dir(upper: Path, real: str) -> None:
    upper.mkdir(parents=True, exist_ok=True)
    try:
        stat = os.stat(real)
    except FileNotFoundError:
        os.chmod(upper, 0o755)
        return
    os.chown(upper, stat.st_uid, stat.st_gid)
    os.chmod(upper, stat.st_mode & 0o7777)


def _holder_script(layout: _Layout, order: list[str], binds: Mapping[str, Path], hostname: str) -> str:
    q = shlex.quote
    lines = [
        "set -eu",
        # Bind mounts of named network namespaces (`ip netns add`) copied into this mount namespace would keep
        # those namespaces, and their interfaces, alive after `ip netns del` for as long as this host lives.
        # Detaching /run/netns at once is much cheaper than one namespace after the other.
        "if cut -d' ' -f5 /proc/self/mountinfo | grep -qx /run/netns; then umount -l /run/netns; fi",
        "for m in $(cut -d' ' -f5 /proc/self/mountinfo | grep '^/run/netns/.' || true); do umount -l \"$m\"; done",
    ]
    pending_binds = dict(binds)
    for directory in order:
        lines.append(
            f"mount -t overlay overlay -o lowerdir={directory},upperdir={layout.upper(directory)},"
            f"workdir={layout.work(directory)} {q(directory)}"
        )
        for target, source in list(pending_binds.items()):
            if _overlay_root(target) == directory:
                lines.append(f"mount --bind {q(str(source))} {q(target)}")
                del pending_binds[target]
    lines += [
        f"echo {q(hostname)} > /proc/sys/kernel/hostname",
        f"printf '{_READY.decode().strip()}\\n'",
        "exec sleep infinity",
    ]
    return "\n".join(lines)


def _overlay_root(path: str) -> str | None:
    matches = [d for d in OVERLAID_DIRS if _is_within(path, d)]
    return max(matches, key=len) if matches else None


def _is_within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def tail(path: Path, lines: int = 20) -> str:
    """The end of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]).strip() or "(empty log)"
    except OSError:
        return "(no log)"


def _read_or_empty(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""
