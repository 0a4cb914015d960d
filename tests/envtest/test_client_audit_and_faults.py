"""The official kubernetes client against envtest: the audit log records every request (user, user agent, verb,
resource, subresource, namespace, name, code), and injected faults (error rate, error code, latency) reach the
client as real API errors."""

from __future__ import annotations

import time
from pathlib import Path

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
    status_of,
    widget,
)


@pytest.fixture
def kube(kube: Clients, envtest: EnvTest) -> Clients:
    envtest.audit.clear()
    return kube


# --- audit --------------------------------------------------------------------------------------------------


def test_the_audit_log_records_one_create_of_configmaps_with_code_201(kube: Clients, envtest: EnvTest) -> None:
    kube.core.create_namespaced_config_map("default", configmap("c"))

    events = envtest.audit.events(verb="create", resource="configmaps")

    assert len(events) == 1
    event = events[0]
    assert (event.user, event.verb, event.api_group, event.api_version, event.resource, event.subresource,
            event.namespace, event.code) == ("admin", "create", "", "v1", "configmaps", "", "default", 201)
    assert event.user_agent.startswith("OpenAPI-Generator/")
    assert event.uri.startswith("/api/v1/namespaces/default/configmaps")


def test_the_audit_log_records_get_list_patch_and_delete_with_their_codes(kube: Clients, envtest: EnvTest) -> None:
    kube.core.create_namespaced_config_map("default", configmap("c"))
    kube.core.read_namespaced_config_map("c", "default")
    kube.core.list_namespaced_config_map("default")
    kube.core.patch_namespaced_config_map("c", "default", {"data": {"key": "2"}}, _content_type=MERGE_PATCH)
    kube.core.delete_namespaced_config_map("c", "default")

    recorded = [(e.verb, e.name, e.code) for e in envtest.audit.events(resource="configmaps")]

    assert recorded == [("create", "", 201), ("get", "c", 200), ("list", "", 200), ("patch", "c", 200),
                        ("delete", "c", 200)]


def test_the_audit_log_records_failed_requests_with_their_error_code(kube: Clients, envtest: EnvTest) -> None:
    with pytest.raises(ApiException):
        kube.core.read_namespaced_config_map("missing", "default")
    kube.core.create_namespaced_config_map("default", configmap("c"))
    with pytest.raises(ApiException):
        kube.core.create_namespaced_config_map("default", configmap("c"))

    assert [(e.verb, e.code) for e in envtest.audit.events(resource="configmaps")] == [
        ("get", 404), ("create", 201), ("create", 409)]


def test_the_audit_log_records_custom_resource_requests_with_their_group_and_subresource(
    kube: Clients, envtest: EnvTest,
) -> None:
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("w"))
    kube.custom.patch_namespaced_custom_object_status(GROUP, VERSION, "default", PLURAL, "w",
                                                      {"status": {"phase": "Running"}}, _content_type=MERGE_PATCH)

    recorded = [(e.verb, e.api_group, e.api_version, e.resource, e.subresource, e.name, e.code)
                for e in envtest.audit.events(resource="widgets")]

    assert recorded == [("create", "example.com", "v1", "widgets", "", "", 201),
                        ("patch", "example.com", "v1", "widgets", "status", "w", 200)]


def test_the_audit_log_records_a_watch_as_verb_watch(kube: Clients, envtest: EnvTest) -> None:
    list(watch.Watch().stream(kube.core.list_namespaced_config_map, "default", timeout_seconds=1))

    assert [(e.verb, e.code) for e in envtest.audit.events(resource="configmaps")] == [("watch", 200)]


def test_the_audit_log_tells_writes_from_reads(kube: Clients, envtest: EnvTest) -> None:
    kube.core.create_namespaced_config_map("default", configmap("c"))
    kube.core.read_namespaced_config_map("c", "default")
    kube.core.delete_collection_namespaced_config_map("default")

    assert [e.verb for e in envtest.audit.events(resource="configmaps", writes_only=True)] == [
        "create", "deletecollection"]


def test_the_audit_log_names_the_user_of_each_token(kube: Clients, envtest: EnvTest, tmp_path: Path) -> None:
    token = envtest.add_user("system:serviceaccount:default:robot")
    robot = clients_for(envtest.write_kubeconfig(tmp_path / "robot", user="robot", token=token))
    try:
        robot.core.list_namespaced_config_map("default")
    finally:
        robot.close()

    assert [e.user for e in envtest.audit.events(resource="configmaps")] == ["system:serviceaccount:default:robot"]


# --- faults -------------------------------------------------------------------------------------------------


def test_an_error_rate_of_1_makes_every_configmap_list_fail_with_500(kube: Clients, envtest: EnvTest) -> None:
    envtest.faults.error_rate["configmaps"] = 1.0

    with pytest.raises(ApiException) as caught:
        kube.core.list_namespaced_config_map("default")

    body = status_of(caught.value)
    assert (caught.value.status, body["reason"], body["code"]) == (500, "InternalError", 500)
    assert envtest.audit.events(resource="configmaps")[-1].code == 500


def test_an_error_rate_for_configmaps_leaves_other_resources_alone(kube: Clients, envtest: EnvTest) -> None:
    envtest.faults.error_rate["configmaps"] = 1.0

    assert kube.core.list_namespaced_secret("default").items == []
    assert kube.custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)["items"] == []


def test_clearing_the_faults_makes_requests_succeed_again(kube: Clients, envtest: EnvTest) -> None:
    envtest.faults.error_rate["configmaps"] = 1.0
    with pytest.raises(ApiException):
        kube.core.list_namespaced_config_map("default")

    envtest.faults.clear()

    assert kube.core.list_namespaced_config_map("default").items == []


def test_an_injected_503_reaches_the_client_as_service_unavailable(kube: Clients, envtest: EnvTest) -> None:
    envtest.faults.error_code = 503
    envtest.faults.error_rate["*"] = 1.0

    with pytest.raises(ApiException) as caught:
        kube.core.create_namespaced_config_map("default", configmap("c"))

    envtest.faults.clear()
    assert (caught.value.status, status_of(caught.value)["reason"]) == (503, "ServiceUnavailable")
    with pytest.raises(ApiException) as missing:
        kube.core.read_namespaced_config_map("c", "default")
    assert missing.value.status == 404


def test_latency_is_added_to_requests_of_the_resource(kube: Clients, envtest: EnvTest) -> None:
    envtest.faults.latency_s["configmaps"] = 0.3

    started = time.monotonic()
    kube.core.list_namespaced_config_map("default")
    slow = time.monotonic() - started
    started = time.monotonic()
    kube.core.list_namespaced_secret("default")
    fast = time.monotonic() - started

    assert slow >= 0.3
    assert fast < 0.3
