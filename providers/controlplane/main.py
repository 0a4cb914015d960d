"""The `k0smotron-controlplane` binary: the Cluster API control plane provider for k0s.

It has no reconcilers yet; it connects, serves probes and metrics, and takes part in leader election.
"""

from __future__ import annotations

from k0smotron_core.runtime import Provider, run_provider

PROVIDER = Provider(
    prog="k0smotron-controlplane",
    role="control-plane",
    description=("Cluster API control plane provider for k0s: k0s control planes on machines (K0sControlPlane) "
               "or hosted as pods in the management cluster (K0smotronControlPlane)."),
    feature_gates={"CloudInitVars": False, "InPlaceUpdates": False},
)


def main(argv: list[str] | None = None) -> int:
    return run_provider(PROVIDER, argv)
