"""Structural-schema semantics of CustomResourceDefinitions (apiextensions.k8s.io/v1 `openAPIV3Schema`).

This mirrors what kube-apiserver does to a custom resource, in the order it does it when decoding a request:
`prune` (drop unknown fields), `prune_non_nullable_nulls`, `apply_defaults`, then `validate`. It also holds
the checks and defaults the server applies to a CustomResourceDefinition itself (`validate_crd`,
`crd_defaults`) and the list-merge answers for server-side apply (`list_type_resolver`).

Fidelity notes, so that error messages match what kubectl users see from a real cluster:

* Schema validation follows k8s.io/kube-openapi's validator and apiextensions' translation of its errors
  into field errors: the same checks in the same per-node order (type, allOf/anyOf/oneOf/not, string,
  format, number, array, enum, object), the same quirks (a value of the wrong type still has its other
  applicable checks run; `minProperties`/`maxProperties` failures stop the object's other checks; string
  checks stop at the first failure) and the same paths, which in these messages name map entries with a dot
  (`spec.labels.key`) and array items with an index (`spec.items[0]`).
* Errors that the real server raises outside kube-openapi use k8s.io/apimachinery field paths instead, where
  map entries are `spec.labels[key]`: embedded-resource checks and the `x-kubernetes-list-type` set/map
  uniqueness checks. Like the real server they come after all schema errors.
* `format` is honoured only for the formats apiextensions keeps (others, like `int32`, `int64`, `float` and
  `double`, are stripped by the real server and never checked). Of the kept ones, `date-time`, `date`,
  `byte`, `uuid*`, `ipv4`, `ipv6` and `cidr` are checked; the rest (`uri`, `email`, `hostname`, `mac`,
  `isbn*`, `creditcard`, `ssn`, `hexcolor`, `rgbcolor`, `duration`, `bsonobjectid`, `password`) are accepted
  as any string.
* `pattern` is a Go RE2 expression; it is translated to Python's `re` where the two differ in ways that
  matter for validation (`$` is end of text, `\\z`, POSIX classes, ASCII-only `\\d\\w\\s`).
* Not implemented: `x-kubernetes-validations` (CEL rules are ignored), validation ratcheting on update,
  the ObjectMeta of embedded resources, and `patternProperties`/`dependencies` (forbidden in structural
  schemas anyway).
"""

from __future__ import annotations

import calendar
import copy
import decimal
import functools
import ipaddress
import json
import math
import re
from collections.abc import Callable
from typing import Any

from ._errors import FieldError
from ._listtypes import ATOMIC, SET, FieldPath, ListType, ListTypeResolver

Schema = dict[str, Any]

PRESERVE_UNKNOWN_FIELDS = "x-kubernetes-preserve-unknown-fields"
EMBEDDED_RESOURCE = "x-kubernetes-embedded-resource"
INT_OR_STRING = "x-kubernetes-int-or-string"
LIST_TYPE = "x-kubernetes-list-type"
LIST_MAP_KEYS = "x-kubernetes-list-map-keys"

# Fields every Kubernetes object carries and that the schema of an object never has to declare.
_META_FIELDS = frozenset({"apiVersion", "kind", "metadata"})


# --- validation: kube-openapi's schema validator -------------------------------------------------------------


def validate(obj: dict[str, Any], schema: Schema) -> list[FieldError]:
    """Every error the real server reports for `obj` against its version's `openAPIV3Schema`."""
    schema_errors = _unique(_validate_node(obj, _without_root_metadata(schema), ""))
    return schema_errors + _embedded_resource_errors(obj, schema, "", is_root=True) + _list_type_errors(obj, schema, "")


def _without_root_metadata(schema: Schema) -> Schema:
    # The server validates ObjectMeta itself; the schema may only describe name/generateName there.
    root = dict(schema)
    if "metadata" in (schema.get("properties") or {}):
        root["properties"] = {k: v for k, v in schema["properties"].items() if k != "metadata"}
    if "metadata" in (schema.get("required") or []):
        root["required"] = [k for k in schema["required"] if k != "metadata"]
    return root


def _unique(errors: list[FieldError]) -> list[FieldError]:
    # kube-openapi drops an error whose message it has already reported (e.g. from two anyOf branches).
    seen: set[tuple[str, str]] = set()
    unique = []
    for error in errors:
        key = (error.type, error.message())
        if key not in seen:
            seen.add(key)
            unique.append(error)
    return unique


def _validate_node(value: Any, schema: Schema, name: str) -> list[FieldError]:
    """One schema node; `name` is kube-openapi's path for the value (it prefixes every message)."""
    errors = _type_errors(value, schema, name)
    if value is None:
        return errors + _enum_errors(value, schema, name)
    errors += _composition_errors(value, schema, name)
    if isinstance(value, str):
        errors += _string_errors(value, schema, name)
        errors += _format_errors(value, schema, name)
    if _is_number(value):
        errors += _number_errors(value, schema, name)
    if isinstance(value, list):
        errors += _array_errors(value, schema, name)
    errors += _enum_errors(value, schema, name)
    if isinstance(value, dict):
        errors += _object_errors(value, schema, name)
    return errors


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _field_of(name: str) -> str:
    # apiextensions turns kube-openapi's name into a field path; an empty name means no path at all,
    # which apimachinery prints as "<nil>".
    trimmed = name[1:] if name.startswith(".") else name
    return trimmed or "<nil>"


def _child_name(name: str, key: str) -> str:
    return f"{name}.{key}" if name else key


def _invalid(name: str, value: Any, detail: str) -> FieldError:
    return FieldError("FieldValueInvalid", _field_of(name), detail, value)


