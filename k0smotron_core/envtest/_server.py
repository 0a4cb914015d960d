"""EnvTest: start and stop an embedded API server, in the caller's event loop or in a thread of its own."""

from __future__ import annotations

import asyncio
import base64
import secrets
import ssl
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web
from ruamel.yaml import YAML

from .. import pki
from ._audit import AuditLog, Faults
from ._certificates import MASTERS_GROUP, CSRAdmission, CSRController
from ._controllers import Controllers
from ._defaults import BuiltinDefaults
from ._errors import StatusError
from ._http import APIServerApp
from ._registry import Registry, ResourceType
from ._storage import RequestContext, ResourceStorage
from ._store import Store

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def _server_tls_context(serving: pki.KeyPair, ca: pki.KeyPair) -> ssl.SSLContext:
    # Client certificates are asked for, not required, and verified against the CA alone (never the system's
    # trust store), as kube-apiserver's --client-ca-file. One that does not verify fails the handshake.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=ca.cert_pem.decode())
    context.verify_mode = ssl.CERT_OPTIONAL
    # ssl can only load a certificate chain from files.
    with tempfile.TemporaryDirectory() as scratch:
        cert_file, key_file = Path(scratch, "tls.crt"), Path(scratch, "tls.key")
        cert_file.write_bytes(serving.cert_pem + ca.cert_pem)
        key_file.write_bytes(serving.key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context


class EnvTest:
    """An in-process Kubernetes API server over HTTPS, authenticating bearer tokens, bootstrap tokens and client
    certificates signed by its CA (docs/envtest.md, "Node authentication and the simulated k0s").

    Use it as `async with EnvTest() as env:` in asyncio code (it then shares the caller's event loop), or as
    `with EnvTest().running_in_thread() as env:` when the caller blocks (kubectl subprocesses, the synchronous
    `kubernetes` client). Several instances may run in one process.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        extra_sans: Iterable[str] = (),
        history_window: int = 10_000,
        bookmark_interval_s: float = 5.0,
        audit_file: Path | None = None,
        token: str | None = None,
        ca: pki.KeyPair | None = None,
        name: str = "envtest",
    ) -> None:
        self.name = name
        self.host = host
        self._requested_port = port
        self._extra_sans = list(extra_sans)
        self.token = token or secrets.token_urlsafe(24)
        self._ca = ca
        self.store = Store(history_window=history_window)
        self.registry = Registry()
        self.storage = ResourceStorage(self.store, self.registry)
        self.storage.admission.append(BuiltinDefaults(self.store))
        self.audit = AuditLog(audit_file)
        self.faults = Faults()
        self.tokens: dict[str, str] = {self.token: "admin"}
        self.user_groups: dict[str, tuple[str, ...]] = {"admin": (MASTERS_GROUP,)}
        """Groups of the token users (the admin is in system:masters, as a kubeadm admin)."""
        self._bookmark_interval_s = bookmark_interval_s
        self._controllers: Controllers | None = None
        self._csr_controller: CSRController | None = None
        self.storage.admission.append(CSRAdmission())
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.serving: pki.KeyPair | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def ca(self) -> pki.KeyPair:
        if self._ca is None:
            self._ca = pki.generate_ca(f"{self.name}-ca", algorithm="ecdsa-p256")
        return self._ca

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem

    async def start(self) -> EnvTest:
        self._loop = asyncio.get_running_loop()
        sans = ["127.0.0.1", "localhost", self.host, *self._extra_sans]
        self.serving = pki.issue_certificate(self.ca, "kube-apiserver", usage="server", sans=sans,
                                             algorithm="ecdsa-p256")
        context = _server_tls_context(self.serving, self.ca)
        self._controllers = Controllers(self.storage)
        self._controllers.start()
        if self.ca.key_pem:
            # kube-controller-manager's csrapproving and csrsigning, which need the CA's key.
            self._csr_controller = CSRController(self.storage, self.ca)
            self._csr_controller.start()
        self._create_initial_namespaces()
        app = APIServerApp(store=self.store, registry=self.registry, storage=self.storage, audit=self.audit,
                           faults=self.faults, tokens=self.tokens, bookmark_interval_s=self._bookmark_interval_s,
                           address=f"{self.host}:{self._requested_port}", user_groups=self.user_groups)
        self._runner = web.AppRunner(app.application(), access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port, ssl_context=context, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None and isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.store.drop_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._controllers is not None:
            await self._controllers.stop()
            self._controllers = None
        if self._csr_controller is not None:
            await self._csr_controller.stop()
            self._csr_controller = None
        self.audit.close()

    async def __aenter__(self) -> EnvTest:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @contextmanager
    def running_in_thread(self) -> Iterator[EnvTest]:
        """Serve from a daemon thread with its own event loop, for callers that block."""
        started = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # surfaced to the caller below
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=serve, name=f"{self.name}-server", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    def call(self, fn: Any, *args: Any) -> Any:
        """Run `fn(*args)` on the server's loop and return its result (thread-safe; for the threaded mode)."""
        if self._loop is None:
            raise RuntimeError("envtest is not running")
        if self._thread is None or threading.current_thread() is self._thread:
            return fn(*args)

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    async def settle(self) -> None:
        """Wait until envtest's own controllers (GC, namespaces, CRDs, CSRs) have nothing left to do."""
        if self._controllers is not None:
            await self._controllers.settle()
        if self._csr_controller is not None:
            await self._csr_controller.settle()

    # --- conveniences ------------------------------------------------------------------------------------

    def _create_initial_namespaces(self) -> None:
        namespaces = self.registry.lookup("", "v1", "namespaces")
        assert namespaces is not None
        for name in INITIAL_NAMESPACES:
            self.storage.create(namespaces, "", {"metadata": {"name": name}},
                                RequestContext(user="system:apiserver", field_manager="kube-apiserver"))

    def add_user(self, name: str, groups: Iterable[str] = ()) -> str:
        """A new bearer token authenticating as `name` (so audit entries can tell controllers apart), a member of
        `groups` (and of system:authenticated, as every authenticated user)."""
        token = secrets.token_urlsafe(24)
        self.tokens[token] = name
        if groups:
            self.user_groups[name] = tuple(groups)
        return token

    def kubeconfig(
        self, *, user: str = "admin", context: str | None = None, token: str | None = None
    ) -> dict[str, Any]:
        ctx_name = context or self.name
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": self.name, "cluster": {
                "server": self.url,
                "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
            }}],
            "users": [{"name": user, "user": {"token": token or self.token}}],
            "contexts": [{"name": ctx_name, "context": {"cluster": self.name, "user": user}}],
            "current-context": ctx_name,
        }

    def kubeconfig_yaml(self, **kwargs: Any) -> str:
        stream = StringIO()
        yaml = YAML()
        yaml.default_flow_style = False
        yaml.dump(self.kubeconfig(**kwargs), stream)
        return stream.getvalue()

    def write_kubeconfig(self, path: Path | str, **kwargs: Any) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.kubeconfig_yaml(**kwargs), encoding="utf-8")
        target.chmod(0o600)
        return target

    def resource_type(self, api_version: str, kind: str) -> ResourceType:
        group, _, version = api_version.rpartition("/")
        rt = self.registry.by_kind(group, version, kind)
        if rt is None:
            raise StatusError(404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"')
        return rt

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create an object directly (no HTTP), as an admin would; for test setup."""
        rt = self.resource_type(obj["apiVersion"], obj["kind"])
        namespace = (obj.get("metadata") or {}).get("namespace") or ("default" if rt.namespaced else "")
        result: dict[str, Any] = self.call(self.storage.create, rt, namespace, obj,
                                           RequestContext(field_manager="envtest"))
        return result

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        rt = self.resource_type(api_version, kind)
        obj = self.store.get(rt.group_resource, namespace if rt.namespaced else "", name)
        return self.storage.as_version(obj, rt) if obj is not None else None

    def drop_watches(self) -> int:
        """Close every open watch, as when an API server restarts; returns how many were closed."""
        result: int = self.call(self.store.drop_watches)
        return result

    def compact(self) -> None:
        """Forget the watch history, so watching from any older resourceVersion answers 410 Gone."""
        self.call(self.store.compact)
