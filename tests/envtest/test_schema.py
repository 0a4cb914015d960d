"""CRD structural-schema semantics: validation messages as kube-apiserver words them, defaulting, pruning,
list types and the checks on CustomResourceDefinitions themselves."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from k0smotron_core.envtest._listtypes import ATOMIC, SET, ListType
from k0smotron_core.envtest._schema import (
    apply_defaults,
    crd_defaults,
    list_type_resolver,
    prune,
    prune_non_nullable_nulls,
    validate,
    validate_crd,
)


def spec_schema(properties: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A root schema whose `spec` has the given properties."""
    return {"type": "object", "properties": {"spec": {"type": "object", "properties": properties, **spec}}}


def messages(spec: Any, properties: dict[str, Any], **spec_keywords: Any) -> list[str]:
    obj = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "a"}, "spec": spec}
    return [error.message() for error in validate(obj, spec_schema(properties, **spec_keywords))]


# --- type ---------------------------------------------------------------------------------------------------


def test_an_integer_field_accepts_an_integer() -> None:
    assert messages({"replicas": 3}, {"replicas": {"type": "integer"}}) == []


def test_a_string_in_an_integer_field_is_rejected_naming_the_type_it_got() -> None:
    assert messages({"replicas": "3"}, {"replicas": {"type": "integer"}}) == [
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"'
    ]


def test_the_type_error_carries_the_field_value_type_invalid_reason() -> None:
    obj = {"spec": {"replicas": "3"}}
    [error] = validate(obj, spec_schema({"replicas": {"type": "integer"}}))
    assert (error.type, error.field, error.bad_value) == ("FieldValueTypeInvalid", "spec.replicas", "string")


def test_a_boolean_is_not_an_integer() -> None:
    assert messages({"replicas": True}, {"replicas": {"type": "integer"}}) == [
        'spec.replicas: Invalid value: "boolean": spec.replicas in body must be of type integer: "boolean"'
    ]


def test_a_float_that_is_a_whole_number_passes_as_an_integer_like_in_go() -> None:
    assert messages({"replicas": 3.0}, {"replicas": {"type": "integer"}}) == []


def test_a_fractional_float_is_not_an_integer() -> None:
    assert messages({"replicas": 2.5}, {"replicas": {"type": "integer"}}) == [
        'spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number"'
    ]


def test_a_number_field_accepts_integers_and_floats() -> None:
    assert messages({"ratio": 1}, {"ratio": {"type": "number"}}) == []
    assert messages({"ratio": 0.5}, {"ratio": {"type": "number"}}) == []


def test_a_number_field_rejects_a_string() -> None:
    assert messages({"ratio": "half"}, {"ratio": {"type": "number"}}) == [
        'spec.ratio: Invalid value: "string": spec.ratio in body must be of type number: "string"'
    ]


def test_string_boolean_array_and_object_fields_accept_their_own_type() -> None:
    properties = {
        "name": {"type": "string"},
        "enabled": {"type": "boolean"},
        "items": {"type": "array", "items": {"type": "string"}},
        "options": {"type": "object"},
    }
    assert messages({"name": "a", "enabled": False, "items": ["x"], "options": {}}, properties) == []


def test_string_boolean_array_and_object_fields_reject_other_types() -> None:
    properties = {
        "name": {"type": "string"},
        "enabled": {"type": "boolean"},
        "items": {"type": "array", "items": {"type": "string"}},
        "options": {"type": "object"},
    }
    assert messages({"name": 1, "enabled": "yes", "items": {}, "options": []}, properties) == [
        'spec.name: Invalid value: "integer": spec.name in body must be of type string: "integer"',
        'spec.enabled: Invalid value: "string": spec.enabled in body must be of type boolean: "string"',
        'spec.items: Invalid value: "object": spec.items in body must be of type array: "object"',
        'spec.options: Invalid value: "array": spec.options in body must be of type object: "array"',
    ]


def test_null_in_a_non_nullable_field_is_a_type_error() -> None:
    assert messages({"name": None}, {"name": {"type": "string"}}) == [
        'spec.name: Invalid value: "null": spec.name in body must be of type string: "null"'
    ]


def test_null_in_a_nullable_field_is_accepted() -> None:
    assert messages({"name": None}, {"name": {"type": "string", "nullable": True}}) == []


def test_int_or_string_accepts_an_integer_and_a_string() -> None:
    port = {"port": {"x-kubernetes-int-or-string": True}}
    assert messages({"port": 8080}, port) == []
    assert messages({"port": "http"}, port) == []


