"""Label and field selectors, parsed and matched the way the apiserver does it.

Label selectors follow k8s.io/apimachinery/pkg/labels (its lexer, its grammar, its validation of keys and
values and its error texts); field selectors follow k8s.io/apimachinery/pkg/fields. Syntax errors raise a
400 BadRequest carrying the parser's message, which is what the apiserver answers for a bad `labelSelector`
or `fieldSelector` query parameter. Which field paths a resource supports is the server's decision, not the
parser's: `FieldSelector.fields` tells it which ones a selector uses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from ._errors import FieldError, GoLiteral, bad_request

EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
EXISTS = "exists"
DOES_NOT_EXIST = "!"
GREATER_THAN = "gt"
LESS_THAN = "lt"
"""Label requirement operators, spelled as k8s.io/apimachinery/pkg/selection spells them."""

_INT64_RANGE = range(-(2**63), 2**63)


# --- label selectors ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelRequirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator in (EXISTS, DOES_NOT_EXIST):
            return (self.key in labels) == (self.operator == EXISTS)
        if self.operator in (NOT_IN, NOT_EQUALS):
            return labels.get(self.key) not in self.values
        if self.key not in labels:
            return False
        if self.operator in (GREATER_THAN, LESS_THAN):
            return self._compares(labels[self.key])
        return labels[self.key] in self.values

    def _compares(self, label_value: str) -> bool:
        actual = _parse_int64(label_value)
        bound = _parse_int64(self.values[0]) if len(self.values) == 1 else None
        if actual is None or bound is None:
            return False
        return actual > bound if self.operator == GREATER_THAN else actual < bound

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return f"!{self.key}"
        values = ",".join(sorted(self.values))
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({values})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{values}"


@dataclass(frozen=True)
class LabelSelector:
    """All requirements must match. No requirements matches everything; `matches_nothing` matches nothing
    (what a missing metav1.LabelSelector means)."""

    requirements: tuple[LabelRequirement, ...] = ()
    matches_nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (labels.Selector.Empty)."""
        return not self.requirements and not self.matches_nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.matches_nothing:
            return False
        present = labels or {}
        return all(requirement.matches(present) for requirement in self.requirements)

    def __str__(self) -> str:
        """The canonical form labels.Selector.String() gives, e.g. `a=b,c in (d,e)`: requirements sorted by
        key, set values sorted."""
        return ",".join(str(requirement) for requirement in self.requirements)


def parse_label_selector(text: str) -> LabelSelector:
    """Parses a label selector string (labels.Parse); invalid syntax raises a 400 BadRequest."""
    try:
        requirements = _LabelParser(text).parse()
    except _SyntaxError as err:
        raise bad_request(str(err)) from None
    return _selector_of(requirements)


def label_selector_from_match(selector: Mapping[str, Any] | None) -> LabelSelector:
    """A metav1.LabelSelector (`matchLabels` and `matchExpressions`) as a selector, like
    metav1.LabelSelectorAsSelector: None matches nothing, an empty one everything. Invalid content raises a
    400 BadRequest."""
    if selector is None:
        return LabelSelector(matches_nothing=True)
    requirements = [_match_label(key, value) for key, value in (selector.get("matchLabels") or {}).items()]
    requirements += [_match_expression(expression) for expression in selector.get("matchExpressions") or []]
    return _selector_of(requirements)


_EXPRESSION_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def _match_label(key: str, value: Any) -> LabelRequirement:
    return _new_requirement(key, EQUALS, (_string(f"matchLabels.{key}", value),))


def _match_expression(expression: Mapping[str, Any]) -> LabelRequirement:
    operator = expression.get("operator") or ""
    if operator not in _EXPRESSION_OPERATORS:
        raise bad_request(f"{json.dumps(operator)} is not a valid label selector operator")
    values = tuple(_string("matchExpressions.values", value) for value in expression.get("values") or ())
    return _new_requirement(expression.get("key") or "", _EXPRESSION_OPERATORS[operator], values)


