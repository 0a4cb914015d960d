from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from k0smotron_core.runtime._metrics import RECONCILE_RESULTS, RuntimeMetrics
from k0smotron_core.runtime._servers import BindAddress, BindError, MetricsServer, ProbeServer
from k0smotron_core.runtime._workqueue import WorkQueue

from .test_workqueue import FakeClock

CONTROLLER_RUNTIME_METRIC_NAMES = (
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "controller_runtime_reconcile_panics_total",
    "controller_runtime_reconcile_time_seconds",
    "controller_runtime_active_workers",
    "controller_runtime_max_concurrent_reconciles",
    "workqueue_depth",
    "workqueue_adds_total",
    "workqueue_queue_duration_seconds",
    "workqueue_work_duration_seconds",
    "workqueue_retries_total",
    "workqueue_unfinished_work_seconds",
    "workqueue_longest_running_processor_seconds",
    "leader_election_master_status",
    "rest_client_requests_total",
    "rest_client_request_duration_seconds",
)


def queue_sample(metrics: RuntimeMetrics, name: str, queue: str = "ctrl") -> float | None:
    return metrics.registry.get_sample_value(name, {"controller": queue, "name": queue})


# --- metrics ---------------------------------------------------------------------------------------------------------


async def test_workqueue_metrics_follow_adds_hand_outs_and_dones() -> None:
    metrics, clock = RuntimeMetrics(), FakeClock()
    queue: WorkQueue[str] = WorkQueue("ctrl", metrics.workqueue("ctrl"), clock=clock)
    assert queue_sample(metrics, "workqueue_depth") == 0
    assert queue_sample(metrics, "workqueue_adds_total") == 0

    for key in ("a", "a", "b"):
        queue.add(key)
    assert queue_sample(metrics, "workqueue_adds_total") == 2
    assert queue_sample(metrics, "workqueue_depth") == 2

    clock.advance(2)
    assert await queue.get() == "a"
    assert queue_sample(metrics, "workqueue_depth") == 1
    assert queue_sample(metrics, "workqueue_queue_duration_seconds_count") == 1
    assert queue_sample(metrics, "workqueue_queue_duration_seconds_sum") == 2

    clock.advance(3)
    assert await queue.get() == "b"
    clock.advance(1)
    assert queue_sample(metrics, "workqueue_unfinished_work_seconds") == 4 + 1
    assert queue_sample(metrics, "workqueue_longest_running_processor_seconds") == 4

    queue.done("a")
    assert queue_sample(metrics, "workqueue_work_duration_seconds_count") == 1
    assert queue_sample(metrics, "workqueue_work_duration_seconds_sum") == 4
    assert queue_sample(metrics, "workqueue_unfinished_work_seconds") == 1
    queue.done("b")
    assert queue_sample(metrics, "workqueue_longest_running_processor_seconds") == 0


async def test_a_key_added_while_processing_counts_in_depth_until_handed_out_again() -> None:
    metrics = RuntimeMetrics()
    queue: WorkQueue[str] = WorkQueue("ctrl", metrics.workqueue("ctrl"), clock=FakeClock())
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    assert queue_sample(metrics, "workqueue_depth") == 1
    queue.done(key)
    await queue.get()
    assert queue_sample(metrics, "workqueue_depth") == 0
    assert queue_sample(metrics, "workqueue_adds_total") == 2


async def test_delayed_and_rate_limited_adds_count_as_retries() -> None:
    metrics = RuntimeMetrics()
    queue: WorkQueue[str] = WorkQueue("ctrl", metrics.workqueue("ctrl"), clock=FakeClock())
    queue.add_rate_limited("a")
    queue.add_after("b", 30)
    queue.add("c")
    assert queue_sample(metrics, "workqueue_retries_total") == 2
    assert queue_sample(metrics, "workqueue_adds_total") == 1


def test_registering_a_controller_creates_its_series_at_zero() -> None:
    metrics = RuntimeMetrics()
    metrics.register_controller("machine", 5)
    sample = metrics.registry.get_sample_value
    for result in RECONCILE_RESULTS:
        assert sample("controller_runtime_reconcile_total", {"controller": "machine", "result": result}) == 0
    assert sample("controller_runtime_reconcile_errors_total", {"controller": "machine"}) == 0
    assert sample("controller_runtime_reconcile_panics_total", {"controller": "machine"}) == 0
    assert sample("controller_runtime_reconcile_time_seconds_count", {"controller": "machine"}) == 0
    assert sample("controller_runtime_active_workers", {"controller": "machine"}) == 0
    assert sample("controller_runtime_max_concurrent_reconciles", {"controller": "machine"}) == 5


