"""The `k0smotron-bootstrap` binary: the Cluster API bootstrap provider for k0s.

It has no reconcilers yet; it connects, serves probes and metrics, and takes part in leader election.
"""

from __future__ import annotations

from k0smotron_core.runtime import Provider, run_provider

PROVIDER = Provider(
    prog="k0smotron-bootstrap",
    role="bootstrap",
    description=("Cluster API bootstrap provider for k0s: renders the cloud-init that installs and joins k0s "
               "controllers and workers (K0sControllerConfig, K0sWorkerConfig)."),
    feature_gates={"CloudInitVars": False},
)


def main(argv: list[str] | None = None) -> int:
    return run_provider(PROVIDER, argv)
