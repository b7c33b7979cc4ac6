"""A fast yes/maybe-not check of a document against the scenario JSON Schema.

jsonschema walks every keyword of every subschema through generic machinery (about 0.4 ms per scenario).
Valid documents are by far the common case, so the loader first asks this compiled check, and runs
jsonschema only when it does not answer "valid": jsonschema stays the one source of every error message.

The check must never call an invalid document valid; it may call a valid one "not sure" (``False``),
which only costs the jsonschema pass. It answers ``False`` for any value whose type is not one of the
plain JSON types, for floats where an integer is expected, and for anything else it does not model
exactly. A schema using a keyword it does not know compiles to nothing (``None``): jsonschema always runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Check", "compile_schema"]

#: ``check(value)`` is True only if ``value`` is valid.
Check = Callable[[Any], bool]

#: Keywords that never affect validity.
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description", "examples", "default"})
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}
_PLAIN = frozenset(t for types in _TYPES.values() for t in types)


class _Unsupported(Exception):
    """The schema uses something this module does not model exactly."""


def compile_schema(root: Mapping[str, Any]) -> Check | None:
    """A conservative validity check for ``root`` (draft 2020-12), or None if it uses unmodelled keywords."""
    try:
        return _Compiler(root).compile(root)
    except _Unsupported:
        return None


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, ref: str) -> Check:
        if not ref.startswith("#/$defs/"):
            raise _Unsupported(ref)
        name = ref.removeprefix("#/$defs/")
        if name not in self.refs:
            target = self.root.get("$defs", {}).get(name)
            if target is None:
                raise _Unsupported(ref)
            compiled: list[Check] = []
            # Registered before compiling so a recursive definition finds itself.
            self.refs[name] = lambda value: compiled[0](value)
            compiled.append(self.compile(target))
        return self.refs[name]

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, Mapping):
            raise _Unsupported(schema)
        unknown = set(schema) - _ANNOTATIONS - _KEYWORDS
        if unknown:
            raise _Unsupported(sorted(unknown))
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self.ref(schema["$ref"]))
        if "type" in schema:
            checks.append(_type_check(schema["type"]))
        if "enum" in schema:
            checks.append(_enum_check(schema["enum"]))
        if "const" in schema:
            checks.append(_enum_check([schema["const"]]))
        checks.extend(self.object_checks(schema))
        checks.extend(self.array_checks(schema))
        checks.extend(_scalar_checks(schema))
        if "oneOf" in schema:
            checks.append(_one_of([_exact_required(branch) for branch in schema["oneOf"]]))
        return _all_of(checks)

    def object_checks(self, schema: Mapping[str, Any]) -> list[Check]:
        keys = {"properties", "additionalProperties", "required"} & set(schema)
        if not keys:
            return []
        properties = {name: self.compile(sub) for name, sub in schema.get("properties", {}).items()}
        required = tuple(schema.get("required", ()))
        additional = schema.get("additionalProperties", True)
        closed = additional is False
        if additional is not True and not closed:
            raise _Unsupported("additionalProperties with a schema")

        def check(value: Any) -> bool:
            if type(value) is not dict:
                return type(value) in _PLAIN
            for name in required:
                if name not in value:
                    return False
            for name, item in value.items():
                sub = properties.get(name)
                if sub is None:
                    if closed:
                        return False
                elif not sub(item):
                    return False
            return True

        return [check]

    def array_checks(self, schema: Mapping[str, Any]) -> list[Check]:
        if not {"items", "minItems", "maxItems", "uniqueItems"} & set(schema):
            return []
        items = self.compile(schema["items"]) if "items" in schema else None
        low = schema.get("minItems", 0)
        high = schema.get("maxItems")
        unique = schema.get("uniqueItems", False)
        if type(low) is not int or (high is not None and type(high) is not int) or type(unique) is not bool:
            raise _Unsupported("array bounds")

        def check(value: Any) -> bool:
            if type(value) is not list:
                return type(value) in _PLAIN
            if len(value) < low or (high is not None and len(value) > high):
                return False
            if unique and not (all(type(x) is str for x in value) and len(set(value)) == len(value)):
                return False  # uniqueness of non-text items follows JSON equality: leave it to jsonschema
            return items is None or all(items(x) for x in value)

        return [check]


_KEYWORDS = frozenset(
    {
        "$ref",
        "type",
        "enum",
        "const",
        "properties",
        "additionalProperties",
        "required",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minLength",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "oneOf",
    }
)


def _all_of(checks: list[Check]) -> Check:
    if not checks:
        return lambda value: type(value) in _PLAIN
    combined = checks[-1]
    for one in reversed(checks[:-1]):
        combined = _both(one, combined)
    return combined


def _both(first: Check, second: Check) -> Check:
    return lambda value: first(value) and second(value)


def _type_check(names: Any) -> Check:
    wanted: set[type] = set()
    for name in names if isinstance(names, list) else [names]:
        if name not in _TYPES:
            raise _Unsupported(name)
        wanted.update(_TYPES[name])
    # Exact types: bool is not an integer here (as in JSON Schema), and a float written for an
    # integer is left to jsonschema, which accepts 2.0.
    accepted = frozenset(wanted)
    return lambda value: type(value) in accepted


def _enum_check(options: Any) -> Check:
    if not isinstance(options, list) or not all(type(o) in (str, int) for o in options):
        raise _Unsupported("enum or const of other than text and integers")
    accepted = frozenset((type(o), o) for o in options)
    # Matching on (type, value) keeps True apart from 1, as JSON Schema does.
    return lambda value: type(value) in (str, int) and (type(value), value) in accepted


def _scalar_checks(schema: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    if "minLength" in schema:
        min_length = schema["minLength"]
        if type(min_length) is not int:
            raise _Unsupported("minLength")
        checks.append(lambda value: type(value) in _PLAIN and (type(value) is not str or len(value) >= min_length))
    if "pattern" in schema:
        search = re.compile(schema["pattern"]).search
        checks.append(lambda value: type(value) in _PLAIN and (type(value) is not str or search(value) is not None))
    bounds = {k: schema[k] for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in schema}
    if bounds:
        if not all(type(v) in (int, float) for v in bounds.values()):
            raise _Unsupported("numeric bound")
        low, high = bounds.get("minimum"), bounds.get("maximum")
        low_x, high_x = bounds.get("exclusiveMinimum"), bounds.get("exclusiveMaximum")

        def in_bounds(value: Any) -> bool:
            if type(value) not in (int, float):
                return type(value) in _PLAIN
            return (
                (low is None or value >= low)
                and (high is None or value <= high)
                and (low_x is None or value > low_x)
                and (high_x is None or value < high_x)
            )

        checks.append(in_bounds)
    return checks


def _exact_required(branch: Any) -> Check:
    """A ``oneOf`` branch: only ``required`` is modelled, and exactly (the count of valid branches matters)."""
    if not isinstance(branch, Mapping) or set(branch) - _ANNOTATIONS != {"required"}:
        raise _Unsupported("oneOf branch")
    names = tuple(branch["required"])
    return lambda value: not isinstance(value, dict) or all(name in value for name in names)


def _one_of(branches: list[Check]) -> Check:
    return lambda value: sum(1 for branch in branches if branch(value)) == 1
