"""Simulated hosts served by the real OpenSSH sshd, each in a network namespace of its own on a private bridge.

`NetnsNetwork` owns a bridge in the root network namespace whose address (`gateway`) is the .1 of a /24 chosen at
random in 198.18.0.0/15 (the range reserved for benchmarking, RFC 2544), so that concurrent runs rarely collide and
collisions are detected. Every `NetnsHost` gets a named network namespace (`ip netns`) with a veth into the bridge,
an address from the /24 and a Sandbox, and runs `sshd` inside both. Traffic between hosts and the root namespace
stays on the bridge: nothing is routed, IP forwarding and firewall rules are left alone, hosts have no internet.

Every network records its owner in STATE_DIR, so `cleanup_stale()` can remove what a killed test run left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import asyncssh

from ._identity import HostIdentity, host_key_line
from ._inprocess import ExecutedCommand, default_host_files
from ._process import (
    DEFAULT_TIMEOUT_S,
    HostsError,
    children_of,
    kill,
    process_start_time,
    run,
)
from ._sandbox import HostUser, Sandbox, SandboxUnavailable, as_host_users, sandbox_unavailable, tail

SIMULATION_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
STATE_DIR = Path("/run/k0smotron-envtest-hosts")
BRIDGE_PREFIX = "k0sb-"
NETNS_PREFIX = "k0sn-"
VETH_PREFIX = "k0sv-"
# Inside every host: sshd's configuration, host key and authorized keys, and the session wrapper's records.
# A bind mount of a real directory, so that they can change while the host runs.
CONTROL_DIR = "/run/k0smotron-sim"
SSHD = "/usr/sbin/sshd"
_MAX_HOSTS = 253

LOGIN_SHELL = f"{CONTROL_DIR}/shell"
# Rather than an sshd ForceCommand, which would make sshd refuse to deliver signals to the session.
_LOGIN_SHELL_SCRIPT = """#!/bin/sh
# The login shell of every user of this simulated host. For commands sshd starts, it records them (for
# NetnsHost.commands) and cuts the connection just before a command a test chose (NetnsHost.cut_on); everything
# else goes straight to bash.
ctl=/run/k0smotron-sim
export SHELL=/bin/bash
if [ "$#" -ne 2 ] || [ "$1" != -c ] || [ "$(cat /proc/$PPID/comm)" != sshd ]; then
    case "$0" in
    -*) exec /bin/bash -l "$@" ;;
    *) exec /bin/bash "$@" ;;
    esac
