"""Informers and the client against envtest: list-then-watch, recovery from dropped watches and 410, restrictions."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest._storage import DeleteOptions, RequestContext
from k0smotron_core.runtime._cache import EventHandler, Informer, InformerOptions, label_index, owner_uid_index
from k0smotron_core.runtime._client import Cache, CacheOptions, CacheSelector, Client
from k0smotron_core.runtime._restmapper import NoKindMatch, RESTMapper
from k0smotron_core.runtime._transport import (
    ConnectionFailed,
    ConnectionSettings,
    HTTPTransport,
    TokenBucket,
    load_configuration,
)


@pytest_asyncio.fixture
async def transport(async_envtest: EnvTest, tmp_path: Path) -> AsyncIterator[HTTPTransport]:
    configuration = await load_configuration(str(async_envtest.write_kubeconfig(tmp_path / "kubeconfig")))
    http = HTTPTransport(ConnectionSettings.from_configuration(configuration), qps=0, user_agent="runtime-test")
    yield http
    await http.close()


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def handler(self) -> EventHandler:
        return EventHandler(
            on_add=lambda o: self.events.append(("add", o["metadata"]["name"])),
            on_update=lambda old, new: self.events.append(("update", new["metadata"]["name"])),
            on_delete=lambda o: self.events.append(("delete", o["metadata"]["name"])),
        )


async def _eventually(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def _configmap(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default",
                                                                   "labels": labels}, "data": {"k": "v"}}


async def _informer(transport: HTTPTransport, kind: str = "ConfigMap", **options: Any) -> Informer:
    resource = await RESTMapper(transport).resource_for("v1", kind)
    informer = Informer(transport, resource, InformerOptions(namespace="default", **options))
    informer.start()
    await asyncio.wait_for(informer.synced.wait(), 10)
    return informer


async def test_an_informer_lists_existing_objects_then_sees_changes_through_its_watch(
    async_envtest: EnvTest, transport: HTTPTransport
) -> None:
    async_envtest.create(_configmap("before"))
    informer = await _informer(transport)
    recorder = Recorder()
    informer.add_handler(recorder.handler())
    async_envtest.create(_configmap("after"))
    await _eventually(lambda: ("add", "after") in recorder.events)
    rt = async_envtest.resource_type("v1", "ConfigMap")
    async_envtest.storage.delete(rt, "default", "before", DeleteOptions(), RequestContext())
    await _eventually(lambda: ("delete", "before") in recorder.events)
    assert recorder.events[0] == ("add", "before")
    assert informer.get("default", "after") is not None and informer.get("default", "before") is None
    await informer.stop()


async def test_changes_made_while_the_watch_was_dropped_are_not_lost(
    async_envtest: EnvTest, transport: HTTPTransport
) -> None:
    informer = await _informer(transport, backoff_initial_s=0.05)
    recorder = Recorder()
    informer.add_handler(recorder.handler())
    async_envtest.drop_watches()
    async_envtest.create(_configmap("during-outage"))
    await _eventually(lambda: ("add", "during-outage") in recorder.events)
    await informer.stop()


async def test_a_410_gone_relists_and_reports_what_changed_meanwhile(
    async_envtest: EnvTest, transport: HTTPTransport
) -> None:
    async_envtest.create(_configmap("kept"))
    async_envtest.create(_configmap("removed"))
    informer = await _informer(transport, backoff_initial_s=0.05)
    recorder = Recorder()
    informer.add_handler(recorder.handler())
    lists_before = informer.relists
    await informer.stop()
    rt = async_envtest.resource_type("v1", "ConfigMap")
    async_envtest.storage.delete(rt, "default", "removed", DeleteOptions(), RequestContext())
    async_envtest.create(_configmap("added"))
    async_envtest.compact()
    informer.start()
    await _eventually(lambda: ("delete", "removed") in recorder.events and ("add", "added") in recorder.events)
    assert informer.relists == lists_before + 1
    assert ("update", "kept") not in recorder.events
    await informer.stop()


async def test_a_label_restricted_informer_holds_only_matching_objects(
    async_envtest: EnvTest, transport: HTTPTransport
) -> None:
    async_envtest.create(_configmap("mine", **{"cluster.x-k8s.io/cluster-name": "c1"}))
    async_envtest.create(_configmap("unrelated"))
    informer = await _informer(transport, label_selector="cluster.x-k8s.io/cluster-name")
    assert [o["metadata"]["name"] for o in informer.objects()] == ["mine"]
    await informer.stop()


async def test_indexes_find_objects_by_owner_uid_and_label(async_envtest: EnvTest, transport: HTTPTransport) -> None:
    owner = async_envtest.create(_configmap("owner"))
    child = _configmap("child", tier="a")
    child["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                                             "uid": owner["metadata"]["uid"]}]
    async_envtest.create(child)
    informer = await _informer(transport)
    informer.add_index("owner", owner_uid_index)
    informer.add_index("tier", label_index("tier"))
    assert [o["metadata"]["name"] for o in informer.by_index("owner", owner["metadata"]["uid"])] == ["child"]
    assert [o["metadata"]["name"] for o in informer.by_index("tier", "a")] == ["child"]
    await informer.stop()


async def test_the_client_reads_cached_kinds_from_the_cache_and_others_from_the_server(
    async_envtest: EnvTest, transport: HTTPTransport
) -> None:
    mapper = RESTMapper(transport)
    cache = Cache(transport, mapper, CacheOptions(by_kind={("v1", "Secret"): CacheSelector("cached=yes")}))
    client = Client(transport, mapper, cache, field_manager="runtime-test")
    await cache.informer("v1", "ConfigMap")
    cache.start()
    await cache.wait_for_sync()
    await client.create(_configmap("through-client"))
    await _eventually(lambda: cache.cached("v1", "ConfigMap").get("default", "through-client") is not None)
    gets_before = async_envtest.audit.count(verb="get", resource="configmaps")
    assert (await client.get("v1", "ConfigMap", "through-client", "default")) is not None
    assert async_envtest.audit.count(verb="get", resource="configmaps") == gets_before
    assert await client.get("v1", "Namespace", "default") is not None
    assert await client.get("v1", "ConfigMap", "missing", "default") is None
    assert await client.delete("v1", "ConfigMap", "missing", "default") is False
    applied = await client.apply({"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": "applied", "namespace": "default"}, "data": {"a": "1"}})
    assert [m["manager"] for m in applied["metadata"]["managedFields"]] == ["runtime-test"]
    await cache.stop()


async def test_an_unknown_kind_is_a_clear_error(transport: HTTPTransport) -> None:
    with pytest.raises(NoKindMatch, match=re.escape('no matches for kind "Gizmo" in version "example.com/v1"')):
        await RESTMapper(transport).resource_for("example.com/v1", "Gizmo")


async def test_an_unreachable_server_is_a_connection_failure_not_a_hang() -> None:
    settings = ConnectionSettings("https://127.0.0.1:9", False, {})
    http = HTTPTransport(settings, qps=0)
    with pytest.raises(ConnectionFailed, match=re.escape("127.0.0.1:9")):
        await http.request("GET", "/version", timeout_s=2)
    await http.close()


async def test_the_token_bucket_allows_a_burst_then_paces_requests_at_the_qps() -> None:
    bucket = TokenBucket(qps=50, burst=5)
    started = time.monotonic()
    for _ in range(5):
        await bucket.acquire()
    assert time.monotonic() - started < 0.05
    for _ in range(5):
        await bucket.acquire()
    assert time.monotonic() - started >= 5 / 50 * 0.9
