"""Kubernetes Events about the objects a controller manages (`kubectl describe` shows them).

Like client-go's recorder, a repeat of the same event (same object, type, reason and message) bumps the count and
last timestamp of the existing Event instead of creating another. Recording never fails the caller: an Event is a
courtesy, and losing one must not stop a reconcile.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Literal

import structlog

from ._client import MERGE_PATCH, Client
from ._transport import APIError, ConnectionFailed

log = structlog.get_logger("k0smotron.runtime.events")

EventType = Literal["Normal", "Warning"]
MAX_MESSAGE = 1024
_REMEMBERED = 4096


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(self, client: Client, component: str) -> None:
        self._client = client
        self._component = component
        self._seen: dict[tuple[str, str, str, str], tuple[str, int]] = {}

    async def event(self, obj: dict[str, Any], type_: EventType, reason: str, message: str) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        message = message[:MAX_MESSAGE]
        key = (meta.get("uid") or meta["name"], type_, reason, message)
        now = _now()
        try:
            if key in self._seen:
                name, count = self._seen[key]
                await self._client.patch("v1", "Event", name, namespace,
                                         {"count": count + 1, "lastTimestamp": now}, patch_type=MERGE_PATCH)
                self._seen[key] = (name, count + 1)
                return
            name = f"{meta['name']}.{time.time_ns():x}"
            await self._client.create({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                                   "name": meta["name"], "namespace": meta.get("namespace"),
                                   "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")},
                "reason": reason, "message": message, "type": type_,
                "source": {"component": self._component}, "reportingComponent": self._component,
                "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            })
            if len(self._seen) >= _REMEMBERED:
                self._seen.pop(next(iter(self._seen)))
            self._seen[key] = (name, 1)
        except (APIError, ConnectionFailed) as error:
            if isinstance(error, APIError) and error.not_found:
                # The aggregated Event expired or was deleted: start a new one next time.
                self._seen.pop(key, None)
            log.info("event not recorded", reason=reason, error=str(error))
