"""A controller: keys from a workqueue, handed to a reconciler by a pool of workers, level-triggered."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from ._metrics import ReconcileResult, RuntimeMetrics
from ._workqueue import ShutDown, WorkQueue

log = structlog.get_logger("k0smotron.runtime.controller")


@dataclass(frozen=True, order=True)
class Request:
    """What to reconcile: the namespace and name of one object of the controller's kind."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class Result:
    """What to do after a successful reconcile: nothing, or look again (now, or after a delay)."""

    requeue: bool = False
    requeue_after_s: float = 0.0


Reconciler = Callable[[Request], Awaitable[Result | None]]


class Stop(Exception):
    """Raised by a reconcile phase to end the pass early (CAPI's "return early" phases): the conditions the phase
    set say why; `requeue_after_s` says when to look again (0: when something watched changes)."""

    def __init__(self, requeue_after_s: float = 0.0) -> None:
        super().__init__()
        self.requeue_after_s = requeue_after_s


class Controller:
    def __init__(
        self,
        name: str,
        kind: str,
        group: str,
        reconciler: Reconciler,
        *,
        concurrency: int,
        metrics: RuntimeMetrics,
    ) -> None:
        self.name = name
        self.kind = kind
        self.group = group
        self._reconciler = reconciler
        self.concurrency = max(concurrency, 1)
        self._metrics = metrics
        self.queue: WorkQueue[Request] = WorkQueue(name, metrics.workqueue(name))
        metrics.register_controller(name, self.concurrency)
        self._workers: list[asyncio.Task[None]] = []
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.resync_source: Callable[[], list[Request]] = list
        """Every request of the reconciled kind, for periodic resyncs (the builder sets it to the cache's view)."""

    def enqueue(self, request: Request) -> None:
        self.queue.add(request)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._workers = [loop.create_task(self._work(), name=f"{self.name}-worker-{i}")
                         for i in range(self.concurrency)]

    async def stop(self, grace_s: float) -> None:
        """Take no new work; let in-flight reconciles finish within the grace period, then cancel them."""
        self.queue.shutdown()
        if self._in_flight:
            try:
                await asyncio.wait_for(self._idle.wait(), grace_s)
            except TimeoutError:
                log.warning("reconciles still running at shutdown were cancelled", controller=self.name,
                            in_flight=self._in_flight)
        await self.abort()

    async def abort(self) -> None:
        """Stop at once (lost leadership: another replica now owns the work)."""
        self.queue.shutdown()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    async def _work(self) -> None:
        while True:
            try:
                request = await self.queue.get()
            except ShutDown:
                return
            self._in_flight += 1
            self._idle.clear()
            try:
                await self._reconcile(request)
            finally:
                self._in_flight -= 1
                if not self._in_flight:
                    self._idle.set()
                self.queue.done(request)

    async def _reconcile(self, request: Request) -> None:
        reconcile_id = str(uuid.uuid4())
        bound = {"controller": self.name, "controllerGroup": self.group, "controllerKind": self.kind,
                 self.kind: str(request), "namespace": request.namespace, "name": request.name,
                 "reconcileID": reconcile_id}
        started = time.monotonic()
        self._metrics.active_workers_changed(self.name, +1)
        with structlog.contextvars.bound_contextvars(**bound):
            try:
                result = await self._reconciler(request) or Result()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a failed reconcile is retried with backoff, never crashes the process
                log.error("reconciler error", error=f"{type(error).__name__}: {error}",
                          retries=self.queue.num_requeues(request))
                self._metrics.reconciled(self.name, "error", time.monotonic() - started)
                self.queue.add_rate_limited(request)
                return
            finally:
                self._metrics.active_workers_changed(self.name, -1)
        outcome: ReconcileResult
        if result.requeue_after_s > 0:
            self.queue.forget(request)
            self.queue.add_after(request, result.requeue_after_s)
            outcome = "requeue_after"
        elif result.requeue:
            self.queue.add_rate_limited(request)
            outcome = "requeue"
        else:
            self.queue.forget(request)
            outcome = "success"
        self._metrics.reconciled(self.name, outcome, time.monotonic() - started)
