"""Structured logs: JSON lines by default (for log pipelines), text for humans, with Cluster API's conventional keys.

`configure_logging` routes structlog and the standard library's `logging` (aiohttp, kubernetes-asyncio, asyncssh)
through one formatter, so every line has the same shape: `ts` (ISO-8601, UTC), `level`, `logger`, `msg`, then the
bound context. Values under keys that name secrets are replaced before anything is written (see `is_secret_key`).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["json", "text"]

REDACTED = "[redacted]"
# A key is secret when, compared case-insensitively, it is one of these words or its last word is (camelCase, `_`,
# `-` and `.` separate words): `joinToken`, `bootstrapData`, `ssh_password`, `tls.key` and `clientKeyData` are
# secret; `tokenSecretRef`, `dataSecretName` and `metadata` are not. `key` and `value` redact more than secrets
# (a label's value, say), a price paid so that a secret can never be logged under a generic name.
SECRET_KEY_WORDS = frozenset({"token", "password", "key", "data", "value", "bootstrapdata", "kubeconfig", "privatekey"})
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")

RECONCILE_LOGGER = "k0smotron.runtime.controller"
_LEADING_KEYS = ("ts", "level", "logger", "msg")


def is_secret_key(key: str) -> bool:
    if key.lower() in SECRET_KEY_WORDS:
        return True
    words = _WORDS.findall(key)
    return bool(words) and words[-1].lower() in SECRET_KEY_WORDS


def _redacted(value: Any) -> Any:
    """`value` with every secret-named entry, at any depth, replaced; the caller's objects are left untouched."""
    if isinstance(value, Mapping):
        return {k: REDACTED if isinstance(k, str) and is_secret_key(k) else _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(item) for item in value]
    # Models would otherwise be rendered by repr(), secrets and all: pydantic models, then kubernetes client models.
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump) and not isinstance(value, type):
        return _redacted(model_dump(mode="json", by_alias=True))
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):
        return _redacted(to_dict())
    return value


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: replace the values of secret-named keys (see `SECRET_KEY_WORDS`) with "[redacted]"."""
    for key, value in event_dict.items():
        if is_secret_key(key):
            event_dict[key] = REDACTED
        elif key != "exc_info":
            event_dict[key] = _redacted(value)
    return event_dict


def _conventional_order(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """ts, level, logger and msg first, as zap writes them, so lines read alike across controllers."""
    leading = {key: event_dict.pop(key) for key in _LEADING_KEYS if key in event_dict}
    return {**leading, **event_dict}


class _RuntimeLogHandler(logging.StreamHandler[TextIO]):
    """The root handler `configure_logging` installs; a type of its own so that a second call replaces it."""


def configure_logging(fmt: LogFormat = "json", level: str = "info", stream: TextIO = sys.stderr) -> None:
    """Send structlog's and the standard library's logs, at `level` and above, to `stream` in format `fmt`."""
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        raise ValueError(f"unknown log level {level!r} (use debug, info, warning or error)")
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Loggers made at import time, before this call, must follow the configuration made here.
        cache_logger_on_first_use=False,
    )
    rendering: list[Processor]
    if fmt == "json":
        rendering = [structlog.processors.format_exc_info, _conventional_order, structlog.processors.JSONRenderer()]
    else:
        rendering = [structlog.dev.ConsoleRenderer(colors=False, event_key="msg", timestamp_key="ts",
                                                   exception_formatter=structlog.dev.plain_traceback)]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact_secrets,
            structlog.processors.EventRenamer("msg"),
            *rendering,
        ],
    )
    handler = _RuntimeLogHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _RuntimeLogHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(numeric_level)


def get_logger(name: str, **context: Any) -> structlog.stdlib.BoundLogger:
    """A logger whose lines carry `logger=name` and `context`."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **context)
    return logger


def object_ref(namespace: str, name: str) -> str:
    """How klog's KRef prints an object: `namespace/name`, or `name` alone when cluster-scoped."""
    return f"{namespace}/{name}" if namespace else name


def reconcile_keys(controller: str, kind: str, group: str, namespace: str, name: str,
                   reconcile_id: str) -> dict[str, str]:
    """The keys controller-runtime binds for one reconcile, e.g. for `structlog.contextvars.bound_contextvars`."""
    return {
        "controller": controller,
        "controllerGroup": group,
        "controllerKind": kind,
        kind: object_ref(namespace, name),
        "namespace": namespace,
        "name": name,
        "reconcileID": reconcile_id,
    }


def reconcile_logger(controller: str, kind: str, group: str, namespace: str, name: str, reconcile_id: str,
                     *, logger: structlog.stdlib.BoundLogger | None = None) -> structlog.stdlib.BoundLogger:
    """A logger for one reconcile, with controller-runtime's keys bound (see `reconcile_keys`)."""
    base = logger if logger is not None else get_logger(RECONCILE_LOGGER)
    return base.bind(**reconcile_keys(controller, kind, group, namespace, name, reconcile_id))


def with_object(logger: structlog.stdlib.BoundLogger, kind: str, namespace: str,
                name: str) -> structlog.stdlib.BoundLogger:
    """Bind a related object under its Kind, as CAPI does with `Cluster` and `Machine`: {"Cluster": "ns/name"}."""
    return logger.bind(**{kind: object_ref(namespace, name)})
