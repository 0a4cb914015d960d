"""Label and field selectors, checked against the parsing and matching of k8s.io/apimachinery."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k0smotron_core.envtest._errors import StatusError
from k0smotron_core.envtest._selectors import (
    DOES_NOT_EXIST,
    DOUBLE_EQUALS,
    EQUALS,
    EXISTS,
    GREATER_THAN,
    IN,
    LESS_THAN,
    NOT_EQUALS,
    NOT_IN,
    FieldRequirement,
    LabelRequirement,
    label_selector_from_match,
    parse_field_selector,
    parse_label_selector,
)

KEY_PATTERN = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
VALUE_PATTERN = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
BAD_KEY_DETAIL = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    f"'{KEY_PATTERN}')"
)
BAD_VALUE_DETAIL = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    f"validation is '{VALUE_PATTERN}')"
)


def _bad_request(call: Any, *args: Any) -> str:
    with pytest.raises(StatusError) as caught:
        call(*args)
    assert (caught.value.code, caught.value.reason) == (400, "BadRequest")
    return caught.value.message


# --- parsing label selectors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "requirement"),
    [
        ("app=web", LabelRequirement("app", EQUALS, ("web",))),
        ("app==web", LabelRequirement("app", DOUBLE_EQUALS, ("web",))),
        ("app!=web", LabelRequirement("app", NOT_EQUALS, ("web",))),
        ("app in (web,db)", LabelRequirement("app", IN, ("db", "web"))),
        ("app notin (web)", LabelRequirement("app", NOT_IN, ("web",))),
        ("app", LabelRequirement("app", EXISTS)),
        ("!app", LabelRequirement("app", DOES_NOT_EXIST)),
        ("replicas>2", LabelRequirement("replicas", GREATER_THAN, ("2",))),
        ("replicas<2", LabelRequirement("replicas", LESS_THAN, ("2",))),
        ("app=", LabelRequirement("app", EQUALS, ("",))),
        ("example.com/app=web", LabelRequirement("example.com/app", EQUALS, ("web",))),
    ],
)
def test_a_label_selector_parses_every_operator(text: str, requirement: LabelRequirement) -> None:
    assert parse_label_selector(text).requirements == (requirement,)


def test_a_label_selector_tolerates_whitespace_around_everything() -> None:
    selector = parse_label_selector("  app = web ,\ttier in ( a , b ) , !debug ")

    assert str(selector) == "app=web,!debug,tier in (a,b)"


def test_a_label_selector_sorts_its_requirements_by_key() -> None:
    selector = parse_label_selector("z=1,a in (y,x),m")

    assert [requirement.key for requirement in selector.requirements] == ["a", "m", "z"]


def test_in_and_notin_are_plain_words_where_a_key_or_value_is_expected() -> None:
    assert parse_label_selector("in in (notin,in)").requirements == (LabelRequirement("in", IN, ("in", "notin")),)


def test_empty_entries_of_a_value_set_are_the_empty_string() -> None:
    selector = parse_label_selector("x in (foo,,baz),z notin ()")

    assert selector.requirements == (
        LabelRequirement("x", IN, ("", "baz", "foo")),
        LabelRequirement("z", NOT_IN, ("",)),
    )


def test_an_empty_label_selector_matches_everything() -> None:
    selector = parse_label_selector("")

    assert selector.empty
    assert selector.matches({"any": "thing"})
    assert str(selector) == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a in", "unable to parse requirement: found '' expected: '('"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a in (b,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
        ("a (b)", "unable to parse requirement: found '(', expected: '=', '!=', '==', 'in', notin'"),
        ("a=(b)", "unable to parse requirement: found '(', expected: identifier"),
        ("!(a)", "unable to parse requirement: found '(', expected: identifier"),
        ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        (
            "a>b",
            "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, "
            "the value must be an integer",
        ),
        ("-a=b", f'unable to parse requirement: <nil>: Invalid value: "-a": {BAD_KEY_DETAIL}'),
        ("a=-b", f'unable to parse requirement: values[0][a]: Invalid value: "-b": {BAD_VALUE_DETAIL}'),
    ],
)
def test_an_invalid_label_selector_is_a_bad_request_with_the_parser_message(text: str, message: str) -> None:
    assert _bad_request(parse_label_selector, text) == message


def test_a_label_selector_rejects_a_key_with_two_slashes() -> None:
    message = _bad_request(parse_label_selector, "a/b/c")

    assert message.startswith('unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name must')
    assert message.endswith("with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")


def test_a_label_selector_rejects_an_uppercase_key_prefix() -> None:
    message = _bad_request(parse_label_selector, "Example.com/app=web")

    assert 'Invalid value: "Example.com/app": prefix part a lowercase RFC 1123 subdomain must consist' in message


def test_a_label_selector_rejects_a_value_longer_than_63_characters() -> None:
    message = _bad_request(parse_label_selector, "a=" + "v" * 64)

    assert message.endswith("must be no more than 63 characters")


# --- matching labels ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app=web", {}, False),
        ("app==web", {"app": "web"}, True),
        ("app!=web", {"app": "db"}, True),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("app in (web,db)", {"app": "db"}, True),
        ("app in (web,db)", {"app": "cache"}, False),
        ("app in (web,db)", {}, False),
        ("app notin (web,db)", {"app": "cache"}, True),
        ("app notin (web,db)", {}, True),
        ("app notin (web,db)", {"app": "web"}, False),
        ("app", {"app": ""}, True),
        ("app", {"other": "x"}, False),
        ("!app", {"other": "x"}, True),
        ("!app", {"app": "web"}, False),
        ("n>2", {"n": "3"}, True),
        ("n>2", {"n": "2"}, False),
        ("n>2", {"n": "three"}, False),
        ("n<2", {"n": "-5"}, True),
        ("n<2", {}, False),
        ("app=web,tier in (front)", {"app": "web", "tier": "front"}, True),
        ("app=web,tier in (front)", {"app": "web", "tier": "back"}, False),
    ],
)
def test_a_label_selector_matches_labels_like_the_apiserver(text: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_label_selector(text).matches(labels) is matches


def test_a_label_selector_treats_missing_labels_as_none() -> None:
    assert parse_label_selector("!app").matches(None)
    assert not parse_label_selector("app").matches(None)


# --- the canonical string -------------------------------------------------------------------------------------


def test_the_canonical_string_sorts_requirements_by_key_and_set_values() -> None:
    assert str(parse_label_selector("c in (e,d),a=b")) == "a=b,c in (d,e)"


def test_the_canonical_string_spells_every_operator_as_labels_selector_string_does() -> None:
    text = "a=1,b==2,c!=3,d in (4),e notin (5,6),f,!g,h>7,i<8"

    assert str(parse_label_selector(text)) == text


_SIMPLE_KEYS = st.sampled_from(["app", "tier", "example.com/team", "k8s.io/x-y", "in", "notin"])
_SIMPLE_VALUES = st.sampled_from(["", "web", "db", "v1.2", "a_b", "in", "7", "-1"])
_INTEGERS = st.integers(-100, 100).map(str)


@st.composite
def _requirement_texts(draw: st.DrawFn) -> str:
    key = draw(_SIMPLE_KEYS)
    operator = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!", ">", "<"]))
    if operator in ("in", "notin"):
        # Unique values: the Go grammar itself rejects some runs of empty entries, such as "(,,)".
        values = draw(st.lists(_SIMPLE_VALUES.filter(lambda value: value != "-1"), min_size=1, max_size=3, unique=True))
        return f"{key} {operator} ({','.join(values)})"
    if operator == "exists":
        return key
    if operator == "!":
        return f"!{key}"
    if operator in (">", "<"):
        return f"{key}{operator}{draw(_INTEGERS.filter(lambda number: not number.startswith('-')))}"
    return f"{key}{operator}{draw(_SIMPLE_VALUES.filter(lambda value: value != '-1'))}"


_LABEL_SETS = st.dictionaries(_SIMPLE_KEYS, _SIMPLE_VALUES, max_size=4)


@given(requirements=st.lists(_requirement_texts(), max_size=4), labels=st.lists(_LABEL_SETS, max_size=5))
def test_the_canonical_string_parses_back_to_an_equivalent_selector(
    requirements: list[str], labels: list[dict[str, str]]
) -> None:
    selector = parse_label_selector(" , ".join(requirements))
    reparsed = parse_label_selector(str(selector))

    assert reparsed == selector
    assert str(reparsed) == str(selector)
    assert [reparsed.matches(labels_) for labels_ in labels] == [selector.matches(labels_) for labels_ in labels]


# --- metav1.LabelSelector -------------------------------------------------------------------------------------


def test_a_match_selector_combines_match_labels_and_match_expressions() -> None:
    selector = label_selector_from_match(
        {
            "matchLabels": {"c": "x", "a": "b"},
            "matchExpressions": [
                {"key": "b", "operator": "In", "values": ["e", "d"]},
                {"key": "d", "operator": "NotIn", "values": ["z"]},
                {"key": "e", "operator": "Exists"},
                {"key": "f", "operator": "DoesNotExist"},
            ],
        }
    )

    assert str(selector) == "a=b,b in (d,e),c=x,d notin (z),e,!f"
    assert selector.matches({"a": "b", "b": "d", "c": "x", "e": ""})
    assert not selector.matches({"a": "b", "b": "d", "c": "x", "e": "", "f": "1"})


def test_an_empty_match_selector_matches_everything_and_a_missing_one_nothing() -> None:
    everything = label_selector_from_match({})
    nothing = label_selector_from_match(None)

    assert everything.empty and everything.matches({"a": "b"})
    assert not nothing.empty and not nothing.matches({}) and str(nothing) == ""


def test_a_match_selector_with_an_unknown_operator_is_a_bad_request() -> None:
    message = _bad_request(label_selector_from_match, {"matchExpressions": [{"key": "a", "operator": "Gt"}]})

    assert message == '"Gt" is not a valid label selector operator'


def test_a_match_selector_with_an_in_expression_without_values_is_a_bad_request() -> None:
    message = _bad_request(label_selector_from_match, {"matchExpressions": [{"key": "a", "operator": "In"}]})

    assert message == "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"


def test_a_match_selector_with_values_on_exists_is_a_bad_request() -> None:
    selector = {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}

    message = _bad_request(label_selector_from_match, selector)

    assert message == 'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist'


def test_a_match_selector_with_an_invalid_key_and_value_reports_both() -> None:
    message = _bad_request(label_selector_from_match, {"matchLabels": {"-a": "-b"}})

    assert message == (
        f'[key: Invalid value: "-a": {BAD_KEY_DETAIL}, values[0][-a]: Invalid value: "-b": {BAD_VALUE_DETAIL}]'
    )


def test_a_match_selector_label_value_must_be_a_string() -> None:
    message = _bad_request(label_selector_from_match, {"matchLabels": {"a": 1}})

    assert message == "matchLabels.a: Invalid value: 1: must be a string"


def test_a_match_selector_expression_value_must_be_a_string() -> None:
    selector = {"matchExpressions": [{"key": "a", "operator": "In", "values": [True]}]}

    assert _bad_request(label_selector_from_match, selector) == (
        "matchExpressions.values: Invalid value: true: must be a string"
    )


# --- field selectors ------------------------------------------------------------------------------------------


def test_a_field_selector_parses_equality_and_inequality_over_dotted_paths() -> None:
    selector = parse_field_selector("metadata.name=foo,metadata.namespace!=bar,status.phase==Running,spec.nodeName=")

    assert selector.requirements == (
        FieldRequirement("metadata.name", EQUALS, "foo"),
        FieldRequirement("metadata.namespace", NOT_EQUALS, "bar"),
        FieldRequirement("spec.nodeName", EQUALS, ""),
        FieldRequirement("status.phase", EQUALS, "Running"),
    )
    assert selector.fields == {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"}


def test_a_field_selector_renders_sorted_terms_with_escaped_values() -> None:
    selector = parse_field_selector(r"spec.x==a\,b\=c\\d,metadata.name!=web")

    assert str(selector) == r"metadata.name!=web,spec.x=a\,b\=c\\d"
    assert selector.requirements[1].value == "a,b=c\\d"


def test_a_field_selector_keeps_whitespace_as_part_of_the_field_like_the_apiserver() -> None:
    assert parse_field_selector("metadata.name = web").fields == {"metadata.name "}


def test_an_empty_field_selector_matches_everything() -> None:
    selector = parse_field_selector("")

    assert selector.empty and selector.matches({}) and selector.fields == frozenset()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_an_invalid_field_selector_is_a_bad_request(text: str, message: str) -> None:
    assert _bad_request(parse_field_selector, text) == message


POD = {
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"nodeName": "", "hostNetwork": False, "priority": 5},
    "status": {"phase": "Running"},
}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("metadata.name=web", True),
        ("metadata.name=db", False),
        ("metadata.namespace!=kube-system", True),
        ("metadata.name=web,status.phase=Running", True),
        ("metadata.name=web,status.phase=Pending", False),
        ("spec.nodeName=", True),
        ("spec.schedulerName=", True),
        ("spec.schedulerName!=", False),
        ("spec.hostNetwork=false", True),
        ("spec.priority=5", True),
        ("status.phase.deeper=", True),
    ],
)
def test_a_field_selector_matches_values_at_paths_with_missing_fields_as_empty(text: str, matches: bool) -> None:
    assert parse_field_selector(text).matches(POD) is matches
