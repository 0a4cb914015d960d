"""The `k0smotron-bootstrap` binary: the Cluster API bootstrap provider for k0s."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Any

from k0smotron_core.api import bootstrap, capi
from k0smotron_core.runtime import CacheSelector, Manager, Provider, Request, run_provider
from k0smotron_core.runtime._flags import parse_duration
from k0smotron_core.runtime._workload import WorkloadClusters

from . import controllerconfig, workerconfig

CAPI = "cluster.x-k8s.io/v1beta1"
DEFAULT_TOKEN_TTL = "30m"


def _add_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("bootstrap")
    group.add_argument("--bootstrap-token-ttl", type=parse_duration, default=parse_duration(DEFAULT_TOKEN_TTL),
                       metavar="DURATION",
                       help="lifetime of a join token; extended while its Machine has not joined, deleted once it "
                            f"has (default: {DEFAULT_TOKEN_TTL})")


async def _setup(manager: Manager, args: argparse.Namespace) -> None:
    # Only Secrets of CAPI clusters are cached: the others are not ours and would only cost memory.
    manager.cache.options.by_kind[("v1", "Secret")] = CacheSelector(label_selector=capi.CLUSTER_NAME_LABEL)
    workloads = WorkloadClusters(manager.client, user_agent=manager.options.user_agent,
                                 qps=manager.options.kube_api_qps, burst=manager.options.kube_api_burst)
    manager.on_shutdown(workloads.close)
    token_ttl = dt.timedelta(seconds=args.bootstrap_token_ttl)

    def cluster_to_configs(api_version: str, kind: str) -> Callable[[dict[str, Any]], list[Request]]:
        def mapper(cluster: dict[str, Any]) -> list[Request]:
            informer = manager.cache.cached(api_version, kind)
            if informer is None:
                return []
            namespace = cluster["metadata"].get("namespace") or ""
            name = cluster["metadata"]["name"]
            return [Request(namespace, c["metadata"]["name"]) for c in informer.objects(namespace)
                    if (c["metadata"].get("labels") or {}).get(capi.CLUSTER_NAME_LABEL) == name]

        return mapper

    workers = workerconfig.WorkerConfigReconciler(manager.client, workloads, token_ttl=token_ttl)
    await (manager.controller("k0sworkerconfig")
           .reconciles(bootstrap.K0sWorkerConfig)
           .owns("v1", "Secret")
           .watches(CAPI, "Machine", workerconfig.machine_to_config)
           .watches(CAPI, "Cluster", cluster_to_configs(workerconfig.API_VERSION, workerconfig.KIND))
           .complete(workers.reconcile))

    controllers = controllerconfig.ControllerConfigReconciler(manager.client, workloads, token_ttl=token_ttl)
    await (manager.controller("k0scontrollerconfig")
           .reconciles(bootstrap.K0sControllerConfig)
           .owns("v1", "Secret")
           .watches(CAPI, "Machine", controllerconfig.machine_to_config)
           .watches(CAPI, "Cluster", cluster_to_configs(controllerconfig.API_VERSION, controllerconfig.KIND))
           .complete(controllers.reconcile))


PROVIDER = Provider(
    prog="k0smotron-bootstrap",
    role="bootstrap",
    description=("Cluster API bootstrap provider for k0s: renders the cloud-init that installs and joins k0s "
                 "controllers and workers (K0sControllerConfig, K0sWorkerConfig)."),
    feature_gates={"CloudInitVars": False},
    setup=_setup,
    add_flags=_add_flags,
)


def main(argv: list[str] | None = None) -> int:
    return run_provider(PROVIDER, argv)
