"""The manager and its controllers against envtest: triggers, backoff, leader election, shutdown, idleness."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest._storage import DeleteOptions, RequestContext
from k0smotron_core.runtime import Manager, ManagerOptions, Request, Result, build_parser, options_from_args
from k0smotron_core.runtime._pause import paused_condition

LEASE_ARGS = ["--leader-elect", "--leader-elect-lease-duration", "1500ms", "--leader-elect-renew-deadline", "1s",
              "--leader-elect-retry-period", "200ms", "--leader-election-namespace", "default"]


def _options(kubeconfig: Path, *extra: str) -> ManagerOptions:
    args = build_parser("test-manager", "test", {}).parse_args([
        "--kubeconfig", str(kubeconfig), "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
        *extra,
    ])
    return options_from_args(args, role="test")


def _configmap(name: str, owner: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"], "controller": True}]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


async def _eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


class Calls:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.times: list[float] = []

    async def reconcile(self, request: Request) -> Result:
        self.requests.append(request)
        self.times.append(time.monotonic())
        return Result()

    def names(self) -> list[str]:
        return [r.name for r in self.requests]


async def _started(manager: Manager) -> asyncio.Task[int]:
    task = asyncio.create_task(manager.run())
    await _eventually(lambda: manager.cache.synced)
    return task


async def test_creating_updating_and_deleting_the_reconciled_kind_each_trigger_a_reconcile(
    async_envtest: EnvTest, tmp_path: Path
) -> None:
    manager = Manager(_options(async_envtest.write_kubeconfig(tmp_path / "kc")))
    await manager.connect()
    calls = Calls()
    await manager.controller("configmaps").reconciles(("v1", "ConfigMap")).complete(calls.reconcile)
    run = await _started(manager)
    async_envtest.create(_configmap("a"))
    await _eventually(lambda: calls.names().count("a") == 1)
    rt = async_envtest.resource_type("v1", "ConfigMap")
    current = async_envtest.get("v1", "ConfigMap", "a", "default")
    assert current is not None
    async_envtest.storage.update(rt, "default", "a", {**current, "data": {"k": "changed"}}, RequestContext())
    await _eventually(lambda: calls.names().count("a") == 2)
    async_envtest.storage.delete(rt, "default", "a", DeleteOptions(), RequestContext())
    await _eventually(lambda: calls.names().count("a") == 3)
    manager.stop()
    assert await run == 0


async def test_events_on_an_owned_object_enqueue_its_controller_owner(async_envtest: EnvTest, tmp_path: Path) -> None:
    owner = async_envtest.create(_configmap("owner"))
    manager = Manager(_options(async_envtest.write_kubeconfig(tmp_path / "kc")))
    await manager.connect()
    calls = Calls()
    await manager.controller("owners").reconciles(("v1", "ConfigMap")).owns("v1", "Secret").complete(calls.reconcile)
    run = await _started(manager)
    await _eventually(lambda: "owner" in calls.names())
    calls.requests.clear()
    async_envtest.create({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "owned", "namespace": "default",
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                             "uid": owner["metadata"]["uid"], "controller": True}]}})
    await _eventually(lambda: Request("default", "owner") in calls.requests)
    manager.stop()
    await run


async def test_a_cluster_scoped_owner_is_enqueued_without_a_namespace(async_envtest: EnvTest, tmp_path: Path) -> None:
    namespace = async_envtest.get("v1", "Namespace", "default")
    assert namespace is not None
    manager = Manager(_options(async_envtest.write_kubeconfig(tmp_path / "kc")))
    await manager.connect()
    calls = Calls()
    await manager.controller("ns").reconciles(("v1", "Namespace")).owns("v1", "ConfigMap").complete(calls.reconcile)
    run = await _started(manager)
    await _eventually(lambda: "default" in calls.names())
    calls.requests.clear()
    owned = _configmap("owned-by-namespace")
    owned["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Namespace", "name": "default",
                                             "uid": namespace["metadata"]["uid"], "controller": True}]
    async_envtest.create(owned)
    await _eventually(lambda: Request("", "default") in calls.requests)
    assert Request("default", "default") not in calls.requests
    manager.stop()
    await run


async def test_an_extra_watch_maps_events_to_requests(async_envtest: EnvTest, tmp_path: Path) -> None:
    manager = Manager(_options(async_envtest.write_kubeconfig(tmp_path / "kc")))
    await manager.connect()
    calls = Calls()
    await (manager.controller("mapped").reconciles(("v1", "Namespace"))
           .watches("v1", "ConfigMap", lambda obj: [Request("", "mapped-" + obj["metadata"]["name"])])
           .complete(calls.reconcile))
    run = await _started(manager)
    async_envtest.create(_configmap("source"))
    await _eventually(lambda: "mapped-source" in calls.names())
    manager.stop()
    await run


async def test_a_failing_reconcile_is_retried_with_growing_backoff(async_envtest: EnvTest, tmp_path: Path) -> None:
    manager = Manager(_options(async_envtest.write_kubeconfig(tmp_path / "kc")))
    await manager.connect()
    attempts: list[float] = []

    async def flaky(request: Request) -> Result:
        if request.name != "flaky":
            return Result()
        attempts.append(time.monotonic())
        if len(attempts) < 4:
            raise RuntimeError("transient")
        return Result()

    await manager.controller("flaky").reconciles(("v1", "ConfigMap")).complete(flaky)
    run = await _started(manager)
    async_envtest.create(_configmap("flaky"))
    await _eventually(lambda: len(attempts) == 4)
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.005 and gaps[1] >= 0.010 and gaps[2] >= 0.020
    errors = manager.metrics.registry.get_sample_value(
        "controller_runtime_reconcile_errors_total", {"controller": "flaky"})
    assert errors == 3
    manager.stop()
    await run


async def test_only_one_of_two_managers_reconciles_and_the_other_takes_over_when_it_stops(
    async_envtest: EnvTest, tmp_path: Path
) -> None:
    kubeconfig = async_envtest.write_kubeconfig(tmp_path / "kc")
    managers, calls, runs = [], [], []
    for _ in range(2):
        manager = Manager(_options(kubeconfig, *LEASE_ARGS))
        await manager.connect()
        record = Calls()
        await manager.controller("elected").reconciles(("v1", "ConfigMap")).complete(record.reconcile)
        managers.append(manager)
        calls.append(record)
        runs.append(await _started(manager))
    async_envtest.create(_configmap("first"))
    await _eventually(lambda: any("first" in c.names() for c in calls))
    await asyncio.sleep(0.5)
    leader = next(i for i, c in enumerate(calls) if "first" in c.names())
    follower = 1 - leader
    assert "first" not in calls[follower].names()
    managers[leader].stop()
    assert await runs[leader] == 0
    stopped_at = time.monotonic()
    async_envtest.create(_configmap("second"))
    await _eventually(lambda: "second" in calls[follower].names(), timeout_s=5)
    assert time.monotonic() - stopped_at < 1.5 + 1.0
    managers[follower].stop()
    await runs[follower]


async def test_sigterm_lets_an_in_flight_reconcile_finish_and_releases_the_lease(
    async_envtest: EnvTest, tmp_path: Path
) -> None:
    manager = Manager(_options(async_envtest.write_kubeconfig(tmp_path / "kc"), *LEASE_ARGS))
    await manager.connect()
    finished: list[str] = []
    started = asyncio.Event()

    async def slow(request: Request) -> Result:
        if request.name == "slow":
            started.set()
            await asyncio.sleep(0.5)
            finished.append(request.name)
        return Result()

    await manager.controller("slow").reconciles(("v1", "ConfigMap")).complete(slow)
    run = await _started(manager)
    async_envtest.create(_configmap("slow"))
    await asyncio.wait_for(started.wait(), 10)
    manager.stop()
    assert await run == 0
    assert finished == ["slow"]
    lease = async_envtest.get("coordination.k8s.io/v1", "Lease", manager.options.leader_election_id, "default")
    assert lease is not None
    assert not lease["spec"].get("holderIdentity")


async def test_a_sync_period_reconciles_unchanged_objects_again(async_envtest: EnvTest, tmp_path: Path) -> None:
    async_envtest.create(_configmap("steady"))
    manager = Manager(_options(async_envtest.write_kubeconfig(tmp_path / "kc"), "--sync-period", "200ms"))
    await manager.connect()
    calls = Calls()
    await manager.controller("resync").reconciles(("v1", "ConfigMap")).complete(calls.reconcile)
    run = await _started(manager)
    await _eventually(lambda: calls.names().count("steady") >= 3)
    manager.stop()
    await run


def test_the_paused_condition_names_why_reconciliation_stopped() -> None:
    cluster = {"spec": {"paused": True}}
    obj = {"kind": "K0sWorkerConfig", "metadata": {"generation": 3, "annotations": {"cluster.x-k8s.io/paused": ""}}}
    condition = paused_condition(cluster, obj, now="2026-11-21T00:00:00Z")
    assert condition == {
        "type": "Paused", "status": "True", "reason": "Paused", "observedGeneration": 3,
        "message": "Cluster spec.paused is set to true, K0sWorkerConfig has the cluster.x-k8s.io/paused annotation",
        "lastTransitionTime": "2026-11-21T00:00:00Z",
    }
    assert paused_condition({"spec": {}}, {"metadata": {}})["reason"] == "NotPaused"


@pytest.mark.timeout(90)
async def test_an_idle_manager_makes_no_requests_beyond_watches_and_lease_renewals(
    async_envtest: EnvTest, tmp_path: Path
) -> None:
    manager = Manager(_options(async_envtest.write_kubeconfig(tmp_path / "kc"), *LEASE_ARGS))
    await manager.connect()
    calls = Calls()
    await manager.controller("idle").reconciles(("v1", "ConfigMap")).owns("v1", "Secret").complete(calls.reconcile)
    run = await _started(manager)
    await asyncio.sleep(1)
    since = time.time()
    await asyncio.sleep(30)
    requests = async_envtest.audit.events(since=since)
    other = [e for e in requests if e.verb != "watch" and e.resource != "leases"]
    assert other == []
    assert any(e.resource == "leases" and e.verb == "update" for e in requests)
    manager.stop()
    await run


async def test_shutdown_hooks_run_in_reverse_order_when_the_manager_stops_even_if_one_fails(
        async_envtest: EnvTest, tmp_path: Path) -> None:
    manager = Manager(_options(async_envtest.write_kubeconfig(tmp_path / "kubeconfig")))
    await manager.connect()
    closed: list[str] = []

    async def failing() -> None:
        closed.append("failing")
        raise RuntimeError("boom")

    async def first() -> None:
        closed.append("first")

    manager.on_shutdown(first)
    manager.on_shutdown(failing)
    run = asyncio.create_task(manager.run())
    await asyncio.sleep(0.2)
    assert closed == []
    manager.stop()
    assert await run == 0
    assert closed == ["failing", "first"]
