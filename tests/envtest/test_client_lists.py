"""The official kubernetes client against envtest: paginated lists (limit/continue), generateName, dryRun=All,
label and field selectors on lists, and deletecollection."""

from __future__ import annotations

import re
from typing import Any

import pytest
from kubernetes.client import ApiException

from k0smotron_core.envtest import EnvTest

from ._kube import GROUP, PLURAL, VERSION, Clients, configmap, status_of, widget

NAMESPACE = "paging"


@pytest.fixture
def kube(kube: Clients) -> Clients:
    kube.core.create_namespace({"metadata": {"name": NAMESPACE}})
    return kube


def _fill(kube: Clients, count: int) -> list[str]:
    names = [f"cm-{i:02d}" for i in range(count)]
    for i, name in enumerate(names):
        kube.core.create_namespaced_config_map(NAMESPACE, configmap(name, labels={"parity": ("even", "odd")[i % 2]}))
    return names


def _create_widget(kube: Clients, body: dict[str, Any]) -> None:
    kube.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)


def _names(items: list[Any]) -> list[str]:
    return [item["metadata"]["name"] if isinstance(item, dict) else item.metadata.name for item in items]


# --- pagination ---------------------------------------------------------------------------------------------


def test_a_paginated_list_returns_every_configmap_exactly_once_in_name_order(kube: Clients) -> None:
    names = _fill(kube, 7)

    seen: list[str] = []
    pages = 0
    token = None
    while True:
        page = kube.core.list_namespaced_config_map(NAMESPACE, limit=3, _continue=token)
        pages += 1
        seen += _names(page.items)
        token = page.metadata._continue
        if not token:
            break

    assert seen == names
    assert pages == 3


def test_every_page_of_a_paginated_list_has_the_resource_version_of_the_first(kube: Clients) -> None:
    _fill(kube, 5)
    first = kube.core.list_namespaced_config_map(NAMESPACE, limit=2)

    kube.core.create_namespaced_config_map(NAMESPACE, configmap("cm-zz"))
    second = kube.core.list_namespaced_config_map(NAMESPACE, limit=2, _continue=first.metadata._continue)
    third = kube.core.list_namespaced_config_map(NAMESPACE, limit=2, _continue=second.metadata._continue)

    assert first.metadata.resource_version == second.metadata.resource_version == third.metadata.resource_version


def test_an_object_created_between_pages_is_not_in_the_paginated_list(kube: Clients) -> None:
    names = _fill(kube, 5)
    first = kube.core.list_namespaced_config_map(NAMESPACE, limit=2)

    kube.core.create_namespaced_config_map(NAMESPACE, configmap("cm-zz"))
    kube.core.delete_namespaced_config_map("cm-04", NAMESPACE)
    second = kube.core.list_namespaced_config_map(NAMESPACE, limit=10, _continue=first.metadata._continue)

    assert _names(first.items) + _names(second.items) == names


def test_remaining_item_count_counts_the_objects_after_each_page(kube: Clients) -> None:
    _fill(kube, 7)

    first = kube.core.list_namespaced_config_map(NAMESPACE, limit=3)
    second = kube.core.list_namespaced_config_map(NAMESPACE, limit=3, _continue=first.metadata._continue)
    third = kube.core.list_namespaced_config_map(NAMESPACE, limit=3, _continue=second.metadata._continue)

    assert (first.metadata.remaining_item_count, second.metadata.remaining_item_count) == (4, 1)
    assert third.metadata.remaining_item_count is None
    assert third.metadata._continue is None


def test_a_paginated_list_of_widgets_returns_every_widget_exactly_once(kube: Clients) -> None:
    for i in range(5):
        kube.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, widget(f"w{i}"))

    seen: list[str] = []
    token = None
    while True:
        page = kube.custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, limit=2,
                                                         _continue=token)
        seen += _names(page["items"])
        token = page["metadata"].get("continue")
        if not token:
            break

    assert seen == [f"w{i}" for i in range(5)]


