"""Prometheus metrics under controller-runtime's names and labels, so its dashboards and alerts work unchanged.

Each `RuntimeMetrics` owns its own `CollectorRegistry` (one per manager): several managers in one process, as in
tests, never collide over a metric name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import Metric

from ._workqueue import WorkQueueMetrics

ReconcileResult = Literal["success", "error", "requeue", "requeue_after"]
RECONCILE_RESULTS: tuple[ReconcileResult, ...] = ("success", "error", "requeue", "requeue_after")

# controller-runtime's buckets, so that histogram_quantile over its dashboards compares like with like.
_RECONCILE_TIME_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
    1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
)  # fmt: skip
# prometheus.ExponentialBuckets(10e-9, 10, 12), written exactly: 1e-08 ... 1000.
_WORKQUEUE_BUCKETS = tuple(float(f"1e{power}") for power in range(-8, 4))
_REST_CLIENT_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)


class _PrometheusWorkQueueMetrics:
    """A work queue's metrics, labelled like controller-runtime's: `controller` and `name` both the queue's name."""

    def __init__(self, metrics: RuntimeMetrics, name: str) -> None:
        labels = (name, name)
        self._depth = metrics.workqueue_depth.labels(*labels)
        self._adds = metrics.workqueue_adds.labels(*labels)
        self._queue_duration = metrics.workqueue_queue_duration.labels(*labels)
        self._work_duration = metrics.workqueue_work_duration.labels(*labels)
        self._retries = metrics.workqueue_retries.labels(*labels)
        self._unfinished_work = metrics.workqueue_unfinished_work.labels(*labels)
        self._longest_running = metrics.workqueue_longest_running_processor.labels(*labels)
        self._ages: Callable[[], Iterable[float]] = list

    def added(self) -> None:
        self._adds.inc()
        self._depth.inc()

    def handed_out(self, queued_s: float) -> None:
        self._depth.dec()
        self._queue_duration.observe(queued_s)

    def finished(self, worked_s: float) -> None:
        self._work_duration.observe(worked_s)

    def retried(self) -> None:
        self._retries.inc()

    def track_in_flight(self, ages: Callable[[], Iterable[float]]) -> None:
        # Read when scraped, where client-go samples every 500 ms: always current, and no task to run.
        self._ages = ages
        self._unfinished_work.set_function(lambda: sum(self._ages(), 0.0))
        self._longest_running.set_function(lambda: max(self._ages(), default=0.0))