def test_int_or_string_rejects_a_boolean_naming_both_types() -> None:
    assert messages({"port": True}, {"port": {"x-kubernetes-int-or-string": True}}) == [
        'spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"'
    ]


# --- required, enum -----------------------------------------------------------------------------------------


def test_a_present_required_field_passes() -> None:
    assert messages({"foo": "x"}, {"foo": {"type": "string"}}, required=["foo"]) == []


def test_a_missing_required_field_is_reported_as_required_value() -> None:
    assert messages({}, {"foo": {"type": "string"}}, required=["foo"]) == ["spec.foo: Required value"]


def test_a_value_from_the_enum_is_accepted() -> None:
    assert messages({"mode": "proxy"}, {"mode": {"type": "string", "enum": ["tunnel", "proxy"]}}) == []


def test_a_value_outside_the_enum_lists_the_supported_values() -> None:
    properties = {
        "tunneling": {"type": "object", "properties": {"mode": {"type": "string", "enum": ["tunnel", "proxy"]}}}
    }
    assert messages({"tunneling": {"mode": "tunel"}}, properties) == [
        'spec.tunneling.mode: Unsupported value: "tunel": supported values: "tunnel", "proxy"'
    ]


def test_non_string_enum_members_are_listed_as_json() -> None:
    assert messages({"size": 3}, {"size": {"type": "integer", "enum": [1, 2]}}) == [
        'spec.size: Unsupported value: 3: supported values: "1", "2"'
    ]


# --- numbers ------------------------------------------------------------------------------------------------


def test_a_replica_count_within_bounds_is_accepted() -> None:
    assert messages({"replicas": 0}, {"replicas": {"type": "integer", "minimum": 0, "maximum": 65535}}) == []


def test_a_negative_replica_count_is_rejected_with_the_minimum_message() -> None:
    assert messages({"replicas": -1}, {"replicas": {"type": "integer", "minimum": 0}}) == [
        "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"
    ]


def test_a_value_above_the_maximum_is_rejected() -> None:
    assert messages({"port": 70000}, {"port": {"type": "integer", "maximum": 65535}}) == [
        "spec.port: Invalid value: 70000: spec.port in body should be less than or equal to 65535"
    ]


def test_exclusive_bounds_reject_the_bound_itself() -> None:
    properties = {"a": {"type": "integer", "minimum": 0, "exclusiveMinimum": True}}
    assert messages({"a": 0}, properties) == ["spec.a: Invalid value: 0: spec.a in body should be greater than 0"]
    properties = {"b": {"type": "integer", "maximum": 10, "exclusiveMaximum": True}}
    assert messages({"b": 10}, properties) == ["spec.b: Invalid value: 10: spec.b in body should be less than 10"]


def test_exclusive_bounds_accept_values_strictly_inside() -> None:
    properties = {
        "a": {"type": "integer", "minimum": 0, "maximum": 10, "exclusiveMinimum": True, "exclusiveMaximum": True}
    }
    assert messages({"a": 1}, properties) == []


def test_float_bounds_are_printed_the_way_go_prints_them() -> None:
    assert messages({"x": 2.5}, {"x": {"type": "number", "maximum": 1.5}}) == [
        "spec.x: Invalid value: 2.5: spec.x in body should be less than or equal to 1.5"
    ]
    assert messages({"x": 2e6}, {"x": {"type": "number", "maximum": 1e6}})[0].endswith(
        "should be less than or equal to 1e+06"
    )


def test_multiple_of_accepts_multiples_and_rejects_others() -> None:
    assert messages({"step": 9}, {"step": {"type": "integer", "multipleOf": 3}}) == []
    assert messages({"step": 10}, {"step": {"type": "integer", "multipleOf": 3}}) == [
        "spec.step: Invalid value: 10: spec.step in body should be a multiple of 3"
    ]


def test_int32_format_is_not_range_checked_because_the_real_server_strips_it() -> None:
    assert messages({"n": 2**40}, {"n": {"type": "integer", "format": "int32"}}) == []


# --- strings ------------------------------------------------------------------------------------------------


def test_a_string_matching_the_pattern_is_accepted() -> None:
    assert messages({"x": "abc"}, {"x": {"type": "string", "pattern": "^[a-z]+$"}}) == []


def test_a_string_not_matching_the_pattern_quotes_the_pattern() -> None:
    assert messages({"x": "ABC"}, {"x": {"type": "string", "pattern": "^[a-z]+$"}}) == [
        "spec.x: Invalid value: \"ABC\": spec.x in body should match '^[a-z]+$'"
    ]


