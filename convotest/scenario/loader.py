"""Load scenario files (format v1) into ``Scenario`` objects, with a source position on every part.

Three passes per YAML document: safe YAML reading with positions (``_yaml``), the JSON Schema
(``schema.py``, the same one editors use), then semantic checks that a schema cannot express.
Every problem, whatever the input, comes out as ``ScenarioError(path, line, column, message)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from convotest.errors import Locs, ScenarioError, SourceLoc
from convotest.scenario._errors import NAME_RULE, Problem, at, describe, schema_problems
from convotest.scenario._quickschema import Check, compile_schema
from convotest.scenario._yaml import Document, Path, decode, parse_documents
from convotest.scenario.model import (
    ALL_MODES,
    RESPONSES_MODES,
    CompactionExpect,
    ContextExpect,
    Expect,
    Limits,
    Marks,
    Message,
    ReplyExpect,
    Scenario,
    ServerCompaction,
    TokensExpect,
    Turn,
)
from convotest.scenario.schema import schema

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

    from convotest.scenario.cache import ScenarioCache

__all__ = ["SCENARIO_SUFFIXES", "check_text", "discover", "load_file", "load_text"]

#: File name endings of scenario files.
SCENARIO_SUFFIXES = (".convo.yaml", ".convo.yml")

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_DRIVER = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*", re.ASCII)
#: Request fields the drivers own; setting them through ``params`` would break the state modes.
_RESERVED_PARAMS = {
    "model": "set `model` at the top level",
    "messages": "the drivers build the messages",
    "input": "the drivers build the input",
    "instructions": "set `instructions` at the top level",
    "previous_response_id": "use mode previous_response_id",
    "conversation": "use mode conversation",
    "store": "each mode sets `store` itself",
    "context_management": "use `server_compaction`",
}


@lru_cache(maxsize=1)
def _inlined_schema() -> dict[str, Any]:
    root = schema()
    inlined: dict[str, Any] = _inline_refs(root, root.get("$defs", {}))
    return inlined


@lru_cache(maxsize=1)
def _quick_check() -> Check:
    """The compiled check that answers "valid" for most documents without jsonschema."""
    return compile_schema(_inlined_schema()) or (lambda data: False)


@lru_cache(maxsize=1)
def _schema_validator() -> Draft202012Validator:
    """jsonschema's validator, built once; imported only when a document needs its error messages."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_inlined_schema())


