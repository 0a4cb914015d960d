"""`k0smotron-dev`: the whole stack on one machine, for demos and end-to-end checks.

`k0smotron-dev up` runs an embedded management cluster (`k0smotron_core.envtest`) with the workload simulation and
CAPI core simulator, the three provider binaries as subprocesses, a simulated SSH host per machine of an example,
applies the example and shows its progress until the clusters are Ready (docs/demo.md).

Layers: `_cluster` (management side), `_providers` (the binaries), `_hosts` (simulated hosts), `_apply` (the
example's objects), `_progress` (state, readiness, display), `_up` (the command), `__main__` (argparse).
"""
