"""The simulated k0s: what k0s does on a machine, as seen from outside, and the shims every simulated host starts with.

`python -m k0smotron_core.envtest.hosts.k0s <command>` (what the `k0s` wrapper written by the simulated get.k0s.sh
runs) implements `version`, `install worker|controller`, `start`, `stop`, `status`, `reset` and `etcd leave`:

- `install` accepts k0s's flags (unknown ones fail as cobra does), refuses to overwrite an existing service
  without `--force` (`Init already exists: k0sworker`), checks the join token against its API server (a worker
  token must authenticate there), and writes the unit file `/etc/systemd/system/k0s<role>.service` (the "installed"
  marker, its ExecStart naming the k0s binary) and the state `/var/lib/k0s/k0s-sim.json`.
- `start` of a worker (or of a controller with `--enable-worker`/`--single`) bootstraps a kubelet identity as the
  kubelet does (a CertificateSigningRequest for `system:node:<name>`, made with the bootstrap token and signed once
  approved; a controller holding the cluster CA signs its own) and registers a Ready Node with its labels, taints,
  providerID and the host's address, using that identity.
- `stop` marks the service stopped (and the Node's Ready condition Unknown, if it can); `reset` refuses while
  running, deletes the Node and removes k0s's files.

Every invocation is appended to `/var/log/k0s-sim.jsonl` as {argv, exit_code, time, version}. Every API call has a
timeout (`K0S_SIM_API_TIMEOUT_S`, default 10 s; the wait for a signed certificate `K0S_SIM_CSR_TIMEOUT_S`, 30 s).
Nothing secret (tokens, keys) is ever printed. For unit tests, `K0S_SIM_ROOT` prefixes every absolute path.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import platform
import shlex
import shutil
import socket
import ssl
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TextIO

from ._shims import DEFAULT_K0S_VERSION, curl_shim, systemctl_shim

# --- the files of a simulated host -------------------------------------------------------------------------------


def host_files(*, python: str = sys.executable) -> dict[str, tuple[bytes, int]]:
    """Files every simulated host starts with: absolute path inside the host -> (content, mode).

    `curl` serves the simulated get.k0s.sh (which installs a `k0s` running `python -m
    k0smotron_core.envtest.hosts.k0s`); `systemctl` starts and stops the k0s units it installs.
    """
    return {
        "/usr/local/bin/curl": (curl_shim(python).encode(), 0o755),
        "/usr/local/bin/systemctl": (systemctl_shim(python).encode(), 0o755),
    }


# --- constants ---------------------------------------------------------------------------------------------------

Role = Literal["worker", "controller"]

DATA_DIR: Final = "/var/lib/k0s"
STATE_FILE: Final = f"{DATA_DIR}/k0s-sim.json"
LOG_FILE: Final = "/var/log/k0s-sim.jsonl"
LOCK_FILE: Final = "/run/k0s-sim.lock"
HOST_INFO_FILE: Final = "/etc/k0smotron-sim/host.json"
UNIT_DIR: Final = "/etc/systemd/system"
KUBELET_PKI_DIR: Final = f"{DATA_DIR}/kubelet/pki"
KUBELET_CLIENT_PEM: Final = f"{KUBELET_PKI_DIR}/kubelet-client-current.pem"
KUBELET_KUBECONFIG: Final = f"{DATA_DIR}/kubelet.conf"
BOOTSTRAP_KUBECONFIG: Final = f"{DATA_DIR}/kubelet-bootstrap.conf"
CONTROLLER_CA_CERT: Final = f"{DATA_DIR}/pki/ca.crt"
CONTROLLER_CA_KEY: Final = f"{DATA_DIR}/pki/ca.key"
ETC_K0S: Final = "/etc/k0s"
RUN_K0S: Final = "/run/k0s"
DEFAULT_BINARY: Final = "/usr/local/bin/k0s"

KUBELET_CLIENT_SIGNER: Final = "kubernetes.io/kube-apiserver-client-kubelet"
CSR_PATH: Final = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
CONTROL_PLANE_LABEL: Final = "node-role.kubernetes.io/control-plane"
CONTROLLER_TAINT: Final = {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}
MERGE_PATCH: Final = "application/merge-patch+json"


class CommandError(Exception):
    """A failure reported as `Error: <message>` with exit code 1, as k0s (cobra) reports one."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Unreachable(Exception):
    """The API server could not be reached (the message names the server, never a credential)."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


# --- paths ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paths:
    """Maps the host's absolute paths onto the real filesystem (`root` prefixes them; "/" in a sandboxed host)."""

    root: str = "/"

    def __call__(self, path: str) -> Path:
        if not path.startswith("/"):
            return Path(path)
        prefix = self.root.rstrip("/")
        return Path(prefix + path) if prefix else Path(path)

    def host_path(self, real: str) -> str:
        """The host's view of a real path (the inverse of calling, for paths under the root)."""
        prefix = self.root.rstrip("/")
        if prefix and (real == prefix or real.startswith(prefix + "/")):
            return real[len(prefix):] or "/"
        return real


