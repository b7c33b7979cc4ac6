"""Readable, located messages for JSON Schema violations in a scenario document."""

from __future__ import annotations

import datetime
import difflib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from convotest.scenario._yaml import Path

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

__all__ = ["NAME_RULE", "Problem", "at", "describe", "field_name", "schema_problems", "suggest"]

#: (path, whether the position is the path's key rather than its value, message)
Problem = tuple[Path, bool, str]

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}
_TURN_KINDS = ("user", "input", "compact")
#: The message for a ``name`` that breaks ``[a-z0-9][a-z0-9_-]*``.
NAME_RULE = (
    "{got} is not a valid scenario name (use lowercase letters, digits, '_' and '-', starting with a letter or digit)"
)
_PATTERN_MESSAGES = {
    "name": NAME_RULE,
    "driver": 'expected "package.module:Name", got {got}',
}


def field_name(path: Path) -> str:
    """``("turns", 2, "expect")`` → ``turns[2].expect``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def at(path: Path, message: str) -> str:
    """Prefix ``message`` with the field path, when there is one."""
    name = field_name(path)
    return f"{name}: {message}" if name else message


def describe(value: Any) -> str:
    """A short rendering of a YAML value for "got ..." messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, datetime.datetime):
        return f"a timestamp {value.isoformat()}"
    if isinstance(value, datetime.date):
        return f"a date {value.isoformat()}"
    if isinstance(value, bytes):
        return "binary data"
    return type(value).__name__


def _edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: a swap of two neighbours ("modle") counts as one edit."""
    rows = [list(range(len(b) + 1))] + [[i] + [0] * len(b) for i in range(1, len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[len(a)][len(b)]


def suggest(word: str, candidates: Sequence[str]) -> str | None:
    """The candidate closest to ``word``, if any is close enough to be a likely typo."""
    close = difflib.get_close_matches(word[:100], list(candidates), n=5, cutoff=0.6)
    # difflib ranks "modle" as close to "modes" as to "model"; the edit distance breaks such ties.
    return min(close, key=lambda c: _edit_distance(word[:100], c)) if close else None


def _resolve(root: Mapping[str, Any], subschema: Any) -> Mapping[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/x``) once."""
    if isinstance(subschema, Mapping) and isinstance(subschema.get("$ref"), str):
        ref: str = subschema["$ref"]
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        resolved: Mapping[str, Any] = target
        return resolved
    return subschema if isinstance(subschema, Mapping) else {}


def _unknown_key(root: Mapping[str, Any], schema: Mapping[str, Any], path: Path, key: str) -> Problem:
    allowed: Mapping[str, Any] = schema.get("properties", {})
    # A key written one level too high ("reply" directly on a turn) is a likelier mistake than a typo.
    homes = [name for name, sub in allowed.items() if key in _resolve(root, sub).get("properties", {})]
    if len(homes) == 1:
        hint = f" (did you mean to put it under {homes[0]!r}?)"
    elif (close := suggest(key, list(allowed))) is not None:
        hint = f" (did you mean {close!r}?)"
    else:
        hint = f" (expected one of: {', '.join(allowed)})"
    return ((*path, key), True, at(path, f"unknown key {key!r}{hint}"))


def _expected_types(types: Any) -> str:
    names = [_TYPE_NAMES.get(str(t), str(t)) for t in (types if isinstance(types, list) else [types])]
    return " or ".join(names)


def schema_problems(root: Mapping[str, Any], error: ValidationError) -> Iterator[Problem]:
    """The located problems one jsonschema error stands for (none when another error explains it)."""
    path: Path = tuple(error.absolute_path)
    keyword = error.validator
    value = error.validator_value
    instance = error.instance
    got = describe(instance)
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if keyword == "type":
        hint = " (quote it to make it text)" if value == "string" and not isinstance(instance, list | dict) else ""
        yield (path, False, at(path, f"expected {_expected_types(value)}, got {got}{hint}"))
    elif keyword == "required":
        for key in value:
            if isinstance(instance, dict) and key not in instance:
                hint = " (add `version: 1`)" if not path and key == "version" else ""
                yield (path, False, at(path, f"missing required key {key!r}{hint}"))
    elif keyword == "additionalProperties" and isinstance(instance, dict):
        allowed = schema.get("properties", {})
        for key in instance:
            if key not in allowed:
                yield _unknown_key(root, schema, path, key)
    elif keyword == "oneOf" and "user" in schema.get("properties", {}):
        if not isinstance(instance, dict):
            return  # the turn's own "expected a mapping" error says it
        kinds = [k for k in _TURN_KINDS if k in instance]
        if len(kinds) > 1:
            found = " and ".join(repr(k) for k in kinds)
            yield (
                (*path, kinds[1]),
                True,
                at(path, f"a turn has exactly one of 'user', 'input' or 'compact', found {found}"),
            )
        elif not any(key not in schema.get("properties", {}) for key in instance):
            # With an unknown key present, its own "did you mean" message says more than this one.
            yield (path, False, at(path, "a turn needs one of 'user', 'input' or 'compact'"))
    elif keyword == "enum":
        options = [o for o in value if isinstance(o, str)]
        close = suggest(instance, options) if isinstance(instance, str) else None
        hint = f" (did you mean {close!r}?)" if close else f" (expected one of: {', '.join(options)})"
        what = "mode" if len(path) >= 2 and path[-2] == "modes" else "value"
        yield (path, False, at(path, f"unknown {what} {got}{hint}"))
    elif keyword == "const":
        yield (path, False, at(path, f"expected {json.dumps(value)}, got {got}"))
    elif keyword == "pattern":
        template = _PATTERN_MESSAGES.get(str(path[-1]) if path else "", "{got} does not match {pattern}")
        yield (path, False, at(path, template.format(got=got, pattern=value)))
    elif keyword in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        relation = {
            "minimum": "at least",
            "exclusiveMinimum": "greater than",
            "maximum": "at most",
            "exclusiveMaximum": "less than",
        }[keyword]
        yield (path, False, at(path, f"must be {relation} {value}, got {got}"))
    elif keyword in ("minItems", "minLength") and value == 1:
        yield (path, False, at(path, "must not be empty"))
    elif keyword == "maxItems":
        yield (path, False, at(path, f"must have at most {value} items"))
    elif keyword == "uniqueItems" and isinstance(instance, list):
        for index, item in enumerate(instance):
            if item in instance[:index]:
                yield ((*path, index), False, at((*path, index), f"{describe(item)} is listed twice"))
                break
    else:
        yield (path, False, at(path, error.message))