def _string(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise bad_request(FieldError("FieldValueTypeInvalid", path, "must be a string", bad_value=value).message())
    return value


def _selector_of(requirements: list[LabelRequirement]) -> LabelSelector:
    # labels.Parse and Selector.Add sort by key; Python's sort is stable, as Go's is for short lists.
    return LabelSelector(tuple(sorted(requirements, key=lambda requirement: requirement.key)))


def _new_requirement(key: str, operator: str, values: tuple[str, ...]) -> LabelRequirement:
    """labels.NewRequirement: validates and builds, raising the aggregated field errors as a 400."""
    errors = _requirement_errors(key, operator, values)
    if errors:
        raise bad_request(_aggregate(errors))
    return LabelRequirement(key, operator, values)


def _requirement_errors(key: str, operator: str, values: tuple[str, ...]) -> list[FieldError]:
    errors: list[FieldError] = []
    key_problems = _qualified_name_errors(key)
    if key_problems:
        errors.append(_invalid("key", key, key_problems))
    errors += _value_count_errors(operator, values)
    for index, value in enumerate(values):
        value_problems = _label_value_errors(value)
        if value_problems:
            errors.append(_invalid(f"values[{index}][{key}]", value, value_problems))
    return errors


def _go_string_slice(values: tuple[str, ...]) -> GoLiteral:
    """Requirement values are a Go []string, nil when a selector gave none; errors print them with %#v."""
    if not values:
        return GoLiteral("[]string(nil)")
    return GoLiteral("[]string{" + ", ".join(json.dumps(v) for v in values) + "}")


def _value_count_errors(operator: str, values: tuple[str, ...]) -> list[FieldError]:
    if operator in (IN, NOT_IN) and not values:
        return [_invalid("values", _go_string_slice(values),
                         ["for 'in', 'notin' operators, values set can't be empty"])]
    if operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        return [_invalid("values", _go_string_slice(values), ["exact-match compatibility requires one single value"])]
    if operator in (EXISTS, DOES_NOT_EXIST) and values:
        return [_invalid("values", _go_string_slice(values),
                         ["values set must be empty for exists and does not exist"])]
    if operator in (GREATER_THAN, LESS_THAN):
        return _comparison_value_errors(values)
    return []


def _comparison_value_errors(values: tuple[str, ...]) -> list[FieldError]:
    errors: list[FieldError] = []
    if len(values) != 1:
        errors.append(_invalid("values", _go_string_slice(values),
                               ["for 'Gt', 'Lt' operators, exactly one value is required"]))
    for index, value in enumerate(values):
        if _parse_int64(value) is None:
            errors.append(
                _invalid(f"values[{index}]", value, ["for 'Gt', 'Lt' operators, the value must be an integer"])
            )
    return errors


def _invalid(path: str, value: Any, problems: list[str]) -> FieldError:
    return FieldError("FieldValueInvalid", path, "; ".join(problems), bad_value=value)


def _aggregate(errors: list[FieldError]) -> str:
    """utilerrors.Aggregate's Error(): one message as it is, several de-duplicated inside brackets."""
    messages = list(dict.fromkeys(error.message() for error in errors))
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


def _parse_int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64)."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    number = int(text)
    return number if number in _INT64_RANGE else None


# --- key and value validation (k8s.io/apimachinery/pkg/util/validation) ------------------------------------

_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_QUALIFIED_NAME_FORMAT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_MESSAGE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_LABEL_VALUE_FORMAT = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS1123_SUBDOMAIN_FORMAT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)


def _qualified_name_errors(value: str) -> list[str]:
    """validation.IsQualifiedName: an optional DNS subdomain prefix and '/', then a name of up to 63."""
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_NAME_MESSAGE, _QUALIFIED_NAME_FORMAT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errors = [f"prefix part {problem}" for problem in _prefix_errors(parts[0])] if len(parts) == 2 else []
    name = parts[-1]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not _QUALIFIED_NAME.fullmatch(name):
        errors.append(
            "name part " + _regex_error(_QUALIFIED_NAME_MESSAGE, _QUALIFIED_NAME_FORMAT, "MyName", "my.name", "123-abc")
        )
    return errors


def _prefix_errors(prefix: str) -> list[str]:
    if not prefix:
        return ["must be non-empty"]
    errors = ["must be no more than 253 characters"] if len(prefix) > 253 else []
    if not _DNS1123_SUBDOMAIN.fullmatch(prefix):
        errors.append(_regex_error(_DNS1123_SUBDOMAIN_MESSAGE, _DNS1123_SUBDOMAIN_FORMAT, "example.com"))
    return errors


def _label_value_errors(value: str) -> list[str]:
    errors = ["must be no more than 63 characters"] if len(value) > 63 else []
    if not _LABEL_VALUE.fullmatch(value):
        errors.append(_regex_error(_LABEL_VALUE_MESSAGE, _LABEL_VALUE_FORMAT, "MyValue", "my_value", "12345"))
    return errors


def _regex_error(message: str, regex: str, *examples: str) -> str:
    """validation.RegexError, double spaces before "or" included."""
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{regex}')"


# --- the label selector lexer and parser (labels.Lexer, labels.Parser) -------------------------------------


class _Token(Enum):
    END = auto()
    IDENTIFIER = auto()
    IN = auto()
    NOT_IN = auto()
    NOT = auto()
    EQUALS = auto()
    DOUBLE_EQUALS = auto()
    NOT_EQUALS = auto()
    GREATER_THAN = auto()
    LESS_THAN = auto()
    OPEN = auto()
    CLOSE = auto()
    COMMA = auto()


