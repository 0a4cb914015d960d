"""Kubeconfigs and the in-cluster service account, read into what the HTTP transport needs (no kubernetes-asyncio).

    config = load(None)                                   # controller-runtime's order, see `load`
    config = from_file("~/.kube/config", context="kind-dev")
    config = from_dict(kubeconfig)                        # e.g. a `<cluster>-kubeconfig` Secret's value, parsed
    config = in_cluster()

A `ClientConfig` is the server URL, an `ssl.SSLContext` (CA, client certificate, insecure-skip-tls-verify), the
TLS server name and `Credentials` giving the `Authorization` header of each request: a static token or basic auth,
a token file re-read every minute (kubelet rotates projected service-account tokens), or an exec plugin's
ExecCredential token, cached until its `expirationTimestamp`.

Supported as kubectl does: `current-context` or a named context; `server`, `certificate-authority(-data)`,
`insecure-skip-tls-verify`, `tls-server-name`; `client-certificate(-data)`, `client-key(-data)`, `token`,
`tokenFile`, `username`/`password`, `exec` (token credentials); file paths relative to the kubeconfig's directory;
`$KUBECONFIG` lists merged (the first file to define a name wins, as does the first `current-context`).
Refused with a one-line `ConfigException`: `auth-provider` plugins, `proxy-url`, `act-as` impersonation, an exec
plugin that answers with a client certificate or needs a terminal, more than one authentication method.

Error messages name the file, context, cluster or user and the feature, never a key, token or the YAML's content.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import json
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_FILE_REFRESH_S = 60.0
"""How long a token read from a file is used before the file is read again (client-go's cachingTokenSource)."""
EXEC_TIMEOUT_S = 30.0
"""How long an exec credential plugin may run."""
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")

_PATH_KEYS_CLUSTER = ("certificate-authority",)
_PATH_KEYS_USER = ("client-certificate", "client-key", "tokenFile")


class ConfigException(ValueError):
    """The kubeconfig or the in-cluster environment cannot be used. Named as the Kubernetes Python clients' error,
    so the providers' error lines read as before; the message never contains key, token or YAML content."""


class ParserError(ConfigException):
    """The kubeconfig is not YAML: the parser's complaint and position, without the snippet of content it quotes."""


class NoConfiguration(ConfigException):
    """Not in a cluster, `$KUBECONFIG` names no existing file and `~/.kube/config` does not exist."""


class Credentials(Protocol):
    async def authorization(self) -> str:
        """The `Authorization` header value for the next request."""
        ...


@dataclass(frozen=True)
class StaticAuthorization:
    """A bearer token or basic auth from the kubeconfig itself."""

    header: str = field(repr=False)

    async def authorization(self) -> str:
        return self.header


class TokenFile:
    """A bearer token in a file, re-read every `refresh_s` (the last good token is kept if a re-read fails)."""

    def __init__(self, path: Path, *, refresh_s: float = TOKEN_FILE_REFRESH_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._refresh_s = refresh_s
        self._clock = clock
        self._token = self._read()
        self._read_at = clock()

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    def _read(self) -> str:
        try:
            token = self.path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigException(f"cannot read the token file {self.path} ({type(error).__name__})") from None
        if not token:
            raise ConfigException(f"the token file {self.path} is empty")
        return token

    async def authorization(self) -> str:
        now = self._clock()
        if now - self._read_at >= self._refresh_s:
            self._read_at = now
            # A rotation is an atomic rename by kubelet, so a failed read is a transient problem: keep the old one.
            with contextlib.suppress(ConfigException):
                self._token = self._read()
        return f"Bearer {self._token}"


@dataclass(frozen=True)
class ExecConfig:
    """A user's `exec` stanza (client.authentication.k8s.io): the command and what it is told."""

    command: str
    api_version: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    install_hint: str = ""
    cluster: Mapping[str, Any] | None = field(default=None, repr=False)
    """The cluster's ExecCredential `spec.cluster` when `provideClusterInfo` is set."""


class ExecPlugin:
    """Runs an exec credential plugin for a token, and again once its `expirationTimestamp` has passed."""

    def __init__(self, config: ExecConfig, *, timeout_s: float = EXEC_TIMEOUT_S,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.config = config
        self._timeout_s = timeout_s
        self._now = now
        self._token: str | None = None
        self._expires: dt.datetime | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"ExecPlugin({self.config.command!r})"

    async def authorization(self) -> str:
        async with self._lock:
            if self._token is None or (self._expires is not None and self._now() >= self._expires):
                self._token, self._expires = await self._run()
            return f"Bearer {self._token}"

    async def _run(self) -> tuple[str, dt.datetime | None]:
        name = f"exec plugin {self.config.command!r}"
        spec: dict[str, Any] = {"interactive": False}
        if self.config.cluster is not None:
            spec["cluster"] = dict(self.config.cluster)
        info = {"apiVersion": self.config.api_version, "kind": "ExecCredential", "spec": spec}
        env = {**os.environ, **dict(self.config.env), "KUBERNETES_EXEC_INFO": json.dumps(info)}
        try:
            process = await asyncio.create_subprocess_exec(
                self.config.command, *self.config.args, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as error:
            hint = f"; {self.config.install_hint.strip()}" if self.config.install_hint.strip() else ""
            raise ConfigException(f"{name} cannot be run ({type(error).__name__}){hint}") from None
        try:
            stdout, _stderr = await asyncio.wait_for(process.communicate(), self._timeout_s)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise ConfigException(f"{name} did not answer within {self._timeout_s:g}s") from None
        if process.returncode != 0:
            # Its stderr is not repeated: a plugin may print anything there.
            raise ConfigException(f"{name} failed with exit status {process.returncode}")
        return self._parse(name, stdout)

    def _parse(self, name: str, output: bytes) -> tuple[str, dt.datetime | None]:
        try:
            credential = json.loads(output)
        except ValueError:
            raise ConfigException(f"{name} did not print an ExecCredential (not JSON)") from None
        if not isinstance(credential, dict) or credential.get("kind") != "ExecCredential":
            raise ConfigException(f"{name} did not print an ExecCredential")
        if credential.get("apiVersion") != self.config.api_version:
            raise ConfigException(f"{name} answered with apiVersion {str(credential.get('apiVersion'))[:80]!r}, "
                                  f"not {self.config.api_version!r}")
        status = credential.get("status")
        if not isinstance(status, dict):
            raise ConfigException(f"{name} printed an ExecCredential without status")
        token = status.get("token")
        if not isinstance(token, str) or not token:
            if status.get("clientCertificateData") or status.get("clientKeyData"):
                raise ConfigException(f"{name} answered with a client certificate: not supported, only tokens")
            raise ConfigException(f"{name} printed an ExecCredential without status.token")
        expires: dt.datetime | None = None
        stamp = status.get("expirationTimestamp")
        if stamp:
            try:
                expires = dt.datetime.fromisoformat(str(stamp))
            except ValueError:
                raise ConfigException(f"{name}: expirationTimestamp is not an RFC 3339 time") from None
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=dt.UTC)
        return token, expires


@dataclass(frozen=True)
class ClientConfig:
    """Where the API server is and how to talk to it."""

    server: str
    """`https://host:port` (and any path prefix), without a trailing slash."""
    ssl_context: ssl.SSLContext | None
    """None for an `http://` server."""
    credentials: Credentials | None = None
    tls_server_name: str | None = None
    """The name to send (SNI) and to verify the serving certificate for, when not the server URL's host."""
    context: str = ""
    """The kubeconfig context used; "" in-cluster."""


# --- parsing and merging ---------------------------------------------------------------------------------------

def parse_kubeconfig(text: str | bytes, *, source: str = "the kubeconfig") -> dict[str, Any]:
    """YAML (or JSON) text as a mapping; a `ParserError` naming the problem and position, not the content."""
    try:
        document = YAML(typ="safe", pure=True).load(text)
    except MarkedYAMLError as error:
        parts = [str(part) for part in (error.context, error.problem) if part]
        if type(error).__name__ not in ("ParserError", "ScannerError", "ComposerError"):
            parts = [f"invalid YAML ({type(error).__name__})"]  # constructor errors quote values
        mark = error.problem_mark or error.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ParserError("; ".join(part[:160] for part in parts) + where) from None
    except (YAMLError, UnicodeDecodeError, ValueError) as error:
        raise ParserError(f"{source} is not YAML ({type(error).__name__})") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigException(f"{source} is not a mapping but a {type(document).__name__}")
    return document


def _entries(kubeconfig: Mapping[str, Any], section: str, key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    entries = kubeconfig.get(section) or []
    if not isinstance(entries, list):
        raise ConfigException(f"{section} is not a list")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ConfigException(f"an entry of {section} has no name")
        body = entry.get(key) or {}
        if not isinstance(body, dict):
            raise ConfigException(f"{section[:-1]} {entry['name']!r}: {key} is not a mapping")
        yield entry["name"], body


def _absolute_paths(kubeconfig: Mapping[str, Any], base_dir: Path) -> dict[str, Any]:
    """A copy with the relative file paths of clusters and users resolved against `base_dir` (as kubectl does)."""

    def resolve(body: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
        body = dict(body)
        for key in keys:
            value = body.get(key)
            if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
                body[key] = str(base_dir / value)
        exec_ = body.get("exec")
        if isinstance(exec_, dict) and isinstance(exec_.get("command"), str):
            command: str = exec_["command"]
            if os.sep in command and not os.path.isabs(command):  # "./bin/plugin", not a name looked up in PATH
                body["exec"] = {**exec_, "command": str(base_dir / command)}
        return body

    result = dict(kubeconfig)
    result["clusters"] = [{"name": name, "cluster": resolve(body, _PATH_KEYS_CLUSTER)}
                          for name, body in _entries(kubeconfig, "clusters", "cluster")]
    result["users"] = [{"name": name, "user": resolve(body, _PATH_KEYS_USER)}
                       for name, body in _entries(kubeconfig, "users", "user")]
    return result


def merge_kubeconfigs(kubeconfigs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """kubectl's merge of `$KUBECONFIG` files: per name, the first cluster, user and context wins; so does the
    first `current-context`."""
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    for section, key in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
        seen: set[str] = set()
        for kubeconfig in kubeconfigs:
            for name, body in _entries(kubeconfig, section, key):
                if name not in seen:
                    seen.add(name)
                    merged[section].append({"name": name, key: body})
    for kubeconfig in kubeconfigs:
        if kubeconfig.get("current-context"):
            merged["current-context"] = kubeconfig["current-context"]
            break
    return merged


# --- building the configuration --------------------------------------------------------------------------------

def _text(body: Mapping[str, Any], key: str, where: str) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigException(f"{where}: {key} is not a string")
    return value


def _b64(body: Mapping[str, Any], key: str, where: str) -> bytes | None:
    value = _text(body, key, where)
    if value is None:
        return None
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigException(f"{where}: {key} is not base64") from None


def _file(path: str, what: str, where: str) -> Path:
    resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise ConfigException(f"{where}: {what} {resolved} does not exist")
    return resolved


@contextlib.contextmanager
def _private_file(data: bytes) -> Iterator[str]:
    """`data` under a path `load_cert_chain` can read, for as short as possible: an anonymous memory file on
    Linux (never on disk), else a 0600 temporary file deleted on exit."""
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("k0smotron-kubeconfig", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    handle, path = tempfile.mkstemp(prefix="k0smotron-kubeconfig-")
    try:
        os.write(handle, data)
        os.close(handle)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.close(handle)
        os.unlink(path)


def _load_client_certificate(context: ssl.SSLContext, user: Mapping[str, Any], where: str) -> None:
    cert_data = _b64(user, "client-certificate-data", where)
    key_data = _b64(user, "client-key-data", where)
    cert_path = _text(user, "client-certificate", where)
    key_path = _text(user, "client-key", where)
    has_cert, has_key = cert_data is not None or cert_path is not None, key_data is not None or key_path is not None
    if not has_cert and not has_key:
        return
    if has_cert != has_key:
        raise ConfigException(f"{where}: a client certificate needs both a certificate and a key")
    try:
        with contextlib.ExitStack() as stack:
            certfile = (stack.enter_context(_private_file(cert_data)) if cert_data is not None
                        else str(_file(str(cert_path), "client-certificate", where)))
            keyfile = (stack.enter_context(_private_file(key_data)) if key_data is not None
                       else str(_file(str(key_path), "client-key", where)))
            context.load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as error:  # "[SSL] PEM lib", "KEY_VALUES_MISMATCH": never the content
        detail = getattr(error, "reason", None) or error.strerror or "unreadable"
        raise ConfigException(f"{where}: the client certificate and key cannot be loaded "
                              f"({type(error).__name__}: {detail})") from None


def _ssl_context(cluster: Mapping[str, Any], where: str) -> ssl.SSLContext:
    insecure = cluster.get("insecure-skip-tls-verify") is True
    ca_data = _b64(cluster, "certificate-authority-data", where)
    ca_path = _text(cluster, "certificate-authority", where)
    if insecure and (ca_data is not None or ca_path is not None):
        raise ConfigException(f"{where}: a certificate authority and insecure-skip-tls-verify together are not "
                              "allowed (as in kubectl)")
    if insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        if ca_data is not None:
            return ssl.create_default_context(cadata=ca_data.decode("ascii"))
        if ca_path is not None:
            return ssl.create_default_context(cafile=str(_file(ca_path, "certificate-authority", where)))
    except (ssl.SSLError, ValueError, UnicodeDecodeError, OSError) as error:
        raise ConfigException(f"{where}: the certificate authority cannot be loaded ({type(error).__name__})") \
            from None
    return ssl.create_default_context()


def _credentials(user: Mapping[str, Any], cluster: Mapping[str, Any], server: str, where: str) -> Credentials | None:
    if user.get("auth-provider"):
        provider = user["auth-provider"].get("name") if isinstance(user["auth-provider"], dict) else None
        raise ConfigException(f"{where}: auth-provider {str(provider or '')[:40]!r} is not supported "
                              "(kubectl removed them; use an exec plugin)")
    for unsupported in ("as", "as-uid", "as-groups", "as-user-extra"):
        if user.get(unsupported):
            raise ConfigException(f"{where}: impersonation ({unsupported}) is not supported")
    token = _text(user, "token", where)
    token_file = _text(user, "tokenFile", where)
    username, password = _text(user, "username", where), _text(user, "password", where)
    exec_ = user.get("exec")
    methods = [name for name, present in (("token", token is not None or token_file is not None),
                                          ("basic auth", username is not None or password is not None),
                                          ("exec", bool(exec_))) if present]
    if len(methods) > 1:
        raise ConfigException(f"{where}: more than one authentication method ({', '.join(methods)})")
    if token is not None:  # as kubectl: an inline token wins over tokenFile
        return StaticAuthorization(f"Bearer {token}")
    if token_file is not None:
        return TokenFile(_file(token_file, "tokenFile", where))
    if username is not None or password is not None:
        basic = base64.b64encode(f"{username or ''}:{password or ''}".encode()).decode()
        return StaticAuthorization(f"Basic {basic}")
    if exec_:
        return ExecPlugin(_exec_config(exec_, cluster, server, where))
    return None


def _exec_config(exec_: Any, cluster: Mapping[str, Any], server: str, where: str) -> ExecConfig:
    if not isinstance(exec_, dict):
        raise ConfigException(f"{where}: exec is not a mapping")
    command = _text(exec_, "command", f"{where} exec")
    if command is None:
        raise ConfigException(f"{where}: exec has no command")
    api_version = _text(exec_, "apiVersion", f"{where} exec") or ""
    if api_version not in EXEC_API_VERSIONS:
        raise ConfigException(f"{where}: exec apiVersion {api_version[:80]!r} is not supported "
                              f"(one of {', '.join(EXEC_API_VERSIONS)})")
    if exec_.get("interactiveMode") == "Always":
        raise ConfigException(f"{where}: exec plugin {command!r} needs a terminal (interactiveMode: Always)")
    args = exec_.get("args") or []
    env = exec_.get("env") or []
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        raise ConfigException(f"{where}: exec args is not a list of strings")
    if not isinstance(env, list) or not all(isinstance(e, dict) and isinstance(e.get("name"), str)
                                            and isinstance(e.get("value"), str) for e in env):
        raise ConfigException(f"{where}: exec env is not a list of name/value pairs")
    cluster_info: dict[str, Any] | None = None
    if exec_.get("provideClusterInfo") is True:
        cluster_info = {"server": server}
        for source, target in (("certificate-authority-data", "certificate-authority-data"),
                               ("insecure-skip-tls-verify", "insecure-skip-tls-verify"),
                               ("tls-server-name", "tls-server-name")):
            if cluster.get(source) is not None:
                cluster_info[target] = cluster[source]
        extension = next((e.get("extension") for e in cluster.get("extensions") or []
                          if isinstance(e, dict) and e.get("name") == "client.authentication.k8s.io/exec"), None)
        if extension is not None:
            cluster_info["config"] = extension
    return ExecConfig(command=command, api_version=api_version, args=tuple(args),
                      env=tuple((e["name"], e["value"]) for e in env),
                      install_hint=str(exec_.get("installHint") or ""), cluster=cluster_info)


def from_dict(kubeconfig: Mapping[str, Any], *, context: str | None = None,
              base_dir: Path | str | None = None, inline_only: bool = False) -> ClientConfig:
    """The configuration of `context` (default: `current-context`); relative paths resolve against `base_dir`
    (default: the working directory). `inline_only` refuses file paths and exec plugins: for kubeconfigs from
    Secrets, which must not make the process read its own files or run commands."""
    if not isinstance(kubeconfig, Mapping):
        raise ConfigException("the kubeconfig is not a mapping")
    if base_dir is not None:
        kubeconfig = _absolute_paths(kubeconfig, Path(base_dir))
    name = context or kubeconfig.get("current-context")
    if not name:
        raise ConfigException("Invalid kube-config file. Expected key current-context (or a context to use)")
    if not isinstance(name, str):
        raise ConfigException("current-context is not a string")
    contexts = dict(_entries(kubeconfig, "contexts", "context"))
    if name not in contexts:
        known = ", ".join(sorted(contexts)[:10]) or "none"
        raise ConfigException(f"context {name!r} is not in the kubeconfig (contexts: {known})")
    ctx = contexts[name]
    cluster_name = _text(ctx, "cluster", f"context {name!r}")
    clusters = dict(_entries(kubeconfig, "clusters", "cluster"))
    if cluster_name is None or cluster_name not in clusters:
        raise ConfigException(f"context {name!r}: cluster {cluster_name!r} is not in the kubeconfig")
    cluster = clusters[cluster_name]
    user_name = _text(ctx, "user", f"context {name!r}")
    users = dict(_entries(kubeconfig, "users", "user"))
    if user_name is not None and user_name not in users:
        raise ConfigException(f"context {name!r}: user {user_name!r} is not in the kubeconfig")
    user = users.get(user_name or "", {})
    cluster_where, user_where = f"cluster {cluster_name!r}", f"user {user_name!r}"
    if inline_only:
        for where, body, keys in ((cluster_where, cluster, _PATH_KEYS_CLUSTER),
                                  (user_where, user, (*_PATH_KEYS_USER, "exec"))):
            for key in keys:
                if body.get(key):
                    raise ConfigException(f"{where}: {key} is not allowed here (only inline data)")

    server = _text(cluster, "server", cluster_where)
    if server is None:
        raise ConfigException(f"{cluster_where} has no server")
    if cluster.get("proxy-url"):
        raise ConfigException(f"{cluster_where}: proxy-url is not supported")
    if "://" not in server:
        server = f"https://{server}"
    if not server.startswith(("https://", "http://")):
        raise ConfigException(f"{cluster_where}: server is not an http(s) URL")
    server = server.rstrip("/")
    ssl_context: ssl.SSLContext | None = None
    if server.startswith("https://"):
        ssl_context = _ssl_context(cluster, cluster_where)
        _load_client_certificate(ssl_context, user, user_where)
    credentials = _credentials(user, cluster, server, user_where)
    return ClientConfig(server=server, ssl_context=ssl_context, credentials=credentials,
                        tls_server_name=_text(cluster, "tls-server-name", cluster_where), context=name)


def from_yaml(text: str | bytes, *, context: str | None = None, base_dir: Path | str | None = None) -> ClientConfig:
    return from_dict(parse_kubeconfig(text), context=context, base_dir=base_dir)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except OSError as error:
        raise ConfigException(f"cannot read {path} ({type(error).__name__})") from None
    return _absolute_paths(parse_kubeconfig(text, source=str(path)), path.parent.absolute())


def from_file(path: Path | str, *, context: str | None = None) -> ClientConfig:
    """A kubeconfig file; relative paths in it resolve against its directory."""
    return from_dict(_read(Path(path).expanduser()), context=context)


def from_files(paths: Sequence[Path | str], *, context: str | None = None) -> ClientConfig:
    """Several kubeconfig files merged as kubectl merges `$KUBECONFIG` (see `merge_kubeconfigs`)."""
    return from_dict(merge_kubeconfigs([_read(Path(path).expanduser()) for path in paths]), context=context)


def in_cluster(*, base_dir: Path | str = SERVICE_ACCOUNT_DIR, environ: Mapping[str, str] | None = None) -> ClientConfig:
    """The pod's service account: `KUBERNETES_SERVICE_HOST`/`_PORT`, `token` (re-read as kubelet rotates it) and
    `ca.crt` under `base_dir`."""
    environ = os.environ if environ is None else environ
    host, port = environ.get("KUBERNETES_SERVICE_HOST", ""), environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise ConfigException("not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    base = Path(base_dir)
    token = TokenFile(base / "token")
    ca = base / "ca.crt"
    try:
        context = ssl.create_default_context(cafile=str(ca))
    except (ssl.SSLError, OSError) as error:
        raise ConfigException(f"cannot load the service account CA {ca} ({type(error).__name__})") from None
    return ClientConfig(server=f"https://{host}:{port}", ssl_context=context, credentials=token)


def load(kubeconfig: str | Path | None = None, *, context: str | None = None,
         environ: Mapping[str, str] | None = None, home: Path | None = None) -> ClientConfig:
    """controller-runtime's order: `kubeconfig` if given; else in-cluster when `KUBERNETES_SERVICE_HOST` is set;
    else the `$KUBECONFIG` files that exist, merged; else `~/.kube/config`. `NoConfiguration` if none applies."""
    environ = os.environ if environ is None else environ
    if kubeconfig:
        return from_file(kubeconfig, context=context)
    if environ.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster(environ=environ)
    listed = [Path(p).expanduser() for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    existing = [path for path in listed if path.is_file()]
    if existing:
        return from_files(existing, context=context)
    default = (home or Path.home()) / ".kube" / "config"
    if default.is_file():
        return from_file(default, context=context)
    raise NoConfiguration("no kubeconfig: not running in a cluster, $KUBECONFIG unset and ~/.kube/config missing")


__all__ = [
    "EXEC_TIMEOUT_S",
    "SERVICE_ACCOUNT_DIR",
    "TOKEN_FILE_REFRESH_S",
    "ClientConfig",
    "ConfigException",
    "Credentials",
    "ExecConfig",
    "ExecPlugin",
    "NoConfiguration",
    "ParserError",
    "StaticAuthorization",
    "TokenFile",
    "from_dict",
    "from_file",
    "from_files",
    "from_yaml",
    "in_cluster",
    "load",
    "merge_kubeconfigs",
    "parse_kubeconfig",
]
