"""Races every controller reading from a cache meets, handled the way core handles them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ...runtime import APIError, Request, Result

CACHE_CATCH_UP_S = 0.05
"""How long to give the cache to see a write it raced with, before looking again."""


def tolerating_races(reconcile: Callable[[Request], Awaitable[Result]]) -> Callable[[Request], Awaitable[Result]]:
    """A conflict (we wrote from a stale cached copy) means: look again shortly, at the fresh object. It is not an
    error, so it must not grow the per-key backoff. NotFound means the object went away meanwhile: nothing to do."""

    async def reconcile_tolerating_races(request: Request) -> Result:
        try:
            return await reconcile(request)
        except APIError as error:
            if error.conflict:
                return Result(requeue_after_s=CACHE_CATCH_UP_S)
            if error.not_found:
                return Result()
            raise

    return reconcile_tolerating_races