_LITERAL_TOKENS = {
    ")": _Token.CLOSE,
    ",": _Token.COMMA,
    "!": _Token.NOT,
    "==": _Token.DOUBLE_EQUALS,
    "=": _Token.EQUALS,
    ">": _Token.GREATER_THAN,
    "in": _Token.IN,
    "<": _Token.LESS_THAN,
    "!=": _Token.NOT_EQUALS,
    "notin": _Token.NOT_IN,
    "(": _Token.OPEN,
}
_SPECIAL_SYMBOLS = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")

_OPERATOR_TOKENS = {
    _Token.IN: IN,
    _Token.NOT_IN: NOT_IN,
    _Token.EQUALS: EQUALS,
    _Token.DOUBLE_EQUALS: DOUBLE_EQUALS,
    _Token.NOT_EQUALS: NOT_EQUALS,
    _Token.GREATER_THAN: GREATER_THAN,
    _Token.LESS_THAN: LESS_THAN,
}

_Item = tuple[_Token, str]


class _SyntaxError(Exception):
    pass


def _lex(text: str) -> list[_Item]:
    items: list[_Item] = []
    position = 0
    while True:
        while position < len(text) and text[position] in _WHITESPACE:
            position += 1
        if position == len(text):
            items.append((_Token.END, ""))
            return items
        scan = _scan_symbol if text[position] in _SPECIAL_SYMBOLS else _scan_word
        item, position = scan(text, position)
        items.append(item)


def _scan_symbol(text: str, start: int) -> tuple[_Item, int]:
    """The longest run of special characters that is an operator ("!=" rather than "!" then "=")."""
    two = text[start : start + 2]
    literal = two if two in _LITERAL_TOKENS else text[start]
    return (_LITERAL_TOKENS[literal], literal), start + len(literal)


def _scan_word(text: str, start: int) -> tuple[_Item, int]:
    end = start
    while end < len(text) and text[end] not in _SPECIAL_SYMBOLS and text[end] not in _WHITESPACE:
        end += 1
    word = text[start:end]
    return (_LITERAL_TOKENS.get(word, _Token.IDENTIFIER), word), end


