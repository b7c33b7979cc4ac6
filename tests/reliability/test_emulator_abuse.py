"""The emulator under abuse: malformed requests always get a 4xx in OpenAI's error envelope (never a 5xx, never
a traceback), concurrent conversations never see each other's items, and with ``--db`` state survives a
restart — and a corrupt database is refused at start-up with a clear message.
"""

from __future__ import annotations

import itertools
import json
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from openai import OpenAI
from reliability_helpers import scaled

from convotest.emulator.config import EmulatorConfig
from convotest.emulator.server import EmulatorServer
from convotest.errors import ConfigError

AUTH = {"authorization": "Bearer sk-abuse"}


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as srv:
        yield srv


def reply(n: int, first: str, last: str) -> str:
    """The emulator's deterministic reply text (docs/architecture.md)."""
    return f'I have seen {n} messages. You first said: "{first}". You just said: "{last}".'


# --- malformed requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Abuse:
    kind: str
    method: str
    path: str
    content: bytes | None = None
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)
    auth: bool = True

    def describe(self) -> str:
        body = (self.content or b"")[:80]
        return f"{self.kind}: {self.method} {self.path} {dict(self.headers)} {body!r}"


POST_ROUTES = [
    "/responses",
    "/responses/input_tokens",
    "/responses/compact",
    "/chat/completions",
    "/conversations",
    "/conversations/{conv}",
    "/conversations/{conv}/items",
]
GET_ROUTES = [
    "/responses/{resp}",
    "/responses/{resp}/input_items",
    "/conversations/{conv}",
    "/conversations/{conv}/items",
    "/conversations/{conv}/items/{item}",
    "/models",
    "/models/gpt-4o",
]
#: The smallest valid body of each POST route, which one wrong field then spoils.
VALID: dict[str, dict[str, Any]] = {
    "/responses": {"model": "gpt-4o-mini", "input": "hi"},
    "/responses/input_tokens": {"model": "gpt-4o-mini", "input": "hi"},
    "/responses/compact": {"model": "gpt-4o-mini", "input": "hi"},
    "/chat/completions": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    "/conversations": {},
    "/conversations/{conv}": {},
    "/conversations/{conv}/items": {"items": [{"role": "user", "content": "hi"}]},
}
#: Values that are wrong whatever the field; each POST route's fields get them all, plus their own below.
ANY_WRONG: list[Any] = [[None], {"a": [1]}, 10**30]
#: Wrong values per field of each POST route: each is set, alone, on the route's smallest valid body.
FIELDS: dict[str, dict[str, list[Any]]] = {
    "/responses": {
        "model": [None, 5, True, [], {}, "", "no-such-model", "m" * 70_000],
        "input": [5, True, {}, [1, 2], [{"role": "wizard", "content": "x"}], [{"type": "message"}],
                  [{"type": "item_reference", "id": "msg_nope0000000"}], [{"type": "function_call_output"}],
                  [{"type": "compaction", "encrypted_content": 7}], [{"role": "user", "content": 5}]],
        "instructions": [5, True, [], {}],
        "previous_response_id": [5, True, [], {}, "", "resp_doesnotexist000000"],
        "conversation": [5, True, [], "conv_doesnotexist000000", {"id": 5}, {"id": "conv_nope000000"}],
        "store": [5, "x", [], {}, "true"],
        "stream": [5, "x", [], {}],
        "max_output_tokens": [-1, 0, 15, 1.5, "x", []],
        "temperature": [-1, 2.5, "x", [], {}],
        "top_p": [-0.1, 1.5, "x", []],
        "metadata": [5, "x", [], {"k": 5}, {"k" * 100: "v"}, {"k": "v" * 1000}],
        "reasoning": [5, "x", {"effort": "extreme"}],
        "truncation": [5, "sideways"],
        "context_management": [5, "x", [{"type": "nope"}], [{"type": "compaction", "compact_threshold": 5}]],
    },
    "/responses/input_tokens": {
        "model": [5, [], "no-such-model"],
        "input": [5, {}, [1, 2], [{"role": "wizard", "content": "x"}]],
        "instructions": [5, []],
        "previous_response_id": [5, "resp_doesnotexist000000"],
        "conversation": [5, "conv_doesnotexist000000"],
    },
    "/responses/compact": {
        "model": [None, 5, [], "no-such-model"],
        "input": [5, {}, [1, 2], [{"role": "wizard", "content": "x"}]],
        "instructions": [5, []],
        "previous_response_id": [5, "resp_doesnotexist000000"],
    },
    "/chat/completions": {
        "model": [None, 5, [], "", "no-such-model"],
        "messages": [None, 5, "hi", {}, [], [1], [{"role": "wizard", "content": "x"}], [{"content": "x"}],
                     [{"role": "user"}], [{"role": "user", "content": 5}]],
        "n": [0, -1, "x", 1.5],
        "max_completion_tokens": [-1, 0, "x", 1.5],
        "max_tokens": [-1, "x"],
        "temperature": [-1, 2.5, "x"],
        "stream": [5, "x", {}],
        "metadata": [5, "x", {"k": 5}],
    },
    "/conversations": {
        "items": [5, "x", {}, [1], [{"role": "wizard", "content": "x"}], [{"role": "user", "content": "x"}] * 21],
        "metadata": [5, "x", [], {"k": 5}],
    },
    "/conversations/{conv}": {"metadata": [5, "x", [], {"k": 5}]},
    "/conversations/{conv}/items": {
        "items": [None, 5, "x", {}, [1], [{"role": "wizard", "content": "x"}], [{"role": "user", "content": "x"}] * 21],
    },
}  # fmt: skip
#: Parameters the emulator accepts without modelling them (tools and output formatting): a wrong value there
#: may be answered 200, but never with a 5xx.
LENIENT: dict[str, dict[str, list[Any]]] = {
    "/responses": {
        name: [-1, "x", [1, 2], {"type": "nope"}]
        for name in ("tools", "tool_choice", "include", "text", "stream_options")
    },
    "/chat/completions": {name: ["x", [1, 2], {"type": "nope"}] for name in ("store", "stream_options", "tools")},
}
#: Malformed requests the emulator answers 200 today (reported to its owner; see test_known_gaps).
GAPS: list[tuple[str, str, Any]] = [
    *[("/chat/completions", "reasoning_effort", v) for v in (5, "extreme", [None], {"a": [1]})],
    ("/chat/completions", "n", 0),
    ("/chat/completions", "max_tokens", 10**30),
    ("/chat/completions", "max_completion_tokens", 10**30),
    ("/chat/completions", "response_format", -1),
    ("/chat/completions", "response_format", "x"),
    ("/responses", "reasoning", {"effort": "extreme"}),
    ("/responses", "reasoning", {"a": [1]}),
    ("/responses", "max_output_tokens", 10**30),
    ("/responses", "include", [None]),
]
#: Malformed requests the emulator answers with a 500 today (see test_known_server_errors).
SERVER_ERRORS: list[tuple[str, str, Any]] = [
    ("/chat/completions", "tools", -1),
    ("/chat/completions", "tools", True),
    ("/chat/completions", "functions", -1),
]
BAD_JSON: list[bytes] = [
    b"{",
    b"}",
    b'{"model": "gpt-4o-mini", "input": "hi"',
    b'{"model": "gpt-4o-mini",, "input": "hi"}',
    b"[1, 2, 3]",
    b'"just a string"',
    b"42",
    b"null",
    b"true",
    b"{'single': 'quotes'}",
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"a": -Infinity}',
    b"\xff\xfe\x00{",
    b"\xef\xbb\xbf{\xff}",
    b'{"input": "\xc3\x28"}',
    b"[" * 50_000 + b"]" * 50_000,
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b"\x00" * 64,
    b"model=gpt-4o-mini&input=hi",
    b"<xml>nope</xml>",
    b'{"model": "gpt-4o-mini", "input": "hi"} trailing',
    b'{"model": "gpt-4o-mini"}{"input": "hi"}',
    b"   \n\t  {",
]
CONTENT_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/xml",
    "application/json; charset=latin-1",
    "",
]
WRONG_METHODS = ["PUT", "PATCH", "OPTIONS", "TRACE"]
#: The methods each route answers (the others are wrong).
ALLOWED = {
    "/responses": ("POST",),
    "/responses/input_tokens": ("POST",),
    "/responses/compact": ("POST",),
    "/chat/completions": ("POST",),
    "/conversations": ("POST",),
    "/conversations/{conv}": ("GET", "POST"),
    "/conversations/{conv}/items": ("GET", "POST"),
    "/responses/{resp}": ("GET",),
    "/responses/{resp}/input_items": ("GET",),
    "/conversations/{conv}/items/{item}": ("GET",),
    "/models": ("GET",),
    "/models/gpt-4o": ("GET",),
}
JSON_TYPES = ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"]
BAD_AUTH = ["", "Bearer", "Token sk-abuse", "Basic c2stYWJ1c2U6", "sk-abuse", "Bearer sk-invalid"]
UNKNOWN_PATHS = ["/", "/v2/responses", "/chat", "/conversations/x/items/y/z", "/files", "/../etc/passwd"]
QUERIES = ["limit=0", "limit=-1", "limit=101", "limit=abc", "order=sideways", "after=msg_nope0000000", "limit=1e3"]
HUGE = 3 * 1024 * 1024


