"""The `k0smotron-infrastructure` binary: the Cluster API infrastructure provider for existing machines
reached over SSH.

It has no reconcilers yet; it connects, serves probes and metrics, and takes part in leader election.
"""

from __future__ import annotations

from k0smotron_core.runtime import Provider, run_provider

PROVIDER = Provider(
    prog="k0smotron-infrastructure",
    role="infrastructure",
    description=("Cluster API infrastructure provider for existing machines reached over SSH "
               "(RemoteCluster, RemoteMachine, PooledRemoteMachine)."),
    feature_gates={},
)


def main(argv: list[str] | None = None) -> int:
    return run_provider(PROVIDER, argv)
