"""The `k0smotron-infrastructure` binary: the Cluster API infrastructure provider for existing machines
reached over SSH (RemoteCluster, RemoteMachine, PooledRemoteMachine) and the ProviderID controller."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from k0smotron_core import ssh
from k0smotron_core.api import capi, infrastructure
from k0smotron_core.runtime import EventRecorder, Manager, Provider, Request, run_provider
from k0smotron_core.runtime._flags import parse_duration
from k0smotron_core.runtime._workload import WorkloadClusters

from . import providerid, remotecluster, remotemachine

CAPI = "cluster.x-k8s.io/v1beta1"


def _add_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ssh")
    group.add_argument("--remote-machine-concurrency", type=int, default=50, metavar="N",
                       help="RemoteMachines provisioned or cleaned up at once (default: 50)")
    group.add_argument("--ssh-connect-timeout", type=parse_duration, default=parse_duration("15s"), metavar="DURATION",
                       help="TCP connect, handshake and authentication (default: 15s)")
    group.add_argument("--ssh-command-timeout", type=parse_duration, default=parse_duration("10m"), metavar="DURATION",
                       help="one bootstrap command or upload (default: 10m)")
    group.add_argument("--ssh-session-timeout", type=parse_duration, default=parse_duration("30m"), metavar="DURATION",
                       help="one whole provisioning or clean-up attempt (default: 30m)")
    group.add_argument("--cleanup-attempts", type=int, default=5, metavar="N",
                       help="failed clean-up attempts (host unreachable...) after which a RemoteMachine is deleted "
                            "without cleaning its host, with a Warning event (default: 5)")


def _options(args: argparse.Namespace) -> remotemachine.Options:
    return remotemachine.Options(
        timeouts=ssh.Timeouts(connect=args.ssh_connect_timeout, command=args.ssh_command_timeout,
                              overall=args.ssh_session_timeout),
        cleanup_attempts=max(args.cleanup_attempts, 1))


async def _setup(manager: Manager, args: argparse.Namespace) -> None:
    await setup(manager, _options(args), concurrency=args.remote_machine_concurrency)


async def setup(manager: Manager, options: remotemachine.Options, *, concurrency: int = 50,
                connector: remotemachine.Connector = remotemachine.ssh_connector) -> None:
    client = manager.client
    events = EventRecorder(client, manager.options.user_agent)

    def cached_remote_machines(namespace: str) -> list[dict[str, Any]]:
        informer = manager.cache.cached(remotemachine.API_VERSION, remotemachine.KIND)
        return informer.objects(namespace) if informer is not None else []

    def cluster_to(kind_objects: Callable[[str], list[dict[str, Any]]]) -> Callable[[dict[str, Any]], list[Request]]:
        def mapper(cluster: dict[str, Any]) -> list[Request]:
            namespace = cluster["metadata"].get("namespace") or ""
            name = cluster["metadata"]["name"]
            return [Request(namespace, o["metadata"]["name"]) for o in kind_objects(namespace)
                    if (o["metadata"].get("labels") or {}).get(capi.CLUSTER_NAME_LABEL) == name]
        return mapper

    def cached_remote_clusters(namespace: str) -> list[dict[str, Any]]:
        informer = manager.cache.cached(remotecluster.API_VERSION, remotecluster.KIND)
        return informer.objects(namespace) if informer is not None else []

    clusters = remotecluster.RemoteClusterReconciler(client)
    await (manager.controller("remotecluster")
           .reconciles(infrastructure.RemoteCluster)
           .watches(CAPI, "Cluster", cluster_to(cached_remote_clusters))
           .complete(clusters.reconcile))

    machines = remotemachine.RemoteMachineReconciler(client, events, options=options, connector=connector)
    await (manager.controller("remotemachine")
           .reconciles(infrastructure.RemoteMachine)
           .watches(CAPI, "Machine", remotemachine.machine_to_remote_machine)
           .watches(CAPI, "Cluster", cluster_to(cached_remote_machines))
           .watches(infrastructure.PooledRemoteMachine.crd.api_version, "PooledRemoteMachine",
                    remotemachine.remote_machines_of_pool(cached_remote_machines))
           .with_concurrency(concurrency)
           .complete(machines.reconcile))

    workloads = WorkloadClusters(client, user_agent=manager.options.user_agent,
                                 qps=manager.options.kube_api_qps, burst=manager.options.kube_api_burst)
    manager.on_shutdown(workloads.close)
    provider_ids = providerid.ProviderIDReconciler(client, workloads)
    await (manager.controller("providerid")
           .reconciles((CAPI, "Machine"))
           .with_concurrency(4)
           .complete(provider_ids.reconcile))


PROVIDER = Provider(
    prog="k0smotron-infrastructure",
    role="infrastructure",
    description=("Cluster API infrastructure provider for existing machines reached over SSH "
                 "(RemoteCluster, RemoteMachine, PooledRemoteMachine)."),
    feature_gates={},
    setup=_setup,
    add_flags=_add_flags,
)


def main(argv: list[str] | None = None) -> int:
    return run_provider(PROVIDER, argv)
