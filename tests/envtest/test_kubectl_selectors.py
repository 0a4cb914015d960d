"""kubectl against envtest: label selectors (`-l` with =, !=, in, notin, exists, !exists) and field selectors
(`--field-selector`) on `kubectl get`."""

from __future__ import annotations

import json

import pytest

from ._kube import Kubectl, widget

LABELS = {
    "a": {"env": "prod", "tier": "web"},
    "b": {"env": "dev", "tier": "web"},
    "c": {"env": "prod"},
    "d": {},
}


@pytest.fixture
def kubectl(kubectl: Kubectl) -> Kubectl:
    documents = [json.dumps(widget(name, labels=labels)) for name, labels in LABELS.items()]
    kubectl.ok("apply", "-f", "-", stdin="\n---\n".join(documents))
    return kubectl


def _names(kubectl: Kubectl, *selector: str) -> list[str]:
    out = kubectl.ok("get", "widgets", *selector, "-o", "name")
    return [line.removeprefix("widget.example.com/") for line in out.splitlines()]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("env=prod", ["a", "c"], id="equals"),
        pytest.param("env==prod", ["a", "c"], id="double-equals"),
        pytest.param("env!=prod", ["b", "d"], id="not-equals-includes-unlabelled"),
        pytest.param("env in (dev,prod)", ["a", "b", "c"], id="in"),
        pytest.param("env notin (prod)", ["b", "d"], id="notin-includes-unlabelled"),
        pytest.param("tier", ["a", "b"], id="exists"),
        pytest.param("!tier", ["c", "d"], id="does-not-exist"),
        pytest.param("env=prod,tier=web", ["a"], id="and"),
        pytest.param("env=prod,!tier", ["c"], id="and-not-exists"),
        pytest.param("env=staging", [], id="none"),
    ],
)
def test_kubectl_get_with_a_label_selector_lists_only_the_matching_widgets(
    kubectl: Kubectl, selector: str, expected: list[str],
) -> None:
    assert _names(kubectl, "-l", selector) == expected


def test_kubectl_get_with_a_label_selector_matching_nothing_says_no_resources_found(kubectl: Kubectl) -> None:
    result = kubectl("get", "widgets", "-l", "env=staging")

    assert result == (0, "", "No resources found in default namespace.\n")


def test_kubectl_get_with_a_field_selector_on_metadata_name_lists_only_that_widget(kubectl: Kubectl) -> None:
    assert _names(kubectl, "--field-selector", "metadata.name=b") == ["b"]


def test_kubectl_get_with_a_negated_field_selector_lists_all_other_widgets(kubectl: Kubectl) -> None:
    assert _names(kubectl, "--field-selector", "metadata.name!=b") == ["a", "c", "d"]


def test_kubectl_get_with_field_and_label_selectors_lists_widgets_matching_both(kubectl: Kubectl) -> None:
    assert _names(kubectl, "-l", "env=prod", "--field-selector", "metadata.name!=a") == ["c"]


def test_kubectl_get_with_a_field_selector_on_metadata_namespace_works_across_namespaces(kubectl: Kubectl) -> None:
    out = kubectl.ok("get", "widgets", "-A", "--field-selector", "metadata.namespace=default", "-o", "name")

    assert out.splitlines() == [f"widget.example.com/{name}" for name in "abcd"]


def test_kubectl_get_with_an_unsupported_field_selector_fails_with_field_label_not_supported(kubectl: Kubectl) -> None:
    result = kubectl("get", "widgets", "--field-selector", "spec.mode=tunnel")

    assert result.code == 1
    assert result.err == ('Error from server (BadRequest): Unable to find "example.com/v1, Resource=widgets" that '
                          'match label selector "", field selector "spec.mode=tunnel": field label not supported: '
                          "spec.mode\n")


def test_kubectl_get_configmaps_with_an_unsupported_field_selector_names_the_supported_ones(kubectl: Kubectl) -> None:
    result = kubectl("get", "configmaps", "--field-selector", "data.key=value")

    assert result.code == 1
    assert result.err == ('Error from server (BadRequest): Unable to find "/v1, Resource=configmaps" that match label '
                          'selector "", field selector "data.key=value": "data.key" is not a known field selector: '
                          'only "metadata.name", "metadata.namespace"\n')
