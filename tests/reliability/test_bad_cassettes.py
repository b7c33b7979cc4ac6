"""Bad cassettes: truncated, not YAML, the wrong version, hand-edited or empty — each gives one clear error that
names the file and says what to do, and none stops the other tests of the run.

Each case starts from a real cassette (``explain_joke`` recorded against the emulator), breaks it one way,
and replays it through ``runner.run``: exactly one failure, check ``cassette``, whose text is pinned. Then
``--convo-record-mode=rewrite`` — what the message tells the user to do — must repair it. A hypothesis fuzz
of the cassette reader checks the promise behind the pinned cases: whatever the text, reading it raises
``CassetteError`` or yields interactions vcrpy can replay.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import vcr.request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import SHIPPED, mutate_lines, run_inprocess, scaled, soak, write_project

from convotest.emulator.server import EmulatorServer
from convotest.errors import CassetteError
from convotest.recording import cassette_format
from convotest.recording.paths import cassette_path
from convotest.runner import Settings, run
from convotest.scenario.loader import load_file

SCENARIO = "explain_joke"
MODE = "previous_response_id"
RERECORD = (
    f"re-record with: pytest '{SCENARIO}.convo.yaml::{SCENARIO}[{MODE}]' --convo-record-mode=rewrite --convo-emulator"
)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorServer) -> str:
    """A real two-turn cassette: ``explain_joke`` in previous_response_id mode."""
    root = tmp_path_factory.mktemp("good")
    [scenario] = load_file(SHIPPED / f"{SCENARIO}.convo.yaml")
    settings = Settings(record_mode="rewrite", emulator=True, base_url=emulator.base_url, cassette_dir=root)
    result = run(scenario, MODE, settings)
    assert result.cassette_status == "recorded" and not result.failures
    assert result.cassette is not None
    return result.cassette.read_text(encoding="utf-8")


def _cut_in_reply(text: str) -> str:
    return text[: text.index("You first said")]


def _drop_first_response(text: str) -> str:
    start = text.index("  response:\n")
    return text[:start] + text[text.index("- request:", start) :]


def _drop_second_interaction(text: str) -> str:
    second = text.index("- request:", text.index("- request:") + 1)
    return text[:second]


def _after_last_status(text: str) -> str:
    return text[: text.rindex("      code: 200\n") + len("      code: 200\n")]


def _first_line_of_eof(text: str) -> int:
    return text.count("\n") + 1


#: name → (how to break a good cassette, the message's text after "<path>: ", before "; re-record with: …").
CASES: dict[str, tuple[Callable[[str], str | bytes], Callable[[str], str]]] = {
    "empty": (lambda t: "", lambda t: "the cassette is empty; delete it and re-record"),
    "only whitespace": (lambda t: "\n  \n", lambda t: "the cassette is empty; delete it and re-record"),
    "truncated mid-line": (
        _cut_in_reply,
        lambda t: (
            f"not valid YAML at line {_first_line_of_eof(_cut_in_reply(t))} (truncated or hand-edited?); "
            "delete it and re-record"
        ),
    ),
    "truncated after a whole interaction": (
        _drop_second_interaction,
        lambda t: "its header lists 2 interactions but it holds 1 (truncated or hand-edited?); delete it and re-record",
    ),
    "truncated inside the last interaction": (
        _after_last_status,
        lambda t: "interaction #2 response: no body (truncated or hand-edited?); delete it and re-record",
    ),
    "binary, not YAML": (
        lambda t: b"\x89PNG\r\n\x1a\n\x00\x00\xff",
        lambda t: "not UTF-8 text; delete it and re-record",
    ),
    "text, not YAML": (
        lambda t: "interactions: [\n  {request: \n",
        lambda t: "not valid YAML at line 3 (truncated or hand-edited?); delete it and re-record",
    ),
    "a YAML list": (
        lambda t: "- 1\n- 2\n",
        lambda t: "not a cassette: expected a mapping with an 'interactions' list; re-record it",
    ),
    "an unsafe YAML tag": (
        lambda t: "!!python/object/apply:os.system ['echo pwned']\n",
        lambda t: "not valid YAML at line 1 (truncated or hand-edited?); delete it and re-record",
    ),
    "wrong version": (
        lambda t: t.replace("version: 1\n", "version: 2\n", 1),
        lambda t: "unsupported cassette version 2 (expected 1); re-record it",
    ),
    "no version": (
        lambda t: t.replace("version: 1\n", "", 1),
        lambda t: "unsupported cassette version None (expected 1); re-record it",
    ),
    "a newer cassette format": (
        lambda t: t.replace("    format: 1\n", "    format: 2\n", 1),
        lambda t: "written by a newer convotest (cassette format 2, this one reads 1); upgrade convotest",
    ),
    "hand-edited: a body made a list": (
        lambda t: t.replace("    body:\n      json:\n", "    body: [1, 2]\n    was:\n      json:\n", 1),
        lambda t: "interaction #1 request: body must be a mapping with 'json', 'sse' or 'string'",
    ),
    "hand-edited: a body with an unknown key": (
        lambda t: t.replace("    body:\n      json:\n        id:", "    body:\n      html:\n        id:", 1),
        lambda t: "interaction #1 response: body has none of 'json', 'sse', 'string' (keys: ['html'])",
    ),
    "hand-edited: an interaction without its response": (
        _drop_first_response,
        lambda t: "interaction #1: needs request.method, request.uri and response.status.code; re-record it",
    ),
    "hand-edited: an interaction deleted": (
        lambda t: _drop_second_interaction(t),
        lambda t: "its header lists 2 interactions but it holds 1 (truncated or hand-edited?); delete it and re-record",
    ),
    "hand-edited: a status code in words": (
        lambda t: t.replace("      code: 200\n", "      code: two hundred\n", 1),
        lambda t: "interaction #1 response: status.code must be an HTTP status code, not 'two hundred'; re-record it",
    ),
    "hand-edited: headers made a list": (
        lambda t: t.replace(
            "    headers:\n      content-type:\n      - application/json\n      openai-version",
            "    headers: [x]\n    was:\n      openai-version",
            1,
        ),
        lambda t: "interaction #1 response: headers must be a mapping of names to values; re-record it",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_bad_cassette_gives_one_clear_error_and_rewrite_repairs_it(
    case: str, good: str, tmp_path: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    breaker, expected = CASES[case]
    monkeypatch.chdir(tmp_path)
    shutil.copy(SHIPPED / f"{SCENARIO}.convo.yaml", tmp_path)
    [scenario] = load_file(f"{SCENARIO}.convo.yaml")
    path = cassette_path("cassettes", SCENARIO, SCENARIO, MODE)
    path.parent.mkdir(parents=True)
    broken = breaker(good)
    assert broken != good
    if isinstance(broken, bytes):
        path.write_bytes(broken)
    else:
        path.write_text(broken, encoding="utf-8")

    message = f"{path}: {expected(good)}; {RERECORD}"
    for record_mode in ("none", "once"):
        settings = Settings(
            record_mode=record_mode,
            emulator=True,
            base_url=emulator.base_url,
            cassette_dir=Path("cassettes"),
            rootdir=tmp_path,
        )
        result = run(scenario, MODE, settings)
        assert [(f.check, f.message) for f in result.failures] == [("cassette", message)], record_mode
        assert result.cassette_status == "unreadable"
        assert path.read_bytes() == (broken if isinstance(broken, bytes) else broken.encode())

    # What the message says to do works: rewrite records afresh and replaces the broken file.
    repair = Settings(record_mode="rewrite", emulator=True, base_url=emulator.base_url, cassette_dir=Path("cassettes"))
    assert not run(scenario, MODE, repair).failures
    replay = run(scenario, MODE, Settings(cassette_dir=Path("cassettes")))
    assert replay.cassette_status == "replayed" and not replay.failures


def test_an_unreadable_cassette_file_is_a_clear_error(
    good: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file the process may not read (permissions, I/O error) is reported, not raised."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(SHIPPED / f"{SCENARIO}.convo.yaml", tmp_path)
    [scenario] = load_file(f"{SCENARIO}.convo.yaml")
    path = cassette_path("cassettes", SCENARIO, SCENARIO, MODE)
    path.parent.mkdir(parents=True)
    path.write_text(good, encoding="utf-8")
    real = Path.read_text

    def refuse(self: Path, *args: object, **kwargs: object) -> str:
        if self.name == path.name:
            raise PermissionError(13, "Permission denied")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", refuse)
    result = run(scenario, MODE, Settings(cassette_dir=Path("cassettes"), rootdir=tmp_path))
    assert [(f.check, f.message) for f in result.failures] == [
        ("cassette", f"{path}: cannot be read (Permission denied); check its permissions; {RERECORD}")
    ]


def test_a_response_edited_into_another_shape_names_the_cassette(good: str, tmp_path: Path) -> None:
    path = cassette_path(tmp_path / "cassettes", SCENARIO, SCENARIO, MODE)
    path.parent.mkdir(parents=True)
    path.write_text(
        good.replace(
            "    body:\n      json:\n        id: resp", "    body:\n      json: 42\n      was:\n        id: resp", 1
        )
    )
    [scenario] = load_file(SHIPPED / f"{SCENARIO}.convo.yaml")
    result = run(scenario, MODE, Settings(cassette_dir=tmp_path / "cassettes"))
    assert len(result.failures) == 1
    assert str(path) in result.failures[0].message


def test_a_bad_cassette_of_another_mode_fails_the_cross_mode_check_clearly(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    """``same_across_modes`` reads the other modes' cassettes: a broken one is named, once."""
    [scenario] = load_file(SHIPPED / "jokes.convo.yaml")
    settings = Settings(record_mode="rewrite", emulator=True, base_url=emulator.base_url, cassette_dir=tmp_path)
    for mode in scenario.modes:
        assert not run(scenario, mode, settings).failures
    other = cassette_path(tmp_path, "jokes", "jokes", "manual_responses")
    other.write_text("interactions: [\n", encoding="utf-8")
    result = run(scenario, "manual_chat", Settings(cassette_dir=tmp_path))
    assert [(f.check, f.message) for f in result.failures] == [
        (
            "context.same_across_modes",
            f"{other}: not valid YAML at line 2, column 1: did not find expected node content; "
            "re-record the cassette or fix the file by hand",
        )
    ]