def abuses(ids: dict[str, str]) -> list[Abuse]:
    """Every malformed request of the suite: 1,000 and a few, all different."""

    def fill(path: str) -> str:
        return path.format(**ids)

    out: list[Abuse] = []
    # Wrong types and values: every field of every POST route, each of its wrong values and the common ones,
    # on the route's smallest valid body; on the model routes, once more with streaming asked for.
    for route, fields in FIELDS.items():
        for field_name, values in fields.items():
            for value in [*values, *ANY_WRONG]:
                if (route, field_name, value) in GAPS:
                    continue
                body = {**VALID[route], field_name: value}
                out.append(Abuse("wrong value", "POST", fill(route), json.dumps(body).encode()))
                if route in ("/responses", "/chat/completions") and field_name != "stream":
                    streamed = json.dumps({**body, "stream": True}).encode()
                    out.append(Abuse("wrong value", "POST", fill(route), streamed))
    for route, fields in LENIENT.items():
        for field_name, values in fields.items():
            out += [
                Abuse("lenient", "POST", fill(route), json.dumps({**VALID[route], field_name: v}).encode())
                for v in values
            ]
    # Not JSON, or not a JSON object, on every POST route, declared as JSON three ways.
    for route, raw, kind in itertools.product(POST_ROUTES, BAD_JSON, JSON_TYPES):
        out.append(Abuse("bad json", "POST", fill(route), raw, (("content-type", kind),)))
    # Bodies that are not JSON under other content types.
    out += [
        Abuse("content type", "POST", fill(r), b"model=gpt-4o-mini&input=hi", (("content-type", ct),))
        for r, ct in itertools.product(POST_ROUTES, CONTENT_TYPES)
    ]
    # Unknown ids, everywhere an id goes.
    unknown = {"conv": "conv_nope000000000000", "resp": "resp_nope000000000000", "item": "msg_nope000000000000"}
    for route in GET_ROUTES:
        if "{" in route:
            out.append(Abuse("unknown id", "GET", route.format(**{**ids, **unknown}), None, ()))
            out.append(Abuse("unknown id", "DELETE", route.format(**{**ids, **unknown}), None, ()))
    out += [
        Abuse("unknown id", "POST", fill(r).replace(ids["conv"], unknown["conv"]), json.dumps(VALID[r]).encode())
        for r in POST_ROUTES
        if "{conv}" in r
    ]
    # Wrong methods (never DELETE on the real ids: that is allowed), and unknown URLs.
    for route, method in itertools.product(sorted({*POST_ROUTES, *GET_ROUTES}), ["GET", "POST", *WRONG_METHODS]):
        if method not in ALLOWED.get(route, ()):
            out.append(Abuse("wrong method", method, fill(route), None, ()))
    out += [Abuse("unknown url", m, p, b"{}") for m, p in itertools.product(["GET", "POST", "DELETE"], UNKNOWN_PATHS)]
    # Bad query strings on the list endpoints.
    out += [
        Abuse("bad query", "GET", f"{fill(r)}?{q}", None, ())
        for r, q in itertools.product(["/responses/{resp}/input_items", "/conversations/{conv}/items"], QUERIES)
    ]
    # No key, or a key in the wrong scheme.
    for route, auth in itertools.product(POST_ROUTES, BAD_AUTH):
        headers = (("content-type", "application/json"), *((("authorization", auth),) if auth else ()))
        out.append(Abuse("no key", "POST", fill(route), json.dumps(VALID[route]).encode(), headers, auth=False))
    # Huge bodies (a few MB): not JSON, a JSON array, a huge wrong-typed field, a huge input, huge metadata.
    out += [
        Abuse("huge", "POST", "/responses", b"{" * HUGE),
        Abuse("huge", "POST", "/chat/completions", b"[" + b"1," * (HUGE // 2) + b"1]"),
        Abuse("huge", "POST", "/responses", json.dumps({"model": "m" * HUGE, "input": "hi"}).encode()),
        Abuse(
            "huge", "POST", "/responses", json.dumps({"model": "gpt-4o-mini", "input": "word " * (HUGE // 5)}).encode()
        ),
        Abuse("huge", "POST", "/conversations", json.dumps({"metadata": {"k": "v" * HUGE}}).encode()),
    ]
    assert len(set(out)) == len(out)
    return out


def check_envelope(response: httpx2.Response, abuse: Abuse) -> str:
    """The answer is a 4xx in OpenAI's error envelope; returns its message."""
    where = f"{abuse.describe()} → {response.status_code} {response.text[:300]!r}"
    assert 400 <= response.status_code < 500, where
    assert response.headers.get("content-type", "").startswith("application/json"), where
    body = response.json()
    assert isinstance(body, dict) and list(body) == ["error"], where
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"message", "type", "param", "code"}, where
    assert isinstance(error["message"], str) and error["message"], where
    assert isinstance(error["type"], str) and error["type"], where
    assert error["param"] is None or isinstance(error["param"], str), where
    assert error["code"] is None or isinstance(error["code"], str), where
    assert "Traceback" not in error["message"], where
    return str(error["message"])


def test_malformed_requests_get_a_4xx_envelope_and_the_server_keeps_working(server: EmulatorServer) -> None:
    client = OpenAI(base_url=server.base_url, api_key="sk-abuse", max_retries=0)
    conv = client.conversations.create(items=[{"type": "message", "role": "user", "content": "seed"}])
    items = client.conversations.items.list(conv.id)
    resp = client.responses.create(model="gpt-4o-mini", input="seed")
    ids = {"conv": conv.id, "resp": resp.id, "item": items.data[0].id}

    catalogue = abuses(ids)
    rng = random.Random(9)
    requests = []
    while len(requests) < scaled(len(catalogue)):
        requests += rng.sample(catalogue, len(catalogue))
    statuses: dict[int, int] = {}
    kinds: dict[str, int] = {}
    with httpx2.Client(base_url=server.base_url, timeout=60) as http:
        for abuse in requests:
            headers = dict(abuse.headers) | (AUTH if abuse.auth else {})
            response = http.request(abuse.method, abuse.path, content=abuse.content, headers=headers)
            if abuse.kind == "lenient" and response.status_code < 400:
                assert response.status_code == 200, abuse.describe()
            else:
                check_envelope(response, abuse)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            kinds[abuse.kind] = kinds.get(abuse.kind, 0) + 1
    assert len(catalogue) >= 1000
    assert not [status for status in statuses if status >= 500], statuses
    assert set(kinds) == {
        "wrong value",
        "lenient",
        "bad json",
        "content type",
        "unknown id",
        "wrong method",
        "unknown url",
        "bad query",
        "no key",
        "huge",
    }, kinds

    # Still answering, and correctly: a conversation continues where it was, a new chain starts from scratch.
    follow = client.responses.create(model="gpt-4o-mini", input="after the storm", conversation=conv.id)
    assert follow.output_text == reply(2, "seed", "after the storm")
    chained = client.responses.create(model="gpt-4o-mini", input="and again", previous_response_id=resp.id)
    assert chained.output_text == reply(3, "seed", "and again")
    chat = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "ok?"}])
    assert chat.choices[0].message.content == reply(1, "ok?", "ok?")


def _answers(server: EmulatorServer, cases: list[tuple[str, str, Any]]) -> list[str]:
    """What each (route, field, wrong value) request got, for those not answered with a 4xx envelope."""
    wrong: list[str] = []
    with httpx2.Client(base_url=server.base_url, headers=AUTH, timeout=60) as http:
        for route, name, value in cases:
            response = http.post(route, json={**VALID[route], name: value})
            try:
                check_envelope(response, Abuse("gap", "POST", route))
            except AssertionError:
                wrong.append(f"{route} {name}={value!r}: {response.status_code}")
    return wrong


def test_known_server_errors(server: EmulatorServer) -> None:
    assert _answers(server, SERVER_ERRORS) == []


def test_known_gaps(server: EmulatorServer) -> None:
    assert _answers(server, GAPS) == []


def test_a_trailing_slash_gets_the_404_envelope(server: EmulatorServer) -> None:
    with httpx2.Client(base_url=server.base_url, headers=AUTH) as http:
        response = http.post("/responses/", json=VALID["/responses"])
    check_envelope(response, Abuse("trailing slash", "POST", "/responses/"))


# --- concurrent conversations -------------------------------------------------------------------------

CONVERSATIONS = 64
TURNS = 25


def test_concurrent_conversations_keep_their_items_in_order() -> None:
    """64 threads, each driving its own conversation for 25 turns through the real SDK, all at once."""
    conversations, turns = scaled(CONVERSATIONS), TURNS
    start = threading.Barrier(conversations)
    with EmulatorServer() as server:
        client = OpenAI(base_url=server.base_url, api_key="sk-concurrent", max_retries=0, timeout=120)

        def talk(number: int) -> str:
            conv = client.conversations.create(metadata={"owner": f"c{number:03d}"})
            start.wait(timeout=120)
            first = f"c{number:03d} t00"
            for turn in range(turns):
                said = f"c{number:03d} t{turn:02d}"
                answer = client.responses.create(model="gpt-4o-mini", conversation=conv.id, input=said)
                assert answer.output_text == reply(2 * turn + 1, first, said), (number, turn, answer.output_text)
            return conv.id

        with ThreadPoolExecutor(max_workers=conversations) as pool:
            ids = list(pool.map(talk, range(conversations)))

        assert len(set(ids)) == conversations
        for number, conv in enumerate(ids):
            assert client.conversations.retrieve(conv).metadata == {"owner": f"c{number:03d}"}
            items = list(client.conversations.items.list(conv, order="asc", limit=100))
            assert len(items) == 2 * turns
            assert [item.role for item in items] == ["user", "assistant"] * turns  # type: ignore[union-attr]
            texts = [item.content[0].text for item in items]  # type: ignore[union-attr]
            first = f"c{number:03d} t00"
            expected = []
            for turn in range(turns):
                said = f"c{number:03d} t{turn:02d}"
                expected += [said, reply(2 * turn + 1, first, said)]
            assert texts == expected, number


# --- durable state: --db ------------------------------------------------------------------------------


def _drive(client: OpenAI, conv: str, chain: str | None, name: str, turns: range) -> str | None:
    """Turns ``turns`` of one conversation and of one previous_response_id chain; the chain's last id."""
    for turn in turns:
        said = f"{name} t{turn:02d}"
        answer = client.responses.create(model="gpt-4o-mini", conversation=conv, input=said)
        assert answer.output_text == reply(2 * turn + 1, f"{name} t00", said)
        linked = client.responses.create(
            model="gpt-4o-mini", input=f"chain {said}", **({"previous_response_id": chain} if chain else {})
        )
        assert linked.output_text == reply(2 * turn + 1, f"chain {name} t00", f"chain {said}")
        chain = linked.id
    return chain


def test_state_survives_a_restart_with_db(tmp_path: Path) -> None:
    """Stop the emulator mid-run and start another on the same database: conversations, their items and stored
    responses are all there, and every conversation and chain continues where it stopped."""
    db = str(tmp_path / "state.db")
    names = [f"d{n}" for n in range(8)]
    with EmulatorServer(EmulatorConfig(db=db)) as first:
        client = OpenAI(base_url=first.base_url, api_key="sk-db", max_retries=0)
        convs = {name: client.conversations.create().id for name in names}
        chains = {name: _drive(client, convs[name], None, name, range(5)) for name in names}
        stored = {name: client.responses.retrieve(str(chains[name])).model_dump() for name in names}
    with EmulatorServer(EmulatorConfig(db=db)) as second:
        client = OpenAI(base_url=second.base_url, api_key="sk-db", max_retries=0)
        for name in names:
            assert client.responses.retrieve(str(chains[name])).model_dump() == stored[name]
            assert len(list(client.conversations.items.list(convs[name], limit=100))) == 10
            chains[name] = _drive(client, convs[name], chains[name], name, range(5, 10))
            assert len(list(client.conversations.items.list(convs[name], limit=100))) == 20


SERVE = """
import sys
from convotest.emulator.config import EmulatorConfig
from convotest.emulator.server import EmulatorServer

server = EmulatorServer(EmulatorConfig(db=sys.argv[1])).start()
print(server.base_url, flush=True)
sys.stdin.read()
"""


def test_acknowledged_state_survives_the_server_being_killed(tmp_path: Path) -> None:
    """SIGKILL the emulator process (no shutdown, no flush) mid-run: every answer it gave is in the database."""
    db = str(tmp_path / "state.db")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, db], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        client = OpenAI(base_url=process.stdout.readline().strip(), api_key="sk-db", max_retries=0)
        conv = client.conversations.create().id
        chain = _drive(client, conv, None, "k", range(6))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    with EmulatorServer(EmulatorConfig(db=db)) as again:
        client = OpenAI(base_url=again.base_url, api_key="sk-db", max_retries=0)
        assert client.responses.retrieve(str(chain)).output_text == reply(11, "chain k t00", "chain k t05")
        _drive(client, conv, chain, "k", range(6, 8))


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database " * 100)


