"""API errors shaped like the real kube-apiserver's `Status` responses.

Clients branch on `reason` and `code` (and kubectl prints `message` verbatim), so these follow
k8s.io/apimachinery/pkg/api/errors closely.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

_MISSING: Any = object()


@dataclass
class FieldError:
    """One field-level problem, as in k8s.io/apimachinery/pkg/util/validation/field.Error."""

    type: str
    """One of the `FieldValue*` cause reasons, e.g. `FieldValueInvalid`, `FieldValueRequired`."""
    field: str
    """Dotted path with list indexes, e.g. `spec.containers[0].image`."""
    detail: str = ""
    bad_value: Any = dataclasses.field(default=_MISSING)

    _LABELS = {
        "FieldValueNotFound": "Not found",
        "FieldValueRequired": "Required value",
        "FieldValueDuplicate": "Duplicate value",
        "FieldValueInvalid": "Invalid value",
        "FieldValueNotSupported": "Unsupported value",
        "FieldValueForbidden": "Forbidden",
        "FieldValueTooLong": "Too long",
        "FieldValueTooMany": "Too many",
        "FieldValueTypeInvalid": "Invalid value",
        "InternalError": "Internal error",
    }

    def body(self) -> str:
        """The message without the field prefix (what the cause's `message` holds)."""
        label = self._LABELS.get(self.type, self.type)
        parts = [label]
        if self.bad_value is not _MISSING and self.type not in ("FieldValueRequired", "FieldValueForbidden"):
            parts.append(_render_value(self.bad_value))
        if self.detail:
            parts.append(self.detail)
        return ": ".join(parts)

    def message(self) -> str:
        return f"{self.field}: {self.body()}" if self.field else self.body()

    def cause(self) -> dict[str, Any]:
        return {"reason": self.type, "message": self.body(), "field": self.field}


class GoLiteral(str):
    """A bad value printed as is, for values whose Go rendering JSON cannot express (e.g. `0x0`)."""


def go_sharp_v(value: Any) -> str:
    """Go's %#v of a decoded JSON value, as the real server prints bad values of maps and lists."""
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(k)}:{go_sharp_v(v)}" for k, v in sorted(value.items()))
        return f"map[string]interface {{}}{{{items}}}"
    if isinstance(value, list):
        if value and all(isinstance(v, str) for v in value):
            return "[]string{" + ", ".join(json.dumps(v) for v in value) + "}"
        return "[]interface {}{" + ", ".join(go_sharp_v(v) for v in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, float):
        return _go_float(value)
    return json.dumps(value) if isinstance(value, str) else str(value)


def _render_value(value: Any) -> str:
    if isinstance(value, GoLiteral):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return '"null"'
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, int):
        return str(value)
    return go_sharp_v(value)


def _go_float(value: float) -> str:
    """Go's %v of a float64 (strconv 'g' with the shortest digits): 1e+06, 100000, 0.5, 1e-05."""
    if value != value or value in (float("inf"), float("-inf")):
        return {True: "NaN"}.get(value != value, "+Inf" if value > 0 else "-Inf")
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(str(d) for d in digits)
    decimal_exponent = len(mantissa) + exponent - 1
    prefix = "-" if sign else ""
    if decimal_exponent < -4 or decimal_exponent >= 6:
        fraction = f".{mantissa[1:]}" if len(mantissa) > 1 else ""
        return f"{prefix}{mantissa[0]}{fraction}e{'-' if decimal_exponent < 0 else '+'}{abs(decimal_exponent):02d}"
    return prefix + format(Decimal(repr(abs(value))).normalize(), "f")


class StatusError(Exception):
    """An API error carrying the `Status` object the server returns."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        list_meta: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.list_meta = list_meta or {}

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": dict(self.list_meta),
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        }
        if self.reason:
            # Go omits an empty reason (`json:",omitempty"`).
            status["reason"] = self.reason
        if self.details is not None:
            status["details"] = self.details
        return status


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def _details(name: str, group: str, kind: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    return details


def not_found(group: str, resource: str, name: str) -> StatusError:
    return StatusError(
        404, "NotFound", f'{_qualified(resource, group)} "{name}" not found', _details(name, group, resource)
    )


def already_exists(group: str, resource: str, name: str) -> StatusError:
    return StatusError(
        409,
        "AlreadyExists",
        f'{_qualified(resource, group)} "{name}" already exists',
        _details(name, group, resource),
    )


def conflict(group: str, resource: str, name: str, why: str) -> StatusError:
    return StatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
        _details(name, group, resource),
    )


def stale_resource_version(group: str, resource: str, name: str) -> StatusError:
    return conflict(
        group,
        resource,
        name,
        "the object has been modified; please apply your changes to the latest version and try again",
    )


def invalid(group: str, kind: str, name: str, errors: list[FieldError]) -> StatusError:
    """422 Invalid, e.g. `Foo.example.com "x" is invalid: spec.replicas: Invalid value: ...`."""
    qualified_kind = f"{kind}.{group}" if group else kind
    messages = [e.message() for e in errors]
    joined = messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
    details = _details(name, group, kind)
    details["causes"] = [e.cause() for e in errors]
    return StatusError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {joined}', details)


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def forbidden(group: str, resource: str, name: str, why: str) -> StatusError:
    return StatusError(
        403, "Forbidden", f'{_qualified(resource, group)} "{name}" is forbidden: {why}', _details(name, group, resource)
    )


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> StatusError:
    return StatusError(405, "MethodNotAllowed", message)


def gone(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def unsupported_media_type(content_type: str, accepted: list[str]) -> StatusError:
    return StatusError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: {', '.join(accepted)}",
    )


def not_acceptable(accepted: list[str]) -> StatusError:
    return StatusError(
        406, "NotAcceptable", f"only the following media types are accepted: {', '.join(accepted)}"
    )


def internal_error(message: str) -> StatusError:
    return StatusError(500, "InternalError", f"Internal error occurred: {message}")


def service_unavailable(message: str) -> StatusError:
    return StatusError(503, "ServiceUnavailable", message)


def too_many_requests(message: str = "Too many requests, please try again later.") -> StatusError:
    return StatusError(429, "TooManyRequests", message, {"retryAfterSeconds": 1})
