"""Generated workloads: scenario files, their pytest folders, and plain-pytest equivalents of recorded runs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ALL_MODES = ("manual_chat", "manual_responses", "previous_response_id", "conversation")

_WORDS = tuple(
    [
        "apple",
        "banana",
        "cherry",
        "dodgeball",
        "elephant",
        "falafel",
        "guitar",
        "harbour",
        "igloo",
        "jigsaw",
        "kettle",
        "lantern",
        "meadow",
        "nutmeg",
        "orchard",
        "pebble",
        "quartz",
        "riverbank",
        "saffron",
        "teapot",
        "umbrella",
        "velvet",
        "walrus",
        "xylophone",
        "yoghurt",
        "zeppelin",
    ]
)

#: The id shapes servers assign (as convotest's matcher knows them).
_ID = re.compile(r"^(resp|msg|conv|rs|cmp|fc|call|chatcmpl|ctc)[-_][A-Za-z0-9]{6,}$")


def user_text(scenario: int, turn: int) -> str:
    """A deterministic user message of varying length."""
    n = 6 + (scenario * 7 + turn * 5) % 30
    words = [_WORDS[(scenario * 13 + turn * 3 + k) % len(_WORDS)] for k in range(n)]
    return f"Turn {turn + 1}: tell me about " + " ".join(words) + "."


def scenario_yaml(
    name: str,
    index: int,
    turns: int,
    modes: Sequence[str] = ALL_MODES,
    *,
    expectations: bool = True,
    same_across_modes: bool = False,
) -> str:
    """One scenario in the shape the docs teach: instructions, user turns, per-turn expectations."""
    lines = [
        "version: 1",
        f"name: {name}",
        "model: gpt-4o-mini",
        "instructions: You are a concise assistant. Answer in one sentence.",
        f"modes: [{', '.join(modes)}]",
    ]
    if expectations:
        lines += ["expect:", "  tokens:", "    input_max: 120000"]
        if same_across_modes:
            lines += ["  context:", "    same_across_modes: true"]
    lines.append("turns:")
    for turn in range(turns):
        text = user_text(index, turn)
        lines.append(f"  - user: {json.dumps(text)}")
        if expectations and (turn % 4 == 1 or turn == turns - 1):
            lines += [
                "    expect:",
                "      status: completed",
                "      reply:",
                "        contains: [" + json.dumps('You just said: "' + text[:30]) + "]",
                "      context:",
                f"        messages: {2 * turn + 1}",
            ]
    return "\n".join(lines) + "\n"


def write_scenarios(folder: Path, count: int, turns: int, modes: Sequence[str] = ALL_MODES, **kw: Any) -> list[Path]:
    """``count`` scenario files ``sNNNN.convo.yaml`` (one scenario each) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"s{i:04d}.convo.yaml"
        path.write_text(scenario_yaml(f"s{i:04d}", i, turns, modes, **kw), encoding="utf-8")
        paths.append(path)
    return paths


def write_ini(folder: Path, extra: str = "") -> None:
    """Make ``folder`` its own pytest rootdir (the repository's pyproject settings do not apply)."""
    (folder / "pytest.ini").write_text("[pytest]\n" + extra, encoding="utf-8")


# --- plain pytest equivalents ---------------------------------------------------------------------------


def _walk_ids(value: Any, path: tuple[Any, ...] = ()) -> Iterable[tuple[str, tuple[Any, ...]]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk_ids(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk_ids(item, (*path, i))
    elif isinstance(value, str) and _ID.match(value):
        yield value, path


class _Expr:
    """Python source to emit verbatim (an id read from an earlier response)."""

    def __init__(self, source: str) -> None:
        self.source = source


def _source(value: Any, ids: dict[str, str]) -> str:
    if isinstance(value, str) and value in ids:
        return ids[value]
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_source(v, ids)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_source(v, ids) for v in value) + "]"
    return repr(value)


_CALLS = {
    ("POST", "/responses"): "client.responses.create",
    ("POST", "/chat/completions"): "client.chat.completions.create",
    ("POST", "/conversations"): "client.conversations.create",
    ("POST", "/responses/compact"): "client.responses.compact",
}


def sdk_calls(exchanges: Sequence[Any]) -> list[str]:
    """The SDK calls that send the same requests in the same order, as a hand-written test would.

    Server-assigned ids in a request (``previous_response_id``, a conversation id, output item ids in a
    resent history) are read from the earlier response that returned them: ``r3.output[0].id``.
    """
    ids: dict[str, str] = {}
    lines: list[str] = []
    for k, exchange in enumerate(exchanges):
        path = "/" + exchange.path.split("/v1/", 1)[-1].strip("/")
        call = _CALLS.get((exchange.method.upper(), path))
        if call is None:
            raise ValueError(f"no SDK call for {exchange.method} {exchange.path}")
        body = exchange.request or {}
        lines.append(f"r{k} = {call}(**{_source(body, ids)})")
        for found, where in _walk_ids(exchange.response or {}):
            if found not in ids:
                ids[found] = f"r{k}" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where)
    return lines


def write_plain_test(path: Path, tests: dict[str, list[str]]) -> None:
    """A pytest module of ``@pytest.mark.vcr`` tests, each making its SDK calls with a fresh client."""
    out = [
        "import os",
        "",
        "import pytest",
        "from openai import OpenAI",
        "",
        'BASE_URL = os.environ.get("BENCH_BASE_URL", "http://127.0.0.1:9/v1")',
        "",
    ]
    for name, calls in tests.items():
        out += ["", "@pytest.mark.vcr", f"def test_{name}():", '    client = OpenAI(base_url=BASE_URL, api_key="x")']
        out += [f"    {line}" for line in calls]
        out += ["    client.close()", ""]
    path.write_text("\n".join(out), encoding="utf-8")


VCR_CONFTEST = '''"""pytest-recording: match on method, path and body (record mode: --record-mode, none by default)."""

import pytest


@pytest.fixture(scope="module")
def vcr_config():
    return {"match_on": ["method", "path", "body"], "filter_headers": ["authorization"]}
'''
