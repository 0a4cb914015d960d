"""`python -m k0smotron_core.envtest.hosts.k0s`: the simulated k0s binary (see `_k0s` for what it does)."""

from __future__ import annotations

from ._k0s import main

if __name__ == "__main__":
    raise SystemExit(main())