class _LabelParser:
    """A port of labels.Parser: recursive descent over the scanned items, with its error messages.

    "in" and "notin" are operators after a key but plain identifiers where a key or value is expected, hence
    the `as_value` flag (the Go parser's Values context)."""

    def __init__(self, text: str) -> None:
        self._items = _lex(text)
        self._position = 0

    def parse(self) -> list[LabelRequirement]:
        requirements: list[LabelRequirement] = []
        while True:
            token, literal = self._lookahead()
            if token == _Token.END:
                return requirements
            if token not in (_Token.IDENTIFIER, _Token.NOT):
                raise _SyntaxError(f"found '{literal}', expected: !, identifier, or 'end of string'")
            requirements.append(self._requirement())
            token, literal = self._consume()
            if token == _Token.END:
                return requirements
            if token != _Token.COMMA:
                raise _SyntaxError(f"found '{literal}', expected: ',' or 'end of string'")
            next_token, next_literal = self._lookahead()
            if next_token not in (_Token.IDENTIFIER, _Token.NOT):
                raise _SyntaxError(f"found '{next_literal}', expected: identifier after ','")

    def _requirement(self) -> LabelRequirement:
        try:
            return self._unchecked_requirement()
        except _SyntaxError as err:
            raise _SyntaxError(f"unable to parse requirement: {err}") from None

    def _unchecked_requirement(self) -> LabelRequirement:
        key, inferred = self._key_and_inferred_operator()
        if inferred is not None:
            return self._checked(key, inferred, ())
        operator = self._operator()
        values = self._set_values() if operator in (IN, NOT_IN) else self._exact_value()
        return self._checked(key, operator, tuple(sorted(values)))

    @staticmethod
    def _checked(key: str, operator: str, values: tuple[str, ...]) -> LabelRequirement:
        errors = _requirement_errors(key, operator, values)
        if errors:
            raise _SyntaxError(_aggregate(errors))
        return LabelRequirement(key, operator, values)

    def _key_and_inferred_operator(self) -> tuple[str, str | None]:
        """The key, and the operator when the requirement has none of its own (`key`, `!key`)."""
        operator = None
        token, literal = self._consume()
        if token == _Token.NOT:
            operator = DOES_NOT_EXIST
            token, literal = self._consume()
        if token != _Token.IDENTIFIER:
            raise _SyntaxError(f"found '{literal}', expected: identifier")
        key_problems = _qualified_name_errors(literal)
        if key_problems:
            # The Go parser validates the key against a nil field path, which prints as "<nil>".
            raise _SyntaxError(_invalid("<nil>", literal, key_problems).message())
        if operator is None and self._lookahead()[0] in (_Token.END, _Token.COMMA):
            operator = EXISTS
        return literal, operator

    def _operator(self) -> str:
        token, literal = self._consume(as_value=False)
        if token not in _OPERATOR_TOKENS:
            raise _SyntaxError(f"found '{literal}', expected: '=', '!=', '==', 'in', notin'")
        return _OPERATOR_TOKENS[token]

    def _set_values(self) -> set[str]:
        token, literal = self._consume()
        if token != _Token.OPEN:
            raise _SyntaxError(f"found '{literal}' expected: '('")
        token, literal = self._lookahead()
        if token == _Token.CLOSE:
            self._consume()
            return {""}
        if token not in (_Token.IDENTIFIER, _Token.COMMA):
            raise _SyntaxError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self._identifiers()
        if self._consume()[0] != _Token.CLOSE:
            # The Go parser reports the token that opened the list here, not the one it found.
            raise _SyntaxError(f"found '{literal}', expected: ')'")
        return values

    def _identifiers(self) -> set[str]:
        """A comma separated list inside parentheses, where empty entries are the empty string."""
        values: set[str] = set()
        while True:
            token, literal = self._consume()
            if token == _Token.IDENTIFIER:
                values.add(literal)
                following, following_literal = self._lookahead()
                if following == _Token.CLOSE:
                    return values
                if following != _Token.COMMA:
                    raise _SyntaxError(f"found '{following_literal}', expected: ',' or ')'")
            elif token == _Token.COMMA:
                if not values:
                    values.add("")
                following = self._lookahead()[0]
                if following == _Token.CLOSE:
                    values.add("")
                    return values
                if following == _Token.COMMA:
                    self._consume()
                    values.add("")
            else:
                raise _SyntaxError(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        if self._lookahead()[0] in (_Token.END, _Token.COMMA):
            return {""}
        token, literal = self._consume()
        if token != _Token.IDENTIFIER:
            raise _SyntaxError(f"found '{literal}', expected: identifier")
        return {literal}

    def _lookahead(self, *, as_value: bool = True) -> _Item:
        return self._as_context(self._items[self._position], as_value)

    def _consume(self, *, as_value: bool = True) -> _Item:
        item = self._items[self._position]
        # The last item is always END; staying on it keeps every later lookahead in range.
        self._position = min(self._position + 1, len(self._items) - 1)
        return self._as_context(item, as_value)

    @staticmethod
    def _as_context(item: _Item, as_value: bool) -> _Item:
        token, literal = item
        if as_value and token in (_Token.IN, _Token.NOT_IN):
            return _Token.IDENTIFIER, literal
        return item


# --- field selectors ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: str
    """`=` (also what `==` parses to) or `!=`."""
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (_field_text(obj, self.field) == self.value) == (self.operator == EQUALS)

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{_escape(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def fields(self) -> frozenset[str]:
        """The field paths the selector uses, for the server to reject those the resource doesn't support."""
        return frozenset(requirement.field for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(requirement.matches(obj) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def parse_field_selector(text: str) -> FieldSelector:
    """Parses a field selector (fields.ParseSelector): comma separated `path=value`, `path==value` and
    `path!=value` terms, `\\`-escaping `\\`, `,` and `=` in values. Whitespace is not trimmed, as in Go.
    Invalid syntax raises a 400 BadRequest."""
    requirements = [_field_requirement(text, term) for term in sorted(_split_terms(text)) if term]
    return FieldSelector(tuple(requirements))


def _split_terms(text: str) -> list[str]:
    """Splits on commas that are not backslash-escaped, keeping the escapes in the terms."""
    if not text:
        return []
    terms: list[str] = []
    start = 0
    escaped = False
    for position, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:position])
            start = position + 1
    terms.append(text[start:])
    return terms


def _field_requirement(text: str, term: str) -> FieldRequirement:
    # The first operator found splits the term; "!=" and "==" are tried before "=" at each position.
    for position in range(len(term)):
        for operator in (NOT_EQUALS, DOUBLE_EQUALS, EQUALS):
            if term.startswith(operator, position):
                value = _unescape(term[position + len(operator) :])
                return FieldRequirement(term[:position], NOT_EQUALS if operator == NOT_EQUALS else EQUALS, value)
    raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")


def _unescape(value: str) -> str:
    unescaped: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise bad_request(f"invalid field selector: invalid escape sequence: \\{char}")
            unescaped.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            # Go prints the rune with %v, i.e. as its code point.
            raise bad_request(f"invalid field selector: unescaped character in value: {ord(char)}")
        else:
            unescaped.append(char)
    if escaped:
        raise bad_request("invalid field selector: invalid escape sequence: \\")
    return "".join(unescaped)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _field_text(obj: Mapping[str, Any], path: str) -> str:
    """The value at a dotted path as the apiserver's field sets hold it: a missing field is ""."""
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return ""
        value = value[part]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