# --- the reader, fuzzed ---------------------------------------------------------------------------------

GARBAGE = ["null", "[]", "{}", "5", "-1", "true", "'x'", "ü", "[1, {a: 2}]", "{json: 1}", "{sse: 1}", "*a", "&a"]


def _retyped(draw: st.DrawFn, line: str) -> str:
    match = re.search(r"(:\s|-\s)(.*)$", line.rstrip("\n"))
    return line[: match.start(2)] + draw(st.sampled_from(GARBAGE)) + "\n" if match else line


@st.composite
def mutated_cassettes(draw: st.DrawFn, text: str) -> str:
    return mutate_lines(draw, text, {"retype": _retyped, "indent": lambda draw, line: "  " + line})


def test_the_cassette_reader_only_ever_raises_cassette_error(good: str) -> None:
    """Mutated cassettes: reading raises ``CassetteError`` or gives requests/responses vcrpy can replay."""
    outcomes = {"read": 0, "refused": 0}

    @settings(
        max_examples=scaled(400),
        derandomize=soak() == 1,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutated_cassettes(good))
    def read(text: str) -> None:
        try:
            data = cassette_format.deserialize(text, "c.yaml")
        except CassetteError as exc:
            assert exc.path == "c.yaml" and exc.message
            outcomes["refused"] += 1
            return
        for interaction in data["interactions"]:
            vcr.request.Request._from_dict(interaction["request"])
            response = interaction["response"]
            assert isinstance(response["status"]["code"], int) and response["status"]["message"].isascii()
            assert isinstance(response["body"]["string"], bytes)
            assert all(isinstance(v, list) for v in response["headers"].values())
        outcomes["read"] += 1

    read()
    assert outcomes["read"] and outcomes["refused"], outcomes


