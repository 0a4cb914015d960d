"""A manager's HTTP servers: health probes (`/healthz`, `/readyz`) and Prometheus metrics (`/metrics`), on aiohttp.

Bind addresses follow controller-runtime: `host:port`, `:port` for all interfaces (one dual-stack socket where the
host has IPv6, as Go listens), `[::1]:port` for IPv6, and `"0"` to disable the server. The probe server is also
disabled by `""`; the metrics server reads `""` as its default `:8080`.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web

from ._metrics import RuntimeMetrics

log = structlog.get_logger("k0smotron.runtime.servers")

# A check passes when it returns (True or None) and fails when it raises or returns False; sync or async.
HealthCheck = Callable[[], Awaitable[bool | None] | bool | None]

DISABLED = "0"
DEFAULT_METRICS_BIND_ADDRESS = ":8080"
_TEXT_HEADERS = {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}


class BindError(RuntimeError):
    """A server could not listen on its bind address; the message is one line naming the address."""


@dataclass(frozen=True)
class BindAddress:
    host: str | None  # None: every interface
    port: int

    @classmethod
    def parse(cls, address: str) -> BindAddress | None:
        """`host:port`, `:port` or `[v6]:port` as Go's net.Listen takes them; None for `"0"` (disabled)."""
        if address == DISABLED:
            return None
        host, colon, port_text = address.rpartition(":")
        if not colon:
            raise ValueError(f"bind address {address!r}: missing port (use host:port, :port, or 0 to disable)")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        elif ":" in host:
            raise ValueError(f"bind address {address!r}: too many colons (write IPv6 hosts as [host]:port)")
        if not port_text.isdigit() or int(port_text) > 65535:
            raise ValueError(f"bind address {address!r}: port must be a number from 0 to 65535")
        return cls(host or None, int(port_text))


async def _listening_socket(address: BindAddress) -> socket.socket:
    if address.host is None:
        if socket.has_dualstack_ipv6():
            return socket.create_server(("", address.port), family=socket.AF_INET6, dualstack_ipv6=True)
        return socket.create_server(("", address.port))
    infos = await asyncio.get_running_loop().getaddrinfo(
        address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = infos[0]
    return socket.create_server(sockaddr, family=family)


class _HTTPServer(ABC):
    """An aiohttp application served on a bind address, or not at all when the address disables it."""

    def __init__(self, what: str, bind_address: str) -> None:
        self._what = what
        self.bind_address = bind_address
        self._address = BindAddress.parse(bind_address)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def port(self) -> int | None:
        """The port actually listened on (useful with `:0`); None when disabled or not started."""
        return self._port

    @abstractmethod
    def _application(self) -> web.Application: ...

    async def start(self) -> None:
        if self._address is None or self._runner is not None:
            return
        try:
            sock = await _listening_socket(self._address)
        except OSError as error:
            reason = error.strerror or str(error)
            raise BindError(f"{self._what} cannot listen on {self.bind_address!r}: {reason}") from error
        runner = web.AppRunner(self._application(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        try:
            await runner.setup()
            await web.SockSite(runner, sock).start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        self._runner = runner
        self._port = sock.getsockname()[1]
        log.info(f"serving {self._what}", bindAddress=self.bind_address, port=self._port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._port = None


class _HealthEndpoint:
    """controller-runtime's healthz.Handler: every check at the root, one check at `/<name>`."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint  # "healthz" or "readyz"
        self.checks: dict[str, HealthCheck] = {}

    def add(self, name: str, check: HealthCheck) -> None:
        if not name or "/" in name:
            raise ValueError(f"{self.endpoint} check name {name!r} must be non-empty and contain no '/'")
        if name in self.checks:
            raise ValueError(f"{self.endpoint} check {name!r} already exists")
        self.checks[name] = check

    async def serve_all(self, request: web.Request) -> web.Response:
        excluded = set(request.query.getall("exclude", []))
        checks = dict(self.checks) or {"ping": _ping}
        names = sorted(name for name in checks if name not in excluded)
        reasons = await asyncio.gather(*(_run(checks[name]) for name in names))
        failures = {name: reason for name, reason in zip(names, reasons, strict=True) if reason is not None}
        if failures:
            log.info(f"{self.endpoint} check failed", failures=failures)
        if not failures and "verbose" not in request.query:
            return web.Response(text="ok", headers=_TEXT_HEADERS)
        lines = []
        for name in sorted(checks):
            if name in excluded:
                lines.append(f"[+]{name} excluded: ok")
            elif name in failures:
                # Withheld as controller-runtime does: this endpoint is public; /<endpoint>/<name> has the reason.
                lines.append(f"[-]{name} failed: reason withheld")
            else:
                lines.append(f"[+]{name} ok")
        unknown = sorted(excluded - checks.keys())
        if unknown:
            lines.append(f"warn: some health checks cannot be excluded: no matches for {', '.join(map(repr, unknown))}")
        lines.append(f"{self.endpoint} check {'failed' if failures else 'passed'}")
        return web.Response(status=500 if failures else 200, text="\n".join(lines) + "\n", headers=_TEXT_HEADERS)

    async def serve_one(self, request: web.Request) -> web.Response:
        check = self.checks.get(request.match_info["name"])
        if check is None:
            raise web.HTTPNotFound()
        reason = await _run(check)
        if reason is not None:
            return web.Response(status=500, text=f"internal server error: {reason}\n", headers=_TEXT_HEADERS)
        return web.Response(text="ok", headers=_TEXT_HEADERS)


def _ping() -> bool:
    return True


async def _run(check: HealthCheck) -> str | None:
    """None when the check passes, else why it failed."""
    try:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await outcome
    except Exception as error:  # any failure of a check is the probe's answer, not the server's problem
        return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return "check returned False" if outcome is False else None


class ProbeServer(_HTTPServer):
    """Serves `/healthz` (liveness) and `/readyz` (readiness) from registered checks."""

    def __init__(self, bind_address: str) -> None:
        super().__init__("health probe server", bind_address or DISABLED)
        self._healthz = _HealthEndpoint("healthz")
        self._readyz = _HealthEndpoint("readyz")

    def add_healthz_check(self, name: str, check: HealthCheck) -> None:
        self._healthz.add(name, check)

    def add_readyz_check(self, name: str, check: HealthCheck) -> None:
        self._readyz.add(name, check)

    def _application(self) -> web.Application:
        app = web.Application()
        for endpoint in (self._healthz, self._readyz):
            app.router.add_get(f"/{endpoint.endpoint}", endpoint.serve_all)
            app.router.add_get(f"/{endpoint.endpoint}/", endpoint.serve_all)
            app.router.add_get(f"/{endpoint.endpoint}/{{name}}", endpoint.serve_one)
        return app


class MetricsServer(_HTTPServer):
    """Serves `/metrics` in Prometheus' text format."""

    def __init__(self, bind_address: str, metrics: RuntimeMetrics) -> None:
        super().__init__("metrics server", bind_address or DEFAULT_METRICS_BIND_ADDRESS)
        self._metrics = metrics

    def _application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        return app

    async def _serve(self, request: web.Request) -> web.Response:
        return web.Response(body=self._metrics.render(), headers={"Content-Type": self._metrics.content_type})
