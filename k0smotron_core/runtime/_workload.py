"""Connections to workload (child) clusters, from their `<cluster>-kubeconfig` Secrets (CAPI's ClusterCache)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from ._client import Client
from ._kubeconfig import ConfigException, from_dict, parse_kubeconfig
from ._transport import ConnectionFailed, ConnectionSettings, HTTPTransport, RequestHook, Transport


class WorkloadClusterUnavailable(Exception):
    """The kubeconfig Secret is missing or unusable; the message never contains its content."""


WORKLOAD_CONNECTIONS = 4
WORKLOAD_KEEPALIVE_S = 2.0


async def transport_from_kubeconfig(kubeconfig: dict[str, Any], *, user_agent: str, qps: float = 20.0,
                                    burst: int = 30, on_request: RequestHook | None = None,
                                    keepalive_s: float = WORKLOAD_KEEPALIVE_S) -> HTTPTransport:
    try:
        # A Secret's kubeconfig must not make us read our own files (our token) or run commands; CAPI's and
        # k0smotron's have only inline data.
        configuration = from_dict(kubeconfig, inline_only=True)
    except ConfigException as error:  # never quotes key or token material
        raise WorkloadClusterUnavailable(f"unusable kubeconfig: {error}") from None
    # Few connections, closed soon after use: every TLS connection holds a 256 KiB buffer (asyncio's SSLProtocol),
    # and a provider talks to hundreds of workload clusters, each only now and then.
    return HTTPTransport(ConnectionSettings.from_configuration(configuration), qps=qps, burst=burst,
                         user_agent=user_agent, on_request=on_request, max_connections=WORKLOAD_CONNECTIONS,
                         keepalive_s=keepalive_s)


class WorkloadClusters:
    """One transport per workload cluster, built on first use from `<cluster>-kubeconfig` (key `value`)."""

    def __init__(self, management: Client, *, user_agent: str, qps: float = 20.0, burst: int = 30,
                 keepalive_s: float = WORKLOAD_KEEPALIVE_S) -> None:
        self._management = management
        self._keepalive_s = keepalive_s
        """0 closes each connection after its request: for controllers that talk to each of many workload clusters
        only now and then, where idle TLS connections would cost more memory than new handshakes cost CPU."""
        self._user_agent = user_agent
        self._qps = qps
        """Each workload cluster gets its own client-side limit (--kube-api-qps/--kube-api-burst), as its own API
        server has its own capacity."""
        self._burst = burst
        self._transports: dict[tuple[str, str], tuple[str, Transport]] = {}
        self._lock = asyncio.Lock()

    async def transport(self, namespace: str, cluster: str) -> Transport:
        secret = await self._management.get("v1", "Secret", f"{cluster}-kubeconfig", namespace)
        if secret is None:
            raise WorkloadClusterUnavailable(f"Secret {namespace}/{cluster}-kubeconfig does not exist yet")
        encoded = (secret.get("data") or {}).get("value")
        if not encoded:
            raise WorkloadClusterUnavailable(f"Secret {namespace}/{cluster}-kubeconfig has no key 'value'")
        version = secret["metadata"].get("resourceVersion", "")
        async with self._lock:
            cached = self._transports.get((namespace, cluster))
            if cached is not None and cached[0] == version:
                return cached[1]
            if cached is not None:
                await cached[1].close()
            try:
                kubeconfig = parse_kubeconfig(base64.b64decode(encoded))
            except (ConfigException, ValueError):
                raise WorkloadClusterUnavailable(f"Secret {namespace}/{cluster}-kubeconfig is not a kubeconfig") \
                    from None
            transport = await transport_from_kubeconfig(kubeconfig, user_agent=self._user_agent, qps=self._qps,
                                                        burst=self._burst, keepalive_s=self._keepalive_s)
            self._transports[(namespace, cluster)] = (version, transport)
            return transport

    async def forget(self, namespace: str, cluster: str) -> None:
        cached = self._transports.pop((namespace, cluster), None)
        if cached is not None:
            await cached[1].close()

    async def close(self) -> None:
        for _version, transport in self._transports.values():
            await transport.close()
        self._transports.clear()


__all__ = ["ConnectionFailed", "WorkloadClusterUnavailable", "WorkloadClusters", "transport_from_kubeconfig"]