def _invalid_type(name: str, expected: str, actual: str) -> FieldError:
    return FieldError(
        "FieldValueTypeInvalid",
        _field_of(name),
        f"{name} in body must be of type {expected}: {_go_quote(actual)}",
        actual,
    )


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


# --- type ---------------------------------------------------------------------------------------------------


def _declared_types(schema: Schema) -> list[str]:
    if schema.get(INT_OR_STRING):
        return ["integer", "string"]
    declared = schema.get("type")
    return [declared] if isinstance(declared, str) and declared else []


def _type_errors(value: Any, schema: Schema, name: str) -> list[FieldError]:
    declared = _declared_types(schema)
    fmt = _effective_format(schema)
    if not declared and not fmt:
        return []
    if value is None:
        if declared and "null" not in declared and not schema.get("nullable"):
            return [_invalid_type(name, ",".join(declared), "null")]
        return []
    actual = _json_type(value)
    accepted = (
        actual in declared
        or (actual == "number" and "integer" in declared and _is_json_integer(value))
        or (actual == "integer" and "number" in declared)
    )
    text_or_list = actual in ("string", "array")
    if fmt and not text_or_list and not accepted:
        # kube-openapi names the schema's format, not its type, when a formatted value has the wrong type.
        return [_invalid_type(name, fmt, _inferred_format(actual))]
    if fmt and text_or_list and not ("number" in declared or "integer" in declared):
        return []
    if not accepted:
        return [_invalid_type(name, ",".join(declared), actual)]
    return []


def _inferred_format(json_type: str) -> str:
    return {"integer": "int64", "number": "double"}.get(json_type, "")


def _is_json_integer(number: float) -> bool:
    """go-openapi's IsFloat64AJSONInteger: a float that stands for an integer, with a relative tolerance."""
    if not math.isfinite(number) or abs(number) > 2**53:
        return False
    if number.is_integer():
        return True
    truncated = float(math.trunc(number))
    if truncated == 0:
        return False
    return abs(number - truncated) / (abs(number) + abs(truncated)) < 1e-9


# --- allOf / anyOf / oneOf / not ---------------------------------------------------------------------------


def _composition_errors(value: Any, schema: Schema, name: str) -> list[FieldError]:
    errors: list[FieldError] = []
    quoted = _go_quote(name)
    if schema.get("anyOf"):
        results = [_validate_node(value, branch, name) for branch in schema["anyOf"]]
        if all(results):
            errors.append(_composite(f"{quoted} must validate at least one schema (anyOf)"))
            errors += _best_failure(results)
    if schema.get("oneOf"):
        results = [_validate_node(value, branch, name) for branch in schema["oneOf"]]
        valid = sum(1 for result in results if not result)
        if valid != 1:
            found = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
            errors.append(_composite(f"{quoted} must validate one and only one schema (oneOf). {found}"))
            if valid == 0:
                errors += _best_failure(results)
    if schema.get("allOf"):
        results = [_validate_node(value, branch, name) for branch in schema["allOf"]]
        for result in results:
            errors += result
        failed = sum(1 for result in results if result)
        if failed:
            none_validated = ". None validated" if failed == len(results) else ""
            errors.append(_composite(f"{quoted} must validate all the schemas (allOf){none_validated}"))
    if isinstance(schema.get("not"), dict) and not _validate_node(value, schema["not"], name):
        errors.append(_composite(f"{quoted} must not validate the schema (not)"))
    return errors


def _composite(detail: str) -> FieldError:
    # These are not field errors in kube-openapi; apiextensions reports them against no path at all.
    return FieldError("FieldValueInvalid", "<nil>", detail, "")


def _best_failure(results: list[list[FieldError]]) -> list[FieldError]:
    # kube-openapi keeps the failing branch that passed the most checks; the branch with the fewest
    # errors (the first one on a tie) is the same branch in all but contrived schemas.
    return min(results, key=len)


# --- strings and formats ------------------------------------------------------------------------------------


def _string_errors(value: str, schema: Schema, name: str) -> list[FieldError]:
    # kube-openapi stops at the first failing string check.
    max_length = schema.get("maxLength")
    if max_length is not None and len(value) > max_length:
        unit = "byte" if max_length == 1 else "bytes"
        return [FieldError("FieldValueTooLong", _field_of(name), f"may not be more than {max_length} {unit}")]
    min_length = schema.get("minLength")
    if min_length is not None and len(value) < min_length:
        return [_invalid(name, value, f"{name} in body should be at least {min_length} chars long")]
    pattern = schema.get("pattern")
    if pattern:
        try:
            matches = _go_regex(pattern).search(value) is not None
        except re.error as err:
            return [_invalid(name, value, f"{name} in body should match '{pattern}, but pattern is invalid: {err}'")]
        if not matches:
            return [_invalid(name, value, f"{name} in body should match '{pattern}'")]
    return []


# Formats apiextensions keeps in published schemas (others are stripped before validation), named the way
# go-openapi's registry normalises them: without dashes.
_KEPT_FORMATS = frozenset(
    {
        "bsonobjectid",
        "uri",
        "email",
        "hostname",
        "ipv4",
        "ipv6",
        "cidr",
        "mac",
        "uuid",
        "uuid3",
        "uuid4",
        "uuid5",
        "isbn",
        "isbn10",
        "isbn13",
        "creditcard",
        "ssn",
        "hexcolor",
        "rgbcolor",
        "byte",
        "password",
        "date",
        "duration",
        "datetime",
    }
)


def _effective_format(schema: Schema) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt.replace("-", "") in _KEPT_FORMATS:
        return fmt
    return ""