def _inline_refs(node: Any, defs: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """The schema with each ``{"$ref": "#/$defs/x"}`` replaced by that definition (non-recursive ones).

    Same validation, a third less work: jsonschema resolves a ``$ref`` through the referencing library
    every time it meets one, for every turn of every scenario.
    """
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and set(node) <= {"$ref", "description"}:
            name = ref.removeprefix("#/$defs/")
            if name in defs and name not in seen:
                return _inline_refs(defs[name], defs, (*seen, name))
        return {key: value if key == "$defs" else _inline_refs(value, defs, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_refs(value, defs, seen) for value in node]
    return node


def _file_stem(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in (*SCENARIO_SUFFIXES, ".yaml", ".yml"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


class _DocumentLoader:
    """Builds one ``Scenario`` from a schema-valid document, collecting semantic problems."""

    def __init__(self, path: str, doc: Document) -> None:
        self.path = path
        self.doc = doc
        self.problems: list[ScenarioError] = []

    def loc(self, path: Path, *, key: bool = False) -> SourceLoc:
        line, column = self.doc.loc(path, key=key)
        return SourceLoc(self.path, line, column)

    def problem(self, path: Path, message: str, *, key: bool = False) -> None:
        line, column = self.doc.loc(path, key=key)
        self.problems.append(ScenarioError(self.path, line, column, at(path, message)))

    def dotted_locs(self, data: dict[str, Any], prefix: Path, out: dict[str, int], name: str = "") -> None:
        """Add the key positions of mapping ``data`` (at ``prefix``) and of mappings in it, by dotted name.

        In document order (``"tokens"``, then ``"tokens.input_max"``); keys inside lists are left out. Positions
        are packed as ``Locs`` holds them.
        """
        key_locs = self.doc.key_locs
        pack = Locs.pack
        for key, value in data.items():
            path = (*prefix, key)
            dotted = f"{name}.{key}" if name else key
            out[dotted] = pack(*key_locs[path])
            if isinstance(value, dict):
                self.dotted_locs(value, path, out, dotted)

    # -- expectations -------------------------------------------------------------------------

    def tokens(self, data: dict[str, Any], path: Path) -> TokensExpect:
        ints = {k: int(v) for k, v in data.items() if k != "window_used_max"}
        low, high = ints.get("input_min"), ints.get("input_max")
        if low is not None and high is not None and low > high:
            self.problem((*path, "input_min"), f"is greater than input_max ({low} > {high})")
        window = data.get("window_used_max")
        return TokensExpect(**ints, window_used_max=None if window is None else float(window))

    def reply(self, data: dict[str, Any], path: Path) -> ReplyExpect:
        pattern = data.get("matches")
        if pattern is not None:
            try:
                re.compile(pattern)
            except (re.error, RecursionError, OverflowError) as exc:
                self.problem((*path, "matches"), f"invalid regular expression: {exc}")
        return ReplyExpect(
            contains=tuple(data.get("contains", ())),
            not_contains=tuple(data.get("not_contains", ())),
            matches=pattern,
        )

    def context(self, data: dict[str, Any], path: Path) -> ContextExpect:
        equals = None
        if "equals" in data:
            equals = tuple(
                Message(m["role"], m["content"], self.loc((*path, "equals", i))) for i, m in enumerate(data["equals"])
            )
            count, roles = data.get("messages"), data.get("roles")
            if count is not None and count != len(equals):
                self.problem((*path, "messages"), f"is {count} but equals lists {len(equals)} messages")
            if roles is not None and list(roles) != [m.role for m in equals]:
                self.problem((*path, "roles"), "disagrees with the roles of equals")
        elif "roles" in data and data.get("messages") not in (None, len(data["roles"])):
            self.problem((*path, "messages"), f"is {data['messages']} but roles lists {len(data['roles'])}")
        count = data.get("messages")
        return ContextExpect(
            messages=None if count is None else int(count),
            roles=None if "roles" not in data else tuple(data["roles"]),
            contains=tuple(data.get("contains", ())),
            equals=equals,
            starts_with_compaction=data.get("starts_with_compaction"),
            instructions=data.get("instructions"),
            reasoning_items=data.get("reasoning_items"),
            same_across_modes=bool(data.get("same_across_modes", False)),
        )

    def compaction(self, data: dict[str, Any]) -> CompactionExpect:
        items = data.get("compaction_items")
        after = data.get("input_tokens_after_max")
        return CompactionExpect(
            user_messages_verbatim=data.get("user_messages_verbatim"),
            compaction_items=None if items is None else int(items),
            input_tokens_after_max=None if after is None else int(after),
            schema=data.get("schema"),
        )

    def expect(self, data: dict[str, Any], path: Path) -> Expect:
        status = data.get("status")
        locs: dict[str, int] = {}
        self.dotted_locs(data, path, locs)
        return Expect(
            reply=self.reply(data["reply"], (*path, "reply")) if "reply" in data else None,
            status=status,
            context=self.context(data["context"], (*path, "context")) if "context" in data else None,
            tokens=self.tokens(data["tokens"], (*path, "tokens")) if "tokens" in data else None,
            compaction=self.compaction(data["compaction"]) if "compaction" in data else None,
            locs=Locs(self.path, locs),
        )

    # -- turns ---------------------------------------------------------------------------------

    def turn(self, index: int, data: dict[str, Any], compacted_before: bool, *, can_compact: bool) -> Turn:
        path: Path = ("turns", index)
        expect = self.expect(data["expect"], (*path, "expect")) if "expect" in data else None
        if "user" in data:
            turn = Turn(
                index,
                "user",
                (Message("user", data["user"], self.loc((*path, "user"))),),
                expect=expect,
                loc=self.loc(path),
            )
        elif "input" in data:
            messages = tuple(
                Message(m["role"], m["content"], self.loc((*path, "input", i))) for i, m in enumerate(data["input"])
            )
            turn = Turn(index, "input", messages, expect=expect, loc=self.loc(path))
        else:
            instructions = (data["compact"] or {}).get("instructions")
            turn = Turn(index, "compact", compact_instructions=instructions, expect=expect, loc=self.loc(path))
            if index == 0:
                self.problem(
                    (*path, "compact"), "a compact step cannot be the first turn: nothing to compact", key=True
                )
        if expect is not None and "expect" in data:
            self.turn_expect_fits(turn, data["expect"], (*path, "expect"), compacted_before or can_compact)
        return turn

    def turn_expect_fits(self, turn: Turn, data: dict[str, Any], path: Path, may_start_compacted: bool) -> None:
        if turn.kind == "compact":
            for key in ("reply", "status"):
                if key in data:
                    self.problem((*path, key), "a compact step has no reply; check it on the next turn", key=True)
        elif "compaction" in data:
            self.problem((*path, "compaction"), "only a compact step has compaction output to check", key=True)
        starts = data.get("context", {}).get("starts_with_compaction")
        if starts is True and not may_start_compacted:
            self.problem(
                (*path, "context", "starts_with_compaction"),
                "is true but no compact step comes before this turn",
                key=True,
            )

    # -- scenario ------------------------------------------------------------------------------

    def name(self, data: dict[str, Any]) -> str:
        if "name" in data:
            name: str = data["name"]
            if not _NAME.fullmatch(name):
                self.problem(("name",), NAME_RULE.format(got=describe(name)))
            return name
        stem = _file_stem(self.path)
        if not _NAME.fullmatch(stem):
            self.problem(
                (),
                f"name: the file name {stem!r} is not a valid scenario name; add `name:` "
                "(lowercase letters, digits, '_' and '-', starting with a letter or digit)",
            )
        return stem

    def params(self, data: dict[str, Any]) -> dict[str, Any]:
        for key in data:
            if key in _RESERVED_PARAMS:
                self.problem(("params", key), f"cannot be set in params: {_RESERVED_PARAMS[key]}", key=True)
            else:
                self.json_value(data[key], ("params", key))
        return data

    def json_value(self, value: Any, path: Path) -> None:
        """Report the first value under ``path`` that cannot go into a JSON request body."""
        if isinstance(value, dict):
            for key, item in value.items():
                self.json_value(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.json_value(item, (*path, index))
        elif isinstance(value, float) and not math.isfinite(value):
            self.problem(path, f"{describe(value)} cannot be sent as JSON")
        elif value is not None and not isinstance(value, str | int | float | bool):
            self.problem(path, f"{describe(value)} cannot be sent as JSON (quote it to make it text)")

    def modes(self, data: dict[str, Any], has_compact: bool) -> tuple[str, ...]:
        if "driver" in data:
            if "modes" in data:
                self.problem(
                    ("modes",),
                    "a scenario with `driver` runs in the single mode 'custom'; remove `modes`",
                    key=True,
                )
            return ("custom",)
        if "modes" not in data:
            return RESPONSES_MODES if has_compact or "server_compaction" in data else ALL_MODES
        modes: tuple[str, ...] = tuple(data["modes"])
        chat_only = [m for m in modes if m not in RESPONSES_MODES]
        if chat_only:
            mode_line = self.doc.loc(("modes", modes.index(chat_only[0])))[0]
            first_compact = next((i for i, t in enumerate(data["turns"]) if "compact" in t), None)
            if first_compact is not None:
                self.problem(
                    ("turns", first_compact, "compact"),
                    f"a compact step needs a Responses mode, but modes include {chat_only[0]!r} (line {mode_line})",
                    key=True,
                )
            if "server_compaction" in data:
                self.problem(
                    ("server_compaction",),
                    f"needs a Responses mode, but modes include {chat_only[0]!r} (line {mode_line})",
                    key=True,
                )
        return modes

    def scenario(self) -> Scenario:
        data: dict[str, Any] = self.doc.data
        name = self.name(data)
        driver = data.get("driver")
        if driver is not None and not _DRIVER.fullmatch(driver):
            self.problem(("driver",), f'expected "package.module:Name", got {describe(driver)}')
        may_compact = "server_compaction" in data or driver is not None
        turns: list[Turn] = []
        compacted = False
        for index, turn_data in enumerate(data["turns"]):
            turns.append(self.turn(index, turn_data, compacted, can_compact=may_compact))
            compacted = compacted or turns[-1].kind == "compact"
        limits = data.get("limits", {})
        window, max_out = limits.get("context_window"), limits.get("max_output_tokens")
        if window is not None and max_out is not None and max_out > window:
            self.problem(("limits", "max_output_tokens"), f"is larger than context_window ({max_out} > {window})")
        marks = data.get("marks", {})
        server = data.get("server_compaction")
        scenario_expect = None
        if "expect" in data:
            scenario_expect = self.expect(data["expect"], ("expect",))
        return Scenario(
            name=name,
            path=self.path,
            model=data["model"],
            turns=tuple(turns),
            modes=self.modes(data, any(t.kind == "compact" for t in turns)),
            version=int(data["version"]),
            description=data.get("description"),
            instructions=data.get("instructions"),
            params=self.params(data.get("params", {})),
            limits=Limits(
                context_window=None if window is None else int(window),
                max_output_tokens=None if max_out is None else int(max_out),
            ),
            driver=driver,
            expect=scenario_expect,
            marks=Marks(skip=marks.get("skip"), xfail=marks.get("xfail")),
            server_compaction=None if server is None else ServerCompaction(int(server["compact_threshold"])),
            document=self.doc.index,
            loc=SourceLoc(self.path, self.doc.line, self.doc.column),
            locs=Locs(self.path, {key: Locs.pack(*self.doc.key_locs[(key,)]) for key in data}),
        )


def _schema_errors(path: str, doc: Document) -> list[ScenarioError]:
    if not isinstance(doc.data, dict):
        return [ScenarioError(path, doc.line, doc.column, f"a scenario must be a mapping, got {describe(doc.data)}")]
    if _quick_check()(doc.data):
        return []
    validator = _schema_validator()
    root = validator.schema
    data = doc.data
    modes = data.get("modes")
    if isinstance(modes, list) and len(modes) > len(ALL_MODES) + 1:
        # jsonschema's uniqueItems is quadratic on unhashable items; a few past the limit say as much.
        data = {**data, "modes": modes[: len(ALL_MODES) + 1]}
    found: dict[tuple[int, int, str], ScenarioError] = {}
    for error in validator.iter_errors(data):
        problems: Iterable[Problem] = schema_problems(root, error)
        for where, key, message in problems:
            line, column = doc.loc(where, key=key)
            found.setdefault((line, column, message), ScenarioError(path, line, column, message))
    return list(found.values())


def _sort_key(error: ScenarioError) -> tuple[int, int, str]:
    return (error.line, error.column, error.message)


def _check(text: str | bytes, path: str) -> tuple[list[Scenario], list[ScenarioError]]:
    if isinstance(text, bytes):
        text = decode(path, text)
    documents = parse_documents(path, text)
    if not documents:
        return [], [ScenarioError(path, 1, 1, "no scenario in this file (it is empty or only comments)")]
    scenarios: list[Scenario] = []
    problems: list[ScenarioError] = []
    first_by_name: dict[str, tuple[Scenario, Document]] = {}
    for doc in documents:
        schema_errors = _schema_errors(path, doc)
        if schema_errors:
            problems.extend(schema_errors)
            continue
        builder = _DocumentLoader(path, doc)
        scenario = builder.scenario()
        problems.extend(builder.problems)
        if scenario.name in first_by_name:
            first, _ = first_by_name[scenario.name]
            where = scenario.locs.get("name", scenario.loc)
            line = where.line if where else doc.line
            column = where.column if where else doc.column
            hint = "" if "name" in scenario.locs else " (each scenario of a file needs its own `name:`)"
            first_line = first.locs["name"].line if "name" in first.locs else first.loc.line if first.loc else 1
            problems.append(
                ScenarioError(
                    path,
                    line,
                    column,
                    f"name: duplicate scenario name {scenario.name!r} (first at line {first_line}){hint}",
                )
            )
        else:
            first_by_name[scenario.name] = (scenario, doc)
        scenarios.append(scenario)
    problems.sort(key=_sort_key)
    return scenarios, problems


def check_text(text: str | bytes, path: str | FsPath) -> tuple[list[Scenario], list[ScenarioError]]:
    """Every scenario of ``text`` and every problem found, sorted by position; never raises."""
    name = str(path)
    try:
        return _check(text, name)
    except ScenarioError as exc:
        return [], [exc]
    except Exception as exc:  # the loader's promise: whatever the input, only ScenarioError comes out
        return [], [ScenarioError(name, 1, 1, f"internal error while loading (please report): {exc!r}")]


def load_text(text: str | bytes, path: str | FsPath) -> list[Scenario]:
    """The scenarios of ``text`` (read from ``path``); raises ``ScenarioError`` for the first problem."""
    scenarios, problems = check_text(text, path)
    if problems:
        raise problems[0]
    return scenarios


def read_file(path: str | FsPath) -> bytes:
    """A scenario file's bytes, or ``ScenarioError`` if it cannot be read."""
    try:
        return FsPath(path).read_bytes()
    except OSError as exc:
        raise ScenarioError(path, 1, 1, f"cannot read the file: {exc.strerror or exc}") from None


def load_file(path: str | FsPath, cache: ScenarioCache | None = None) -> list[Scenario]:
    """The scenarios of the file at ``path``; raises ``ScenarioError`` for the first problem.

    With a ``cache``, a valid file loaded before from the same path with the same bytes (by the same
    convotest) is not parsed again: the result is the same, locations included.
    """
    name = str(path)
    data = read_file(name)
    if cache is not None:
        cached = cache.get(name, data)
        if cached is not None:
            return cached
    scenarios = load_text(data, name)
    if cache is not None:
        cache.put(name, data, scenarios)
    return scenarios


def is_scenario_file(path: FsPath) -> bool:
    """Whether ``path``'s name ends in ``.convo.yaml`` or ``.convo.yml``."""
    return path.name.endswith(SCENARIO_SUFFIXES)


def discover(paths: Iterable[str | FsPath]) -> list[FsPath]:
    """Scenario files named by ``paths``: files as given, folders searched recursively; sorted, unique.

    Hidden folders (``.git``, ``.venv``, …) are skipped. A path that does not exist raises ``ScenarioError``.
    """
    found: set[FsPath] = set()
    for entry in paths:
        path = FsPath(entry)
        if path.is_dir():
            for candidate in path.rglob("*.convo.y*ml"):
                hidden = any(part.startswith(".") for part in candidate.relative_to(path).parts[:-1])
                if is_scenario_file(candidate) and candidate.is_file() and not hidden:
                    found.add(candidate)
        elif path.is_file():
            found.add(path)
        else:
            raise ScenarioError(path, 1, 1, "no such file or directory")
    return sorted(found, key=lambda p: p.as_posix())