# --- under pytest: a bad cassette fails its own item only ---------------------------------------------


def test_under_pytest_a_bad_cassette_fails_only_its_item(
    pytester: pytest.Pytester, good: str, emulator: EmulatorServer
) -> None:
    root = write_project(pytester.path)
    for name in (SCENARIO, "jokes"):
        shutil.copy(SHIPPED / f"{name}.convo.yaml", root)
    [jokes] = load_file(root / "jokes.convo.yaml")
    settings = Settings(
        record_mode="rewrite", emulator=True, base_url=emulator.base_url, cassette_dir=root / "cassettes"
    )
    for mode in jokes.modes:
        assert not run(jokes, mode, settings).failures
    bad = cassette_path(root / "cassettes", SCENARIO, SCENARIO, MODE)
    bad.parent.mkdir(parents=True)
    bad.write_text(_cut_in_reply(good), encoding="utf-8")

    done = run_inprocess(pytester, "-p", "no:xdist")
    assert done.outcomes() == {"passed": 2, "failed": 1}, done.output
    line = _first_line_of_eof(_cut_in_reply(good))
    lines = done.stdout.splitlines()
    start = lines.index(next(x for x in lines if f" {SCENARIO} [{MODE}] " in x))
    assert lines[start + 1 : start + 3] == [
        f"{SCENARIO}.convo.yaml:3: [{MODE}]: {bad}: not valid YAML at line {line} (truncated or hand-edited?); "
        f"delete it and re-record; {RERECORD}",
        "--------------------------- convotest token budgets ----------------------------",
    ]
