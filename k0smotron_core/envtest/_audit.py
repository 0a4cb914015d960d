"""The audit log (every request, readable from Python, optionally JSON lines) and fault injection."""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class AuditEvent:
    timestamp: float
    user: str
    user_agent: str
    verb: str
    api_group: str
    api_version: str
    resource: str
    subresource: str
    namespace: str
    name: str
    code: int
    uri: str

    @property
    def is_write(self) -> bool:
        return self.verb in WRITE_VERBS


class AuditLog:
    """Every request the server answered, in order. Tests count API calls with `count` and `events`."""

    def __init__(self, path: Path | None = None) -> None:
        self._events: list[AuditEvent] = []
        self._file: IO[str] | None = path.open("a", encoding="utf-8") if path is not None else None

    def record(self, event: AuditEvent) -> None:
        self._events.append(event)
        if self._file is not None:
            self._file.write(json.dumps(asdict(event), separators=(",", ":")) + "\n")
            self._file.flush()

    def events(
        self,
        *,
        verb: str | None = None,
        resource: str | None = None,
        user: str | None = None,
        user_agent: str | None = None,
        namespace: str | None = None,
        since: float | None = None,
        writes_only: bool = False,
    ) -> list[AuditEvent]:
        return [
            e for e in self._events
            if (verb is None or e.verb == verb)
            and (resource is None or e.resource == resource)
            and (user is None or e.user == user)
            and (user_agent is None or e.user_agent.startswith(user_agent))
            and (namespace is None or e.namespace == namespace)
            and (since is None or e.timestamp >= since)
            and (not writes_only or e.is_write)
        ]

    def count(self, **filters: object) -> int:
        return len(self.events(**filters))  # type: ignore[arg-type]

    def clear(self) -> None:
        self._events.clear()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __len__(self) -> int:
        return len(self._events)


@dataclass
class Faults:
    """Per-resource injected failures and latency; the key `*` applies to every resource.

    Keys are resource names as in URLs (`secrets`, `k0sworkerconfigs`). Watches are not failed by the error
    rate (a real server's failing watches look like dropped connections: use `EnvTest.drop_watches`).
    """

    error_rate: dict[str, float] = field(default_factory=dict)
    latency_s: dict[str, float] = field(default_factory=dict)
    error_code: int = 500
    seed: int | None = None
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.seed is not None:
            self._random.seed(self.seed)

    def _for(self, table: dict[str, float], resource: str) -> float:
        return table.get(resource, table.get("*", 0.0))

    def latency_for(self, resource: str) -> float:
        return self._for(self.latency_s, resource)

    def should_fail(self, resource: str) -> bool:
        rate = self._for(self.error_rate, resource)
        return rate > 0 and self._random.random() < rate

    def clear(self) -> None:
        self.error_rate.clear()
        self.latency_s.clear()


def now() -> float:
    return time.time()
