"""kubectl against envtest: schema validation of Widgets (client-side and server-side apply), server dry runs,
and unknown fields under `--validate=strict|warn|false`."""

from __future__ import annotations

import pytest

from ._kube import Kubectl, widget

APPLY_MODES = [pytest.param((), id="client-side"), pytest.param(("--server-side",), id="server-side")]

INVALID_FIELDS = {
    '* spec.mode: Unsupported value: "tunel": supported values: "tunnel", "proxy"',
    "* spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
    "* spec.port: Invalid value: 70000: spec.port in body should be less than or equal to 65535",
}


def _absent(kubectl: Kubectl, name: str) -> bool:
    result = kubectl("get", "widget", name)
    return result.code == 1 and result.err == f'Error from server (NotFound): widgets.example.com "{name}" not found\n'


# --- schema validation --------------------------------------------------------------------------------------


@pytest.mark.parametrize("flags", APPLY_MODES)
def test_kubectl_apply_of_an_invalid_widget_prints_each_field_path_message_and_exits_1(
    kubectl: Kubectl, flags: tuple[str, ...],
) -> None:
    result = kubectl.apply(widget("bad", mode="tunel", replicas=-1, port=70000), *flags)

    assert result.code == 1
    first, *causes = result.err.splitlines()
    assert first == 'The Widget "bad" is invalid: '
    assert set(causes) == INVALID_FIELDS
    assert _absent(kubectl, "bad")


@pytest.mark.parametrize("flags", APPLY_MODES)
def test_kubectl_apply_of_a_widget_without_mode_reports_spec_mode_as_required(
    kubectl: Kubectl, flags: tuple[str, ...],
) -> None:
    result = kubectl.apply(widget("nomode", mode=None), *flags)

    assert result.code == 1
    assert result.err == 'The Widget "nomode" is invalid: spec.mode: Required value\n'
    assert _absent(kubectl, "nomode")


@pytest.mark.parametrize("flags", APPLY_MODES)
def test_kubectl_apply_of_an_invalid_change_leaves_the_widget_as_it_was(
    kubectl: Kubectl, flags: tuple[str, ...],
) -> None:
    kubectl.apply(widget("x", port=80), *flags)

    result = kubectl.apply(widget("x", port=0), *flags)

    assert result.code == 1
    assert result.err == ('The Widget "x" is invalid: spec.port: Invalid value: 0: spec.port in body should be '
                          "greater than or equal to 1\n")
    assert kubectl.json("get", "widget", "x")["spec"]["port"] == 80


def test_a_wrongly_typed_field_is_reported_with_its_type(kubectl: Kubectl) -> None:
    result = kubectl.apply(widget("typed", replicas="three"))

    assert result.code == 1
    assert 'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"' in (
        result.err)


def test_a_map_list_item_without_its_key_is_rejected(kubectl: Kubectl) -> None:
    result = kubectl.apply(widget("keyless", items=[{"value": "v"}]))

    assert result.code == 1
    assert result.err == 'The Widget "keyless" is invalid: spec.items[0].name: Required value\n'


def test_map_list_items_with_a_duplicate_key_are_rejected(kubectl: Kubectl) -> None:
    result = kubectl.apply(widget("dup", items=[{"name": "a"}, {"name": "a", "value": "v"}]))

    assert result.code == 1
    assert result.err == (
        'The Widget "dup" is invalid: spec.items[1]: Duplicate value: map[string]interface {}{"name":"a"}\n')


# --- server dry run -----------------------------------------------------------------------------------------


def test_kubectl_apply_dry_run_server_reports_created_without_storing_the_widget(kubectl: Kubectl) -> None:
    result = kubectl.apply(widget("x"), "--dry-run=server")

    assert result == (0, "widget.example.com/x created (server dry run)\n", "")
    assert _absent(kubectl, "x")


def test_kubectl_apply_dry_run_server_of_an_invalid_widget_reports_every_field_error(kubectl: Kubectl) -> None:
    result = kubectl.apply(widget("bad", mode="tunel", replicas=-1, port=70000), "--dry-run=server")

    assert result.code == 1
    first, *causes = result.err.splitlines()
    assert first == 'The Widget "bad" is invalid: '
    assert set(causes) == INVALID_FIELDS


def test_kubectl_apply_dry_run_server_of_a_change_reports_configured_and_changes_nothing(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))
    before = kubectl.json("get", "widget", "x")

    result = kubectl.apply(widget("x", mode="proxy"), "--dry-run=server")

    assert result == (0, "widget.example.com/x configured (server dry run)\n", "")
    assert kubectl.json("get", "widget", "x") == before


def test_kubectl_server_side_apply_dry_run_server_stores_nothing(kubectl: Kubectl) -> None:
    result = kubectl.apply(widget("x"), "--server-side", "--dry-run=server")

    assert result == (0, "widget.example.com/x serverside-applied (server dry run)\n", "")
    assert _absent(kubectl, "x")


# --- unknown fields -----------------------------------------------------------------------------------------


def test_an_unknown_field_is_rejected_by_the_default_strict_validation(kubectl: Kubectl) -> None:
    result = kubectl.apply(widget("x", foo=1))

    assert result.code == 1
    assert result.err == ('Error from server (BadRequest): error when creating "STDIN": Widget in version "v1" cannot '
                          'be handled as a Widget: strict decoding error: unknown field "spec.foo"\n')
    assert _absent(kubectl, "x")


def test_an_unknown_field_is_rejected_with_validate_strict(kubectl: Kubectl) -> None:
    result = kubectl.apply(widget("x", foo=1), "--validate=strict")

    assert result.code == 1
    assert 'unknown field "spec.foo"' in result.err
    assert _absent(kubectl, "x")


def test_an_unknown_field_is_accepted_and_pruned_with_validate_false(kubectl: Kubectl) -> None:
    result = kubectl.apply(widget("x", foo=1), "--validate=false")

    assert result == (0, "widget.example.com/x created\n", "")
    assert kubectl.json("get", "widget", "x")["spec"] == {"mode": "tunnel", "replicas": 1}


def test_an_unknown_field_is_accepted_with_a_warning_with_validate_warn(kubectl: Kubectl) -> None:
    result = kubectl.apply(widget("x", foo=1), "--validate=warn")

    assert result.code == 0, result.err
    assert result.out == "widget.example.com/x created\n"
    assert result.err == 'Warning: unknown field "spec.foo"\n'
    assert "foo" not in kubectl.json("get", "widget", "x")["spec"]


def test_an_unknown_field_in_a_change_is_rejected_with_strict_validation(kubectl: Kubectl) -> None:
    kubectl.apply(widget("x"))

    result = kubectl.apply(widget("x", foo=1))

    assert result.code == 1
    assert 'unknown field "spec.foo"' in result.err
    assert "foo" not in kubectl.json("get", "widget", "x")["spec"]


def test_unknown_fields_under_a_preserve_unknown_fields_object_are_kept(kubectl: Kubectl) -> None:
    result = kubectl.apply(widget("x", config={"anything": {"goes": [1, 2]}}))

    assert result.code == 0, result.err
    assert kubectl.json("get", "widget", "x")["spec"]["config"] == {"anything": {"goes": [1, 2]}}