class _WithoutCreatedSeries:
    """The registry's metrics minus prometheus_client's `*_created` series, which controller-runtime doesn't have."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        for metric in self._registry.collect():
            filtered = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            filtered.samples = [sample for sample in metric.samples if not sample.name.endswith("_created")]
            yield filtered


class RuntimeMetrics:
    """All metrics of one manager, in a registry of its own."""

    # The text format controller-runtime serves (client_golang's expfmt.FmtText).
    content_type = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # The process and runtime collectors a Go manager's registry has, in their Python form.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        registry = self.registry

        self.reconcile_total = Counter(
            "controller_runtime_reconcile_total", "Total number of reconciliations per controller",
            ["controller", "result"], registry=registry)
        self.reconcile_errors = Counter(
            "controller_runtime_reconcile_errors_total", "Total number of reconciliation errors per controller",
            ["controller"], registry=registry)
        self.reconcile_panics = Counter(
            "controller_runtime_reconcile_panics_total", "Total number of reconciliation panics per controller",
            ["controller"], registry=registry)
        self.reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds", "Length of time per reconciliation per controller",
            ["controller"], buckets=_RECONCILE_TIME_BUCKETS, registry=registry)
        self.active_workers = Gauge(
            "controller_runtime_active_workers", "Number of currently used workers per controller",
            ["controller"], registry=registry)
        self.max_concurrent_reconciles = Gauge(
            "controller_runtime_max_concurrent_reconciles", "Maximum number of concurrent reconciles per controller",
            ["controller"], registry=registry)

        workqueue_labels = ["controller", "name"]
        self.workqueue_depth = Gauge(
            "workqueue_depth", "Current depth of workqueue", workqueue_labels, registry=registry)
        self.workqueue_adds = Counter(
            "workqueue_adds_total", "Total number of adds handled by workqueue", workqueue_labels, registry=registry)
        self.workqueue_queue_duration = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            workqueue_labels, buckets=_WORKQUEUE_BUCKETS, registry=registry)
        self.workqueue_work_duration = Histogram(
            "workqueue_work_duration_seconds", "How long in seconds processing an item from workqueue takes.",
            workqueue_labels, buckets=_WORKQUEUE_BUCKETS, registry=registry)
        self.workqueue_retries = Counter(
            "workqueue_retries_total", "Total number of retries handled by workqueue", workqueue_labels,
            registry=registry)
        self.workqueue_unfinished_work = Gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. "
            "Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate "
            "at which this increases.",
            workqueue_labels, registry=registry)
        self.workqueue_longest_running_processor = Gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            workqueue_labels, registry=registry)

        self.leader_election_master_status = Gauge(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates "
            "master. 'name' is the string used to identify the lease. Please make sure to group by name.",
            ["name"], registry=registry)
        self.rest_client_requests = Counter(
            "rest_client_requests_total", "Number of HTTP requests, partitioned by status code, method, and host.",
            ["code", "method", "host"], registry=registry)
        self.rest_client_request_duration = Histogram(
            "rest_client_request_duration_seconds", "Request latency in seconds. Broken down by verb, and host.",
            ["verb", "host"], buckets=_REST_CLIENT_BUCKETS, registry=registry)

    def register_controller(self, name: str, max_concurrent_reconciles: int) -> None:
        """Make the controller's series exist, at zero, before it reconciles (controller-runtime's initMetrics)."""
        for result in RECONCILE_RESULTS:
            self.reconcile_total.labels(name, result)
        self.reconcile_errors.labels(name)
        self.reconcile_panics.labels(name)
        self.reconcile_time.labels(name)
        self.active_workers.labels(name).set(0)
        self.max_concurrent_reconciles.labels(name).set(max_concurrent_reconciles)

    def reconciled(self, controller: str, result: ReconcileResult, duration_s: float) -> None:
        """A reconcile ended with `result`; an error also counts in reconcile_errors_total, as in controller-runtime."""
        self.reconcile_total.labels(controller, result).inc()
        if result == "error":
            self.reconcile_errors.labels(controller).inc()
        self.reconcile_time.labels(controller).observe(duration_s)

    def reconcile_panicked(self, controller: str) -> None:
        """A reconcile raised where no error was expected (controller-runtime's recovered panic); report the error
        itself through `reconciled(..., "error", ...)` too, as controller-runtime turns the panic into an error."""
        self.reconcile_panics.labels(controller).inc()

    def active_workers_changed(self, controller: str, delta: int) -> None:
        """A worker started (+1) or finished (-1) a reconcile."""
        self.active_workers.labels(controller).inc(delta)

    def workqueue(self, name: str) -> WorkQueueMetrics:
        """The metrics of the work queue `name` (a controller's queue is named after the controller)."""
        return _PrometheusWorkQueueMetrics(self, name)

    def set_leader(self, lease_name: str, is_leader: bool) -> None:
        self.leader_election_master_status.labels(lease_name).set(1 if is_leader else 0)

    def rest_request(self, method: str, code: int | str, host: str, duration_s: float) -> None:
        """One API request; `code` is the HTTP status, or "<error>" when none came back, as client-go reports."""
        self.rest_client_requests.labels(str(code), method, host).inc()
        self.rest_client_request_duration.labels(method, host).observe(duration_s)

    def render(self) -> bytes:
        """The registry in Prometheus' text exposition format (see `content_type`)."""
        return generate_latest(_WithoutCreatedSeries(self.registry))
