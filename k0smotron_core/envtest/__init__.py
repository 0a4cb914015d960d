"""An embedded, in-process Kubernetes API server for tests, demos and users' own tooling.

    async with EnvTest() as env:
        env.write_kubeconfig("kubeconfig")
        ...

See docs/envtest.md for what it implements and what it simplifies.
"""

from ._audit import AuditEvent, AuditLog, Faults
from ._errors import FieldError, StatusError
from ._server import EnvTest

__all__ = ["AuditEvent", "AuditLog", "EnvTest", "Faults", "FieldError", "StatusError"]
