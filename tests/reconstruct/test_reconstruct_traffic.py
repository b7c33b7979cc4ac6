"""Reading cassettes of every supported layout into exchanges, SSE parsing, and unreadable files."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest

from convotest.errors import CassetteError
from convotest.traffic import exchanges_from_interactions, load_cassette_exchanges, parse_sse

OURS = """\
version: 1
metadata:
  convotest:
    format: 1
    mode: manual_responses
    turns: [0, 1]
interactions:
- request:
    method: POST
    uri: http://127.0.0.1:8000/v1/responses?x=1
    headers: {content-type: [application/json]}
    body:
      json:
        model: gpt-4.1
        input:
        - &u1 {role: user, content: "Hi"}
  response:
    status: {code: 200, message: OK}
    headers: {content-type: [application/json]}
    body:
      json:
        id: resp_1
        output:
        - &o1 {type: message, id: msg_1, role: assistant, content: [{type: output_text, text: Hello}]}
- request:
    method: POST
    uri: http://127.0.0.1:8000/v1/responses
    body:
      json:
        model: gpt-4.1
        stream: true
        input: [*u1, *o1, {role: user, content: "Again"}]
  response:
    status: {code: 200, message: OK}
    headers: {Content-Type: [text/event-stream]}
    body:
      sse:
      - {event: response.created, data: {type: response.created, response: {id: resp_2}}}
      - {event: null, data: "[DONE]"}
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_our_format_with_turns_and_aliases(tmp_path: Path) -> None:
    exchanges, meta = load_cassette_exchanges(write(tmp_path, OURS))
    assert meta == {"format": 1, "mode": "manual_responses", "turns": [0, 1]}
    first, second = exchanges
    assert (first.index, first.method, first.path, first.query, first.turn) == (
        0,
        "POST",
        "/v1/responses",
        {"x": "1"},
        0,
    )
    assert first.request == {"model": "gpt-4.1", "input": [{"role": "user", "content": "Hi"}]}
    assert first.response["id"] == "resp_1" and first.events is None
    assert first.response_headers == {"content-type": "application/json"}
    assert second.turn == 1 and second.response is None
    assert second.events == [
        {"event": "response.created", "data": {"type": "response.created", "response": {"id": "resp_2"}}},
        {"event": None, "data": "[DONE]"},
    ]
    # YAML aliases come back as the very same objects (the reconstruction caches on that)
    assert second.request["input"][0] is first.request["input"][0]
    assert second.request["input"][1] is first.response["output"][0]


def test_plain_vcrpy_string_bodies() -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    interactions = [
        {
            "request": {
                "method": "POST",
                "uri": "https://api.openai.com/v1/chat/completions",
                "body": json.dumps(body),
            },
            "response": {
                "status": {"code": 200, "message": "OK"},
                "headers": {"Content-Type": ["application/json"]},
                "body": {"string": '{"id": "chatcmpl-1", "choices": []}'},
            },
        },
        {
            "request": {"method": "GET", "uri": "https://api.openai.com/v1/models", "body": None},
            "response": {"status": {"code": 404, "message": "Not Found"}, "body": {"string": "not json"}},
        },
    ]
    a, b = exchanges_from_interactions(interactions)
    assert a.request == body and a.response == {"id": "chatcmpl-1", "choices": []} and a.turn is None
    assert (b.method, b.status, b.request, b.response, b.response_text) == ("GET", 404, None, None, "not json")


def test_pydantic_ai_parsed_body() -> None:
    interactions = [
        {
            "request": {"method": "POST", "uri": "https://api.openai.com/v1/responses", "parsed_body": {"input": "x"}},
            "response": {"status": {"code": 200}, "parsed_body": {"id": "resp_1", "output": []}},
        }
    ]
    (ex,) = exchanges_from_interactions(interactions)
    assert ex.request == {"input": "x"} and ex.response == {"id": "resp_1", "output": []}