def test_a_trailing_newline_does_not_satisfy_dollar_as_in_go() -> None:
    assert len(messages({"x": "abc\n"}, {"x": {"type": "string", "pattern": "^[a-z]+$"}})) == 1


def test_posix_character_classes_work_as_in_go() -> None:
    properties = {"x": {"type": "string", "pattern": "^[[:alpha:]]+$"}}
    assert messages({"x": "abc"}, properties) == []
    assert len(messages({"x": "a1"}, properties)) == 1


def test_a_pattern_go_accepts_but_python_cannot_compile_is_reported_as_invalid() -> None:
    [message] = messages({"x": "a"}, {"x": {"type": "string", "pattern": "(?U)a+"}})
    assert message.startswith(
        'spec.x: Invalid value: "a": spec.x in body should match \'(?U)a+, but pattern is invalid:'
    )


def test_a_string_of_allowed_length_is_accepted() -> None:
    assert messages({"x": "a"}, {"x": {"type": "string", "minLength": 1, "maxLength": 5}}) == []


def test_an_empty_string_is_rejected_with_the_min_length_message() -> None:
    assert messages({"x": ""}, {"x": {"type": "string", "minLength": 1}}) == [
        'spec.x: Invalid value: "": spec.x in body should be at least 1 chars long'
    ]


def test_a_long_string_is_rejected_as_too_long_without_echoing_it() -> None:
    assert messages({"x": "abcdefg"}, {"x": {"type": "string", "maxLength": 5}}) == [
        "spec.x: Too long: may not be more than 5 bytes"
    ]
    assert messages({"x": "ab"}, {"x": {"type": "string", "maxLength": 1}}) == [
        "spec.x: Too long: may not be more than 1 byte"
    ]


def test_string_checks_stop_at_the_first_failure_like_kube_openapi() -> None:
    properties = {"x": {"type": "string", "maxLength": 2, "pattern": "^[a-z]+$"}}
    assert messages({"x": "ABCDE"}, properties) == ["spec.x: Too long: may not be more than 2 bytes"]


def test_a_valid_date_time_is_accepted() -> None:
    properties = {"t": {"type": "string", "format": "date-time"}}
    assert messages({"t": "2024-02-29T23:59:59Z"}, properties) == []
    assert messages({"t": "2024-02-29T10:00:00.123+02:00"}, properties) == []


def test_an_invalid_date_time_is_rejected_with_the_format_message() -> None:
    properties = {"t": {"type": "string", "format": "date-time"}}
    assert messages({"t": "yesterday"}, properties) == [
        'spec.t: Invalid value: "yesterday": spec.t in body must be of type date-time: "yesterday"'
    ]
    assert len(messages({"t": "2023-02-29T10:00:00Z"}, properties)) == 1


def test_byte_format_accepts_base64_and_rejects_other_text() -> None:
    properties = {"data": {"type": "string", "format": "byte"}}
    assert messages({"data": "aGVsbG8="}, properties) == []
    assert messages({"data": "not base64!"}, properties) == [
        'spec.data: Invalid value: "not base64!": spec.data in body must be of type byte: "not base64!"'
    ]


def test_ip_and_cidr_formats_are_checked() -> None:
    properties = {"ip": {"type": "string", "format": "ipv4"}, "net": {"type": "string", "format": "cidr"}}
    assert messages({"ip": "10.0.0.1", "net": "10.0.0.0/8"}, properties) == []
    assert len(messages({"ip": "10.0.0.256", "net": "10.0.0.0/33"}, properties)) == 2


# --- arrays and objects -------------------------------------------------------------------------------------


def test_an_array_within_its_size_limits_is_accepted() -> None:
    assert (
        messages({"l": ["a"]}, {"l": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2}})
        == []
    )


def test_an_empty_array_is_rejected_with_the_min_items_message() -> None:
    assert messages({"l": []}, {"l": {"type": "array", "items": {"type": "string"}, "minItems": 1}}) == [
        "spec.l: Invalid value: 0: spec.l in body should have at least 1 items"
    ]


def test_a_long_array_is_rejected_as_too_many() -> None:
    assert messages({"l": ["a", "b", "c"]}, {"l": {"type": "array", "items": {"type": "string"}, "maxItems": 2}}) == [
        "spec.l: Too many: 3: must have at most 2 items"
    ]