def _write(path: Path, content: bytes | str, mode: int = 0o644) -> None:
    """Write atomically with `mode` from the start (a key is never readable by others, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(descriptor, data)
    finally:
        os.close(descriptor)
    os.chmod(scratch, mode)
    os.replace(scratch, path)


# --- command-line flags, as cobra/pflag parse them ---------------------------------------------------------------

FlagKind = Literal["bool", "string", "strings", "stringArray", "stringToString", "int", "duration"]


@dataclass(frozen=True)
class Flag:
    name: str
    kind: FlagKind
    short: str = ""


def _flags(*flags: Flag) -> dict[str, Flag]:
    return {flag.name: flag for flag in flags}


_GLOBAL_FLAGS: Final = (
    Flag("debug", "bool", "d"),
    Flag("verbose", "bool", "v"),
    Flag("debugListenOn", "string"),
    Flag("help", "bool", "h"),
)
_COMMON_INSTALL_FLAGS: Final = (
    *_GLOBAL_FLAGS,
    Flag("config", "string", "c"),
    Flag("cri-socket", "string"),
    Flag("data-dir", "string"),
    Flag("enable-cloud-provider", "bool"),
    Flag("env", "stringArray", "e"),
    Flag("force", "bool"),
    Flag("ignore-pre-flight-checks", "bool"),
    Flag("iptables-mode", "string"),
    Flag("kubelet-extra-args", "string"),
    Flag("kubelet-root-dir", "string"),
    Flag("labels", "strings"),
    Flag("logging", "stringToString", "l"),
    Flag("profile", "string"),
    Flag("status-socket", "string"),
    Flag("taints", "strings"),
    Flag("token-file", "string"),
    Flag("feature-gates", "string"),
)
WORKER_INSTALL_FLAGS: Final = _flags(*_COMMON_INSTALL_FLAGS)
CONTROLLER_INSTALL_FLAGS: Final = _flags(
    *_COMMON_INSTALL_FLAGS,
    Flag("disable-components", "strings"),
    Flag("enable-dynamic-config", "bool"),
    Flag("enable-k0s-cloud-provider", "bool"),
    Flag("enable-metrics-scraper", "bool"),
    Flag("enable-worker", "bool"),
    Flag("init-only", "bool"),
    Flag("k0s-cloud-provider-port", "int"),
    Flag("k0s-cloud-provider-update-frequency", "duration"),
    Flag("kube-controller-manager-extra-args", "string"),
    Flag("no-taints", "bool"),
    Flag("single", "bool"),
)
SERVICE_FLAGS: Final = _flags(*_GLOBAL_FLAGS)
STATUS_FLAGS: Final = _flags(*_GLOBAL_FLAGS, Flag("out", "string", "o"), Flag("status-socket", "string"))
RESET_FLAGS: Final = _flags(
    *_GLOBAL_FLAGS,
    Flag("config", "string", "c"),
    Flag("cri-socket", "string"),
    Flag("data-dir", "string"),
    Flag("kubelet-root-dir", "string"),
    Flag("run-dir", "string"),
    Flag("status-socket", "string"),
)
ETCD_LEAVE_FLAGS: Final = _flags(
    *_GLOBAL_FLAGS, Flag("peer-address", "string"), Flag("config", "string", "c"), Flag("data-dir", "string")
)
VERSION_FLAGS: Final = _flags(*_GLOBAL_FLAGS, Flag("all", "bool", "a"), Flag("json", "bool"))

_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})


@dataclass
class ParsedFlags:
    values: dict[str, Any] = field(default_factory=dict)
    positional: list[str] = field(default_factory=list)

    def bool(self, name: str) -> bool:
        return bool(self.values.get(name, False))

    def string(self, name: str, default: str = "") -> str:
        value = self.values.get(name, default)
        return value if isinstance(value, str) else default

    def strings(self, name: str) -> list[str]:
        value = self.values.get(name, [])
        return [str(v) for v in value] if isinstance(value, list) else []


def parse_flags(args: Sequence[str], flags: Mapping[str, Flag]) -> ParsedFlags:
    """pflag's parsing: `--name=value`, `--name value`, `-s value`, `-svalue`, bools without a value, `--`."""
    by_short = {flag.short: flag for flag in flags.values() if flag.short}
    parsed = ParsedFlags()
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            parsed.positional += rest
            break
        if arg.startswith("--") and len(arg) > 2:
            name, has_value, value = arg[2:].partition("=")
            flag = flags.get(name)
            if flag is None:
                raise CommandError(f"unknown flag: --{name}")
            label = f"--{name}"
        elif arg.startswith("-") and len(arg) > 1:
            short, value = arg[1], arg[2:]
            has_value = "=" if value else ""
            value = value.removeprefix("=")
            found = by_short.get(short)
            if found is None:
                raise CommandError(f"unknown shorthand flag: '{short}' in {arg}")
            flag = found
            label = f"'{short}' in {arg}"
            if flag.kind == "bool" and has_value and arg[2:3] != "=":
                # -dv: a run of boolean shorthands
                rest.insert(0, "-" + arg[2:])
                has_value, value = "", ""
        else:
            parsed.positional.append(arg)
            continue
        if flag.kind == "bool":
            if not has_value:
                parsed.values[flag.name] = True
                continue
            if value not in _TRUE | _FALSE:
                raise CommandError(f'invalid argument "{value}" for "{label}" flag: strconv.ParseBool: parsing '
                                   f'"{value}": invalid syntax')
            parsed.values[flag.name] = value in _TRUE
            continue
        if not has_value:
            if not rest:
                raise CommandError(f"flag needs an argument: {label}")
            value = rest.pop(0)
        _set_flag(parsed, flag, value, label)
    return parsed


def _set_flag(parsed: ParsedFlags, flag: Flag, value: str, label: str) -> None:
    if flag.kind == "strings":
        items = next(csv.reader([value])) if value else []
        parsed.values.setdefault(flag.name, []).extend(items)
    elif flag.kind == "stringArray":
        parsed.values.setdefault(flag.name, []).append(value)
    elif flag.kind == "stringToString":
        mapping = parsed.values.setdefault(flag.name, {})
        for item in next(csv.reader([value])) if value else []:
            key, eq, val = item.partition("=")
            if not eq:
                raise CommandError(f'invalid argument "{value}" for "{label}" flag: {item} must be formatted as '
                                   "key=value")
            mapping[key] = val
    elif flag.kind == "int":
        try:
            parsed.values[flag.name] = int(value)
        except ValueError:
            raise CommandError(f'invalid argument "{value}" for "{label}" flag: strconv.ParseInt: parsing '
                               f'"{value}": invalid syntax') from None
    else:
        parsed.values[flag.name] = value


