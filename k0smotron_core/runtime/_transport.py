"""The one seam through which the runtime talks to an API server: JSON requests and watch streams over HTTPS.

Configuration (kubeconfig, in-cluster service account) is loaded by `_kubeconfig` (not kubernetes-asyncio, whose
import alone costs about 60 MiB); requests go through one aiohttp session with a per-request timeout and a
client-side QPS/burst limit, like client-go's.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

import aiohttp

from ._kubeconfig import ClientConfig, ConfigException, Credentials, NoConfiguration, StaticAuthorization
from ._kubeconfig import load as load_kubeconfig

DEFAULT_TIMEOUT_S = 30.0
WATCH_TIMEOUT_S = 300
"""Server-side timeout asked for each watch; the informer re-watches from its last resourceVersion afterwards."""


class APIError(Exception):
    """A non-2xx answer from the API server, carrying its `Status` reason and message."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def gone(self) -> bool:
        return self.status == 410


class ConnectionFailed(Exception):
    """The API server could not be reached (refused, TLS failure, timeout), or no configuration says where it is."""

    def __init__(self, message: str, *, host: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.host = host
        """The server's host:port when one was tried."""
        self.reason = reason or message
        """Why, without the request line."""


RequestHook = Callable[[str, int, float], None]
"""Called after every request with (method, status code or 0 on a connection failure, seconds)."""


class Transport(Protocol):
    host: str

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> dict[str, Any]: ...

    def watch(self, path: str, query: dict[str, str]) -> AsyncIterator[dict[str, Any]]: ...

    async def close(self) -> None: ...


class TokenBucket:
    """client-go's flowcontrol token bucket: `qps` tokens a second, at most `burst` saved up."""

    def __init__(self, qps: float, burst: int) -> None:
        self._qps = qps
        self._burst = max(burst, 1)
        self._tokens = float(self._burst)
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self._qps <= 0:
            return
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._qps)
            self._updated = now
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self._qps)
                self._updated = time.monotonic()
                self._tokens = 1
            self._tokens -= 1


@dataclass
class ConnectionSettings:
    """Where the API server is and how to authenticate, independent of how it was found."""

    host: str
    ssl_context: ssl.SSLContext | bool
    headers: dict[str, str]
    """Sent with every request (a fixed `Authorization`, for instance)."""
    credentials: Credentials | None = None
    """Asked for the `Authorization` header of each request (rotated token files, exec plugins)."""
    server_hostname: str | None = None
    """The kubeconfig's `tls-server-name`: SNI and the name the serving certificate is verified for."""

    @staticmethod
    def from_configuration(configuration: ClientConfig) -> ConnectionSettings:
        context: ssl.SSLContext | bool = configuration.ssl_context if configuration.ssl_context is not None else True
        credentials = configuration.credentials
        headers: dict[str, str] = {}
        if isinstance(credentials, StaticAuthorization):  # fixed: a session header, as before
            headers["Authorization"], credentials = credentials.header, None
        return ConnectionSettings(configuration.server, context, headers, credentials, configuration.tls_server_name)


async def load_configuration(kubeconfig: str | None = None, context: str | None = None) -> ClientConfig:
    """controller-runtime's order: an explicit kubeconfig, else in-cluster, else $KUBECONFIG (the existing files,
    merged as kubectl does), else ~/.kube/config. `ConfigException` for an unusable kubeconfig."""
    try:
        return await asyncio.to_thread(load_kubeconfig, kubeconfig, context=context)
    except NoConfiguration as error:
        raise ConnectionFailed(str(error)) from None


class HTTPTransport:
    """The production transport: one aiohttp session, a token bucket, a timeout on every call."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        qps: float = 20.0,
        burst: int = 30,
        user_agent: str = "k0smotron",
        on_request: RequestHook | None = None,
        max_connections: int = 16,
        keepalive_s: float = 15.0,
    ) -> None:
        self.host = urlparse(settings.host).netloc
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._settings = settings
        self._limiter = TokenBucket(qps, burst)
        self._user_agent = user_agent
        self._on_request = on_request
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    async def from_kubeconfig(cls, kubeconfig: str | None = None, **kwargs: Any) -> HTTPTransport:
        """A transport for the configuration `load_configuration` finds."""
        return cls(ConnectionSettings.from_configuration(await load_configuration(kubeconfig)), **kwargs)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # keepalive_s 0: every connection is closed after its request (aiohttp refuses both options at once).
            reuse: dict[str, Any] = ({"keepalive_timeout": self._keepalive_s} if self._keepalive_s > 0
                                     else {"force_close": True})
            connector = aiohttp.TCPConnector(ssl=self._settings.ssl_context, limit=self._max_connections, **reuse)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={**self._settings.headers, "User-Agent": self._user_agent, "Accept": "application/json"},
            )
        return self._session

    async def _auth_headers(self, extra: dict[str, str] | None = None) -> dict[str, str] | None:
        credentials = self._settings.credentials
        if credentials is None:
            return extra
        return {**(extra or {}), "Authorization": await credentials.authorization()}

    def _record(self, method: str, status: int, started: float) -> None:
        if self._on_request is not None:
            self._on_request(method, status, time.monotonic() - started)

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> dict[str, Any]:
        await self._limiter.acquire()
        data = None if body is None else json.dumps(body, separators=(",", ":"))
        started = time.monotonic()
        try:
            headers = await self._auth_headers({"Content-Type": content_type} if data is not None else None)
            async with self._client().request(
                method, self._settings.host + path, params=query, data=data, headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout_s), server_hostname=self._settings.server_hostname,
            ) as response:
                payload = await response.read()
                self._record(method, response.status, started)
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError, OSError, ConfigException) as exc:
            self._record(method, 0, started)
            reason = f"{type(exc).__name__}: {exc}"
            raise ConnectionFailed(f"{method} {self.host}{path}: {reason}", host=self.host, reason=reason) from exc
        result = json.loads(payload) if payload else {}
        if response.status >= 400:
            raise _api_error(response.status, result)
        return result if isinstance(result, dict) else {"items": result}

    async def watch(self, path: str, query: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        """Watch events as dicts; ends when the server closes the stream. A 410 arrives as an ERROR event."""
        started = time.monotonic()
        seconds = int(query.get("timeoutSeconds", WATCH_TIMEOUT_S))
        try:
            async with self._client().get(
                self._settings.host + path, params={**query, "watch": "true", "timeoutSeconds": str(seconds)},
                headers=await self._auth_headers(),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=DEFAULT_TIMEOUT_S, sock_read=seconds + 30),
                server_hostname=self._settings.server_hostname,
            ) as response:
                self._record("WATCH", response.status, started)
                if response.status >= 400:
                    raise _api_error(response.status, json.loads(await response.read() or b"{}"))
                async for line in response.content:
                    if line.strip():
                        yield json.loads(line)
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError, OSError, ConfigException) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise ConnectionFailed(f"WATCH {self.host}{path}: {reason}", host=self.host, reason=reason) from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _api_error(status: int, body: Any) -> APIError:
    if isinstance(body, dict) and body.get("kind") == "Status":
        return APIError(status, body.get("reason", ""), body.get("message", ""), body)
    return APIError(status, "", str(body)[:500])