def test_unique_items_rejects_duplicates_and_accepts_distinct_values() -> None:
    properties = {"l": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}}
    assert messages({"l": ["a", "b"]}, properties) == []
    assert messages({"l": ["a", "a"]}, properties) == [
        'spec.l: Invalid value: "": spec.l in body shouldn\'t contain duplicates'
    ]


def test_errors_inside_array_items_name_the_index() -> None:
    properties = {
        "containers": {
            "type": "array",
            "items": {"type": "object", "properties": {"image": {"type": "string"}}},
        }
    }
    assert messages({"containers": [{"image": "a"}, {"image": 1}]}, properties) == [
        'spec.containers[1].image: Invalid value: "integer": spec.containers[1].image in body must be of type string: '
        '"integer"'
    ]


def test_map_values_follow_the_additional_properties_schema_with_a_dotted_path_like_kube_openapi() -> None:
    properties = {"labels": {"type": "object", "additionalProperties": {"type": "string"}}}
    assert messages({"labels": {"tier": "web"}}, properties) == []
    assert messages({"labels": {"tier": 1}}, properties) == [
        'spec.labels.tier: Invalid value: "integer": spec.labels.tier in body must be of type string: "integer"'
    ]


def test_min_and_max_properties() -> None:
    properties = {"m": {"type": "object", "minProperties": 1, "maxProperties": 2}}
    assert messages({"m": {"a": 1}}, properties) == []
    assert messages({"m": {}}, properties) == [
        "spec.m: Invalid value: 0: spec.m in body should have at least 1 properties"
    ]
    assert messages({"m": {"a": 1, "b": 2, "c": 3}}, properties) == ["spec.m: Too many: 3: must have at most 2 items"]


def test_unknown_fields_are_not_validation_errors() -> None:
    assert messages({"unknown": 1}, {"known": {"type": "string"}}) == []


def test_the_root_metadata_is_left_to_object_meta_validation() -> None:
    schema = {
        "type": "object",
        "required": ["metadata"],
        "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 1}}}},
    }
    assert validate({"metadata": {"name": "much-too-long"}}, schema) == []
    assert validate({}, schema) == []


def test_api_version_and_kind_are_always_allowed_at_the_root() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object"}}}
    assert validate({"apiVersion": "example.com/v1", "kind": "Thing", "spec": {}}, schema) == []


def test_all_errors_are_reported_in_document_order() -> None:
    properties = {"b": {"type": "integer"}, "a": {"type": "string"}, "c": {"type": "string"}}
    assert messages({"a": 1, "b": "x", "c": 2}, properties, required=["d"]) == [
        'spec.a: Invalid value: "integer": spec.a in body must be of type string: "integer"',
        'spec.b: Invalid value: "string": spec.b in body must be of type integer: "string"',
        'spec.c: Invalid value: "integer": spec.c in body must be of type string: "integer"',
        "spec.d: Required value",
    ]


# --- allOf / anyOf / oneOf / not ----------------------------------------------------------------------------


def test_any_of_passes_when_one_branch_validates() -> None:
    properties = {"v": {"type": "object", "anyOf": [{"required": ["a"]}, {"required": ["b"]}]}}
    assert messages({"v": {"b": 1}}, properties) == []


def test_any_of_failing_everywhere_reports_the_composite_and_the_best_branch() -> None:
    properties = {"v": {"type": "object", "anyOf": [{"required": ["a"]}, {"required": ["b"]}]}}
    assert messages({"v": {}}, properties) == [
        '<nil>: Invalid value: "": "spec.v" must validate at least one schema (anyOf)',
        "spec.v.a: Required value",
    ]


def test_one_of_passes_when_exactly_one_branch_validates() -> None:
    properties = {"v": {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}}
    assert messages({"v": {"a": 1}}, properties) == []


def test_one_of_with_two_valid_branches_is_rejected() -> None:
    properties = {"v": {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}}
    assert messages({"v": {"a": 1, "b": 2}}, properties) == [
        '<nil>: Invalid value: "": "spec.v" must validate one and only one schema (oneOf). Found 2 valid alternatives'
    ]


def test_all_of_requires_every_branch() -> None:
    properties = {"v": {"type": "integer", "allOf": [{"minimum": 1}, {"maximum": 5}]}}
    assert messages({"v": 3}, properties) == []
    assert messages({"v": 9}, properties) == [
        "spec.v: Invalid value: 9: spec.v in body should be less than or equal to 5",
        '<nil>: Invalid value: "": "spec.v" must validate all the schemas (allOf)',
    ]