# --- the state of the simulated k0s ------------------------------------------------------------------------------


@dataclass
class State:
    """What `k0s install` recorded and what the service does now (JSON at STATE_FILE)."""

    role: str
    version: str
    binary: str
    args: list[str]
    enable_worker: bool
    single: bool
    node_name: str
    labels: dict[str, str]
    taints: list[dict[str, str]]
    provider_id: str
    node_ip: str
    kubelet_extra_args: str
    server: str
    token_file: str
    config_file: str
    env: dict[str, str]
    machine_id: str
    installed_at: str
    running: bool = False
    pid: int = 0
    started_at: str = ""
    stopped_at: str = ""
    node_registered: bool = False
    etcd_left: bool = False
    etcd_peer_address: str = ""

    @property
    def runs_workloads(self) -> bool:
        return self.role == "worker" or self.enable_worker or self.single

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> State:
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# --- the API client (standard library only: every call bounded by a timeout) ---------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    body: Any

    @property
    def message(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("message"), str):
            return str(self.body["message"])
        return f"HTTP {self.status}"


class ApiClient:
    """Requests to one API server, trusting its CA only, as a bootstrap token or a client certificate user."""

    def __init__(self, server: str, ca_pem: bytes, *, user_agent: str, token: str | None = None,
                 client_pem: Path | None = None, timeout: float | None = None) -> None:
        self.server = server.rstrip("/")
        self.user_agent = user_agent
        self.timeout = timeout if timeout is not None else _env_float("K0S_SIM_API_TIMEOUT_S", 10.0)
        context = ssl.create_default_context(cadata=ca_pem.decode())
        if client_pem is not None:
            context.load_cert_chain(client_pem)
        self._token = token
        # No proxies from the environment: the API server is reached directly, as kubelet would on its network.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                   urllib.request.HTTPSHandler(context=context))

    def request(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
                ) -> Response:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(self.server + path, data=data, method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                return Response(answer.status, _json_or_none(answer.read()))
        except urllib.error.HTTPError as error:
            with error:
                return Response(error.code, _json_or_none(error.read()))
        except (urllib.error.URLError, OSError, TimeoutError, ssl.SSLError) as error:
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            raise Unreachable(f"cannot reach the API server {self.server}: {reason}") from None


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


# --- the simulator -----------------------------------------------------------------------------------------------


@dataclass
class Simulator:
    paths: Paths
    version: str
    binary: str
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    @classmethod
    def from_environment(cls) -> Simulator:
        paths = Paths(os.environ.get("K0S_SIM_ROOT") or "/")
        version = os.environ.get("K0S_SIM_VERSION") or DEFAULT_K0S_VERSION
        real_binary = os.environ.get("K0S_SIM_BINARY") or ""
        binary = paths.host_path(os.path.abspath(real_binary)) if real_binary else DEFAULT_BINARY
        return cls(paths, version, binary)

    # --- bookkeeping ---------------------------------------------------------------------------------------------

    def log_invocation(self, args: Sequence[str], exit_code: int) -> None:
        entry = {"argv": [self.binary, *args], "exit_code": exit_code, "time": _now(), "version": self.version}
        path = self.paths(LOG_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        path = self.paths(LOCK_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def info(self, message: str, **fields: str) -> None:
        extra = "".join(f" {k}={json.dumps(v)}" for k, v in fields.items())
        print(f'time="{_now()}" level=info msg={json.dumps(message)}{extra}', file=self.err)

    def warn(self, message: str) -> None:
        print(f'time="{_now()}" level=warning msg={json.dumps(message)}', file=self.err)

    @property
    def _k0s_agent(self) -> str:
        return f"k0s/{self.version} (linux/{go_arch()})"

    @staticmethod
    def _kubelet_agent(state: State) -> str:
        return f"kubelet/{kubelet_version(state.version)} (linux/{go_arch()}) kubernetes/0000000"

    def _unit(self, role: str) -> Path:
        return self.paths(f"{UNIT_DIR}/k0s{role}.service")

    def _installed_role(self) -> str | None:
        for role in ("controller", "worker"):
            if self._unit(role).exists():
                return role
        return None

    def _load_state(self) -> State | None:
        path = self.paths(STATE_FILE)
        try:
            return State.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as error:
            raise CommandError(f"corrupt simulator state {STATE_FILE}: {error}") from None

    def _save_state(self, state: State) -> None:
        _write(self.paths(STATE_FILE), state.to_json(), 0o600)

    def _host_info(self) -> dict[str, str]:
        try:
            data = json.loads(self.paths(HOST_INFO_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _hostname(self) -> str:
        return socket.gethostname().lower()

    # --- dispatch ------------------------------------------------------------------------------------------------

    def run(self, args: Sequence[str]) -> int:
        args = list(args)
        while args and args[0] in ("-d", "--debug", "-v", "--verbose"):
            args.pop(0)
        if not args or args[0] in ("help", "-h", "--help"):
            self._usage()
            return 0
        command, rest = args[0], args[1:]
        handlers: dict[str, Callable[[list[str]], int]] = {
            "version": self.cmd_version,
            "install": self.cmd_install,
            "start": self.cmd_start,
            "stop": self.cmd_stop,
            "status": self.cmd_status,
            "reset": self.cmd_reset,
            "etcd": self.cmd_etcd,
        }
        handler = handlers.get(command)
        if handler is None:
            if command in ("worker", "controller"):
                raise CommandError(f"the simulated k0s runs `k0s {command}` as a service only: use `k0s start`")
            raise CommandError(f'unknown command "{command}" for "k0s"\nRun \'k0s --help\' for usage.')
        return handler(rest)

    def _usage(self) -> None:
        print("k0s - Zero Friction Kubernetes (simulated)\n\nUsage:\n  k0s [command]\n\nAvailable Commands:\n"
              "  etcd        Manage etcd cluster\n  install     Install k0s on a brand-new system\n"
              "  reset       Uninstall k0s\n  start       Start the k0s service\n  status      Get k0s instance status "
              "information\n  stop        Stop the k0s service\n  version     Print the k0s version", file=self.out)

    @staticmethod
    def _no_positional(parsed: ParsedFlags, command: str) -> None:
        if parsed.positional:
            raise CommandError(f'unknown command "{parsed.positional[0]}" for "k0s {command}"')

    # --- version -------------------------------------------------------------------------------------------------

    def cmd_version(self, args: list[str]) -> int:
        parsed = parse_flags(args, VERSION_FLAGS)
        self._no_positional(parsed, "version")
        if parsed.bool("json"):
            print(json.dumps({"k0s": self.version, "kubernetes": kubelet_version(self.version)}), file=self.out)
        else:
            print(self.version, file=self.out)
        return 0

    # --- install -------------------------------------------------------------------------------------------------

    def cmd_install(self, args: list[str]) -> int:
        if not args or args[0] not in ("worker", "controller"):
            if args and not args[0].startswith("-"):
                raise CommandError(f'unknown command "{args[0]}" for "k0s install"')
            raise CommandError("k0s install needs a role: `k0s install worker` or `k0s install controller`")
        role: Role = "worker" if args[0] == "worker" else "controller"
        parsed = parse_flags(args[1:], WORKER_INSTALL_FLAGS if role == "worker" else CONTROLLER_INSTALL_FLAGS)
        self._no_positional(parsed, f"install {role}")
        with self._locked():
            unit = self._unit(role)
            if unit.exists() and not parsed.bool("force"):
                raise CommandError(f"failed to install k0s service: Init already exists: k0s{role}")
            other = "controller" if role == "worker" else "worker"
            if self._unit(other).exists():
                raise CommandError(f"failed to install k0s service: k0s is installed as a {other} here "
                                   "(run `k0s reset` first)")
            token_file = parsed.string("token-file")
            bootstrap_kubeconfig, server = self._check_join_token(role, token_file)
            state = self._new_state(role, parsed, args[1:], server)
            previous = self._load_state()
            if previous is not None and unit.exists():
                state.running, state.pid, state.started_at = previous.running, previous.pid, previous.started_at
                state.node_registered = previous.node_registered
            if bootstrap_kubeconfig is not None and role == "worker":
                # What the kubelet bootstraps with (a controller's token is for k0s's join API only).
                _write(self.paths(BOOTSTRAP_KUBECONFIG), bootstrap_kubeconfig, 0o600)
            self._save_state(state)
            _write(unit, self._unit_text(role, args[1:], state), 0o644)
        self.info("Installing k0s service", role=role)
        return 0

    def _check_join_token(self, role: Role, token_file: str) -> tuple[str | None, str]:
        """(bootstrap kubeconfig, server) of the join token after checking it with its API server; (None, "") for
        a controller without a token (the first controller)."""
        from ... import pki, tokens  # deferred: only install needs the YAML and X.509 machinery

        if not token_file:
            if role == "worker":
                raise CommandError("no join token given: a worker needs --token-file")
            return None, ""
        try:
            text = self.paths(token_file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CommandError(f"failed to read join token file {token_file}: no such file or directory") from None
        except OSError as error:
            raise CommandError(f"failed to read join token file {token_file}: {error.strerror}") from None
        try:
            join = tokens.decode_join_token(text)
        except tokens.InvalidJoinToken as error:
            raise CommandError(f"invalid join token in {token_file}: {error}") from None
        expected = tokens.JOIN_TOKEN_USERS[role]
        if join.user != expected:
            raise CommandError(f"invalid join token in {token_file}: it is a {join.role} token, a {role} needs a "
                               f"{role} token")
        client = ApiClient(join.server, join.ca_pem, token=str(join.token), user_agent=self._k0s_agent)
        try:
            if role == "worker":
                # A request the bootstrap token is actually authorized for: the kubelet's CSR calls.
                response = client.request("GET", f"{CSR_PATH}?limit=1")
            else:
                # A controller token authenticates to k0s's join API, not to kube-apiserver: only the server and
                # its certificate are checked.
                response = client.request("GET", "/version")
        except Unreachable as error:
            raise CommandError(f"failed to validate join token: {error}") from None
        if response.status == 401:
            raise CommandError(f"failed to validate join token: invalid join token: the API server {join.server} "
                               "rejected its bootstrap token (401 Unauthorized)")
        if response.status >= 400 and response.status != 403:
            raise CommandError(f"failed to validate join token: the API server {join.server} answered "
                               f"{response.status}: {response.message}")
        kubeconfig = pki.kubeconfig_yaml(tokens.JOIN_TOKEN_CLUSTER, join.server, join.ca_pem, user=join.user,
                                         token=str(join.token), context=tokens.JOIN_TOKEN_CLUSTER)
        return kubeconfig, join.server

    def _new_state(self, role: Role, parsed: ParsedFlags, args: list[str], server: str) -> State:
        extra = parsed.string("kubelet-extra-args")
        kubelet = kubelet_flags(extra)
        node_name = (kubelet.get("hostname-override") or self._hostname()).lower()
        labels: dict[str, str] = {}
        for item in parsed.strings("labels"):
            key, _, value = item.partition("=")
            if not key:
                raise CommandError(f'invalid label "{item}": expected key=value')
            labels[key] = value
        taints = [parse_taint(item) for item in parsed.strings("taints")]
        env: dict[str, str] = {}
        for item in parsed.strings("env"):
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise CommandError(f'invalid environment variable "{key or item}": expected KEY=VALUE')
            env[key] = value
        return State(
            role=role,
            version=self.version,
            binary=self.binary,
            args=list(args),
            enable_worker=parsed.bool("enable-worker"),
            single=parsed.bool("single"),
            node_name=node_name,
            labels=labels,
            taints=taints,
            provider_id=kubelet.get("provider-id", ""),
            node_ip=kubelet.get("node-ip", ""),
            kubelet_extra_args=extra,
            server=server,
            token_file=parsed.string("token-file"),
            config_file=parsed.string("config"),
            env=env,
            machine_id=uuid.uuid4().hex,
            installed_at=_now(),
        )

    def _unit_text(self, role: str, args: list[str], state: State) -> str:
        exec_start = shlex.join([self.binary, role, *args])
        environment = "".join(f"Environment={shlex.quote(f'{k}={v}')}\n" for k, v in state.env.items())
        return (
            "[Unit]\nDescription=k0s - Zero Friction Kubernetes\nDocumentation=https://docs.k0sproject.io\n"
            f"ConditionFileIsExecutable={self.binary}\n\nAfter=network-online.target\nWants=network-online.target\n\n"
            f"[Service]\nStartLimitInterval=5\nStartLimitBurst=10\n{environment}ExecStart={exec_start}\n\n"
            "RestartSec=10\nDelegate=yes\nKillMode=process\nLimitCORE=infinity\nTasksMax=infinity\n"
            "TimeoutStartSec=0\nLimitNOFILE=999999\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n"
        )

    # --- start / stop / status -----------------------------------------------------------------------------------

    def _require_installed(self, action: str) -> State:
        role = self._installed_role()
        state = self._load_state()
        if role is None or state is None:
            raise CommandError(f"failed to {action}: k0s service not installed, run `k0s install` first")
        return state

    def cmd_start(self, args: list[str]) -> int:
        parsed = parse_flags(args, SERVICE_FLAGS)
        self._no_positional(parsed, "start")
        with self._locked():
            state = self._require_installed("start")
            if state.running:
                return 0
            state.version = self.version
            if state.runs_workloads:
                state.node_registered = self._register_node(state)
            state.running = True
            state.pid = os.getpid()
            state.started_at = _now()
            self._save_state(state)
        return 0

    def cmd_stop(self, args: list[str]) -> int:
        parsed = parse_flags(args, SERVICE_FLAGS)
        self._no_positional(parsed, "stop")
        with self._locked():
            state = self._require_installed("stop")
            if not state.running:
                return 0
            state.running = False
            state.stopped_at = _now()
            self._save_state(state)
            if state.runs_workloads and state.node_registered:
                self._report_stopped(state)
        return 0

    def cmd_status(self, args: list[str]) -> int:
        parsed = parse_flags(args, STATUS_FLAGS)
        self._no_positional(parsed, "status")
        state = self._load_state()
        if state is None or self._installed_role() is None or not state.running:
            raise CommandError(f'status: can\'t get "status" via "{RUN_K0S}/status.sock": k0s not running')
        info = {
            "Version": state.version,
            "Pid": state.pid,
            "Role": state.role,
            "SysInit": "linux-systemd",
            "StubFile": str(UNIT_DIR + f"/k0s{state.role}.service"),
            "Workloads": state.runs_workloads,
            "SingleNode": state.single,
        }
        output = parsed.string("out")
        if output == "json":
            print(json.dumps(info, indent=2), file=self.out)
        elif output == "yaml":
            print("\n".join(f"{k}: {json.dumps(v) if isinstance(v, bool | int) else v}" for k, v in info.items()),
                  file=self.out)
        else:
            print(f"Version: {state.version}\nProcess ID: {state.pid}\nRole: {state.role}\n"
                  f"Workloads: {str(state.runs_workloads).lower()}\nSingleNode: {str(state.single).lower()}",
                  file=self.out)
            if state.runs_workloads:
                print("Kube-api probing successful: true\nKube-api probing last error:  ", file=self.out)
        return 0

    # --- reset ---------------------------------------------------------------------------------------------------

    def cmd_reset(self, args: list[str]) -> int:
        parsed = parse_flags(args, RESET_FLAGS)
        self._no_positional(parsed, "reset")
        with self._locked():
            state = self._load_state()
            if state is not None and state.running and self._installed_role() is not None:
                raise CommandError("k0s seems to be running! please stop k0s before reset.")
            if state is not None and state.runs_workloads and state.node_registered:
                self._delete_node(state)
            targets = [DATA_DIR, ETC_K0S, RUN_K0S, f"{UNIT_DIR}/k0sworker.service",
                       f"{UNIT_DIR}/k0scontroller.service"]
            for option in ("data-dir", "kubelet-root-dir"):
                if parsed.string(option):
                    targets.append(parsed.string(option))
            for target in targets:
                path = self.paths(target)
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
        self.info("k0s cleanup operations done.")
        print("WARNING: To ensure a full reset, a node reboot is recommended.", file=self.err)
        return 0

    # --- etcd leave ----------------------------------------------------------------------------------------------

    def cmd_etcd(self, args: list[str]) -> int:
        if not args or args[0] != "leave":
            if args and not args[0].startswith("-"):
                raise CommandError(f'unknown command "{args[0]}" for "k0s etcd"')
            raise CommandError("k0s etcd needs a subcommand: leave")
        parsed = parse_flags(args[1:], ETCD_LEAVE_FLAGS)
        self._no_positional(parsed, "etcd leave")
        with self._locked():
            role = self._installed_role()
            state = self._load_state()
            if role is None or state is None:
                raise CommandError("etcd leave is a controller command: k0s is not installed here")
            if state.role != "controller":
                raise CommandError("etcd leave is a controller command: this node is a worker")
            peer = parsed.string("peer-address") or self._host_info().get("address", "") or "127.0.0.1"
            state.etcd_left = True
            state.etcd_peer_address = peer
            self._save_state(state)
        self.info("Successfully removed the peer from the etcd cluster", peerAddress=peer)
        return 0

    # --- the kubelet's part --------------------------------------------------------------------------------------

    def _register_node(self, state: State) -> bool:
        """Get a node identity and register the Node; False when a controller has no way to (warned)."""
        identity = self._node_identity(state)
        if identity is None:
            return False
        server, ca_pem = identity
        client = ApiClient(server, ca_pem, client_pem=self.paths(KUBELET_CLIENT_PEM),
                           user_agent=self._kubelet_agent(state))
        name = state.node_name
        try:
            current = client.request("GET", f"/api/v1/nodes/{name}")
            metadata_labels = {**standard_node_labels(name), **state.labels}
            if state.role == "controller":
                metadata_labels[CONTROL_PLANE_LABEL] = "true"
            taints = list(state.taints)
            if state.role == "controller" and not self._no_taints(state):
                taints.append(dict(CONTROLLER_TAINT))
            if current.status == 404:
                node: dict[str, Any] = {"apiVersion": "v1", "kind": "Node",
                                        "metadata": {"name": name, "labels": metadata_labels}, "spec": {}}
                if state.provider_id:
                    node["spec"]["providerID"] = state.provider_id
                if taints:
                    node["spec"]["taints"] = taints
                created = client.request("POST", "/api/v1/nodes", node)
                _expect(created, (201,), f"register node {name}")
            elif current.status == 200:
                patch: dict[str, Any] = {"metadata": {"labels": metadata_labels}}
                spec = (current.body or {}).get("spec") or {}
                if state.provider_id and not spec.get("providerID"):
                    patch["spec"] = {"providerID": state.provider_id}
                if taints:
                    patch.setdefault("spec", {})["taints"] = taints
                _expect(client.request("PATCH", f"/api/v1/nodes/{name}", patch, content_type=MERGE_PATCH),
                        (200,), f"update node {name}")
            else:
                _expect(current, (200,), f"read node {name}")
            status = self._node_status(state, ready=True)
            _expect(client.request("PATCH", f"/api/v1/nodes/{name}/status", {"status": status},
                                   content_type=MERGE_PATCH), (200,), f"report the status of node {name}")
        except Unreachable as error:
            raise CommandError(f"failed to register node {name}: {error}") from None
        self.info("Node registered", node=name)
        return True

    @staticmethod
    def _no_taints(state: State) -> bool:
        return "--no-taints" in state.args or "--no-taints=true" in state.args or state.single

    def _node_identity(self, state: State) -> tuple[str, bytes] | None:
        """(server, CA) with a valid kubelet client certificate at KUBELET_CLIENT_PEM, bootstrapping one if needed."""
        existing = self._kubelet_kubeconfig()
        if existing is not None and self._valid_client_certificate(state, existing[1]):
            return existing
        bootstrap = self._bootstrap_kubeconfig() if state.role == "worker" else None
        if bootstrap is not None:
            server, ca_pem, token = bootstrap
            self._bootstrap_client_certificate(state, server, ca_pem, token)
            self._write_kubelet_kubeconfig(server, ca_pem)
            return server, ca_pem
        if state.role == "controller":
            issued = self._self_issued_client_certificate(state)
            if issued is not None:
                self._write_kubelet_kubeconfig(*issued)
                return issued
            self.warn("not registering this controller's node: it needs the cluster CA in "
                      f"{DATA_DIR}/pki and an API address (k0s config spec.api, or the join token's server)")
            return None
        raise CommandError(f"no bootstrap kubeconfig at {BOOTSTRAP_KUBECONFIG}: reinstall with --token-file")

    def _kubelet_kubeconfig(self) -> tuple[str, bytes] | None:
        config = _load_yaml(self.paths(KUBELET_KUBECONFIG))
        cluster = _first_cluster(config)
        if cluster is None or not self.paths(KUBELET_CLIENT_PEM).exists():
            return None
        return cluster

    def _bootstrap_kubeconfig(self) -> tuple[str, bytes, str] | None:
        config = _load_yaml(self.paths(BOOTSTRAP_KUBECONFIG))
        cluster = _first_cluster(config)
        users = config.get("users") if isinstance(config, dict) else None
        if cluster is None or not isinstance(users, list) or not users or not isinstance(users[0], dict):
            return None
        token = (users[0].get("user") or {}).get("token")
        if not isinstance(token, str):
            return None
        return cluster[0], cluster[1], token

    def _valid_client_certificate(self, state: State, ca_pem: bytes) -> bool:
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        try:
            certificate = x509.load_pem_x509_certificate(self.paths(KUBELET_CLIENT_PEM).read_bytes())
            ca = x509.load_pem_x509_certificate(ca_pem)
            certificate.verify_directly_issued_by(ca)
        except Exception:  # unreadable, unparsable or not issued by this CA
            return False
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        still_valid = certificate.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
        return bool(names) and names[0].value == f"system:node:{state.node_name}" and still_valid

    def _bootstrap_client_certificate(self, state: State, server: str, ca_pem: bytes, token: str) -> None:
        """The kubelet's TLS bootstrap: a CSR made with the bootstrap token, waited for until signed."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                             x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{state.node_name}")])
        request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
        public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        # The kubelet names it node-csr-<base64url digest>; kube-apiserver takes any CSR name, envtest only DNS
        # subdomains, so the digest is spelled in hex.
        name = "node-csr-" + hashlib.sha256(public + state.node_name.encode()).hexdigest()[:40]
        body = {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {
                "request": base64.b64encode(request.public_bytes(serialization.Encoding.PEM)).decode(),
                "signerName": KUBELET_CLIENT_SIGNER,
                "usages": ["digital signature", "client auth"],
            },
        }
        client = ApiClient(server, ca_pem, token=token, user_agent=self._kubelet_agent(state))
        try:
            created = client.request("POST", CSR_PATH, body)
            if created.status == 401:
                raise CommandError(f"failed to bootstrap the kubelet: the API server {server} rejected the "
                                   "bootstrap token (401 Unauthorized): invalid or expired join token")
            _expect(created, (201, 409), "create the kubelet's certificate signing request")
            certificate = self._await_certificate(client, name)
        except Unreachable as error:
            raise CommandError(f"failed to bootstrap the kubelet: {error}") from None
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
        _write(self.paths(KUBELET_CLIENT_PEM), certificate + key_pem, 0o600)
        self.info("Client certificate issued", csr=name)

    def _await_certificate(self, client: ApiClient, name: str) -> bytes:
        deadline = time.monotonic() + _env_float("K0S_SIM_CSR_TIMEOUT_S", 30.0)
        interval = 0.05
        while True:
            response = client.request("GET", f"{CSR_PATH}/{name}")
            _expect(response, (200,), f"read certificate signing request {name}")
            status = (response.body or {}).get("status") or {}
            if status.get("certificate"):
                return base64.b64decode(status["certificate"])
            for condition in status.get("conditions") or ():
                if condition.get("type") in ("Denied", "Failed"):
                    raise CommandError(f"certificate signing request {name} was {condition['type'].lower()}: "
                                       f"{condition.get('message', '')}")
            if time.monotonic() > deadline:
                raise CommandError(f"certificate signing request {name} was not signed in time (still pending: "
                                   "is it approved?)")
            time.sleep(interval)
            interval = min(interval * 2, 0.5)

    def _self_issued_client_certificate(self, state: State) -> tuple[str, bytes] | None:
        """A controller that holds the cluster CA (the first controller gets it in its bootstrap data) signs its own
        kubelet's certificate, as k0s's controller does for its worker; the API address is the k0s config's."""
        from ... import pki

        try:
            ca = pki.KeyPair(self.paths(CONTROLLER_CA_CERT).read_bytes(), self.paths(CONTROLLER_CA_KEY).read_bytes())
        except OSError:
            return None
        server = self._config_api_server(state)
        if server is None:
            return None
        client = pki.issue_certificate(ca, f"system:node:{state.node_name}", usage="client",
                                       organizations=["system:nodes"], algorithm="ecdsa-p256")
        _write(self.paths(KUBELET_CLIENT_PEM), client.cert_pem + client.key_pem, 0o600)
        return server, ca.cert_pem

    def _config_api_server(self, state: State) -> str | None:
        """The kube-apiserver address: the k0s config's spec.api (externalAddress, else address; port, else
        6443), else the host of the join token's server (k0s's join API) on 6443."""
        config = _load_yaml(self.paths(state.config_file)) if state.config_file else None
        api = ((config or {}).get("spec") or {}).get("api") if isinstance(config, dict) else None
        api = api if isinstance(api, dict) else {}
        host = api.get("externalAddress") or api.get("address")
        if not isinstance(host, str) or not host:
            host = urllib.parse.urlsplit(state.server).hostname if state.server else None
        if not host:
            return None
        port = api.get("port", 6443)
        return f"https://{host}:{port}" if ":" not in host else f"https://[{host}]:{port}"

    def _write_kubelet_kubeconfig(self, server: str, ca_pem: bytes) -> None:
        from ... import pki

        config = {
            "apiVersion": "v1",
            "clusters": [{"cluster": {"certificate-authority-data": base64.b64encode(ca_pem).decode(),
                                      "server": server}, "name": "default-cluster"}],
            "contexts": [{"context": {"cluster": "default-cluster", "namespace": "default", "user": "default-auth"},
                          "name": "default-context"}],
            "current-context": "default-context",
            "kind": "Config",
            "preferences": {},
            "users": [{"name": "default-auth", "user": {"client-certificate": KUBELET_CLIENT_PEM,
                                                        "client-key": KUBELET_CLIENT_PEM}}],
        }
        _write(self.paths(KUBELET_KUBECONFIG), pki.dump_yaml(config), 0o600)

    def _node_client(self, user_agent: str) -> ApiClient | None:
        identity = self._kubelet_kubeconfig()
        if identity is None:
            return None
        timeout = min(_env_float("K0S_SIM_API_TIMEOUT_S", 10.0), 5.0)
        try:
            return ApiClient(identity[0], identity[1], client_pem=self.paths(KUBELET_CLIENT_PEM), timeout=timeout,
                             user_agent=user_agent)
        except (ssl.SSLError, OSError, ValueError):
            return None

    def _report_stopped(self, state: State) -> None:
        """What the node lifecycle controller reports once the kubelet stops posting status (best effort)."""
        client = self._node_client(self._kubelet_agent(state))
        if client is None:
            return
        now = _now()
        conditions = [{"type": t, "status": "Unknown", "reason": "NodeStatusUnknown",
                       "message": "Kubelet stopped posting node status.", "lastHeartbeatTime": now,
                       "lastTransitionTime": now}
                      for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")]
        try:
            response = client.request("PATCH", f"/api/v1/nodes/{state.node_name}/status",
                                      {"status": {"conditions": conditions}}, content_type=MERGE_PATCH)
        except Unreachable as error:
            self.warn(f"could not mark node {state.node_name} NotReady: {error}")
            return
        if response.status != 200:
            self.warn(f"could not mark node {state.node_name} NotReady: {response.message}")

    def _delete_node(self, state: State) -> None:
        client = self._node_client(self._k0s_agent)
        if client is None:
            self.warn(f"not deleting node {state.node_name}: no node credentials")
            return
        try:
            response = client.request("DELETE", f"/api/v1/nodes/{state.node_name}")
        except Unreachable as error:
            self.warn(f"could not delete node {state.node_name}: {error}")
            return
        if response.status in (200, 202):
            self.info("Node deleted", node=state.node_name)
        else:
            self.warn(f"could not delete node {state.node_name}: {response.status} {response.message}")

    def _node_status(self, state: State, *, ready: bool) -> dict[str, Any]:
        now = _now()
        address = state.node_ip or self._host_info().get("address") or "127.0.0.1"
        capacity = machine_capacity()

        def condition(type_: str, status: str, reason: str, message: str) -> dict[str, str]:
            return {"type": type_, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": now, "lastTransitionTime": now}

        return {
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                          "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True" if ready else "False", "KubeletReady" if ready else "KubeletNotReady",
                          "kubelet is posting ready status" if ready else "kubelet is not ready"),
            ],
            "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": state.node_name}],
            "capacity": capacity,
            "allocatable": capacity,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": state.machine_id,
                "systemUUID": str(uuid.UUID(state.machine_id)),
                "bootID": str(uuid.uuid4()),
                "kernelVersion": platform.release(),
                "osImage": self._os_image(),
                "containerRuntimeVersion": "containerd://1.7.27",
                "kubeletVersion": kubelet_version(state.version),
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": go_arch(),
            },
        }

    def _os_image(self) -> str:
        for candidate in (self.paths("/etc/os-release"), Path("/etc/os-release")):
            try:
                for line in candidate.read_text(encoding="utf-8").splitlines():
                    if line.startswith("PRETTY_NAME="):
                        return line.partition("=")[2].strip().strip('"')
            except OSError:
                continue
        return "Linux"


def _expect(response: Response, codes: tuple[int, ...], what: str) -> None:
    if response.status not in codes:
        raise CommandError(f"failed to {what}: {response.status} {response.message}")


def _load_yaml(path: Path) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError):
        return None


def _first_cluster(config: Any) -> tuple[str, bytes] | None:
    if not isinstance(config, dict):
        return None
    clusters = config.get("clusters")
    if not isinstance(clusters, list) or not clusters or not isinstance(clusters[0], dict):
        return None
    cluster = clusters[0].get("cluster") or {}
    server, ca = cluster.get("server"), cluster.get("certificate-authority-data")
    if not isinstance(server, str) or not isinstance(ca, str):
        return None
    try:
        return server, base64.b64decode(ca, validate=True)
    except ValueError:
        return None


# --- helpers -------------------------------------------------------------------------------------------------------


def kubelet_flags(extra_args: str) -> dict[str, str]:
    """`--name=value` / `--name value` pairs of a kubelet argument string (`--kubelet-extra-args`)."""
    try:
        words = shlex.split(extra_args)
    except ValueError:
        words = extra_args.split()
    result: dict[str, str] = {}
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if not word.startswith("--"):
            continue
        name, eq, value = word[2:].partition("=")
        if not eq and index < len(words) and not words[index].startswith("--"):
            value = words[index]
            index += 1
        result[name] = value
    return result


def parse_taint(text: str) -> dict[str, str]:
    """`key=value:Effect` or `key:Effect`, as `--taints` takes them."""
    spec, colon, effect = text.rpartition(":")
    if not colon or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        raise CommandError(f'invalid taint "{text}": expected key[=value]:NoSchedule|PreferNoSchedule|NoExecute')
    key, eq, value = spec.partition("=")
    taint = {"key": key, "effect": effect}
    if eq:
        taint["value"] = value
    return taint


def kubelet_version(k0s_version: str) -> str:
    """`v1.27.2+k0s.0` → `v1.27.2+k0s`, as a k0s kubelet reports itself."""
    base, plus, build = k0s_version.partition("+")
    if plus and build.startswith("k0s"):
        return f"{base}+k0s"
    return k0s_version


def go_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}.get(
        machine, machine)


def standard_node_labels(name: str) -> dict[str, str]:
    arch = go_arch()
    return {"beta.kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}


def machine_capacity() -> dict[str, str]:
    memory = "8009468Ki"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1])}Ki"
                break
    storage = "61202244Ki"
    with contextlib.suppress(OSError):
        storage = f"{shutil.disk_usage('/').total // 1024}Ki"
    return {"cpu": str(os.cpu_count() or 1), "ephemeral-storage": storage, "hugepages-1Gi": "0",
            "hugepages-2Mi": "0", "memory": memory, "pods": "110"}


def main(argv: Sequence[str] | None = None) -> int:
    """The `k0s` command line; returns the exit code. Every invocation is logged, whatever its outcome."""
    args = list(sys.argv[1:] if argv is None else argv)
    simulator = Simulator.from_environment()
    code = 1
    try:
        code = simulator.run(args)
    except CommandError as error:
        print(f"Error: {error}", file=simulator.err)
        code = error.exit_code
    except KeyboardInterrupt:
        code = 130
    except Exception as error:  # a simulator bug: report it without a traceback (which could carry file contents)
        print(f"Error: internal error of the simulated k0s: {type(error).__name__}: {error}", file=simulator.err)
        if os.environ.get("K0S_SIM_DEBUG"):
            traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(OSError):
            simulator.log_invocation(args, code)
    return code
