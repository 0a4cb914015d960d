"""Leader election on a Lease against envtest: one leader, takeover on expiry and on release, losing the lease."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from k0smotron_core.envtest import EnvTest
from k0smotron_core.runtime._leaderelection import LeaderElector, default_identity, leader_election_id
from k0smotron_core.runtime._transport import HTTPTransport

LEASE_NAME = "test-lease"
# Short timings: a 1.5s lease is written as 2 whole seconds, so a silent leader is replaced after about 2s.
FAST = {"lease_duration_s": 1.5, "renew_deadline_s": 1.0, "retry_period_s": 0.2}
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest_asyncio.fixture
async def transports(async_envtest: EnvTest, tmp_path: Path) -> AsyncIterator[Callable[[], Awaitable[HTTPTransport]]]:
    """Each call: a new connection to envtest, as a separate process would have."""
    kubeconfig = async_envtest.write_kubeconfig(tmp_path / "kubeconfig")
    opened: list[HTTPTransport] = []

    async def connect() -> HTTPTransport:
        transport = await HTTPTransport.from_kubeconfig(str(kubeconfig), qps=0)
        opened.append(transport)
        return transport

    yield connect
    for transport in opened:
        await transport.close()


def _lease(env: EnvTest) -> dict[str, Any]:
    lease = env.get("coordination.k8s.io/v1", "Lease", LEASE_NAME, "default")
    assert lease is not None
    spec: dict[str, Any] = lease["spec"]
    return spec


class Candidate:
    """An elector plus the leadership changes it reported."""

    def __init__(self, transport: HTTPTransport, identity: str, **timings: float) -> None:
        self.statuses: list[bool] = []
        self.elector = LeaderElector(transport, namespace="default", name=LEASE_NAME, identity=identity,
                                     on_status=self.statuses.append, **(timings or FAST))


async def _candidates(connect: Callable[[], Awaitable[HTTPTransport]], *identities: str,
                      **timings: float) -> list[Candidate]:
    return [Candidate(await connect(), identity, **timings) for identity in identities]


async def _cancel(*tasks: asyncio.Task[Any]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_only_one_of_two_candidates_leads(
    async_envtest: EnvTest, transports: Callable[[], Awaitable[HTTPTransport]]
) -> None:
    a, b = await _candidates(transports, "a", "b")
    acquiring = {asyncio.create_task(a.elector.acquire()): a, asyncio.create_task(b.elector.acquire()): b}
    done, pending = await asyncio.wait(acquiring, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) == 1
    leader = acquiring[done.pop()]
    follower = b if leader is a else a
    holding = asyncio.create_task(leader.elector.hold())
    # Several lease durations: the leader renews, so the follower never gets in.
    await asyncio.sleep(4)
    assert not pending.pop().done()
    assert leader.elector.is_leader and not follower.elector.is_leader
    assert leader.statuses == [True] and follower.statuses == []
    spec = _lease(async_envtest)
    assert spec["holderIdentity"] == leader.elector.identity
    assert spec["leaseDurationSeconds"] == 2
    assert spec["leaseTransitions"] == 0
    assert MICRO_TIME.match(spec["acquireTime"]) and MICRO_TIME.match(spec["renewTime"])
    assert spec["renewTime"] > spec["acquireTime"]
    await _cancel(holding, *acquiring)


async def test_many_candidates_racing_for_a_missing_lease_elect_exactly_one(
    async_envtest: EnvTest, transports: Callable[[], Awaitable[HTTPTransport]]
) -> None:
    candidates = await _candidates(transports, *(f"c{i}" for i in range(6)))
    tasks = [asyncio.create_task(c.elector.acquire()) for c in candidates]
    await asyncio.wait(tasks, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.sleep(0.5)  # the losers have read the lease by now; none may have overwritten it
    leaders = [c for c in candidates if c.elector.is_leader]
    assert len(leaders) == 1
    assert _lease(async_envtest)["holderIdentity"] == leaders[0].elector.identity
    assert _lease(async_envtest)["leaseTransitions"] == 0
    await _cancel(*tasks)


async def test_a_follower_takes_over_once_the_leader_stops_renewing(
    async_envtest: EnvTest, transports: Callable[[], Awaitable[HTTPTransport]]
) -> None:
    a, b = await _candidates(transports, "a", "b")
    await a.elector.acquire()
    holding = asyncio.create_task(a.elector.hold())
    following = asyncio.create_task(b.elector.acquire())
    await asyncio.sleep(1)
    await _cancel(holding)  # a crashed leader: no release
    stopped = time.monotonic()
    await asyncio.wait_for(following, timeout=5)
    waited = time.monotonic() - stopped
    # Not before the lease (2s, as last observed) could have run out; within it plus a retry with jitter.
    assert 1.5 <= waited <= 2 + 0.2 * 2.2 + 0.5, waited
    assert b.elector.is_leader and b.statuses == [True]
    spec = _lease(async_envtest)
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == 1


async def test_a_lease_taken_by_someone_else_makes_hold_return(
    async_envtest: EnvTest, transports: Callable[[], Awaitable[HTTPTransport]]
) -> None:
    (a,) = await _candidates(transports, "a")
    await a.elector.acquire()
    holding = asyncio.create_task(a.elector.hold())
    await asyncio.sleep(0.5)
    usurper = await transports()
    lease = await usurper.request("GET", a.elector.path)
    lease["spec"]["holderIdentity"] = "usurper"
    await usurper.request("PUT", a.elector.path, body=lease)
    changed = time.monotonic()
    await asyncio.wait_for(holding, timeout=2)
    assert time.monotonic() - changed < 1.0  # at the next renewal, not after the renew deadline
    assert not a.elector.is_leader
    assert a.statuses == [True, False]
    assert _lease(async_envtest)["holderIdentity"] == "usurper"


async def test_hold_returns_when_renewals_fail_for_the_renew_deadline(
    async_envtest: EnvTest, transports: Callable[[], Awaitable[HTTPTransport]]
) -> None:
    (a,) = await _candidates(transports, "a")
    await a.elector.acquire()
    holding = asyncio.create_task(a.elector.hold())
    await asyncio.sleep(0.5)
    assert not holding.done()
    async_envtest.faults.error_rate["leases"] = 1.0
    failing = time.monotonic()
    await asyncio.wait_for(holding, timeout=3)
    # The renewal that first failed started within a retry period, then kept trying for the renew deadline.
    assert 0.9 <= time.monotonic() - failing <= 1.0 + 0.2 + 0.5
    assert a.statuses == [True, False]


async def test_release_lets_the_successor_take_over_at_once(
    async_envtest: EnvTest, transports: Callable[[], Awaitable[HTTPTransport]]
) -> None:
    timings = {"lease_duration_s": 10.0, "renew_deadline_s": 5.0, "retry_period_s": 0.2}
    a, b = await _candidates(transports, "a", "b", **timings)
    await a.elector.acquire()
    holding = asyncio.create_task(a.elector.hold())
    following = asyncio.create_task(b.elector.acquire())
    await asyncio.sleep(0.5)
    await _cancel(holding)
    released = time.monotonic()
    await a.elector.release()
    assert a.statuses == [True, False] and not a.elector.is_leader
    await asyncio.wait_for(following, timeout=3)
    assert time.monotonic() - released < 0.2 * 2.2 + 0.5  # its next try, not the 10s lease
    spec = _lease(async_envtest)
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == 1
    assert spec["leaseDurationSeconds"] == 10
    # Leadership went a → b through a released lease, and back: every change of holder counts once.
    holding_b = asyncio.create_task(b.elector.hold())
    back = asyncio.create_task(a.elector.acquire())
    await asyncio.sleep(0.3)
    await _cancel(holding_b)
    await b.elector.release()
    await asyncio.wait_for(back, timeout=3)
    assert _lease(async_envtest)["leaseTransitions"] == 2


async def test_a_released_lease_names_no_holder_and_lasts_one_second(
    async_envtest: EnvTest, transports: Callable[[], Awaitable[HTTPTransport]]
) -> None:
    (a,) = await _candidates(transports, "a")
    await a.elector.acquire()
    await a.elector.release()
    spec = _lease(async_envtest)
    assert spec.get("holderIdentity", "") == ""
    assert spec["leaseDurationSeconds"] == 1
    assert spec["leaseTransitions"] == 0


async def test_release_by_a_candidate_that_never_led_writes_nothing(
    async_envtest: EnvTest, transports: Callable[[], Awaitable[HTTPTransport]]
) -> None:
    a, b = await _candidates(transports, "a", "b")
    await a.elector.acquire()
    trying = asyncio.create_task(b.elector.acquire())
    await asyncio.sleep(0.3)
    await _cancel(trying)
    writes = async_envtest.audit.count(resource="leases", writes_only=True)
    await b.elector.release()
    assert async_envtest.audit.count(resource="leases", writes_only=True) == writes
    assert _lease(async_envtest)["holderIdentity"] == "a"
    assert b.statuses == []


async def test_a_leader_renews_without_reading_the_lease_first(
    async_envtest: EnvTest, transports: Callable[[], Awaitable[HTTPTransport]]
) -> None:
    (a,) = await _candidates(transports, "a")
    await a.elector.acquire()
    reads = async_envtest.audit.count(resource="leases", verb="get")
    holding = asyncio.create_task(a.elector.hold())
    await asyncio.sleep(1.1)
    await _cancel(holding)
    assert async_envtest.audit.count(resource="leases", verb="update") >= 4
    assert async_envtest.audit.count(resource="leases", verb="get") == reads


def test_leader_election_ids_are_k0smotrons() -> None:
    assert leader_election_id("bootstrap") == "ca4c50b905dc21ea17a10549a6f5944f.k0smotron.io"
    assert leader_election_id("controlplane") != leader_election_id("bootstrap")


def test_the_default_identity_is_the_hostname_and_a_uuid() -> None:
    identity = default_identity()
    assert re.match(r"^.+_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$", identity)
    assert default_identity() != identity


@pytest.mark.parametrize(("lease", "renew", "retry"), [(10, 10, 2), (15, 2, 2), (15, 10, 0)])
async def test_timings_that_cannot_work_are_refused(
    transports: Callable[[], Awaitable[HTTPTransport]], lease: float, renew: float, retry: float
) -> None:
    with pytest.raises(ValueError):
        LeaderElector(await transports(), namespace="default", name=LEASE_NAME, identity="a",
                      lease_duration_s=lease, renew_deadline_s=renew, retry_period_s=retry)