def test_reconcile_outcomes_durations_and_workers_are_counted() -> None:
    metrics = RuntimeMetrics()
    metrics.register_controller("machine", 2)
    metrics.active_workers_changed("machine", +1)
    metrics.active_workers_changed("machine", +1)
    metrics.reconciled("machine", "error", 0.25)
    metrics.reconciled("machine", "success", 0.5)
    metrics.reconciled("machine", "requeue_after", 0.25)
    metrics.reconcile_panicked("machine")
    metrics.active_workers_changed("machine", -1)

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"controller": "machine", **labels})

    assert sample("controller_runtime_reconcile_total", result="error") == 1
    assert sample("controller_runtime_reconcile_total", result="success") == 1
    assert sample("controller_runtime_reconcile_total", result="requeue_after") == 1
    assert sample("controller_runtime_reconcile_total", result="requeue") == 0
    assert sample("controller_runtime_reconcile_errors_total") == 1
    assert sample("controller_runtime_reconcile_panics_total") == 1
    assert sample("controller_runtime_reconcile_time_seconds_count") == 3
    assert sample("controller_runtime_reconcile_time_seconds_sum") == 1.0
    assert sample("controller_runtime_reconcile_time_seconds_bucket", le="0.25") == 2
    assert sample("controller_runtime_active_workers") == 1


def test_rest_requests_and_leadership_are_reported() -> None:
    metrics = RuntimeMetrics()
    metrics.rest_request("GET", 200, "10.0.0.1:6443", 0.02)
    metrics.rest_request("GET", 200, "10.0.0.1:6443", 0.03)
    metrics.rest_request("PATCH", "<error>", "10.0.0.1:6443", 1.5)
    metrics.set_leader("controller-leader", True)
    sample = metrics.registry.get_sample_value
    assert sample("rest_client_requests_total", {"code": "200", "method": "GET", "host": "10.0.0.1:6443"}) == 2
    assert sample("rest_client_requests_total", {"code": "<error>", "method": "PATCH", "host": "10.0.0.1:6443"}) == 1
    assert sample("rest_client_request_duration_seconds_count", {"verb": "GET", "host": "10.0.0.1:6443"}) == 2
    assert sample("leader_election_master_status", {"name": "controller-leader"}) == 1
    metrics.set_leader("controller-leader", False)
    assert sample("leader_election_master_status", {"name": "controller-leader"}) == 0


def test_two_managers_in_one_process_keep_separate_metrics() -> None:
    first, second = RuntimeMetrics(), RuntimeMetrics()
    first.register_controller("machine", 1)
    second.register_controller("machine", 1)
    first.reconciled("machine", "success", 0.1)
    labels = {"controller": "machine", "result": "success"}
    assert first.registry.get_sample_value("controller_runtime_reconcile_total", labels) == 1
    assert second.registry.get_sample_value("controller_runtime_reconcile_total", labels) == 0


def test_the_exposition_has_every_controller_runtime_name_and_no_created_series() -> None:
    metrics = RuntimeMetrics()
    text = metrics.render().decode()
    for name in CONTROLLER_RUNTIME_METRIC_NAMES:
        assert f"# TYPE {name} " in text
    assert "_created" not in text
    assert "process_cpu_seconds_total" in text


# --- servers ---------------------------------------------------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def fetch(http: aiohttp.ClientSession, server: ProbeServer | MetricsServer, path: str) -> tuple[int, str]:
    async with http.get(f"http://127.0.0.1:{server.port}{path}") as response:
        return response.status, await response.text()


@pytest.fixture
async def probes() -> AsyncIterator[ProbeServer]:
    server = ProbeServer("127.0.0.1:0")
    yield server
    await server.stop()