def _format_errors(value: str, schema: Schema, name: str) -> list[FieldError]:
    fmt = _effective_format(schema)
    check = _FORMAT_CHECKS.get(fmt.replace("-", ""))
    if check is None or check(value):
        return []
    return [
        FieldError(
            "FieldValueTypeInvalid", _field_of(name), f"{name} in body must be of type {fmt}: {_go_quote(value)}", value
        )
    ]


_FULL_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_TIME_OF_DAY = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))", re.ASCII)
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})", re.ASCII)
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.ASCII | re.IGNORECASE)
_UUID3 = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.ASCII | re.IGNORECASE)
_UUID4 = re.compile(
    r"[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}", re.ASCII | re.IGNORECASE
)
_UUID5 = re.compile(
    r"[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}", re.ASCII | re.IGNORECASE
)


def _is_date(text: str) -> bool:
    """Go's time.Parse("2006-01-02", text)."""
    match = _FULL_DATE.fullmatch(text)
    if match is None:
        return False
    year, month, day = (int(part) for part in match.groups())
    # Year 0 is a leap year in the proleptic Gregorian calendar Go uses; 2000 stands in for it.
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year or 2000, month)[1]


def _is_date_time(text: str) -> bool:
    """go-openapi's IsDateTime, quirks included (it splits on any 't' and compares fields as text)."""
    if len(text) < 4:
        return False
    parts = text.lower().split("t")
    if len(parts) < 2 or not _is_date(parts[0]):
        return False
    match = _TIME_OF_DAY.fullmatch(parts[1])
    return match is not None and match[1] <= "23" and match[2] <= "59" and match[3] <= "59"


def _parse_ip_sloppy(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """k8s.io/utils/net.ParseIPSloppy: Go's net.ParseIP, except that IPv4 octets may have leading zeros."""
    if "%" in text:  # Go rejects IPv6 zones
        return None
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    octets = text.split(".")
    if len(octets) != 4 or not all(octet.isascii() and octet.isdigit() for octet in octets):
        return None
    if any(int(octet) > 255 for octet in octets):
        return None
    return ipaddress.IPv4Address(".".join(str(int(octet)) for octet in octets))


def _is_ipv4(text: str) -> bool:
    return _parse_ip_sloppy(text) is not None and "." in text


def _is_ipv6(text: str) -> bool:
    if ":" not in text or "%" in text:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _is_cidr(text: str) -> bool:
    address, slash, prefix = text.partition("/")
    parsed = _parse_ip_sloppy(address)
    if not slash or parsed is None or not (prefix.isascii() and prefix.isdigit()):
        return False
    return int(prefix) <= parsed.max_prefixlen


_FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "datetime": _is_date_time,
    "date": _is_date,
    "byte": lambda text: _BASE64.fullmatch(text) is not None,
    "uuid": lambda text: _UUID.fullmatch(text) is not None,
    "uuid3": lambda text: _UUID3.fullmatch(text) is not None,
    "uuid4": lambda text: _UUID4.fullmatch(text) is not None,
    "uuid5": lambda text: _UUID5.fullmatch(text) is not None,
    "ipv4": _is_ipv4,
    "ipv6": _is_ipv6,
    "cidr": _is_cidr,
}


# --- Go regular expressions ---------------------------------------------------------------------------------

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_MULTILINE_FLAG = re.compile(r"\(\?[a-zA-Z]*m")


@functools.lru_cache(maxsize=512)
def _go_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Go RE2 pattern with Go's meaning; raises re.error for what Python cannot express."""
    return re.compile(_python_regex_source(pattern), re.ASCII)


def _python_regex_source(pattern: str) -> str:
    # Outside (?m), Go's `$` matches only at the very end, where Python's also matches before a final "\n".
    end_of_text = "$" if _MULTILINE_FLAG.search(pattern) else "\\Z"
    out: list[str] = []
    i = 0
    in_class = False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            out.append("\\Z" if escaped == "z" and not in_class else char + escaped)
            i += 2
        elif in_class:
            i, in_class = _translate_in_class(pattern, i, out)
        elif char == "[":
            i = _open_class(pattern, i, out)
            in_class = True
        else:
            out.append(end_of_text if char == "$" else char)
            i += 1
    return "".join(out)


def _open_class(pattern: str, i: int, out: list[str]) -> int:
    out.append("[")
    i += 1
    if pattern.startswith("^", i):
        out.append("^")
        i += 1
    if pattern.startswith("]", i):  # a leading "]" is a literal member in both dialects
        out.append("\\]")
        i += 1
    return i


def _translate_in_class(pattern: str, i: int, out: list[str]) -> tuple[int, bool]:
    """Translate one element of a character class; returns the next position and whether the class goes on."""
    if pattern.startswith("[:", i):
        end = pattern.find(":]", i + 2)
        posix = _POSIX_CLASSES.get(pattern[i + 2 : end]) if end != -1 else None
        if posix is not None:
            out.append(posix)
            return end + 2, True
    char = pattern[i]
    # Python warns about (and will reinterpret) a bare "[" inside a class; Go takes it literally.
    out.append("\\[" if char == "[" else char)
    return i + 1, char != "]"


# --- numbers ------------------------------------------------------------------------------------------------