def _truncated(path: Path) -> None:
    with EmulatorServer(EmulatorConfig(db=str(path))) as server:
        client = OpenAI(base_url=server.base_url, api_key="sk-db", max_retries=0)
        for n in range(40):
            client.responses.create(model="gpt-4o-mini", input=f"fill {n} " + "x" * 2000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('format', 'someone-else-1')")
    conn.close()


def _bad_row(path: Path) -> None:
    EmulatorServer(EmulatorConfig(db=str(path))).stop()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO responses VALUES ('resp_x', '{not json')")
    conn.close()


CORRUPT = {
    "not a database": (
        _garbage,
        "emulator database {db} cannot be used: file is not a database (delete it or pass another --db)",
    ),
    "truncated": (
        _truncated,
        "emulator database {db} cannot be used: database disk image is malformed (delete it or pass another --db)",
    ),
    "another program's database": (
        _foreign,
        "emulator database {db}: unsupported format 'someone-else-1' (expected convotest-emulator-1)",
    ),
    "an unreadable row": (
        _bad_row,
        "emulator database {db} holds unreadable state: "
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
    ),
    "a directory": (lambda p: p.mkdir(), "emulator database {db}: is a directory, not a SQLite file"),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_a_corrupt_database_is_refused_at_start_up(case: str, tmp_path: Path) -> None:
    spoil, message = CORRUPT[case]
    path = tmp_path / "state.db"
    spoil(path)
    with pytest.raises(ConfigError) as info:
        EmulatorServer(EmulatorConfig(db=str(path)))
    assert str(info.value) == message.format(db=path)


def test_convotest_serve_refuses_a_corrupt_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _garbage(path)
    done = subprocess.run(
        [sys.executable, "-m", "convotest.cli", "serve", "--port", "0", "--db", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        f"convotest serve: emulator database {path} cannot be used: file is not a database "
        "(delete it or pass another --db)\n",
    )
