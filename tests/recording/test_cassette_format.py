"""The cassette file format: structured bodies, linear size through aliases, clear load errors."""

from __future__ import annotations

import json

import pytest

from convotest.errors import CassetteError
from convotest.recording import cassette_format


def _interaction(body: dict, response: str, content_type: str = "application/json") -> dict:
    return {
        "request": {"method": "POST", "uri": "http://x/v1/responses", "body": json.dumps(body), "headers": {}},
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"content-type": [content_type], "content-length": ["3"]},
            "body": {"string": response.encode()},
        },
    }


def _history_cassette(turns: int) -> dict:
    history: list[dict] = []
    interactions = []
    for n in range(turns):
        history.append({"role": "user", "content": f"question {n} " + "lorem ipsum " * 20})
        interactions.append(_interaction({"model": "m", "input": list(history)}, json.dumps({"output": []})))
        history.append({"role": "assistant", "content": f"answer {n} " + "dolor sit " * 20})
    return {"version": 1, "interactions": interactions}


def test_json_bodies_are_stored_as_yaml_structures() -> None:
    text = cassette_format.serialize({"version": 1, "interactions": [_interaction({"input": "hi"}, '{"a": 1}')]})
    assert "json:\n" in text
    assert "input: hi" in text
    assert '"input"' not in text


def test_round_trip_gives_vcrpy_shaped_strings_back() -> None:
    original = _interaction({"input": [{"role": "user", "content": "hi"}]}, '{"a": [1, 2]}')
    loaded = cassette_format.deserialize(cassette_format.serialize({"version": 1, "interactions": [original]}))
    request = loaded["interactions"][0]["request"]
    response = loaded["interactions"][0]["response"]
    assert json.loads(request["body"]) == {"input": [{"role": "user", "content": "hi"}]}
    assert json.loads(response["body"]["string"]) == {"a": [1, 2]}
    assert response["headers"]["content-length"] == [str(len(response["body"]["string"]))]


def test_resent_history_is_stored_as_a_delta_and_grows_linearly() -> None:
    small = len(cassette_format.serialize(_history_cassette(10)))
    large = len(cassette_format.serialize(_history_cassette(40)))
    # Stored whole, the 40-turn file would be ~16x the 10-turn one (quadratic); as deltas ~4x.
    assert large < 4.5 * small
    text = cassette_format.serialize(_history_cassette(3))
    assert text.count("extends:") == 2
    assert text.count("question 0") == 1
    again = cassette_format.deserialize(text)
    last = json.loads(again["interactions"][2]["request"]["body"])
    assert [m["role"] for m in last["input"]] == ["user", "assistant", "user", "assistant", "user"]


def test_output_items_sent_back_as_history_are_aliased() -> None:
    item = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi there"}]}
    first = _interaction({"input": [{"role": "user", "content": "a"}]}, json.dumps({"output": [item]}))
    second = _interaction({"input": [{"role": "user", "content": "a"}, item, {"role": "user", "content": "b"}]}, "{}")
    text = cassette_format.serialize({"version": 1, "interactions": [first, second]})
    assert text.count("Hi there") == 1
    assert "*id001" in text


def test_event_streams_are_readable_and_round_trip() -> None:
    sse = 'event: response.created\ndata: {"type":"response.created"}\n\ndata: [DONE]\n\n'
    text = cassette_format.serialize(
        {"version": 1, "interactions": [_interaction({"stream": True}, sse, "text/event-stream")]}
    )
    assert "event: response.created" in text
    assert "type: response.created" in text
    body = cassette_format.deserialize(text)["interactions"][0]["response"]["body"]["string"].decode()
    assert cassette_format.parse_sse(body) == cassette_format.parse_sse(sse)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "version: 1\ninteractions: [\n",
            "c.yaml: not valid YAML at line 3 (truncated or hand-edited?); delete it and re-record",
        ),
        ("- a\n- b\n", "c.yaml: not a cassette: expected a mapping with an 'interactions' list; re-record it"),
        ("version: 2\ninteractions: []\n", "c.yaml: unsupported cassette version 2 (expected 1); re-record it"),
        (
            "version: 1\nmetadata: {convotest: {format: 9}}\ninteractions: []\n",
            "c.yaml: written by a newer convotest (cassette format 9, this one reads 1); upgrade convotest",
        ),
        (
            "version: 1\ninteractions:\n- request: {method: POST}\n  response: {}\n",
            "c.yaml: interaction #1: needs request.method, request.uri and response.status.code; re-record it",
        ),
        (
            "version: 1\ninteractions:\n- request: {method: POST, uri: 'http://x/', body: {json: {input: []}, "
            "extends: {interaction: 4, field: input}}}\n  response: {status: {code: 200}}\n",
            "c.yaml: interaction #1 request: extends must name an earlier interaction and input/messages; re-record it",
        ),
        (
            "version: 1\ninteractions:\n- request: {method: POST, uri: 'http://x/', body: {xml: 1}}\n"
            "  response: {status: {code: 200}}\n",
            "c.yaml: interaction #1 request: body has none of 'json', 'sse', 'string' (keys: ['xml'])",
        ),
    ],
)
def test_bad_cassettes_give_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(CassetteError) as info:
        cassette_format.deserialize(text, "c.yaml")
    assert str(info.value) == message