def test_a_continue_token_from_before_a_compaction_fails_with_410_expired(kube: Clients, envtest: EnvTest) -> None:
    _fill(kube, 5)
    first = kube.core.list_namespaced_config_map(NAMESPACE, limit=2)
    kube.core.create_namespaced_config_map(NAMESPACE, configmap("cm-zz"))
    envtest.compact()

    with pytest.raises(ApiException) as caught:
        kube.core.list_namespaced_config_map(NAMESPACE, limit=2, _continue=first.metadata._continue)

    body = status_of(caught.value)
    assert (caught.value.status, body["reason"]) == (410, "Expired")
    assert body["message"].startswith("The provided continue parameter is too old to display a consistent list "
                                      "result. You can start a new list without the continue parameter, or use the "
                                      "continue token in this response to retrieve the remainder of the results.")
    assert body["metadata"]["continue"]


def test_a_malformed_continue_token_fails_with_400_bad_request(kube: Clients) -> None:
    with pytest.raises(ApiException) as caught:
        kube.core.list_namespaced_config_map(NAMESPACE, limit=2, _continue="not-a-token")

    assert caught.value.status == 400
    assert status_of(caught.value)["reason"] == "BadRequest"


# --- generateName and dry runs ------------------------------------------------------------------------------


def test_generate_name_gives_each_configmap_a_unique_name_with_a_five_character_suffix(kube: Clients) -> None:
    body = configmap("unused")
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = "gen-"

    created = [kube.core.create_namespaced_config_map(NAMESPACE, body) for _ in range(20)]

    names = [c.metadata.name for c in created]
    assert len(set(names)) == 20
    assert all(re.fullmatch(r"gen-[bcdfghjklmnpqrstvwxz2456789]{5}", name) for name in names), names
    assert all(c.metadata.generate_name == "gen-" for c in created)


def test_a_dry_run_create_returns_the_object_but_stores_nothing(kube: Clients) -> None:
    created = kube.core.create_namespaced_config_map(NAMESPACE, configmap("dry"), dry_run="All")

    assert created.metadata.name == "dry"
    assert created.metadata.uid
    assert created.metadata.creation_timestamp is not None
    assert created.metadata.resource_version is None
    assert kube.core.list_namespaced_config_map(NAMESPACE).items == []
    with pytest.raises(ApiException) as caught:
        kube.core.read_namespaced_config_map("dry", NAMESPACE)
    assert caught.value.status == 404


def test_a_dry_run_create_of_an_existing_name_fails_with_409_already_exists(kube: Clients) -> None:
    kube.core.create_namespaced_config_map(NAMESPACE, configmap("c"))

    with pytest.raises(ApiException) as caught:
        kube.core.create_namespaced_config_map(NAMESPACE, configmap("c"), dry_run="All")

    assert caught.value.status == 409


def test_a_dry_run_widget_create_applies_defaults_and_stores_nothing(kube: Clients) -> None:
    created = kube.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, widget("dry"),
                                                          dry_run="All")

    assert created["spec"] == {"mode": "tunnel", "replicas": 1}
    assert kube.custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)["items"] == []


def test_a_dry_run_delete_leaves_the_object(kube: Clients) -> None:
    kube.core.create_namespaced_config_map(NAMESPACE, configmap("c"))

    kube.core.delete_namespaced_config_map("c", NAMESPACE, dry_run="All")

    assert kube.core.read_namespaced_config_map("c", NAMESPACE).metadata.name == "c"


def test_a_dry_run_update_returns_the_change_but_keeps_the_stored_object(kube: Clients) -> None:
    stored = kube.core.create_namespaced_config_map(NAMESPACE, configmap("c"))

    changed = kube.core.replace_namespaced_config_map("c", NAMESPACE, configmap("c", data={"key": "new"}),
                                                      dry_run="All")

    assert changed.data == {"key": "new"}
    assert changed.metadata.resource_version == stored.metadata.resource_version
    assert kube.core.read_namespaced_config_map("c", NAMESPACE).data == {"key": "value"}


def test_an_unsupported_dry_run_value_is_rejected_as_invalid_create_options(kube: Clients) -> None:
    with pytest.raises(ApiException) as caught:
        kube.core.create_namespaced_config_map(NAMESPACE, configmap("c"), dry_run="Some")

    body = status_of(caught.value)
    assert (caught.value.status, body["reason"]) == (422, "Invalid")
    assert body["message"] == ('CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: '
                               '[]string{"Some"}: supported values: "All"')
    assert kube.core.list_namespaced_config_map(NAMESPACE).items == []


# --- selectors ----------------------------------------------------------------------------------------------