def test_not_rejects_a_value_matching_its_schema() -> None:
    properties = {"v": {"type": "string", "not": {"enum": ["forbidden"]}}}
    assert messages({"v": "fine"}, properties) == []
    assert messages({"v": "forbidden"}, properties) == [
        '<nil>: Invalid value: "": "spec.v" must not validate the schema (not)'
    ]


# --- embedded resources and list types ----------------------------------------------------------------------

EMBEDDED = {
    "template": {"type": "object", "x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True}
}


def test_an_embedded_resource_with_api_version_and_kind_is_accepted() -> None:
    assert messages({"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}}, EMBEDDED) == []


def test_an_embedded_resource_needs_api_version_and_kind() -> None:
    assert messages({"template": {"metadata": {}}}, EMBEDDED) == [
        "spec.template.apiVersion: Required value: must not be empty",
        "spec.template.kind: Required value: must not be empty",
    ]


def test_an_embedded_resource_with_a_malformed_api_version_is_rejected() -> None:
    assert messages({"template": {"apiVersion": "a/b/c", "kind": "Pod"}}, EMBEDDED) == [
        'spec.template.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c'
    ]


def test_a_list_type_set_rejects_repeated_values_once_each() -> None:
    properties = {"l": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}}
    assert messages({"l": ["a", "b"]}, properties) == []
    assert messages({"l": ["a", "a", "a"]}, properties) == ['spec.l[1]: Duplicate value: "a"']


def test_a_list_type_map_rejects_items_with_the_same_key() -> None:
    properties = {
        "ports": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}},
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        }
    }
    assert messages({"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 1}]}, properties) == []
    assert messages({"ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]}, properties) == [
        'spec.ports[1]: Duplicate value: map[string]interface {}{"name":"a"}'
    ]


def test_list_type_errors_name_map_entries_with_brackets_like_apimachinery() -> None:
    properties = {
        "groups": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        }
    }
    assert messages({"groups": {"admins": ["x", "x"]}}, properties) == ['spec.groups[admins][1]: Duplicate value: "x"']


# --- defaulting ---------------------------------------------------------------------------------------------


def test_a_missing_field_gets_its_default() -> None:
    obj: dict[str, Any] = {"spec": {}}
    apply_defaults(obj, spec_schema({"replicas": {"type": "integer", "default": 1}}))
    assert obj == {"spec": {"replicas": 1}}


def test_a_present_field_keeps_its_value() -> None:
    obj: dict[str, Any] = {"spec": {"replicas": 3}}
    apply_defaults(obj, spec_schema({"replicas": {"type": "integer", "default": 1}}))
    assert obj == {"spec": {"replicas": 3}}


def test_a_defaulted_object_is_itself_defaulted() -> None:
    schema = spec_schema(
        {
            "tunneling": {
                "type": "object",
                "default": {},
                "properties": {"mode": {"type": "string", "default": "tunnel"}, "port": {"type": "integer"}},
            }
        }
    )
    obj: dict[str, Any] = {"spec": {}}
    apply_defaults(obj, schema)
    assert obj == {"spec": {"tunneling": {"mode": "tunnel"}}}


def test_defaults_apply_only_inside_objects_that_are_present() -> None:
    schema = spec_schema(
        {"tunneling": {"type": "object", "properties": {"mode": {"type": "string", "default": "tunnel"}}}}
    )
    obj: dict[str, Any] = {"spec": {}}
    apply_defaults(obj, schema)
    assert obj == {"spec": {}}


def test_null_in_a_non_nullable_field_with_a_default_is_replaced_by_the_default() -> None:
    obj: dict[str, Any] = {"spec": {"mode": None}}
    apply_defaults(obj, spec_schema({"mode": {"type": "string", "default": "tunnel"}}))
    assert obj == {"spec": {"mode": "tunnel"}}


def test_null_in_a_nullable_field_is_kept() -> None:
    obj: dict[str, Any] = {"spec": {"mode": None}}
    apply_defaults(obj, spec_schema({"mode": {"type": "string", "nullable": True, "default": "tunnel"}}))
    assert obj == {"spec": {"mode": None}}


def test_defaults_reach_array_items_and_map_values() -> None:
    schema = spec_schema(
        {
            "ports": {
                "type": "array",
                "items": {"type": "object", "properties": {"protocol": {"type": "string", "default": "TCP"}}},
            },
            "pools": {
                "type": "object",
                "additionalProperties": {"type": "object", "properties": {"size": {"type": "integer", "default": 3}}},
            },
        }
    )
    obj: dict[str, Any] = {"spec": {"ports": [{}, {"protocol": "UDP"}], "pools": {"a": {}}}}
    apply_defaults(obj, schema)
    assert obj == {"spec": {"ports": [{"protocol": "TCP"}, {"protocol": "UDP"}], "pools": {"a": {"size": 3}}}}


def test_defaults_are_copies_of_the_schema_value() -> None:
    schema = spec_schema({"tags": {"type": "array", "items": {"type": "string"}, "default": ["a"]}})
    obj: dict[str, Any] = {"spec": {}}
    apply_defaults(obj, schema)
    obj["spec"]["tags"].append("b")
    assert schema["properties"]["spec"]["properties"]["tags"]["default"] == ["a"]


def test_non_nullable_nulls_without_defaults_are_dropped_before_validation() -> None:
    schema = spec_schema(
        {"a": {"type": "string"}, "b": {"type": "string", "default": "x"}, "c": {"type": "string", "nullable": True}}
    )
    obj: dict[str, Any] = {"spec": {"a": None, "b": None, "c": None}}
    prune_non_nullable_nulls(obj, schema)
    assert obj == {"spec": {"b": None, "c": None}}


# --- pruning ------------------------------------------------------------------------------------------------


def test_unknown_fields_are_pruned_and_their_paths_returned_sorted() -> None:
    obj: dict[str, Any] = {"spec": {"known": 1, "zeta": 2, "alpha": {"x": 1}}, "extra": True}
    assert prune(obj, spec_schema({"known": {"type": "integer"}})) == ["extra", "spec.alpha", "spec.zeta"]
    assert obj == {"spec": {"known": 1}}


def test_pruning_keeps_api_version_kind_and_metadata_at_the_root() -> None:
    obj: dict[str, Any] = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "a", "x": 1}}
    assert prune(obj, {"type": "object"}) == []
    assert obj == {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "a", "x": 1}}


