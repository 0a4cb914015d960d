"""ObjectMeta validation, as apimachinery's ValidateObjectMeta does it for every kind."""

from __future__ import annotations

import re
from typing import Any

from ._errors import FieldError

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_QUALIFIED_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_ANNOTATIONS_LIMIT = 256 * 1024


def validate_name(name: str, *, dns_label: bool, field: str = "metadata.name") -> list[FieldError]:
    if dns_label:
        if len(name) > 63:
            return [FieldError("FieldValueInvalid", field, "must be no more than 63 characters", name)]
        if not _DNS1123_LABEL.match(name):
            return [FieldError("FieldValueInvalid", field, _LABEL_MESSAGE, name)]
        return []
    if len(name) > 253:
        return [FieldError("FieldValueInvalid", field, "must be no more than 253 characters", name)]
    if not _DNS1123_SUBDOMAIN.match(name):
        return [FieldError("FieldValueInvalid", field, _SUBDOMAIN_MESSAGE, name)]
    return []


def _qualified_name_errors(key: str, field: str) -> list[FieldError]:
    prefix, _, name = key.rpartition("/")
    errors = []
    if "/" in prefix:
        errors.append(FieldError("FieldValueInvalid", field, "a qualified name must consist of an optional "
                                 "DNS subdomain prefix and a name separated by '/'", key))
    elif prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        errors.append(FieldError("FieldValueInvalid", field, "prefix part " + _SUBDOMAIN_MESSAGE, key))
    if not name:
        errors.append(FieldError("FieldValueInvalid", field, "name part must be non-empty", key))
    elif len(name) > 63:
        errors.append(FieldError("FieldValueInvalid", field, "name part must be no more than 63 characters", key))
    elif not _QUALIFIED_NAME.match(name):
        errors.append(FieldError("FieldValueInvalid", field, _QUALIFIED_MESSAGE, key))
    return errors


def _is_string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def validate_object_meta(meta: dict[str, Any], *, dns_label_name: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    name = meta.get("name")
    if isinstance(name, str) and name:
        errors += validate_name(name, dns_label=dns_label_name)
    labels = meta.get("labels")
    if labels is not None:
        if not _is_string_map(labels):
            errors.append(FieldError("FieldValueTypeInvalid", "metadata.labels", "must be a map of strings", labels))
        else:
            for key, value in labels.items():
                errors += _qualified_name_errors(key, "metadata.labels")
                if len(value) > 63:
                    errors.append(FieldError("FieldValueInvalid", "metadata.labels",
                                             "must be no more than 63 characters", value))
                elif not _LABEL_VALUE.match(value):
                    errors.append(FieldError("FieldValueInvalid", "metadata.labels", _LABEL_VALUE_MESSAGE, value))
    annotations = meta.get("annotations")
    if annotations is not None:
        if not _is_string_map(annotations):
            errors.append(FieldError("FieldValueTypeInvalid", "metadata.annotations", "must be a map of strings",
                                     annotations))
        else:
            for key in annotations:
                errors += _qualified_name_errors(key.lower(), "metadata.annotations")
            size = sum(len(k) + len(v) for k, v in annotations.items())
            if size > _ANNOTATIONS_LIMIT:
                errors.append(FieldError("FieldValueTooLong", "metadata.annotations",
                                         f"may not be more than {_ANNOTATIONS_LIMIT} bytes"))
    for index, finalizer in enumerate(meta.get("finalizers") or ()):
        if not isinstance(finalizer, str):
            errors.append(FieldError("FieldValueTypeInvalid", f"metadata.finalizers[{index}]", "must be a string",
                                     finalizer))
            continue
        errors += _qualified_name_errors(finalizer, f"metadata.finalizers[{index}]")
    errors += _owner_reference_errors(meta.get("ownerReferences") or [])
    return errors


def _owner_reference_errors(refs: list[Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    controllers = 0
    for index, ref in enumerate(refs):
        path = f"metadata.ownerReferences[{index}]"
        if not isinstance(ref, dict):
            errors.append(FieldError("FieldValueTypeInvalid", path, "must be an object", ref))
            continue
        for required in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(required):
                errors.append(FieldError("FieldValueRequired", f"{path}.{required}"))
        if ref.get("controller"):
            controllers += 1
    if controllers > 1:
        errors.append(FieldError("FieldValueInvalid", "metadata.ownerReferences",
                                 "Only one reference can have Controller set to true", refs))
    return errors
