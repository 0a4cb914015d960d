"""A rate-limited, delaying work queue with client-go's workqueue semantics, for one asyncio event loop.

The guarantees a level-triggered controller relies on:

* a key is queued at most once, however often it is added before a worker takes it;
* a key is never handed to two workers at once: added while it is being processed, it waits (it is "dirty") and is
  queued again when its worker calls `done`;
* `add_after` keeps, per key, the earliest of the pending deadlines (client-go's delaying queue does the same);
* `add_rate_limited` backs off per key exponentially (5 ms doubling up to 1000 s, controller-runtime's default
  ItemExponentialFailureRateLimiter) and, like controller-runtime's default `MaxOf`, never faster than an overall
  token bucket of 10 qps with a burst of 100, so that a storm of failing keys cannot hammer the API server;
* `shutdown` stops new work; keys already queued are still handed out, then `get` raises `ShutDown`.

Not thread-safe: every method must be called from the event loop that awaits `get`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)

# 2.0 ** 1024 overflows a float; beyond 2 ** 1023 every backoff is capped anyway.
_MAX_EXPONENT = 1023


class ShutDown(Exception):
    """Raised by `WorkQueue.get` once the queue is shut down and has nothing left to hand out."""


class WorkQueueMetrics(Protocol):
    """What a work queue reports, mirroring client-go's queue metrics provider (see `RuntimeMetrics.workqueue`)."""

    def added(self) -> None:
        """A key became waiting (it was not waiting already): one more add, depth up by one."""

    def handed_out(self, queued_s: float) -> None:
        """A worker took a key that had waited `queued_s` since it was added: depth down by one."""

    def finished(self, worked_s: float) -> None:
        """A worker finished a key it had held for `worked_s`."""

    def retried(self) -> None:
        """A key was added with a delay (`add_after`, and so `add_rate_limited`), as client-go counts retries."""

    def track_in_flight(self, ages: Callable[[], Iterable[float]]) -> None:
        """Give the metrics a way to read, when scraped, how long each key being processed has been held."""


class _ExponentialBackoff(Generic[K]):
    """client-go's ItemExponentialFailureRateLimiter: base * 2^failures, capped at max."""

    def __init__(self, base_delay_s: float, max_delay_s: float) -> None:
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        exponent = self._failures.get(key, 0)
        self._failures[key] = exponent + 1
        return min(self._base_delay_s * 2.0 ** min(exponent, _MAX_EXPONENT), self._max_delay_s)

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)


class _TokenBucket:
    """golang.org/x/time/rate's `Limiter.Reserve().Delay()`: how long until a token is ours.

    A reservation takes its token at once, going into debt if need be, so successive reservations queue up behind
    each other at `qps`.
    """

    def __init__(self, qps: float, burst: int, clock: Callable[[], float]) -> None:
        self._qps = qps
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def reserve(self) -> float:
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = max(now, self._last)
        self._tokens = min(self._burst, self._tokens + elapsed * self._qps) - 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._qps