def test_pruned_paths_name_list_positions() -> None:
    schema = spec_schema(
        {"items": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}}}
    )
    obj: dict[str, Any] = {"spec": {"items": [{"a": "x"}, {"a": "y", "b": 1}]}}
    assert prune(obj, schema) == ["spec.items[1].b"]


def test_preserve_unknown_fields_keeps_unknown_fields_but_prunes_declared_children() -> None:
    schema = spec_schema(
        {
            "config": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"strict": {"type": "object", "properties": {"a": {"type": "string"}}}},
            }
        }
    )
    obj: dict[str, Any] = {"spec": {"config": {"anything": {"goes": 1}, "strict": {"a": "x", "b": 2}}}}
    assert prune(obj, schema) == ["spec.config.strict.b"]
    assert obj == {"spec": {"config": {"anything": {"goes": 1}, "strict": {"a": "x"}}}}


def test_embedded_resources_keep_their_api_version_kind_and_metadata() -> None:
    schema = spec_schema(
        {
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "properties": {"spec": {"type": "object"}},
            }
        }
    )
    obj: dict[str, Any] = {
        "spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}, "other": 1}}
    }
    assert prune(obj, schema) == ["spec.template.other"]
    assert obj == {"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}}}


def test_additional_properties_keep_map_entries_and_prune_inside_them() -> None:
    schema = spec_schema(
        {
            "pools": {
                "type": "object",
                "additionalProperties": {"type": "object", "properties": {"size": {"type": "integer"}}},
            }
        }
    )
    obj: dict[str, Any] = {"spec": {"pools": {"a": {"size": 1, "colour": "red"}}}}
    assert prune(obj, schema) == ["spec.pools.a.colour"]
    assert obj == {"spec": {"pools": {"a": {"size": 1}}}}


# --- list types ---------------------------------------------------------------------------------------------

LISTS_SCHEMA = spec_schema(
    {
        "ports": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name", "protocol"],
            "items": {
                "type": "object",
                "properties": {"tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}},
            },
        },
        "args": {"type": "array", "items": {"type": "string"}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "template": {"type": "object", "x-kubernetes-embedded-resource": True},
    }
)


def test_a_list_type_map_resolves_with_its_keys() -> None:
    assert list_type_resolver(LISTS_SCHEMA)(("spec", "ports")) == ListType("map", ("name", "protocol"))


def test_a_list_type_set_inside_list_items_resolves_without_list_positions() -> None:
    assert list_type_resolver(LISTS_SCHEMA)(("spec", "ports", "tags")) == SET


def test_lists_without_a_list_type_are_atomic() -> None:
    assert list_type_resolver(LISTS_SCHEMA)(("spec", "args")) == ATOMIC


def test_unknown_and_preserved_paths_are_atomic() -> None:
    resolve = list_type_resolver(LISTS_SCHEMA)
    assert resolve(("spec", "nothing", "here")) == ATOMIC
    assert resolve(("spec", "free", "list")) == ATOMIC


def test_object_meta_lists_merge_as_in_object_meta() -> None:
    resolve = list_type_resolver(LISTS_SCHEMA)
    assert resolve(("metadata", "finalizers")) == SET
    assert resolve(("metadata", "ownerReferences")) == ListType("map", ("uid",))
    assert resolve(("spec", "template", "metadata", "finalizers")) == SET


# --- CustomResourceDefinitions ------------------------------------------------------------------------------


def crd(**changes: Any) -> dict[str, Any]:
    """A valid CRD; `changes` replace keys of its spec."""
    spec: dict[str, Any] = {
        "group": "controlplane.cluster.x-k8s.io",
        "scope": "Namespaced",
        "names": {
            "plural": "k0scontrolplanes",
            "singular": "k0scontrolplane",
            "kind": "K0sControlPlane",
            "listKind": "K0sControlPlaneList",
        },
        "versions": [
            {
                "name": "v1beta1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": spec_schema({"replicas": {"type": "integer"}})},
            }
        ],
    }
    spec.update(changes)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "k0scontrolplanes.controlplane.cluster.x-k8s.io"},
        "spec": spec,
    }


