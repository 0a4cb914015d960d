from __future__ import annotations

import asyncio

import pytest

from k0smotron_core.runtime._workqueue import ShutDown, WorkQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def process(queue: WorkQueue[str]) -> str:
    key = await queue.get()
    queue.done(key)
    return key


async def assert_ready_exactly_after(queue: WorkQueue[str], clock: FakeClock, key: str, delay_s: float) -> None:
    """The key becomes ready at start + delay_s, not a moment before; then it is processed."""
    start = clock.now
    clock.now = start + delay_s * (1 - 1e-9)
    assert len(queue) == 0, f"{key} ready before {delay_s}s"
    clock.now = start + delay_s
    assert len(queue) == 1, f"{key} not ready after {delay_s}s"
    assert await process(queue) == key


async def test_a_key_added_many_times_is_queued_once() -> None:
    queue: WorkQueue[str] = WorkQueue("test")
    for key in ("a", "a", "b", "a"):
        queue.add(key)
    assert len(queue) == 2
    assert [await process(queue), await process(queue)] == ["a", "b"]
    assert len(queue) == 0


async def test_keys_are_handed_out_in_the_order_they_were_added() -> None:
    queue: WorkQueue[str] = WorkQueue("test")
    for key in ("c", "a", "b"):
        queue.add(key)
    assert [await process(queue) for _ in range(3)] == ["c", "a", "b"]


async def test_a_key_being_processed_is_not_handed_out_again_until_it_is_done() -> None:
    queue: WorkQueue[str] = WorkQueue("test")
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    assert len(queue) == 0
    second_worker = asyncio.create_task(queue.get())
    await settle()
    assert not second_worker.done()

    queue.done("a")
    assert await asyncio.wait_for(second_worker, 1) == "a"


async def test_a_key_not_added_again_while_processing_is_gone_once_done() -> None:
    queue: WorkQueue[str] = WorkQueue("test")
    queue.add("a")
    queue.done(await queue.get())
    assert len(queue) == 0


async def test_a_key_added_while_processing_keeps_its_place_after_keys_added_before_done() -> None:
    queue: WorkQueue[str] = WorkQueue("test")
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    queue.add("b")
    queue.done(key)
    assert [await process(queue), await process(queue)] == ["b", "a"]


async def test_add_after_hands_keys_out_in_deadline_order() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("test", clock=clock)
    queue.add_after("a", 3)
    queue.add_after("b", 1)
    queue.add_after("c", 2)
    assert len(queue) == 0
    clock.advance(1.5)
    assert len(queue) == 1
    assert await process(queue) == "b"
    clock.advance(1.5)
    assert [await process(queue), await process(queue)] == ["c", "a"]


async def test_a_key_whose_delay_ran_out_goes_before_a_key_added_later() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("test", clock=clock)
    queue.add_after("delayed", 1)
    clock.advance(2)
    queue.add("direct")
    assert [await process(queue), await process(queue)] == ["delayed", "direct"]


async def test_a_shorter_delay_replaces_a_longer_one_but_a_longer_one_does_not_replace_a_shorter() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("test", clock=clock)
    queue.add_after("shortened", 10)
    queue.add_after("shortened", 2)
    queue.add_after("kept", 2)
    queue.add_after("kept", 10)
    clock.advance(2)
    assert len(queue) == 2
    assert {await process(queue), await process(queue)} == {"shortened", "kept"}
    clock.advance(20)
    assert len(queue) == 0


async def test_add_after_without_a_delay_adds_at_once() -> None:
    queue: WorkQueue[str] = WorkQueue("test", clock=FakeClock())
    queue.add_after("a", 0)
    assert len(queue) == 1


async def test_a_waiting_worker_is_woken_when_a_delay_runs_out() -> None:
    queue: WorkQueue[str] = WorkQueue("test")
    worker = asyncio.create_task(queue.get())
    await settle()
    queue.add_after("a", 0.01)
    assert await asyncio.wait_for(worker, 2) == "a"


async def test_a_delay_set_outside_the_event_loop_takes_effect_once_a_worker_waits() -> None:
    def schedule(queue: WorkQueue[str]) -> None:
        queue.add_after("a", 0.01)

    queue: WorkQueue[str] = WorkQueue("test")
    await asyncio.to_thread(schedule, queue)  # no running loop in that thread: no timer could be armed
    assert await asyncio.wait_for(queue.get(), 2) == "a"


async def test_rate_limited_adds_back_off_from_5ms_doubling_per_failure() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("test", clock=clock)
    for failures in range(6):
        queue.add_rate_limited("a")
        assert queue.num_requeues("a") == failures + 1
        await assert_ready_exactly_after(queue, clock, "a", 0.005 * 2**failures)


async def test_the_backoff_is_capped_at_1000s_by_default() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("test", clock=clock)
    for failures in range(22):
        queue.add_rate_limited("a")
        await assert_ready_exactly_after(queue, clock, "a", min(0.005 * 2**failures, 1000.0))


async def test_the_backoff_follows_the_configured_base_and_cap() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("test", base_delay_s=1, max_delay_s=5, clock=clock)
    for expected in (1, 2, 4, 5, 5):
        queue.add_rate_limited("a")
        await assert_ready_exactly_after(queue, clock, "a", expected)


async def test_forget_resets_the_backoff_of_that_key_only() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("test", clock=clock)
    for key in ("a", "a", "a", "b"):
        queue.add_rate_limited(key)
        clock.advance(1)
        await process(queue)
    queue.forget("a")
    assert queue.num_requeues("a") == 0
    assert queue.num_requeues("b") == 1
    queue.add_rate_limited("a")
    await assert_ready_exactly_after(queue, clock, "a", 0.005)


async def test_the_overall_bucket_slows_a_storm_of_failing_keys_to_10_per_second_after_a_burst_of_100() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("test", clock=clock)
    for index in range(102):
        queue.add_rate_limited(f"key-{index}")
    clock.advance(0.005)
    assert len(queue) == 100
    clock.advance(0.1 - 0.005)
    assert len(queue) == 101
    clock.advance(0.1)
    assert len(queue) == 102


async def test_without_the_overall_bucket_only_the_per_key_backoff_applies() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("test", clock=clock, overall_qps=None)
    for index in range(150):
        queue.add_rate_limited(f"key-{index}")
    clock.advance(0.005)
    assert len(queue) == 150


async def test_shutdown_releases_every_waiting_worker() -> None:
    queue: WorkQueue[str] = WorkQueue("test")
    workers = [asyncio.create_task(queue.get()) for _ in range(3)]
    await settle()
    queue.shutdown()
    results = await asyncio.wait_for(asyncio.gather(*workers, return_exceptions=True), 1)
    assert all(isinstance(result, ShutDown) for result in results)


async def test_keys_queued_before_shutdown_are_still_handed_out_and_new_ones_are_refused() -> None:
    queue: WorkQueue[str] = WorkQueue("test")
    queue.add("a")
    queue.shutdown()
    queue.add("b")
    queue.add_rate_limited("c")
    assert queue.shutting_down
    assert await process(queue) == "a"
    with pytest.raises(ShutDown):
        await queue.get()


async def test_shutdown_drops_delayed_keys() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("test", clock=clock)
    queue.add_after("a", 1)
    queue.shutdown()
    clock.advance(2)
    assert len(queue) == 0
    with pytest.raises(ShutDown):
        await queue.get()


async def test_a_worker_cancelled_just_after_being_woken_does_not_swallow_the_key() -> None:
    queue: WorkQueue[str] = WorkQueue("test")
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await settle()
    queue.add("a")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == "a"
    with pytest.raises(asyncio.CancelledError):
        await first