def test_gzip_binary_body(tmp_path: Path) -> None:
    payload = gzip.compress(json.dumps({"id": "resp_gz", "output": []}).encode())
    b64 = base64.encodebytes(payload).decode()
    indented = "".join("        " + line + "\n" for line in b64.splitlines())
    text = (
        "interactions:\n"
        "- request:\n"
        '    body: \'{"input": "x"}\'\n'
        "    method: POST\n"
        "    uri: https://api.openai.com/v1/responses\n"
        "  response:\n"
        "    body:\n"
        "      string: !!binary |\n"
        f"{indented}"
        "    headers:\n"
        "      Content-Encoding: [gzip]\n"
        "    status: {code: 200, message: OK}\n"
        "version: 1\n"
    )
    (ex,), meta = load_cassette_exchanges(write(tmp_path, text))
    assert meta == {}
    assert ex.response == {"id": "resp_gz", "output": []}
    assert ex.request == {"input": "x"}


def test_binary_body_without_compression_and_a_broken_gzip() -> None:
    ok = {"request": {"method": "POST", "uri": "/v1/x"}, "response": {"body": {"string": b'{"a": 1}'}}}
    assert exchanges_from_interactions([ok])[0].response == {"a": 1}
    bad = {
        "request": {"method": "POST", "uri": "/v1/x"},
        "response": {"headers": {"content-encoding": "gzip"}, "body": {"string": b"\x1f\x8bnot gzip"}},
    }
    with pytest.raises(ValueError, match=r"^interaction 0 response body: gzip body cannot be decompressed"):
        exchanges_from_interactions([bad])


def test_raw_sse_text_body_is_parsed() -> None:
    text = 'event: response.completed\ndata: {"type": "response.completed"}\n\n'
    inter = {
        "request": {"method": "POST", "uri": "/v1/responses"},
        "response": {"headers": {"content-type": ["text/event-stream; charset=utf-8"]}, "body": {"string": text}},
    }
    (ex,) = exchanges_from_interactions([inter])
    assert ex.response is None
    assert ex.response_text == text
    assert ex.events == [{"event": "response.completed", "data": {"type": "response.completed"}}]


def test_agentic_api_turns_layout(tmp_path: Path) -> None:
    text = """\
turns:
- filename: t1
  request:
    method: GET
    path: /v1/conversations/conv_1/items
    query_params: {order: asc}
    body: {}
  response:
    status_code: 200
    body: {object: list, data: [], has_more: false}
"""
    (ex,), meta = load_cassette_exchanges(write(tmp_path, text))
    assert meta == {}
    assert (ex.method, ex.path, ex.query, ex.status) == ("GET", "/v1/conversations/conv_1/items", {"order": "asc"}, 200)
    assert ex.response == {"object": "list", "data": [], "has_more": False}
    assert ex.request == {}


def test_parse_sse() -> None:
    text = (
        ": keep-alive\r\n"
        "event: a\r\n"
        'data: {"x":\r\n'
        "data: 1}\r\n"
        "\r\n"
        "data: plain text\n"
        "id: 7\n"
        "\n"
        "event: empty\n"
        "\n"
        "data: [DONE]"
    )
    assert parse_sse(text) == [
        {"event": "a", "data": {"x": 1}},
        {"event": None, "data": "plain text"},
        {"event": "empty", "data": None},
        {"event": None, "data": "[DONE]"},
    ]
    assert parse_sse("") == []