def crd_messages(definition: dict[str, Any]) -> list[str]:
    return [error.message() for error in validate_crd(definition)]


def schema_version(schema: dict[str, Any], name: str = "v1beta1", storage: bool = True) -> dict[str, Any]:
    return {"name": name, "served": True, "storage": storage, "schema": {"openAPIV3Schema": schema}}


def test_a_well_formed_crd_has_no_errors() -> None:
    assert crd_messages(crd()) == []


def test_the_crd_name_must_be_plural_dot_group() -> None:
    definition = crd()
    definition["metadata"]["name"] = "x"
    assert crd_messages(definition) == ['metadata.name: Invalid value: "x": must be spec.names.plural+"."+spec.group']


def test_the_group_must_be_a_domain_with_a_dot() -> None:
    definition = crd(group="example")
    definition["metadata"]["name"] = "k0scontrolplanes.example"
    assert crd_messages(definition) == [
        'spec.group: Invalid value: "example": should be a domain with at least one dot'
    ]


def test_an_empty_group_is_required() -> None:
    assert "spec.group: Required value" in crd_messages(crd(group=""))


def test_the_scope_must_be_namespaced_or_cluster() -> None:
    assert crd_messages(crd(scope="Global")) == [
        'spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"'
    ]


def test_exactly_one_version_must_be_the_storage_version() -> None:
    schema = spec_schema({})
    [none] = crd_messages(crd(versions=[schema_version(schema, storage=False)]))
    assert none.startswith("spec.versions: Invalid value: ")
    assert none.endswith(": must have exactly one version marked as storage version")
    two = crd_messages(crd(versions=[schema_version(schema, "v1"), schema_version(schema, "v2")]))
    assert [m.rsplit(": ", 1)[1] for m in two] == ["must have exactly one version marked as storage version"]


def test_at_least_one_version_is_needed() -> None:
    assert crd_messages(crd(versions=[])) == [
        # The real server prints the typed []CustomResourceDefinitionVersion with %#v; an empty one is approximated.
        "spec.versions: Invalid value: []interface {}{}: must have exactly one version marked as storage version"
    ]


def test_every_version_needs_a_schema() -> None:
    assert crd_messages(crd(versions=[{"name": "v1beta1", "served": True, "storage": True}])) == [
        "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"
    ]


def test_the_schema_root_must_be_an_object() -> None:
    messages_ = crd_messages(crd(versions=[schema_version({"type": "string"})]))
    assert messages_ == [
        'spec.versions[0].schema.openAPIV3Schema.type: Invalid value: "string": must be object at the root'
    ]