async def test_metrics_endpoint_serves_every_controller_runtime_metric_before_any_reconcile(
        http: aiohttp.ClientSession) -> None:
    metrics = RuntimeMetrics()
    metrics.register_controller("machine", 1)
    metrics.workqueue("machine")
    server = MetricsServer("127.0.0.1:0", metrics)
    await server.start()
    try:
        async with http.get(f"http://127.0.0.1:{server.port}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await response.text()
    finally:
        await server.stop()
    for name in CONTROLLER_RUNTIME_METRIC_NAMES:
        assert name in text
    assert 'controller_runtime_reconcile_total{controller="machine",result="success"} 0.0' in text
    assert 'workqueue_depth{controller="machine",name="machine"} 0.0' in text


async def test_probes_answer_ok_when_every_check_passes(probes: ProbeServer, http: aiohttp.ClientSession) -> None:
    async def synced() -> None:
        return None

    probes.add_healthz_check("ping", lambda: True)
    probes.add_readyz_check("informers", synced)
    await probes.start()
    assert await fetch(http, probes, "/healthz") == (200, "ok")
    assert await fetch(http, probes, "/readyz") == (200, "ok")
    assert await fetch(http, probes, "/readyz/informers") == (200, "ok")


async def test_a_failing_check_fails_its_endpoint_with_one_line_per_failure(
        probes: ProbeServer, http: aiohttp.ClientSession) -> None:
    async def informers() -> None:
        raise RuntimeError("cache for Machine not synced")

    probes.add_healthz_check("ping", lambda: True)
    probes.add_readyz_check("informers", informers)
    probes.add_readyz_check("leader", lambda: False)
    probes.add_readyz_check("webhooks", lambda: None)
    await probes.start()

    assert await fetch(http, probes, "/healthz") == (200, "ok")
    status, body = await fetch(http, probes, "/readyz")
    assert status == 500
    assert body.splitlines() == [
        "[-]informers failed: reason withheld",
        "[-]leader failed: reason withheld",
        "[+]webhooks ok",
        "readyz check failed",
    ]
    status, body = await fetch(http, probes, "/readyz/informers")
    assert (status, body) == (500, "internal server error: RuntimeError: cache for Machine not synced\n")
    assert (await fetch(http, probes, "/readyz/leader"))[0] == 500
    assert (await fetch(http, probes, "/readyz/unknown"))[0] == 404


async def test_verbose_probes_list_every_check(probes: ProbeServer, http: aiohttp.ClientSession) -> None:
    probes.add_healthz_check("ping", lambda: True)
    probes.add_healthz_check("cache", lambda: True)
    await probes.start()
    assert await fetch(http, probes, "/healthz?verbose") == (200, "[+]cache ok\n[+]ping ok\nhealthz check passed\n")


async def test_excluded_checks_do_not_fail_the_probe(probes: ProbeServer, http: aiohttp.ClientSession) -> None:
    probes.add_readyz_check("ping", lambda: True)
    probes.add_readyz_check("broken", lambda: False)
    await probes.start()
    status, body = await fetch(http, probes, "/readyz?exclude=broken&exclude=missing&verbose")
    assert status == 200
    assert "[+]broken excluded: ok" in body
    assert "no matches for 'missing'" in body


async def test_probes_without_checks_answer_ok(probes: ProbeServer, http: aiohttp.ClientSession) -> None:
    await probes.start()
    assert await fetch(http, probes, "/healthz") == (200, "ok")
    assert await fetch(http, probes, "/readyz?verbose") == (200, "[+]ping ok\nreadyz check passed\n")


def test_a_check_name_is_registered_once(probes: ProbeServer) -> None:
    probes.add_healthz_check("ping", lambda: True)
    with pytest.raises(ValueError, match="already exists"):
        probes.add_healthz_check("ping", lambda: True)
    probes.add_readyz_check("ping", lambda: True)  # the two endpoints have separate checks


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (":8080", BindAddress(None, 8080)),
        ("127.0.0.1:8080", BindAddress("127.0.0.1", 8080)),
        ("localhost:0", BindAddress("localhost", 0)),
        ("[::1]:9443", BindAddress("::1", 9443)),
        ("0", None),
    ],
)
def test_bind_addresses_are_read_like_controller_runtime(address: str, expected: BindAddress | None) -> None:
    assert BindAddress.parse(address) == expected


@pytest.mark.parametrize("address", ["8080", "::1:80", "host:http", "host:70000", "host:"])
def test_malformed_bind_addresses_are_rejected(address: str) -> None:
    with pytest.raises(ValueError, match="bind address"):
        BindAddress.parse(address)


async def test_a_zero_bind_address_disables_a_server() -> None:
    for server in (ProbeServer("0"), ProbeServer(""), MetricsServer("0", RuntimeMetrics())):
        await server.start()
        assert not server.enabled
        assert server.port is None
        await server.stop()


def test_an_empty_metrics_bind_address_means_port_8080_on_every_interface() -> None:
    server = MetricsServer("", RuntimeMetrics())
    assert server.enabled
    assert server.bind_address == ":8080"


async def test_a_server_on_every_interface_answers_on_loopback(http: aiohttp.ClientSession) -> None:
    server = ProbeServer(":0")
    await server.start()
    try:
        assert server.port
        assert await fetch(http, server, "/healthz") == (200, "ok")
    finally:
        await server.stop()
    assert server.port is None


async def test_a_busy_port_fails_with_one_line_naming_the_address(probes: ProbeServer) -> None:
    await probes.start()
    address = f"127.0.0.1:{probes.port}"
    clashing = MetricsServer(address, RuntimeMetrics())
    with pytest.raises(BindError) as raised:
        await clashing.start()
    message = str(raised.value)
    assert address in message and "metrics server" in message
    assert "\n" not in message
    assert clashing.port is None


async def test_stopping_frees_the_port_for_a_new_server() -> None:
    first = ProbeServer("127.0.0.1:0")
    await first.start()
    port = first.port
    await first.stop()
    second = ProbeServer(f"127.0.0.1:{port}")
    await asyncio.wait_for(second.start(), 5)
    assert second.port == port
    await second.stop()
