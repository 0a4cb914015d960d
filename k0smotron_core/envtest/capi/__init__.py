"""Cluster API core kinds for envtest: minimal CRDs of Cluster, Machine, MachineSet, MachineDeployment and
MachineHealthCheck (generated from `k0smotron_core.api.capi`), so provider objects that reference them can be
applied and tested without CAPI itself.
"""

from __future__ import annotations

from pathlib import Path

CRDS_DIR = Path(__file__).parent / "crds"
"""Where the generated CAPI core CRDs live (`python -m k0smotron_core.crdgen` writes them)."""