def _number_errors(value: float, schema: Schema, name: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if schema.get("multipleOf") is not None:
        errors += _multiple_of_errors(value, float(schema["multipleOf"]), name)
    if schema.get("minimum") is not None:
        errors += _bound_errors(value, float(schema["minimum"]), bool(schema.get("exclusiveMinimum")), name, below=True)
    if schema.get("maximum") is not None:
        errors += _bound_errors(
            value, float(schema["maximum"]), bool(schema.get("exclusiveMaximum")), name, below=False
        )
    return errors


def _bound_errors(value: float, bound: float, exclusive: bool, name: str, *, below: bool) -> list[FieldError]:
    # Integers are compared with the bound converted to an integer (Go truncates), floats with the float.
    limit: float = math.trunc(bound) if isinstance(value, int) else bound
    if below:
        failed = value <= limit if exclusive else value < limit
        relation = "greater than" if exclusive else "greater than or equal to"
    else:
        failed = value >= limit if exclusive else value > limit
        relation = "less than" if exclusive else "less than or equal to"
    if not failed:
        return []
    return [_invalid(name, value, f"{name} in body should be {relation} {_go_number(limit)}")]


def _multiple_of_errors(value: float, factor: float, name: str) -> list[FieldError]:
    if isinstance(value, int) and math.trunc(factor) != 0:
        int_factor = math.trunc(factor)
        if int_factor < 0:
            return [_invalid(name, int_factor, f"factor MultipleOf declared for {name} must be positive: {int_factor}")]
        if value % int_factor != 0:
            return [_invalid(name, value, f"{name} in body should be a multiple of {int_factor}")]
        return []
    if factor < 0:
        return [_invalid(name, factor, f"factor MultipleOf declared for {name} must be positive: {_go_number(factor)}")]
    quotient = (1 / factor * value) if factor < 1 else (value / factor)
    if not _is_json_integer(quotient):
        return [_invalid(name, value, f"{name} in body should be a multiple of {_go_number(factor)}")]
    return []


def _go_number(number: float) -> str:
    """Go's %v of an int64 or float64: shortest digits, exponent form from 1e+06 or below 1e-04."""
    if isinstance(number, int):
        return str(number)
    if number == 0:
        return "0"
    sign, digits, exponent = decimal.Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text_digits = "".join(str(d) for d in digits)
    point = len(text_digits) + exponent  # position of the decimal point within the digits
    decimal_exponent = point - 1
    prefix = "-" if sign else ""
    if decimal_exponent < -4 or decimal_exponent >= 6:
        mantissa = text_digits[0] + ("." + text_digits[1:] if len(text_digits) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if decimal_exponent < 0 else '+'}{abs(decimal_exponent):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text_digits}"
    if point >= len(text_digits):
        return prefix + text_digits + "0" * (point - len(text_digits))
    return f"{prefix}{text_digits[:point]}.{text_digits[point:]}"


# --- arrays, enums, objects ---------------------------------------------------------------------------------


def _array_errors(value: list[Any], schema: Schema, name: str) -> list[FieldError]:
    errors: list[FieldError] = []
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            errors += _validate_node(item, items, f"{name}[{index}]")
    min_items = schema.get("minItems")
    if min_items is not None and len(value) < min_items:
        errors.append(_invalid(name, len(value), f"{name} in body should have at least {min_items} items"))
    max_items = schema.get("maxItems")
    if max_items is not None and len(value) > max_items:
        errors.append(_too_many(name, len(value), max_items))
    if schema.get("uniqueItems") and _has_duplicates(value):
        errors.append(_invalid(name, "", f"{name} in body shouldn't contain duplicates"))
    return errors


def _too_many(name: str, actual: int, maximum: int) -> FieldError:
    unit = "item" if maximum == 1 else "items"
    return FieldError("FieldValueTooMany", _field_of(name), f"must have at most {maximum} {unit}", actual)


def _has_duplicates(values: list[Any]) -> bool:
    seen = set()
    for value in values:
        key = _identity(value)
        if key in seen:
            return True
        seen.add(key)
    return False


def _identity(value: Any) -> str:
    """A key equal for two JSON values exactly when Go's reflect.DeepEqual says so (1 and 1.0 differ)."""

    def tag(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: tag(child) for key, child in node.items()}
        if isinstance(node, list):
            return [tag(child) for child in node]
        return [type(node).__name__, node]

    return json.dumps(tag(value), sort_keys=True, separators=(",", ":"))


def _enum_errors(value: Any, schema: Schema, name: str) -> list[FieldError]:
    allowed = schema.get("enum")
    if not allowed or any(_enum_matches(value, candidate) for candidate in allowed):
        return []
    supported = ", ".join(_go_quote(_enum_text(candidate)) for candidate in allowed)
    return [FieldError("FieldValueNotSupported", _field_of(name), f"supported values: {supported}", value)]


def _enum_matches(value: Any, candidate: Any) -> bool:
    if value is None or candidate is None:
        return False
    if _is_number(value) and _is_number(candidate):
        # Go converts the value to the enum member's type before comparing (so 1.5 matches an enum of 1).
        converted = math.trunc(value) if isinstance(candidate, int) else float(value)
        return bool(converted == candidate)
    return _identity(value) == _identity(candidate)


def _enum_text(candidate: Any) -> str:
    if isinstance(candidate, str):
        return candidate
    return _go_json(candidate)


def _go_json(value: Any) -> str:
    """encoding/json's rendering, which writes integral floats without a fraction."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_go_json(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_go_json(item) for item in value) + "]"
    return json.dumps(value)


def _object_errors(value: dict[str, Any], schema: Schema, name: str) -> list[FieldError]:
    size = len(value)
    min_properties = schema.get("minProperties")
    if min_properties is not None and size < min_properties:
        return [_invalid(name, size, f"{name} in body should have at least {min_properties} properties")]
    max_properties = schema.get("maxProperties")
    if max_properties is not None and size > max_properties:
        return [_too_many(name, size, max_properties)]
    properties = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    errors: list[FieldError] = []
    for key, child in value.items():
        if key in properties:
            errors += _validate_node(child, properties[key], _child_name(name, key))
        elif isinstance(additional, dict):
            errors += _validate_node(child, additional, f"{name}.{key}")
    for key in schema.get("required") or []:
        if key not in value:
            errors.append(FieldError("FieldValueRequired", _field_of(f"{name}.{key}")))
    return errors


# --- validation outside kube-openapi: embedded resources and list types --------------------------------------


def _path_child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _path_key(path: str, key: str) -> str:
    return f"{path}[{key}]"


def _path_index(path: str, index: int) -> str:
    return f"{path}[{index}]"


def _properties(schema: Schema | None) -> dict[str, Schema]:
    return (schema or {}).get("properties") or {}


def _additional_schema(schema: Schema | None) -> Schema | None:
    additional = (schema or {}).get("additionalProperties")
    return additional if isinstance(additional, dict) else None


def _items_schema(schema: Schema | None) -> Schema | None:
    items = (schema or {}).get("items")
    return items if isinstance(items, dict) else None


def _embedded_resource_errors(
    value: Any, schema: Schema | None, path: str, *, is_root: bool = False
) -> list[FieldError]:
    if schema is None:
        return []
    embedded = bool(schema.get(EMBEDDED_RESOURCE))
    errors: list[FieldError] = []
    if embedded and not is_root and isinstance(value, dict):
        errors += _type_meta_errors(value, path)
    if isinstance(value, list):
        for index, item in enumerate(value):
            errors += _embedded_resource_errors(item, _items_schema(schema), _path_index(path, index))
    elif isinstance(value, dict):
        properties, additional = _properties(schema), _additional_schema(schema)
        for key, child in value.items():
            if embedded and key in _META_FIELDS:
                continue
            if key in properties:
                errors += _embedded_resource_errors(child, properties[key], _path_child(path, key))
            elif additional is not None:
                errors += _embedded_resource_errors(child, additional, _path_key(path, key))
    return errors


def _type_meta_errors(resource: dict[str, Any], path: str) -> list[FieldError]:
    errors = [
        FieldError("FieldValueRequired", _path_child(path, field), "must not be empty")
        for field in ("apiVersion", "kind")
        if field not in resource
    ]
    for field in ("apiVersion", "kind"):
        if field not in resource:
            continue
        text = resource[field]
        if not isinstance(text, str):
            errors.append(FieldError("FieldValueInvalid", _path_child(path, field), "must be a string", text))
        elif not text:
            errors.append(FieldError("FieldValueInvalid", _path_child(path, field), "must not be empty", text))
        elif field == "apiVersion" and text.count("/") > 1:
            errors.append(
                FieldError(
                    "FieldValueInvalid", _path_child(path, field), f"unexpected GroupVersion string: {text}", text
                )
            )
    return errors


def _list_type_errors(value: Any, schema: Schema | None, path: str) -> list[FieldError]:
    if schema is None:
        return []
    if isinstance(value, list):
        return _list_errors(value, schema, path)
    if not isinstance(value, dict):
        return []
    errors: list[FieldError] = []
    additional, properties = _additional_schema(schema), _properties(schema)
    if additional is not None:
        for key, child in value.items():
            errors += _list_type_errors(child, additional, _path_key(path, key))
    for key, child in value.items():
        if key in properties:
            errors += _list_type_errors(child, properties[key], _path_child(path, key))
    return errors


def _list_errors(items: list[Any], schema: Schema, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    list_type = schema.get(LIST_TYPE)
    if list_type == "set":
        errors += [
            FieldError("FieldValueDuplicate", _path_index(path, index), bad_value=items[index])
            for index in _repeated_indexes([_identity(item) for item in items])
        ]
    elif list_type == "map":
        errors += _list_map_errors(items, schema, path)
    item_schema = _items_schema(schema)
    for index, item in enumerate(items):
        errors += _list_type_errors(item, item_schema, _path_index(path, index))
    return errors


def _repeated_indexes(keys: list[str]) -> list[int]:
    # The real server reports each repeated value once, at its second occurrence.
    seen: dict[str, int] = {}
    repeated = []
    for index, key in enumerate(keys):
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 2:
            repeated.append(index)
    return repeated


def _list_map_errors(items: list[Any], schema: Schema, path: str) -> list[FieldError]:
    for index, item in enumerate(items):
        if item is not None and not isinstance(item, dict):
            return [
                FieldError(
                    "FieldValueInvalid",
                    _path_index(path, index),
                    "must be an object for an array of list-type map",
                    item,
                )
            ]
    key_names = list(schema.get(LIST_MAP_KEYS) or [])
    key_schemas = _properties(_items_schema(schema))
    keys = [_map_key(item or {}, key_names, key_schemas) for item in items]
    return [
        FieldError("FieldValueDuplicate", _path_index(path, index), bad_value=keys[index])
        for index in _repeated_indexes([_identity(key) for key in keys])
    ]


def _map_key(item: dict[str, Any], key_names: list[str], key_schemas: dict[str, Schema]) -> dict[str, Any]:
    # A missing key field counts with its schema default, as the server defaults before it compares.
    key = {}
    for name in key_names:
        if name in item:
            key[name] = item[name]
        elif key_schemas.get(name, {}).get("default") is not None:
            key[name] = key_schemas[name]["default"]
    return key


# --- defaulting and pruning ---------------------------------------------------------------------------------


def apply_defaults(obj: dict[str, Any], schema: Schema) -> None:
    """Structural defaulting, in place: missing (or null non-nullable) fields get their schema default."""
    _default_node(obj, schema)


def _has_default(schema: Schema) -> bool:
    # A `default: null` is no default at all for the real server.
    return schema.get("default") is not None


def _is_non_nullable_null(value: Any, schema: Schema | None) -> bool:
    return value is None and schema is not None and not schema.get("nullable")


def _default_node(value: Any, schema: Schema | None) -> None:
    if schema is None:
        return
    if isinstance(value, dict):
        _default_object(value, schema)
    elif isinstance(value, list):
        items = _items_schema(schema)
        for index in range(len(value)):
            if _is_non_nullable_null(value[index], items) and items is not None and _has_default(items):
                value[index] = copy.deepcopy(items["default"])
            _default_node(value[index], items)


def _default_object(value: dict[str, Any], schema: Schema) -> None:
    properties = _properties(schema)
    for key, prop in properties.items():
        if _has_default(prop) and (key not in value or _is_non_nullable_null(value[key], prop)):
            value[key] = copy.deepcopy(prop["default"])
    additional = _additional_schema(schema)
    for key in list(value):
        if key in properties:
            _default_node(value[key], properties[key])
        elif additional is not None:
            if _is_non_nullable_null(value[key], additional) and _has_default(additional):
                value[key] = copy.deepcopy(additional["default"])
            _default_node(value[key], additional)


def prune_non_nullable_nulls(obj: dict[str, Any], schema: Schema) -> None:
    """Drop null values of non-nullable fields that have no default, in place.

    The real server does this right after pruning, so such nulls never reach validation (or storage).
    """
    _drop_nulls(obj, schema)


def _field_schema(schema: Schema | None, key: str) -> Schema | None:
    properties = _properties(schema)
    return properties[key] if key in properties else _additional_schema(schema)


def _drop_nulls(value: Any, schema: Schema | None) -> None:
    if isinstance(value, dict):
        for key in list(value):
            field_schema = _field_schema(schema, key)
            if (
                _is_non_nullable_null(value[key], field_schema)
                and field_schema is not None
                and not _has_default(field_schema)
            ):
                del value[key]
            else:
                _drop_nulls(value[key], field_schema)
    elif isinstance(value, list):
        for item in value:
            _drop_nulls(item, _items_schema(schema))


def prune(obj: dict[str, Any], schema: Schema) -> list[str]:
    """Drop fields the schema does not declare, in place; returns their paths (sorted, like the server)."""
    pruned: list[str] = []
    # The object root is treated like an embedded resource: its apiVersion, kind and metadata always stay.
    _prune_node(obj, {**schema, EMBEDDED_RESOURCE: True}, "", pruned)
    return sorted(pruned)


def _prune_node(value: Any, schema: Schema | None, path: str, pruned: list[str]) -> None:
    if schema is not None and schema.get(PRESERVE_UNKNOWN_FIELDS):
        _prune_below_preserved(value, schema, path, pruned)
    elif isinstance(value, dict):
        _prune_object(value, schema, path, pruned)
    elif isinstance(value, list):
        if schema is None:
            # The real server descends without recording positions when an array has no schema.
            for item in value:
                _prune_node(item, None, path, pruned)
        else:
            for index, item in enumerate(value):
                _prune_node(item, _items_schema(schema), _path_index(path, index), pruned)


def _allowed_extra(schema: Schema) -> tuple[bool, Schema | None]:
    """Whether additionalProperties admits undeclared keys, and the schema their values follow if any."""
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        return True, additional
    return additional is True, None


def _prune_object(value: dict[str, Any], schema: Schema | None, path: str, pruned: list[str]) -> None:
    if schema is None:
        for key in list(value):
            pruned.append(_path_child(path, key))
            del value[key]
        return
    embedded = bool(schema.get(EMBEDDED_RESOURCE))
    properties = _properties(schema)
    extra_allowed, extra_schema = _allowed_extra(schema)
    for key in list(value):
        if embedded and key in _META_FIELDS:
            continue
        if key in properties:
            _prune_node(value[key], properties[key], _path_child(path, key), pruned)
        elif extra_allowed:
            _prune_node(value[key], extra_schema, _path_child(path, key), pruned)
        else:
            pruned.append(_path_child(path, key))
            del value[key]


def _prune_below_preserved(value: Any, schema: Schema, path: str, pruned: list[str]) -> None:
    # Unknown fields survive here, but declared ones still get their own schema's pruning.
    if isinstance(value, dict):
        embedded = bool(schema.get(EMBEDDED_RESOURCE))
        properties = _properties(schema)
        extra_allowed, extra_schema = _allowed_extra(schema)
        for key in list(value):
            if embedded and key in _META_FIELDS:
                continue
            if key in properties:
                _prune_node(value[key], properties[key], _path_child(path, key), pruned)
            elif extra_allowed:
                _prune_node(value[key], extra_schema, _path_child(path, key), pruned)
    elif isinstance(value, list):
        items = _items_schema(schema)
        if items is not None:
            for index, item in enumerate(value):
                _prune_below_preserved(item, items, _path_index(path, index), pruned)


# --- list types for server-side apply -----------------------------------------------------------------------

# ObjectMeta's own list types; every custom resource and embedded resource has them.
_OBJECT_META_LIST_TYPES: dict[FieldPath, ListType] = {
    ("finalizers",): SET,
    ("ownerReferences",): ListType("map", ("uid",)),
}


def list_type_resolver(schema: Schema) -> ListTypeResolver:
    """How each list of objects following `schema` merges, from `x-kubernetes-list-type` (atomic by default)."""

    def resolve(path: FieldPath) -> ListType:
        return _list_type_at(schema, path)

    return resolve


def _list_type_at(root: Schema, path: FieldPath) -> ListType:
    node = root
    for position, name in enumerate(path):
        node = _through_lists(node)
        if name == "metadata" and (position == 0 or node.get(EMBEDDED_RESOURCE)):
            return _OBJECT_META_LIST_TYPES.get(tuple(path[position + 1 :]), ATOMIC)
        child = _field_schema(node, name)
        if child is None:
            return ATOMIC
        node = child
    return _declared_list_type(node)


def _through_lists(node: Schema) -> Schema:
    # Paths leave out list positions, so a name after an array names a field of its items.
    while node.get("type") == "array" and isinstance(node.get("items"), dict):
        node = node["items"]
    return node


def _declared_list_type(node: Schema) -> ListType:
    declared = node.get(LIST_TYPE)
    if declared == "map":
        return ListType("map", tuple(node.get(LIST_MAP_KEYS) or ()))
    if declared == "set":
        return SET
    return ATOMIC


# --- CustomResourceDefinition checks and defaults ------------------------------------------------------------

_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?", re.ASCII)
_DNS1035_LABEL_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", re.ASCII)
_DNS1123_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_API_APPROVAL_ANNOTATION = "api-approved.kubernetes.io"


def _dns1035_label_errors(value: str) -> list[str]:
    errors = ["must be no more than 63 characters"] if len(value) > 63 else []
    if not _DNS1035_LABEL.fullmatch(value):
        errors.append(_DNS1035_LABEL_MESSAGE)
    return errors


def _dns1123_subdomain_errors(value: str) -> list[str]:
    errors = ["must be no more than 253 characters"] if len(value) > 253 else []
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        errors.append(_DNS1123_SUBDOMAIN_MESSAGE)
    return errors


def crd_defaults(crd: dict[str, Any]) -> None:
    """The v1 defaults of a CustomResourceDefinition, in place."""
    spec = crd.setdefault("spec", {})
    names = spec.setdefault("names", {})
    kind = names.get("kind") or ""
    if not names.get("singular"):
        names["singular"] = kind.lower()
    if not names.get("listKind") and kind:
        names["listKind"] = kind + "List"
    if spec.get("conversion") is None:
        spec["conversion"] = {"strategy": "None"}
    service = ((spec["conversion"].get("webhook") or {}).get("clientConfig") or {}).get("service")
    if isinstance(service, dict) and service.get("port") is None:
        service["port"] = 443


def validate_crd(crd: dict[str, Any]) -> list[FieldError]:
    """The errors the real server reports on creating or updating this CustomResourceDefinition."""
    spec = crd.get("spec") or {}
    return (
        _crd_name_errors(crd, spec)
        + _api_approval_errors(crd, spec)
        + _group_errors(spec)
        + _scope_errors(spec)
        + _versions_errors(spec.get("versions") or [])
        + _names_errors(spec.get("names") or {})
        + _preserve_unknown_fields_errors(spec)
    )


def _crd_name_errors(crd: dict[str, Any], spec: dict[str, Any]) -> list[FieldError]:
    name = (crd.get("metadata") or {}).get("name") or ""
    if not name:
        return []  # ObjectMeta validation reports the missing name
    messages = _dns1123_subdomain_errors(name)
    if name != f"{(spec.get('names') or {}).get('plural', '')}.{spec.get('group', '')}":
        messages.append('must be spec.names.plural+"."+spec.group')
    return [FieldError("FieldValueInvalid", "metadata.name", message, name) for message in messages]


def _api_approval_errors(crd: dict[str, Any], spec: dict[str, Any]) -> list[FieldError]:
    group = spec.get("group") or ""
    protected = any(group == domain or group.endswith("." + domain) for domain in ("k8s.io", "kubernetes.io"))
    annotations = (crd.get("metadata") or {}).get("annotations") or {}
    if not protected or annotations.get(_API_APPROVAL_ANNOTATION):
        return []
    return [
        FieldError(
            "FieldValueRequired",
            f"metadata.annotations[{_API_APPROVAL_ANNOTATION}]",
            f'protected groups must have approval annotation "{_API_APPROVAL_ANNOTATION}", '
            "see https://github.com/kubernetes/enhancements/pull/1111",
        )
    ]


def _group_errors(spec: dict[str, Any]) -> list[FieldError]:
    group = spec.get("group") or ""
    if not group:
        return [FieldError("FieldValueRequired", "spec.group")]
    messages = _dns1123_subdomain_errors(group)
    if messages:
        return [FieldError("FieldValueInvalid", "spec.group", ",".join(messages), group)]
    if "." not in group:
        return [FieldError("FieldValueInvalid", "spec.group", "should be a domain with at least one dot", group)]
    return []


def _scope_errors(spec: dict[str, Any]) -> list[FieldError]:
    scope = spec.get("scope") or ""
    if not scope:
        return [FieldError("FieldValueRequired", "spec.scope")]
    if scope not in ("Cluster", "Namespaced"):
        return [FieldError("FieldValueNotSupported", "spec.scope", 'supported values: "Cluster", "Namespaced"', scope)]
    return []


def _versions_errors(versions: list[dict[str, Any]]) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, version in enumerate(versions):
        errors += _version_errors(version, f"spec.versions[{index}]")
    names = [version.get("name") for version in versions]
    if len(set(names)) != len(names):
        errors.append(FieldError("FieldValueInvalid", "spec.versions", "must contain unique version names", versions))
    if sum(1 for version in versions if version.get("storage")) != 1:
        errors.append(
            FieldError(
                "FieldValueInvalid",
                "spec.versions",
                "must have exactly one version marked as storage version",
                versions,
            )
        )
    return errors


def _version_errors(version: dict[str, Any], path: str) -> list[FieldError]:
    name = version.get("name") or ""
    errors = []
    messages = _dns1035_label_errors(name)
    if messages:
        errors.append(FieldError("FieldValueInvalid", f"{path}.name", ",".join(messages), name))
    schema = (version.get("schema") or {}).get("openAPIV3Schema")
    schema_path = f"{path}.schema.openAPIV3Schema"
    if not isinstance(schema, dict):
        errors.append(FieldError("FieldValueRequired", schema_path, "schemas are required"))
    else:
        errors += _structural_errors(schema, schema_path, "root")
    return errors


def _names_errors(names: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for field in ("plural", "kind"):
        if not names.get(field):
            errors.append(FieldError("FieldValueRequired", f"spec.names.{field}"))
    for field in ("plural", "singular"):
        value = names.get(field) or ""
        messages = _dns1035_label_errors(value) if value else []
        if messages:
            errors.append(FieldError("FieldValueInvalid", f"spec.names.{field}", ",".join(messages), value))
    for field in ("kind", "listKind"):
        value = names.get(field) or ""
        messages = _dns1035_label_errors(value.lower()) if value else []
        if messages:
            detail = "may have mixed case, but should otherwise match: " + ",".join(messages)
            errors.append(FieldError("FieldValueInvalid", f"spec.names.{field}", detail, value))
    for field in ("shortNames", "categories"):
        for index, value in enumerate(names.get(field) or []):
            messages = _dns1035_label_errors(value)
            if messages:
                errors.append(
                    FieldError("FieldValueInvalid", f"spec.names.{field}[{index}]", ",".join(messages), value)
                )
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        errors.append(
            FieldError(
                "FieldValueInvalid", "spec.names.listKind", "kind and listKind may not be the same", names["kind"]
            )
        )
    return errors


def _preserve_unknown_fields_errors(spec: dict[str, Any]) -> list[FieldError]:
    if spec.get("preserveUnknownFields") is not True:
        return []
    return [
        FieldError(
            "FieldValueInvalid",
            "spec.preserveUnknownFields",
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
            True,
        )
    ]


def _structural_errors(node: Schema, path: str, level: str) -> list[FieldError]:
    """Structural-schema rules; `level` is "root", "field" (an object property) or "item" (array items)."""
    errors = _node_type_errors(node, path, level) + _node_shape_errors(node, path)
    for key, child in _properties(node).items():
        child_path = f"{path}.properties[{key}]"
        if level == "root" and key == "metadata":
            errors += _root_metadata_errors(child, child_path)
        elif isinstance(child, dict):
            errors += _structural_errors(child, child_path, "field")
    items = _items_schema(node)
    if items is not None:
        errors += _structural_errors(items, f"{path}.items", "item")
    additional = _additional_schema(node)
    if additional is not None:
        errors += _structural_errors(additional, f"{path}.additionalProperties", "field")
    return errors


def _node_type_errors(node: Schema, path: str, level: str) -> list[FieldError]:
    declared = node.get("type") or ""
    type_path = f"{path}.type"
    if level == "root":
        if not declared:
            return [FieldError("FieldValueRequired", type_path, "must not be empty at the root")]
        if declared != "object":
            return [FieldError("FieldValueInvalid", type_path, "must be object at the root", declared)]
        return []
    if node.get(EMBEDDED_RESOURCE) and declared != "object":
        detail = "must be object if x-kubernetes-embedded-resource is true"
        if not declared:
            return [FieldError("FieldValueRequired", type_path, detail)]
        return [FieldError("FieldValueInvalid", type_path, detail, declared)]
    if not declared and not node.get(INT_OR_STRING) and not node.get(PRESERVE_UNKNOWN_FIELDS):
        where = "for specified array items" if level == "item" else "for specified object fields"
        return [FieldError("FieldValueRequired", type_path, f"must not be empty {where}")]
    return []


def _node_shape_errors(node: Schema, path: str) -> list[FieldError]:
    errors = []
    if node.get("type") == "array" and "items" not in node:
        errors.append(FieldError("FieldValueRequired", f"{path}.items", "must be specified"))
    if node.get("properties") and node.get("additionalProperties") is not None:
        errors.append(
            FieldError(
                "FieldValueForbidden",
                f"{path}.additionalProperties",
                "additionalProperties and properties are mutual exclusive",
            )
        )
    list_type = node.get(LIST_TYPE)
    if list_type is not None and list_type not in ("atomic", "set", "map"):
        errors.append(
            FieldError(
                "FieldValueNotSupported", f"{path}.{LIST_TYPE}", 'supported values: "atomic", "set", "map"', list_type
            )
        )
    if list_type == "map" and not node.get(LIST_MAP_KEYS):
        errors.append(
            FieldError(
                "FieldValueRequired", f"{path}.{LIST_MAP_KEYS}", "must not be empty if x-kubernetes-list-type is map"
            )
        )
    return errors


def _root_metadata_errors(node: Any, path: str) -> list[FieldError]:
    # The server owns ObjectMeta: a schema may only restrict name and generateName there.
    allowed_properties = {"name", "generateName"}
    restricts_only_names = (
        isinstance(node, dict)
        and set(node) <= {"type", "default", "properties"}
        and set(node.get("properties") or {}) <= allowed_properties
    )
    if restricts_only_names:
        return []
    return [
        FieldError(
            "FieldValueForbidden",
            path,
            "must not specify anything other than name and generateName, but metadata is implicitly specified",
        )
    ]