def test_a_list_with_a_label_selector_returns_only_the_matching_configmaps(kube: Clients) -> None:
    _fill(kube, 5)

    listed = kube.core.list_namespaced_config_map(NAMESPACE, label_selector="parity=odd")

    assert _names(listed.items) == ["cm-01", "cm-03"]


def test_a_list_with_a_set_based_label_selector_returns_only_the_matching_configmaps(kube: Clients) -> None:
    _fill(kube, 4)
    kube.core.create_namespaced_config_map(NAMESPACE, configmap("plain"))

    listed = kube.core.list_namespaced_config_map(NAMESPACE, label_selector="parity notin (even)")

    assert _names(listed.items) == ["cm-01", "cm-03", "plain"]


def test_a_list_with_a_field_selector_on_metadata_name_returns_only_that_configmap(kube: Clients) -> None:
    _fill(kube, 3)

    listed = kube.core.list_namespaced_config_map(NAMESPACE, field_selector="metadata.name=cm-01")

    assert _names(listed.items) == ["cm-01"]


def test_a_list_of_widgets_with_label_and_field_selectors_returns_the_widgets_matching_both(kube: Clients) -> None:
    for name, env in (("a", "prod"), ("b", "prod"), ("c", "dev")):
        _create_widget(kube, widget(name, labels={"env": env}))

    listed = kube.custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, label_selector="env=prod",
                                                       field_selector="metadata.name!=a")

    assert _names(listed["items"]) == ["b"]


def test_a_configmap_list_with_an_unsupported_field_selector_fails_with_400(kube: Clients) -> None:
    with pytest.raises(ApiException) as caught:
        kube.core.list_namespaced_config_map(NAMESPACE, field_selector="data.key=value")

    body = status_of(caught.value)
    assert (caught.value.status, body["reason"]) == (400, "BadRequest")
    assert body["message"] == '"data.key" is not a known field selector: only "metadata.name", "metadata.namespace"'


def test_a_pod_list_with_a_supported_pod_field_selector_is_accepted(kube: Clients) -> None:
    assert kube.core.list_namespaced_pod(NAMESPACE, field_selector="status.phase=Running").items == []


def test_a_list_across_namespaces_returns_objects_of_every_namespace(kube: Clients) -> None:
    kube.core.create_namespaced_config_map(NAMESPACE, configmap("here", labels={"mark": "x"}))
    kube.core.create_namespaced_config_map("default", configmap("there", labels={"mark": "x"}))

    listed = kube.core.list_config_map_for_all_namespaces(label_selector="mark=x")

    assert [(c.metadata.namespace, c.metadata.name) for c in listed.items] == [("default", "there"),
                                                                               (NAMESPACE, "here")]


# --- deletecollection ---------------------------------------------------------------------------------------


def test_deletecollection_with_a_label_selector_deletes_only_the_matching_configmaps(kube: Clients) -> None:
    _fill(kube, 6)

    kube.core.delete_collection_namespaced_config_map(NAMESPACE, label_selector="parity=even")

    assert _names(kube.core.list_namespaced_config_map(NAMESPACE).items) == ["cm-01", "cm-03", "cm-05"]


def test_deletecollection_of_widgets_with_a_label_selector_deletes_only_the_matching_widgets(kube: Clients) -> None:
    for name, env in (("a", "prod"), ("b", "dev"), ("c", "prod")):
        _create_widget(kube, widget(name, labels={"env": env}))

    kube.custom.delete_collection_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL,
                                                           label_selector="env=prod")

    assert _names(kube.custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)["items"]) == ["b"]


def test_deletecollection_leaves_other_namespaces_alone(kube: Clients) -> None:
    kube.core.create_namespaced_config_map(NAMESPACE, configmap("here"))
    kube.core.create_namespaced_config_map("default", configmap("there"))

    kube.core.delete_collection_namespaced_config_map(NAMESPACE)

    assert kube.core.list_namespaced_config_map(NAMESPACE).items == []
    assert _names(kube.core.list_namespaced_config_map("default").items) == ["there"]


def test_deletecollection_marks_objects_with_finalizers_for_deletion(kube: Clients) -> None:
    kube.core.create_namespaced_config_map(NAMESPACE, configmap("held", finalizers=["example.com/hold"]))

    kube.core.delete_collection_namespaced_config_map(NAMESPACE)

    held = kube.core.read_namespaced_config_map("held", NAMESPACE)
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.finalizers == ["example.com/hold"]
