"""The official kubernetes client against envtest: watches from a resourceVersion replay later events in order,
watches from a compacted resourceVersion fail with 410 Expired, bookmarks, selectors and closed watches."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import watch
from kubernetes.client import ApiException

from k0smotron_core.envtest import EnvTest

from ._kube import (
    GROUP,
    MERGE_PATCH,
    PLURAL,
    VERSION,
    Clients,
    clients_for,
    configmap,
    eventually,
    widget,
)


def _rv(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj["metadata"]["resourceVersion"])
    return str(obj.metadata.resource_version)


def _collect(stream: Iterator[dict[str, Any]], count: int, w: watch.Watch) -> list[dict[str, Any]]:
    events = []
    for event in stream:
        events.append(event)
        if len(events) == count:
            w.stop()
    return events


def _configmap_events(kube: Clients, count: int, **kwargs: Any) -> list[tuple[str, str, str]]:
    w = watch.Watch()
    events = _collect(w.stream(kube.core.list_namespaced_config_map, "default", timeout_seconds=5, **kwargs), count, w)
    return [(e["type"], e["object"].metadata.name, _rv(e["object"])) for e in events]


# --- replay from a resourceVersion --------------------------------------------------------------------------


def test_a_configmap_watch_from_a_resource_version_replays_the_later_events_in_order(kube: Clients) -> None:
    start = kube.core.create_namespaced_config_map("default", configmap("a"))
    b = kube.core.create_namespaced_config_map("default", configmap("b"))
    a2 = kube.core.patch_namespaced_config_map("a", "default", {"data": {"key": "v2"}}, _content_type=MERGE_PATCH)
    kube.core.delete_namespaced_config_map("b", "default")

    events = _configmap_events(kube, 3, resource_version=_rv(start))

    assert [e[:2] for e in events] == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    assert events[0][2] == _rv(b)
    assert events[1][2] == _rv(a2)
    assert int(events[2][2]) > int(_rv(a2))


def test_a_widget_watch_from_a_resource_version_replays_the_later_events_in_order(kube: Clients) -> None:
    start = kube.custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("a"))
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("b"))
    kube.custom.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a", {"spec": {"replicas": 4}},
                                               _content_type=MERGE_PATCH)
    kube.custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "b")

    w = watch.Watch()
    stream = w.stream(kube.custom.list_namespaced_custom_object, GROUP, VERSION, "default", PLURAL,
                      resource_version=_rv(start), timeout_seconds=5)
    events = _collect(stream, 3, w)

    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    assert events[1]["object"]["spec"]["replicas"] == 4
    assert events[1]["object"]["kind"] == "Widget"
    assert events[1]["object"]["apiVersion"] == "example.com/v1"
    versions = [int(_rv(e["object"])) for e in events]
    assert versions == sorted(versions)


def test_a_watch_sees_changes_made_after_it_started(kube: Clients) -> None:
    start = kube.core.create_namespaced_config_map("default", configmap("a"))

    def later() -> None:
        time.sleep(0.2)
        kube.core.create_namespaced_config_map("default", configmap("late"))

    writer = threading.Thread(target=later)
    writer.start()
    events = _configmap_events(kube, 1, resource_version=_rv(start))
    writer.join()

    assert [e[:2] for e in events] == [("ADDED", "late")]


def test_a_watch_without_a_resource_version_starts_with_an_added_event_for_each_existing_object(
    kube: Clients,
) -> None:
    kube.core.create_namespaced_config_map("default", configmap("a"))
    kube.core.create_namespaced_config_map("default", configmap("b"))

    events = _configmap_events(kube, 2)

    assert sorted(e[:2] for e in events) == [("ADDED", "a"), ("ADDED", "b")]


def test_a_watch_of_one_namespace_ignores_changes_in_others(kube: Clients) -> None:
    start = kube.core.create_namespace({"metadata": {"name": "other"}})
    kube.core.create_namespaced_config_map("other", configmap("elsewhere"))
    kube.core.create_namespaced_config_map("default", configmap("here"))

    events = _configmap_events(kube, 1, resource_version=_rv(start))

    assert [e[:2] for e in events] == [("ADDED", "here")]


def test_a_label_selected_watch_sees_an_object_that_stops_matching_as_deleted(kube: Clients) -> None:
    start = kube.core.create_namespaced_config_map("default", configmap("a", labels={"app": "web"}))
    kube.core.patch_namespaced_config_map("a", "default", {"metadata": {"labels": {"app": "db"}}},
                                          _content_type=MERGE_PATCH)
    kube.core.patch_namespaced_config_map("a", "default", {"metadata": {"labels": {"app": "web"}}},
                                          _content_type=MERGE_PATCH)

    events = _configmap_events(kube, 2, resource_version=_rv(start), label_selector="app=web")

    assert [e[:2] for e in events] == [("DELETED", "a"), ("ADDED", "a")]


def test_a_field_selected_watch_sees_only_the_named_object(kube: Clients) -> None:
    start = kube.core.create_namespaced_config_map("default", configmap("a"))
    kube.core.create_namespaced_config_map("default", configmap("b"))
    kube.core.patch_namespaced_config_map("a", "default", {"data": {"key": "v2"}}, _content_type=MERGE_PATCH)

    events = _configmap_events(kube, 1, resource_version=_rv(start), field_selector="metadata.name=a")

    assert [e[:2] for e in events] == [("MODIFIED", "a")]


# --- expired resourceVersions -------------------------------------------------------------------------------


def test_watching_from_a_compacted_resource_version_raises_410_expired(kube: Clients, envtest: EnvTest) -> None:
    old = _rv(kube.core.create_namespaced_config_map("default", configmap("a")))
    kube.core.create_namespaced_config_map("default", configmap("b"))
    envtest.compact()

    with pytest.raises(ApiException) as caught:
        list(watch.Watch().stream(kube.core.list_namespaced_config_map, "default", resource_version=old,
                                  timeout_seconds=2))

    assert caught.value.status == 410
    assert str(caught.value.reason).startswith(f"Expired: too old resource version: {old} (")


def test_a_watch_from_a_compacted_resource_version_answers_200_with_an_error_event(
    kube: Clients, envtest: EnvTest,
) -> None:
    old = _rv(kube.core.create_namespaced_config_map("default", configmap("a")))
    kube.core.create_namespaced_config_map("default", configmap("b"))
    envtest.compact()

    response = kube.core.list_namespaced_config_map("default", watch=True, resource_version=old, timeout_seconds=2,
                                                    _preload_content=False)
    try:
        status, lines = response.status, response.data.decode().splitlines()
    finally:
        response.release_conn()

    assert status == 200
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["type"] == "ERROR"
    error = event["object"]
    assert {k: v for k, v in error.items() if k != "message"} == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Expired", "code": 410}
    assert error["message"].startswith(f"too old resource version: {old} (")


def test_a_widget_watch_from_a_compacted_resource_version_raises_410_expired(kube: Clients, envtest: EnvTest) -> None:
    old = _rv(kube.custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("a")))
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("b"))
    envtest.compact()

    with pytest.raises(ApiException) as caught:
        list(watch.Watch().stream(kube.custom.list_namespaced_custom_object, GROUP, VERSION, "default", PLURAL,
                                  resource_version=old, timeout_seconds=2))

    assert caught.value.status == 410


def test_a_watch_from_the_current_resource_version_still_works_after_compaction(
    kube: Clients, envtest: EnvTest,
) -> None:
    current = _rv(kube.core.create_namespaced_config_map("default", configmap("a")))
    envtest.compact()
    kube.core.create_namespaced_config_map("default", configmap("b"))

    events = _configmap_events(kube, 1, resource_version=current)

    assert [e[:2] for e in events] == [("ADDED", "b")]


# --- bookmarks and closed watches ---------------------------------------------------------------------------


def test_a_watch_allowing_bookmarks_receives_bookmarks_carrying_the_current_resource_version(tmp_path: Path) -> None:
    with EnvTest(bookmark_interval_s=0.2).running_in_thread() as env:
        clients = clients_for(env.write_kubeconfig(tmp_path / "kubeconfig"))
        try:
            latest = _rv(clients.core.create_namespaced_config_map("default", configmap("a")))
            w = watch.Watch()
            stream = w.stream(clients.core.list_namespaced_config_map, "default", resource_version=latest,
                              allow_watch_bookmarks=True, timeout_seconds=2)
            bookmark = next(e for e in stream if e["type"] == "BOOKMARK")
            w.stop()
        finally:
            clients.close()

    raw = bookmark["raw_object"]
    assert raw["kind"] == "ConfigMap"
    assert raw["apiVersion"] == "v1"
    assert int(raw["metadata"]["resourceVersion"]) >= int(latest)
    assert w.resource_version == raw["metadata"]["resourceVersion"]


def test_a_watch_not_allowing_bookmarks_receives_none(tmp_path: Path) -> None:
    with EnvTest(bookmark_interval_s=0.2).running_in_thread() as env:
        clients = clients_for(env.write_kubeconfig(tmp_path / "kubeconfig"))
        try:
            latest = _rv(clients.core.create_namespaced_config_map("default", configmap("a")))
            events = list(watch.Watch().stream(clients.core.list_namespaced_config_map, "default",
                                               resource_version=latest, timeout_seconds=1))
        finally:
            clients.close()

    assert events == []


def test_dropping_watches_ends_an_open_watch(kube: Clients, envtest: EnvTest) -> None:
    latest = _rv(kube.core.create_namespaced_config_map("default", configmap("a")))
    watches_before = envtest.store.open_watches
    ended = threading.Event()

    def consume() -> None:
        list(watch.Watch().stream(kube.core.list_namespaced_config_map, "default", resource_version=latest,
                                  timeout_seconds=30))
        ended.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    eventually(lambda: envtest.store.open_watches > watches_before, what="the watch is open")

    assert envtest.drop_watches() >= 1
    assert ended.wait(timeout=5)


def test_a_watch_ends_when_its_timeout_seconds_pass(kube: Clients) -> None:
    latest = _rv(kube.core.create_namespaced_config_map("default", configmap("a")))

    started = time.monotonic()
    events = list(watch.Watch().stream(kube.core.list_namespaced_config_map, "default", resource_version=latest,
                                       timeout_seconds=1))

    assert events == []
    assert 0.9 <= time.monotonic() - started < 5