fi
cmd=$2
for cut in "$ctl"/cut-on/*; do
    [ -f "$cut" ] || continue
    case "$cmd" in
    *"$(cat "$cut")"*)
        # Only one session manages to remove the file: the cut is one-shot.
        if rm "$cut" 2>/dev/null; then
            kill -9 "$PPID"
            exit 255
        fi
        ;;
    esac
done
record="$ctl/commands/$(date +%s%N).$$"
printf '%s\\n%s' "$(id -un)" "$cmd" > "$record.cmd"
/bin/bash -c "$cmd"
status=$?
echo "$status" > "$record.status"
exit "$status"
"""


def _sshd_config() -> str:
    return f"""# A simulated host's sshd (k0smotron_core.envtest.hosts).
Port 22
ListenAddress 0.0.0.0
HostKey {CONTROL_DIR}/ssh_host_ed25519_key
PidFile {CONTROL_DIR}/sshd.pid
AuthorizedKeysFile {CONTROL_DIR}/authorized_keys/%u
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
# A benchmark provisions many machines from one address at once.
MaxStartups 200
MaxSessions 100
Subsystem sftp internal-sftp
"""


@functools.cache
def netns_unavailable() -> str | None:
    """Why netns hosts cannot run here (not root, tools missing, namespaces not permitted), or None. Probes once."""
    reason = sandbox_unavailable()
    if reason is not None:
        return reason
    if shutil.which("ip") is None:
        return "netns hosts need `ip` (iproute2), which is not installed"
    if not os.access(SSHD, os.X_OK):
        return f"netns hosts need OpenSSH's sshd at {SSHD} (openssh-server), which is not installed"
    probe = f"{NETNS_PREFIX}probe-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        added = subprocess.run(["ip", "netns", "add", probe], capture_output=True, timeout=10, check=False)
        if added.returncode != 0:
            return f"network namespaces are not permitted: {added.stderr.decode().strip()}"
        subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"cannot probe network namespaces: {error}"
    return None


class NetnsHost(HostIdentity):
    """One simulated machine with the real OpenSSH sshd on <address>:22 in a network namespace of its own."""

    port = 22

    def __init__(self, *, name: str, address: str, netns: str, veth: str, root_dir: Path) -> None:
        super().__init__()
        self.name = name
        self.address = address
        self.netns = netns
        self.veth = veth
        self.root_dir = root_dir
        self.control_dir = root_dir / "control"
        self.sshd_log = root_dir / "sshd.log"
        self._sandbox: Sandbox | None = None
        self._sshd: asyncio.subprocess.Process | None = None

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            raise HostsError(f"host {self.name} is not booted")
        return self._sandbox

    @property
    def running(self) -> bool:
        return self._sshd is not None and self._sshd.returncode is None

    @property
    def commands(self) -> list[ExecutedCommand]:
        """The commands sshd ran, in the order they started (exit_status None: running or cut off)."""
        records = []
        for path in (self.control_dir / "commands").glob("*.cmd"):
            started, pid = path.stem.split(".")
            user, _, command = path.read_text().partition("\n")
            status_file = path.with_suffix(".status")
            status = int(status_file.read_text()) if status_file.exists() else None
            records.append(((int(started), int(pid)), ExecutedCommand(user, command, status)))
        return [record for _, record in sorted(records, key=lambda item: item[0])]

    def authorize(self, public_key_openssh: str, user: str = "root") -> None:
        """Let the holder of the private key log in as user (`ssh-ed25519 AAAA... [comment]`)."""
        self.sandbox.account(user)
        line = host_key_line(asyncssh.import_public_key(public_key_openssh))
        keys = self.control_dir / "authorized_keys" / user
        with keys.open("a") as file:
            file.write(line + "\n")
        os.chmod(keys, 0o644)

    async def add_user(self, name: str, *, sudo: bool = True) -> None:
        await self.sandbox.add_user(name, sudo=sudo, shell=LOGIN_SHELL)

    def cut_on(self, substring: str) -> None:
        """Once: drop the connection whose command contains substring, just before that command would start."""
        marker = self.control_dir / "cut-on" / secrets.token_hex(8)
        marker.write_text(substring)
        os.chmod(marker, 0o666)

    async def start(self) -> None:
        """Start sshd: the host is up."""
        if self.running:
            return
        argv = ["setpriv", "--pdeathsig", "KILL", "--", *self.sandbox.enter_argv()]
        argv += [SSHD, "-D", "-e", "-f", f"{CONTROL_DIR}/sshd_config"]
        with self.sshd_log.open("ab") as log:
            self._sshd = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        await self._wait_listening()

    async def stop(self) -> None:
        """Take the host down: kill sshd and every connection (connecting is refused)."""
        self.cut_connections()
        await self._stop_listener()

    async def rekey(self) -> None:
        """Replace the host key and restart sshd; connections open before it stay."""
        key = asyncssh.generate_private_key("ssh-ed25519")
        _write_private(self.control_dir / "ssh_host_ed25519_key", key.export_private_key("openssh"))
        self._host_key = key
        if self.running:
            await self._stop_listener()
            await self.start()

    def cut_connections(self) -> None:
        """Kill the per-connection sshd processes and keep the listener, as a network failure would."""
        if self._sshd is None:
            return
        pending = children_of(self._sshd.pid)
        while pending:
            pid = pending.pop()
            pending.extend(children_of(pid))
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                    kill(pid, signal.SIGKILL)

    async def close(self) -> None:
        """Power the host off: sshd and every process in it killed."""
        await self.stop()
        if self._sandbox is not None:
            await self._sandbox.close()

    def _prepare_control(self) -> dict[str, tuple[bytes, int]]:
        """Fill the control directory; return the files the sandbox needs besides."""
        control = self.control_dir
        for directory, mode in (("", 0o755), ("authorized_keys", 0o755), ("commands", 0o1777), ("cut-on", 0o777)):
            (control / directory).mkdir(parents=True, exist_ok=True)
            os.chmod(control / directory, mode)
        (control / "sshd_config").write_text(_sshd_config())
        _write_private(control / "ssh_host_ed25519_key", self._host_key.export_private_key("openssh"))
        (control / "shell").write_text(_LOGIN_SHELL_SCRIPT)
        os.chmod(control / "shell", 0o755)
        return {"/etc/passwd": (_with_root_shell(Path("/etc/passwd").read_text(), LOGIN_SHELL).encode(), 0o644)}

    async def _boot(
        self,
        *,
        gateway: str,
        prefix_length: int,
        files: Mapping[str, tuple[bytes, int]],
        users: Sequence[HostUser],
    ) -> None:
        files = {**self._prepare_control(), **files}
        configure = f"""link set lo up
addr add {self.address}/{prefix_length} dev eth0
link set eth0 up
route add default via {gateway}
"""
        self._sandbox = await Sandbox.create(
            self.root_dir / "sandbox",
            self.name,
            files,
            address=self.address,
            directories={"/run/sshd": 0o755},
            binds={CONTROL_DIR: self.control_dir},
            netns=f"/run/netns/{self.netns}",
        )
        # Through the holder rather than `ip -n`, which would set up a mount namespace of its own.
        await run(["nsenter", f"--target={self.sandbox.pid}", "--net", "--", "ip", "-batch", "-"],
                  input=configure.encode())
        for user in users:
            await self.add_user(user.name, sudo=user.sudo)
        await self.start()

    async def _stop_listener(self) -> None:
        sshd, self._sshd = self._sshd, None
        if sshd is not None:
            kill(sshd.pid, signal.SIGKILL)
            await asyncio.wait_for(sshd.wait(), DEFAULT_TIMEOUT_S)

    async def _wait_listening(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEFAULT_TIMEOUT_S
        while True:
            sshd = self._sshd
            if sshd is None or sshd.returncode is not None:
                raise HostsError(f"sshd of {self.name} exited: {tail(self.sshd_log)}")
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(self.address, self.port), 2)
            except (OSError, TimeoutError):
                if loop.time() > deadline:
                    raise HostsError(
                        f"sshd of {self.name} not reachable at {self.address}:22 after {DEFAULT_TIMEOUT_S:g} s: "
                        f"{tail(self.sshd_log)}"
                    ) from None
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 2)
            return


class NetnsNetwork:
    """A bridge with hosts in network namespaces. Create with `await NetnsNetwork.create(root_dir)`, or
    `async with await NetnsNetwork.create(root_dir) as net:`; `await net.close()` removes everything."""

    def __init__(self, root_dir: Path, suffix: str, subnet: ipaddress.IPv4Network) -> None:
        self.root_dir = root_dir
        self.suffix = suffix
        self.bridge = f"{BRIDGE_PREFIX}{suffix}"
        self.subnet = subnet
        self.gateway = str(subnet.network_address + 1)
        self.hosts: dict[str, NetnsHost] = {}
        self._next_index = 1
        self._closed = False

    @classmethod
    async def create(cls, root_dir: Path) -> NetnsNetwork:
        """A new bridge on a free /24 of 198.18.0.0/15; hosts' sandboxes go under root_dir."""
        reason = netns_unavailable()
        if reason is not None:
            raise SandboxUnavailable(reason)
        await cleanup_stale()
        suffix = secrets.token_hex(3)
        # The marker goes first, so that nothing this network creates can outlive a crash unrecorded.
        _write_marker(suffix)
        bridge = f"{BRIDGE_PREFIX}{suffix}"
        try:
            for _ in range(20):
                subnet = await _free_subnet()
                gateway = subnet.network_address + 1
                await run(["ip", "-batch", "-"], input=(
                    f"link add {bridge} type bridge\n"
                    f"addr add {gateway}/{subnet.prefixlen} dev {bridge}\n"
                    f"link set {bridge} up\n"
                ).encode())
                # Another run may have picked the same /24 at the same moment: the later one to notice moves on.
                if await _subnet_users(subnet) == {bridge}:
                    return cls(root_dir, suffix, subnet)
                await run(["ip", "link", "del", bridge])
            raise HostsError("no free /24 found in 198.18.0.0/15")
        except BaseException:
            await _remove_network(suffix)
            raise

    async def add_host(
        self,
        name: str,
        *,
        users: Iterable[str | HostUser] = (),
        files: Mapping[str, tuple[bytes, int]] | None = None,
    ) -> NetnsHost:
        """Boot a host: users to create besides root (a plain name gets passwordless sudo), initial files."""
        return (await self.add_hosts([name], users=users, files=files))[0]

    async def add_hosts(
        self,
        names: Sequence[str],
        *,
        users: Iterable[str | HostUser] = (),
        files: Mapping[str, tuple[bytes, int]] | None = None,
    ) -> list[NetnsHost]:
        """Boot several hosts at once (much faster than one by one)."""
        if self._closed:
            raise HostsError("the network is closed")
        if len(set(names)) != len(names) or any(name in self.hosts for name in names):
            raise ValueError(f"host names must be unique in a network: {list(names)}")
        if len(self.hosts) + len(names) > _MAX_HOSTS:
            raise ValueError(f"a network holds at most {_MAX_HOSTS} hosts")
        host_users = as_host_users(users)
        host_files = default_host_files() if files is None else dict(files)
        hosts = []
        for name in names:
            index = self._next_index
            self._next_index += 1
            host = NetnsHost(
                name=name,
                address=str(self.subnet.network_address + 1 + index),
                netns=f"{NETNS_PREFIX}{self.suffix}-{index}",
                veth=f"{VETH_PREFIX}{self.suffix}-{index}",
                root_dir=self.root_dir / name,
            )
            self.hosts[name] = host
            hosts.append(host)
        plumbing = "".join(
            f"netns add {host.netns}\n"
            f"link add {host.veth} type veth peer name eth0 netns {host.netns}\n"
            f"link set {host.veth} master {self.bridge} up\n"
            for host in hosts
        )
        await run(["ip", "-batch", "-"], input=plumbing.encode())
        booted = await asyncio.gather(
            *(
                host._boot(gateway=self.gateway, prefix_length=self.subnet.prefixlen, files=host_files,
                           users=host_users)
                for host in hosts
            ),
            return_exceptions=True,
        )
        for outcome in booted:
            if isinstance(outcome, BaseException):
                raise outcome
        return hosts

    async def close(self) -> None:
        """Power every host off and remove the namespaces, interfaces and bridge."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.gather(*(host.close() for host in self.hosts.values()), return_exceptions=True)
        finally:
            await _remove_network(self.suffix)

    async def __aenter__(self) -> NetnsNetwork:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


async def cleanup_stale() -> list[str]:
    """Remove the bridges, veths and namespaces of networks whose owning process is gone; return their suffixes."""
    stale = _orphaned_networks()
    for suffix in stale:
        await _remove_network(suffix)
    return stale


def _orphaned_networks() -> list[str]:
    if not STATE_DIR.is_dir():
        return []
    orphaned = []
    for marker in STATE_DIR.glob("*.json"):
        try:
            owner = json.loads(marker.read_text())
            # A recycled pid has another start time.
            alive = process_start_time(int(owner["pid"])) == owner["start_time"]
        except (OSError, ValueError, KeyError, TypeError):
            alive = False
        if not alive:
            orphaned.append(marker.stem)
    return orphaned


def _write_marker(suffix: str) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    _marker(suffix).write_text(json.dumps({"pid": os.getpid(), "start_time": process_start_time(os.getpid())}))


async def _remove_network(suffix: str) -> None:
    netns_prefix = f"{NETNS_PREFIX}{suffix}-"
    listing = await run(["ip", "netns", "list"], check=False)
    namespaces = [line.split()[0] for line in listing.stdout.decode().splitlines()
                  if line.split() and line.split()[0].startswith(netns_prefix)]
    # Whatever still runs in a namespace keeps it, and its veth, alive.
    for namespace in namespaces:
        pids = await run(["ip", "netns", "pids", namespace], check=False)
        for pid in pids.stdout.split():
            kill(int(pid), signal.SIGKILL)
    links = await run(["ip", "-j", "link", "show"], check=False)
    names = [link["ifname"] for link in json.loads(links.stdout or b"[]")]
    ours = [n for n in names if n.startswith(f"{VETH_PREFIX}{suffix}-")] + [
        n for n in names if n == f"{BRIDGE_PREFIX}{suffix}"
    ]
    # Deleting one end of a veth pair deletes both at once; a deleted namespace lets go of its end only later.
    commands = "".join(f"link del {name}\n" for name in ours) + "".join(f"netns del {n}\n" for n in namespaces)
    if commands:
        await run(["ip", "-force", "-batch", "-"], input=commands.encode(), check=False)
    _remove_marker(suffix)


async def _free_subnet() -> ipaddress.IPv4Network:
    taken = await _taken_networks()
    candidates = list(SIMULATION_RANGE.subnets(new_prefix=24))
    for _ in range(100):
        subnet = candidates[secrets.randbelow(len(candidates))]
        if not any(subnet.overlaps(network) for network in taken):
            return subnet
    raise HostsError("no free /24 found in 198.18.0.0/15")


async def _taken_networks() -> list[ipaddress.IPv4Network]:
    """Networks the root namespace already has addresses in or routes to (the default route aside)."""
    addresses = json.loads((await run(["ip", "-j", "-4", "addr", "show"])).stdout or b"[]")
    routes = json.loads((await run(["ip", "-j", "-4", "route", "show", "table", "all"])).stdout or b"[]")
    taken = [
        ipaddress.IPv4Interface(f"{info['local']}/{info['prefixlen']}").network
        for link in addresses
        for info in link.get("addr_info", [])
    ]
    for route in routes:
        destination = route.get("dst", "default")
        if destination != "default":
            with contextlib.suppress(ValueError):
                taken.append(ipaddress.IPv4Network(destination, strict=False))
    return [network for network in taken if network.prefixlen > 0]


async def _subnet_users(subnet: ipaddress.IPv4Network) -> set[str]:
    addresses = json.loads((await run(["ip", "-j", "-4", "addr", "show"])).stdout or b"[]")
    return {
        link["ifname"]
        for link in addresses
        for info in link.get("addr_info", [])
        if ipaddress.IPv4Interface(f"{info['local']}/{info['prefixlen']}").network.overlaps(subnet)
    }


def _marker(suffix: str) -> Path:
    return STATE_DIR / f"{suffix}.json"


def _remove_marker(suffix: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        _marker(suffix).unlink()


def _write_private(path: Path, content: bytes) -> None:
    # sshd refuses a host key others may read; replacing atomically keeps a restarting sshd from a half key.
    scratch = path.with_suffix(".new")
    scratch.write_bytes(content)
    os.chmod(scratch, 0o600)
    scratch.replace(path)


def _with_root_shell(passwd: str, shell: str) -> str:
    lines = []
    for line in passwd.splitlines():
        fields = line.split(":")
        if fields[0] == "root" and len(fields) == 7:
            line = ":".join([*fields[:6], shell])
        lines.append(line)
    return "\n".join(lines) + "\n"
