"""The manager: one connection, one cache, the controllers, probes, metrics and leader election of a process."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from ._builder import ControllerBuilder
from ._cache import Informer
from ._client import Cache, CacheOptions, Client
from ._controller import Controller
from ._flags import ManagerOptions
from ._leaderelection import LeaderElector, default_identity
from ._metrics import RuntimeMetrics
from ._restmapper import RESTMapper
from ._servers import MetricsServer, ProbeServer
from ._transport import APIError, ConnectionFailed, ConnectionSettings, HTTPTransport, Transport, load_configuration

log = structlog.get_logger("k0smotron.runtime.manager")

WATCH_FILTER_LABEL = "cluster.x-k8s.io/watch-filter"


class KubeconfigError(ConnectionFailed):
    """The kubeconfig could not be read (bad YAML, missing keys or files)."""
_CONNECT_TIMEOUT_S = 10.0


class Manager:
    """Create, `await connect()`, declare controllers with `controller(name)...complete(fn)`, then `await run()`."""

    def __init__(self, options: ManagerOptions, *, transport: Transport | None = None,
                 cache_options: CacheOptions | None = None) -> None:
        self.options = options
        self.metrics = RuntimeMetrics()
        self._transport = transport
        self._cache_options = cache_options
        self.controllers: list[Controller] = []
        self._stop = asyncio.Event()
        self._on_shutdown: list[Callable[[], Awaitable[None]]] = []
        self._lost_leadership = False
        self._elector: LeaderElector | None = None
        self._cache: Cache | None = None
        self._client: Client | None = None
        self._resync_task: asyncio.Task[None] | None = None

    # --- set-up ------------------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Load the configuration and check the API server answers; ConnectionFailed with a readable reason if not."""
        if self._transport is None:
            try:
                configuration = await load_configuration(self.options.kubeconfig)
            except ConnectionFailed:
                raise
            except Exception as error:  # YAML, file and certificate errors of the kubeconfig loader
                reason = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
                raise KubeconfigError(f"{type(error).__name__}: {reason}") from error
            self._transport = HTTPTransport(
                ConnectionSettings.from_configuration(configuration),
                qps=self.options.kube_api_qps, burst=self.options.kube_api_burst,
                user_agent=self.options.user_agent, on_request=self._record_request,
            )
        try:
            await self._transport.request("GET", "/version", timeout_s=_CONNECT_TIMEOUT_S)
        except (APIError, ConnectionFailed) as error:
            await self._transport.close()
            if isinstance(error, ConnectionFailed):
                raise
            raise ConnectionFailed(f"refused us: {error}", host=self._transport.host,
                                   reason=f"refused us: {error}") from error
        mapper = RESTMapper(self._transport)
        cache_options = self._cache_options or CacheOptions()
        cache_options.namespace = cache_options.namespace or self.options.namespace
        if self.options.watch_filter:
            cache_options.label_selector = f"{WATCH_FILTER_LABEL}={self.options.watch_filter}"
        self._cache = Cache(self._transport, mapper, cache_options)
        self._client = Client(self._transport, mapper, self._cache, field_manager=self.options.field_manager)

    def _record_request(self, method: str, code: int, seconds: float) -> None:
        host = self._transport.host if self._transport is not None else ""
        self.metrics.rest_request(method, code, host, seconds)

    @property
    def cache(self) -> Cache:
        if self._cache is None:
            raise RuntimeError("Manager.connect() has not been called")
        return self._cache

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("Manager.connect() has not been called")
        return self._client

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            raise RuntimeError("Manager.connect() has not been called")
        return self._transport

    def controller(self, name: str) -> ControllerBuilder:
        return ControllerBuilder(self, name)

    def add_controller(self, controller: Controller) -> None:
        self.controllers.append(controller)

    async def informer(self, api_version: str, kind: str) -> Informer:
        return await self.cache.informer(api_version, kind)

    # --- running -----------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the manager to shut down gracefully (what SIGTERM does)."""
        self._stop.set()

    async def run(self) -> int:
        """Run until stopped: 0 after a graceful shutdown, 1 when leadership was lost."""
        probes = ProbeServer(self.options.health_probe_bind_address)
        probes.add_healthz_check("ping", lambda: True)
        probes.add_readyz_check("caches", lambda: self.cache.synced)
        metrics_server = MetricsServer(self.options.metrics_bind_address, self.metrics)
        try:
            await probes.start()
            await metrics_server.start()
            if self.options.handle_signals:
                self._install_signal_handlers()
            self.cache.start()
            if self.options.leader_elect:
                await self._run_as_candidate()
            else:
                await self._run_controllers_until_stopped()
        finally:
            for close in reversed(self._on_shutdown):
                try:
                    await close()
                except Exception as error:  # one closer failing must not keep the others from running
                    log.warning("shutdown hook failed", error=type(error).__name__)
            await self.cache.stop()
            await metrics_server.stop()
            await probes.stop()
            await self.transport.close()
        return 1 if self._lost_leadership else 0

    def on_shutdown(self, close: Callable[[], Awaitable[None]]) -> None:
        """Run `close` when the manager stops, after the controllers (e.g. to close workload cluster connections)."""
        self._on_shutdown.append(close)

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._stop.set)
            except (NotImplementedError, RuntimeError):
                # Not the main thread (tests run managers in threads); stop() is the way in.
                pass

    def _start_controllers(self) -> None:
        for controller in self.controllers:
            controller.start()
        if self.options.sync_period_s:
            self._resync_task = asyncio.get_running_loop().create_task(self._resync(self.options.sync_period_s))

    async def _resync(self, period_s: float) -> None:
        """Level-triggered safety net: look at every object again now and then, changed or not."""
        while True:
            await asyncio.sleep(period_s)
            for controller in self.controllers:
                for request in controller.resync_source():
                    controller.enqueue(request)

    async def _run_controllers_until_stopped(self) -> None:
        self._start_controllers()
        await self._stop.wait()
        await self._stop_controllers()

    async def _stop_controllers(self) -> None:
        if self._resync_task is not None:
            self._resync_task.cancel()
            self._resync_task = None
        await asyncio.gather(*(c.stop(self.options.graceful_shutdown_timeout_s) for c in self.controllers))

    async def _run_as_candidate(self) -> None:
        identity = default_identity()
        self._elector = LeaderElector(
            self.transport, namespace=self.options.leader_election_namespace, name=self.options.leader_election_id,
            identity=identity, lease_duration_s=self.options.lease_duration_s,
            renew_deadline_s=self.options.renew_deadline_s, retry_period_s=self.options.retry_period_s,
            on_status=lambda leading: self.metrics.set_leader(self.options.leader_election_id, leading),
        )
        self.metrics.set_leader(self.options.leader_election_id, False)
        if not await self._first_of(self._elector.acquire(), self._stop.wait()):
            return
        log.info("became leader", lease=self.options.leader_election_id, identity=identity)
        self._start_controllers()
        held = await self._first_of(self._stop.wait(), self._elector.hold())
        if not held:
            # Someone else holds the lease now: stop reconciling at once, and exit non-zero.
            self._lost_leadership = True
            log.error("leader election lost", lease=self.options.leader_election_id)
            if self._resync_task is not None:
                self._resync_task.cancel()
            await asyncio.gather(*(c.abort() for c in self.controllers))
            return
        await self._stop_controllers()
        await self._elector.release()

    @staticmethod
    async def _first_of(wanted: Any, other: Any) -> bool:
        """Run two awaitables; True when `wanted` finished first (the other is cancelled)."""
        wanted_task = asyncio.ensure_future(wanted)
        other_task = asyncio.ensure_future(other)
        done, pending = await asyncio.wait({wanted_task, other_task}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()
        return wanted_task in done