# ----------------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CassetteError) as err:
        load_cassette_exchanges(tmp_path / "nope.yaml")
    assert err.value.message == "cassette file not found; record it first (pytest --convo-record-mode=once)"


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(CassetteError) as err:
        load_cassette_exchanges(write(tmp_path, "interactions:\n- request: [\n  method: POST\n"))
    assert err.value.message.startswith("not valid YAML at line ")
    assert err.value.message.endswith("; re-record the cassette or fix the file by hand")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "- 1\n- 2\n",
            "not a cassette: expected a YAML mapping with 'interactions:' (vcrpy) or 'turns:' (agentic-api)",
        ),
        (
            "version: 1\nfoo: []\n",
            "not a cassette: no 'interactions:' (vcrpy) or 'turns:' (agentic-api) list at the top level; "
            "found keys ['foo', 'version']",
        ),
        ("interactions: 3\n", "'interactions' is not a list; re-record the cassette"),
        (
            "interactions:\n- response: {}\n",
            "interaction 0 has no 'request' mapping; re-record the cassette or fix that interaction",
        ),
        (
            "metadata: {convotest: {turns: [0, 1]}}\ninteractions:\n- request: {method: GET, uri: /v1/x}\n",
            "metadata.convotest.turns has 2 entries but there are 1 interactions; "
            "re-record the cassette or fix that interaction",
        ),
        (
            "interactions:\n- request: {method: GET}\n",
            "interaction 0 request has neither 'uri' nor 'path'; re-record the cassette or fix that interaction",
        ),
    ],
)
def test_unreadable_cassettes(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CassetteError) as err:
        load_cassette_exchanges(path)
    assert err.value.message == message
    assert str(err.value) == f"{path}: {message}"


def test_empty_interactions_is_an_empty_cassette(tmp_path: Path) -> None:
    assert load_cassette_exchanges(write(tmp_path, "interactions: []\nversion: 1\n")) == ([], {})


def test_history_stored_as_a_delta_is_expanded_and_shared() -> None:
    first = {
        "request": {
            "method": "POST",
            "uri": "/v1/chat/completions",
            "body": {"json": {"messages": [{"role": "user", "content": "a"}]}},
        }
    }
    second = {
        "request": {
            "method": "POST",
            "uri": "/v1/chat/completions",
            "body": {
                "json": {
                    "model": "m",
                    "messages": [{"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}],
                },
                "extends": {"interaction": 1, "field": "messages"},
            },
        }
    }
    a, b = exchanges_from_interactions([first, second])
    assert b.request == {
        "model": "m",
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ],
    }
    assert b.request["messages"][0] is a.request["messages"][0]
    bad = {
        "request": {
            **second["request"],
            "body": {**second["request"]["body"], "extends": {"interaction": 2, "field": "messages"}},
        }
    }
    with pytest.raises(ValueError, match=r"^interaction 1 request 'extends' must name an earlier interaction"):
        exchanges_from_interactions([first, bad])


def test_cassettes_written_by_the_recording_layer_are_read_back(tmp_path: Path) -> None:
    from convotest.reconstruct import build_transcript
    from convotest.recording import cassette_format

    history: list[dict[str, str]] = []
    interactions = []
    for i, (u, r) in enumerate([("knock knock.", "Who's there?"), ("Orange.", "Orange who?"), ("Banana?", "Ha.")]):
        history.append({"role": "user", "content": u})
        body = json.dumps({"model": "gpt-4o-mini", "messages": history})
        reply = {
            "id": f"c{i}",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": r}, "finish_reason": "stop"}],
        }
        interactions.append(
            {
                "request": {
                    "method": "POST",
                    "uri": "http://emulator/v1/chat/completions",
                    "body": body,
                    "headers": {"content-type": ["application/json"]},
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"content-type": ["application/json"]},
                    "body": {"string": json.dumps(reply)},
                },
            }
        )
        history.append({"role": "assistant", "content": r})
    text = cassette_format.serialize(
        {"version": 1, "interactions": interactions, "metadata": {"convotest": {"turns": [0, 1, 2]}}}
    )
    exchanges, meta = load_cassette_exchanges(write(tmp_path, text))
    assert meta["turns"] == [0, 1, 2]
    t = build_transcript(exchanges)
    assert [(c.role, c.text) for c in t.turns[2].context] == [
        ("user", "knock knock."),
        ("assistant", "Who's there?"),
        ("user", "Orange."),
        ("assistant", "Orange who?"),
        ("user", "Banana?"),
    ]
    assert [r.reply for r in t.turns] == ["Who's there?", "Orange who?", "Ha."]