def test_every_specified_field_needs_a_type() -> None:
    schema = {"type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}}}}
    assert crd_messages(crd(versions=[schema_version(schema)])) == [
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: "
        "must not be empty for specified object fields"
    ]


def test_untyped_fields_are_allowed_when_they_preserve_unknown_fields_or_are_int_or_string() -> None:
    schema = {
        "type": "object",
        "properties": {
            "any": {"x-kubernetes-preserve-unknown-fields": True},
            "port": {"x-kubernetes-int-or-string": True},
        },
    }
    assert crd_messages(crd(versions=[schema_version(schema)])) == []


def test_root_metadata_may_only_restrict_name_and_generate_name() -> None:
    allowed = {
        "type": "object",
        "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string"}}}},
    }
    assert crd_messages(crd(versions=[schema_version(allowed)])) == []
    forbidden = {
        "type": "object",
        "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}},
    }
    assert crd_messages(crd(versions=[schema_version(forbidden)])) == [
        "spec.versions[0].schema.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other "
        "than name and generateName, but metadata is implicitly specified"
    ]


def test_the_plural_must_be_a_lowercase_dns_label() -> None:
    definition = crd()
    definition["spec"]["names"]["plural"] = "K0sControlPlanes"
    definition["metadata"]["name"] = "K0sControlPlanes.controlplane.cluster.x-k8s.io"
    assert any(
        m.startswith('spec.names.plural: Invalid value: "K0sControlPlanes": a DNS-1035 label')
        for m in crd_messages(definition)
    )


def test_kind_and_list_kind_must_differ() -> None:
    definition = crd()
    definition["spec"]["names"]["listKind"] = "K0sControlPlane"
    assert crd_messages(definition) == [
        'spec.names.listKind: Invalid value: "K0sControlPlane": kind and listKind may not be the same'
    ]


def test_a_missing_list_kind_is_left_to_defaulting() -> None:
    definition = crd()
    del definition["spec"]["names"]["listKind"]
    del definition["spec"]["names"]["singular"]
    assert crd_messages(definition) == []


def test_protected_groups_need_the_api_approval_annotation() -> None:
    definition = crd(group="things.k8s.io")
    definition["metadata"]["name"] = "k0scontrolplanes.things.k8s.io"
    assert crd_messages(definition) == [
        "metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval "
        'annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111'
    ]


def test_crd_defaults_fill_list_kind_singular_and_conversion() -> None:
    definition = crd()
    del definition["spec"]["names"]["listKind"]
    del definition["spec"]["names"]["singular"]
    crd_defaults(definition)
    names = definition["spec"]["names"]
    assert (names["listKind"], names["singular"]) == ("K0sControlPlaneList", "k0scontrolplane")
    assert definition["spec"]["conversion"] == {"strategy": "None"}


def test_crd_defaults_keep_what_is_set() -> None:
    definition = crd(conversion={"strategy": "Webhook", "webhook": {"clientConfig": {"service": {"name": "s"}}}})
    crd_defaults(definition)
    assert definition["spec"]["names"]["singular"] == "k0scontrolplane"
    assert definition["spec"]["conversion"]["webhook"]["clientConfig"]["service"] == {"name": "s", "port": 443}


# --- properties ---------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)
PROPERTY_SCHEMA = spec_schema(
    {
        "replicas": {"type": "integer", "default": 1, "minimum": 0},
        "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
        "tunneling": {
            "type": "object",
            "default": {},
            "properties": {
                "port": {"type": "integer", "default": 8132},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
        },
        "pools": {
            "type": "object",
            "additionalProperties": {"type": "object", "properties": {"size": {"type": "integer", "default": 3}}},
        },
        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {"type": "string", "default": "x"}}},
        },
    }
)


@settings(max_examples=200)
@given(spec=json_values)
def test_defaulting_is_idempotent(spec: Any) -> None:
    obj = {"spec": spec}
    apply_defaults(obj, PROPERTY_SCHEMA)
    once = copy.deepcopy(obj)
    apply_defaults(obj, PROPERTY_SCHEMA)
    assert obj == once


@settings(max_examples=200)
@given(spec=json_values, extra=st.dictionaries(st.text(max_size=5), json_values, max_size=3))
def test_pruned_output_has_no_unknown_fields_left(spec: Any, extra: dict[str, Any]) -> None:
    obj = {**extra, "spec": spec}
    prune(obj, PROPERTY_SCHEMA)
    assert prune(obj, PROPERTY_SCHEMA) == []


@settings(max_examples=200)
@given(spec=json_values)
def test_validation_of_any_json_returns_field_errors_without_raising(spec: Any) -> None:
    for error in validate({"spec": spec}, PROPERTY_SCHEMA):
        assert error.message()