class WorkQueue(Generic[K]):
    """A queue of keys to reconcile; see the module docstring for its guarantees.

    `clock` drives the delays, the backoff and the durations reported to `metrics`; tests pass a fake one.
    Keys whose delay has run out are moved to the queue by a timer on the running loop, and also whenever the queue
    is used (`add`, `get`, `len`), so a fake clock that has been advanced takes effect at the next call.
    `overall_qps=None` drops the overall token bucket and leaves only the per-key backoff.
    """

    def __init__(
        self,
        name: str,
        metrics: WorkQueueMetrics | None = None,
        *,
        base_delay_s: float = 0.005,
        max_delay_s: float = 1000.0,
        clock: Callable[[], float] = time.monotonic,
        overall_qps: float | None = 10.0,
        overall_burst: int = 100,
    ) -> None:
        self.name = name
        self._metrics = metrics
        self._clock = clock
        self._queue: deque[K] = deque()
        # Keys that are waiting to be processed: those in `_queue` plus those re-added while being processed.
        self._dirty: set[K] = set()
        self._added_at: dict[K, float] = {}
        self._processing: dict[K, float] = {}  # key -> when a worker took it
        # Delayed keys: the deadline in force per key, and a heap that may hold superseded entries (skipped when
        # popped: an entry is current only if its sequence number is the one in `_delayed`).
        self._delayed: dict[K, tuple[float, int]] = {}
        self._deadlines: list[tuple[float, int, K]] = []
        self._sequence = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline = 0.0
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._backoff: _ExponentialBackoff[K] = _ExponentialBackoff(base_delay_s, max_delay_s)
        self._bucket = _TokenBucket(overall_qps, overall_burst, clock) if overall_qps else None
        if metrics is not None:
            metrics.track_in_flight(self._in_flight_ages)

    def __len__(self) -> int:
        """The number of keys ready to be handed out."""
        self._promote_due()
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, key: K) -> None:
        if self._shutting_down:
            return
        # Keys whose delay ran out earlier go first, as they would have if the timer had fired on time.
        self._promote_due()
        self._make_dirty(key)

    def add_after(self, key: K, delay_s: float) -> None:
        if self._shutting_down:
            return
        if self._metrics is not None:
            self._metrics.retried()
        if delay_s <= 0:
            self.add(key)
            return
        deadline = self._clock() + delay_s
        pending = self._delayed.get(key)
        if pending is not None and pending[0] <= deadline:
            return
        sequence = next(self._sequence)
        self._delayed[key] = (deadline, sequence)
        heapq.heappush(self._deadlines, (deadline, sequence, key))
        self._arm_timer()

    def add_rate_limited(self, key: K) -> None:
        if self._shutting_down:
            return
        delay_s = self._backoff.when(key)
        if self._bucket is not None:
            delay_s = max(delay_s, self._bucket.reserve())
        self.add_after(key, delay_s)

    def forget(self, key: K) -> None:
        """Reset the key's backoff (after it reconciled successfully)."""
        self._backoff.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._backoff.failures(key)

    async def get(self) -> K:
        """Wait for a key and mark it as being processed; the caller must call `done(key)` when finished."""
        while True:
            self._promote_due()
            if self._queue:
                return self._hand_out(self._queue.popleft())
            if self._shutting_down:
                raise ShutDown(self.name)
            # A delay set before the loop ran (add_after from synchronous code) still needs its timer.
            self._arm_timer()
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                if getter in self._getters:
                    self._getters.remove(getter)
                # Woken and then cancelled: pass the wake-up on, or a queued key could wait with workers idle.
                if self._queue and not getter.cancelled():
                    self._wake_one()
                raise

    def done(self, key: K) -> None:
        started = self._processing.pop(key, None)
        if started is None:
            return
        if self._metrics is not None:
            self._metrics.finished(self._clock() - started)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()

    def shutdown(self) -> None:
        """Accept no new keys and drop delayed ones; waiting `get` calls drain the queue, then raise `ShutDown`."""
        self._shutting_down = True
        self._delayed.clear()
        self._deadlines.clear()
        self._disarm_timer()
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)

    def _make_dirty(self, key: K) -> None:
        if key in self._dirty:
            return
        self._dirty.add(key)
        self._added_at[key] = self._clock()
        if self._metrics is not None:
            self._metrics.added()
        if key in self._processing:
            return  # queued again by done()
        self._queue.append(key)
        self._wake_one()

    def _hand_out(self, key: K) -> K:
        now = self._clock()
        self._dirty.discard(key)
        self._processing[key] = now
        added_at = self._added_at.pop(key, now)
        if self._metrics is not None:
            self._metrics.handed_out(now - added_at)
        return key

    def _wake_one(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def _promote_due(self) -> None:
        if not self._deadlines:
            return
        now = self._clock()
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, sequence, key = heapq.heappop(self._deadlines)
            if self._delayed.get(key) == (deadline, sequence):
                del self._delayed[key]
                self._make_dirty(key)

    def _drop_superseded_head(self) -> None:
        while self._deadlines:
            deadline, sequence, key = self._deadlines[0]
            if self._delayed.get(key) == (deadline, sequence):
                return
            heapq.heappop(self._deadlines)

    def _arm_timer(self) -> None:
        """Make sure a timer fires at the earliest deadline, if there is one and a loop to run it."""
        self._drop_superseded_head()
        if not self._deadlines:
            self._disarm_timer()
            return
        deadline = self._deadlines[0][0]
        if self._timer is not None and self._timer_deadline == deadline:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # get() arms it once a loop runs
        self._disarm_timer()
        self._timer_deadline = deadline
        self._timer = loop.call_later(max(0.0, deadline - self._clock()), self._on_timer)

    def _disarm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        self._promote_due()
        self._arm_timer()

    def _in_flight_ages(self) -> list[float]:
        now = self._clock()
        return [now - started for started in self._processing.values()]
