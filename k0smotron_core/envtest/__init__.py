"""An embedded, in-process Kubernetes API server for tests, demos and users' own tooling.

    async with EnvTest() as env:
        env.write_kubeconfig("kubeconfig")
        ...

See docs/envtest.md for what it implements and what it simplifies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._audit import AuditEvent, AuditLog, Faults
    from ._errors import FieldError, StatusError
    from ._server import EnvTest

__all__ = ["AuditEvent", "AuditLog", "EnvTest", "Faults", "FieldError", "StatusError"]

# The server (aiohttp) loads on first use: the simulated hosts' `k0s`, a subpackage, starts as a process per command
# and must not pay for it.
_LAZY = {"AuditEvent": "._audit", "AuditLog": "._audit", "Faults": "._audit", "FieldError": "._errors",
         "StatusError": "._errors", "EnvTest": "._server"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
