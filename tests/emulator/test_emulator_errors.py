"""Errors: OpenAI's envelope, status codes, codes and params; bad input never gives a 5xx."""

from __future__ import annotations

import itertools
from typing import Any

import httpx2
import openai
import pytest
from openai import OpenAI

from convotest.emulator.server import EmulatorServer

AUTH = {"authorization": "Bearer sk-test"}


def envelope(response: httpx2.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.text
    return dict(error)


@pytest.mark.parametrize(
    ("kwargs", "code", "param"),
    [
        ({"model": "this-model-does-not-exist-12345", "input": "x"}, "model_not_found", "model"),
        ({"model": "gpt-4o", "input": "x", "temperature": "hot"}, "invalid_type", "temperature"),
        ({"model": "gpt-4o", "input": "x", "temperature": 3}, "decimal_above_max_value", "temperature"),
        ({"model": "gpt-4o", "input": 5}, "invalid_type", "input"),
        ({"model": "gpt-4o", "input": [{"role": "wizard", "content": "x"}]}, "invalid_value", "input[0].role"),
        ({"model": "gpt-4o", "input": [{"role": "user"}]}, "missing_required_parameter", "input[0].content"),
        ({"model": "gpt-4o", "input": [{"type": "bogus"}]}, "invalid_value", "input[0].type"),
        ({"model": "gpt-4o", "input": "x", "truncation": "sometimes"}, "invalid_value", "truncation"),
        ({"model": "gpt-4o", "input": "x", "metadata": {"k": 1}}, "invalid_type", "metadata.k"),
        ({"model": "gpt-4o", "input": "x", "previous_response_id": "nope"}, "invalid_value", "previous_response_id"),
        (
            {"model": "gpt-4o", "input": "x", "previous_response_id": "resp_unknown"},
            "previous_response_not_found",
            "previous_response_id",
        ),
        ({"model": "gpt-4o"}, "missing_required_parameter", "input"),
        ({"input": "x"}, "missing_required_parameter", "model"),
    ],
)
def test_responses_bad_requests(client: OpenAI, kwargs: dict[str, Any], code: str, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(**kwargs)
    assert (info.value.code, info.value.param) == (code, param)
    assert info.value.type == "invalid_request_error"


def test_unknown_model_wording_matches_real_traffic(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="this-model-does-not-exist-12345", input="x")
    assert info.value.body == {  # as in the Mirascope calibration cassette
        "message": "The requested model 'this-model-does-not-exist-12345' does not exist.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


def test_unknown_parameter(server: EmulatorServer) -> None:
    response = httpx2.post(server.base_url + "/responses", headers=AUTH, json={"model": "gpt-4o", "foo": 1})
    assert response.status_code == 400
    assert envelope(response) == {
        "message": "Unknown parameter: 'foo'.",
        "type": "invalid_request_error",
        "param": "foo",
        "code": "unknown_parameter",
    }


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'"text"',
        b"\xff\xfe",
        b'{"model": "gpt-4o", "input": "x", "temperature": NaN}',
        b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_malformed_json(server: EmulatorServer, body: bytes) -> None:
    response = httpx2.post(
        server.base_url + "/responses", headers={**AUTH, "content-type": "application/json"}, content=body
    )
    assert response.status_code == 400
    assert envelope(response)["message"].startswith("We could not parse the JSON body of your request.")


def test_wrong_method_and_unknown_url(server: EmulatorServer) -> None:
    wrong = httpx2.put(server.base_url + "/responses", headers=AUTH, json={})
    assert wrong.status_code == 405 and envelope(wrong)["code"] == "method_not_allowed"
    missing = httpx2.post(server.base_url + "/nothing/here", headers=AUTH, json={})
    assert missing.status_code == 404
    assert envelope(missing)["message"] == "Invalid URL (POST /v1/nothing/here)"


def test_authentication(server: EmulatorServer) -> None:
    bare = httpx2.post(server.base_url + "/responses", json={"model": "gpt-4o", "input": "x"})
    assert bare.status_code == 401 and envelope(bare)["message"].startswith("You didn't provide an API key.")
    client = OpenAI(base_url=server.base_url, api_key="sk-invalid", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        client.responses.create(model="gpt-4o", input="x")
    assert info.value.code == "invalid_api_key"


def test_unknown_ids_are_404(client: OpenAI) -> None:
    for call in (
        lambda: client.responses.retrieve("resp_nope"),
        lambda: client.responses.delete("resp_nope"),
        lambda: client.responses.input_items.list("resp_nope"),
        lambda: client.conversations.retrieve("conv_nope"),
        lambda: client.conversations.delete("conv_nope"),
        lambda: client.conversations.items.retrieve("msg_nope", conversation_id="conv_nope"),
    ):
        with pytest.raises(openai.NotFoundError) as info:
            call()
        assert info.value.type == "invalid_request_error"


_GARBAGE: list[Any] = [
    None,
    1,
    "s",
    [],
    {},
    [None],
    [1],
    [{"role": None, "content": None}],
    [{"type": "message", "role": "user", "content": [{"type": "input_text"}]}],
    [{"type": "message", "role": "user", "content": [5]}],
    [{"type": "item_reference"}],
    [{"type": "reasoning"}],
    [{"type": "reasoning", "id": 5}],
    [{"type": "function_call"}],
    [{"type": "function_call_output", "call_id": "c", "output": {"a": 1}}],
    [{"type": "compaction", "encrypted_content": 5}],
    [{"type": "compaction", "encrypted_content": "gAAAAABnotours"}],
    {"id": 5},
    {"id": None},
    "x" * 10,
]
_RESPONSE_KEYS = ["input", "model", "conversation", "metadata", "context_management", "max_output_tokens"]
#: (method, path, the body keys it reads) — each key is set to every garbage value in turn.
_TARGETS = [
    ("POST", "/responses", [*_RESPONSE_KEYS, "previous_response_id", "reasoning", "text"]),
    ("POST", "/responses/input_tokens", ["input", "conversation", "previous_response_id"]),
    ("POST", "/responses/compact", ["input", "model", "instructions"]),
    ("POST", "/chat/completions", ["messages", "model", "metadata", "n", "max_completion_tokens"]),
    ("POST", "/conversations", ["items", "metadata"]),
    ("POST", "/conversations/conv_x/items", ["items"]),
    ("POST", "/conversations/conv_x", ["metadata"]),
]


def test_garbage_never_yields_a_5xx(server: EmulatorServer) -> None:
    conv = httpx2.post(server.base_url + "/conversations", headers=AUTH, json={}).json()["id"]
    resp = httpx2.post(server.base_url + "/responses", headers=AUTH, json={"model": "gpt-4o", "input": "x"}).json()
    with httpx2.Client(headers=AUTH) as http:
        for (method, path, keys), value in itertools.product(_TARGETS, _GARBAGE):
            path = path.replace("conv_x", conv)
            for key in keys:
                body: dict[str, Any] = {}
                if not path.startswith("/conversations"):
                    body = {"model": "gpt-4o", "input": "hi"}
                    if path == "/chat/completions":
                        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
                body[key] = value
                response = http.request(method, server.base_url + path, json=body)
                assert response.status_code < 500, (method, path, key, value, response.text)
                if response.status_code >= 400:
                    envelope(response)
        for path in (
            "/responses/resp_x/input_items?limit=0",
            "/responses/resp_x/input_items?limit=abc",
            "/responses/resp_x/input_items?order=sideways",
            "/conversations/conv_x/items?after=msg_nope",
        ):
            response = http.get(server.base_url + path.replace("conv_x", conv).replace("resp_x", resp["id"]))
            assert response.status_code == 400
            envelope(response)
