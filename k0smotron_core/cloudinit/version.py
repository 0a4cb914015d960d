"""k0s version strings: Kubernetes-style versions (`v1.30.1`) become k0s release versions (`v1.30.1+k0s.0`)."""

from __future__ import annotations

import re

from .errors import BootstrapDataError

# Semver with an optional pre-release/build suffix. The character set also keeps the version safe to splice into a
# shell command line.
_VERSION = re.compile(r"^v\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?$")


def normalize_k0s_version(version: str) -> str:
    """`v1.30.1` → `v1.30.1+k0s.0`; `v1.30.1-k0s.1` → `v1.30.1+k0s.1`; `v1.30.1+k0s.2` unchanged.

    Machines carry Kubernetes versions, and Kubernetes forbids `+` in some places, hence the `-k0s.` spelling.
    """
    if not _VERSION.match(version):
        raise BootstrapDataError(f"invalid k0s version {version!r}: expected vX.Y.Z, optionally with a +k0s.N suffix")
    normalized = version.replace("-k0s.", "+k0s.", 1)
    if "+k0s." not in normalized:
        normalized += "+k0s.0"
    return normalized
