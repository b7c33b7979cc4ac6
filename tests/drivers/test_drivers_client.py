"""The observing transport, TrafficLog and make_client: what gets logged, and that nothing is swallowed."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import httpx2
import openai
import pytest
import vcr
import vcr.errors

from convotest.drivers.client import (
    AsyncObservingTransport,
    ClientOptions,
    ObservingTransport,
    TrafficLog,
    make_client,
    parse_sse,
)
from convotest.errors import ConfigError

SSE = (
    b'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n'
    b": keep-alive comment\n\n"
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",\ndata: "delta":"hi"}\n\n'
    b"data: [DONE]\n\n"
)


def handler(request: httpx2.Request) -> httpx2.Response:
    """A tiny fake API: gzip JSON for /json, SSE for /sse, a bare 204 for /empty, plain text for /text."""
    if request.url.path == "/v1/json":
        body = json.dumps({"echo": json.loads(request.content), "ok": True}).encode()
        return httpx2.Response(
            200,
            headers={"content-type": "application/json", "content-encoding": "gzip", "x-request-id": "req_1"},
            content=gzip.compress(body),
        )
    if request.url.path == "/v1/sse":
        return httpx2.Response(200, headers={"content-type": "text/event-stream; charset=utf-8"}, content=SSE)
    if request.url.path == "/v1/text":
        return httpx2.Response(502, headers={"content-type": "text/plain"}, content=b"Bad gateway")
    return httpx2.Response(204)


def test_json_exchange_is_decoded_parsed_and_tagged() -> None:
    traffic = TrafficLog()
    client = httpx2.Client(transport=ObservingTransport(httpx2.MockTransport(handler), traffic))
    traffic.turn = 3
    response = client.post("http://api.test/v1/json?limit=2&order=asc", json={"model": "gpt-4.1"})
    # The caller still gets the whole, decodable body.
    assert response.json() == {"echo": {"model": "gpt-4.1"}, "ok": True}
    (exchange,) = traffic.exchanges
    assert exchange.index == 0
    assert (exchange.method, exchange.path, exchange.query) == ("POST", "/v1/json", {"limit": "2", "order": "asc"})
    assert exchange.request == {"model": "gpt-4.1"}
    assert exchange.response == {"echo": {"model": "gpt-4.1"}, "ok": True}
    assert exchange.events is None
    assert exchange.status == 200
    assert exchange.response_headers["x-request-id"] == "req_1"
    assert exchange.turn == 3
    assert exchange.is_model_call is False


def test_sse_is_buffered_parsed_and_still_streamable() -> None:
    traffic = TrafficLog()
    client = httpx2.Client(transport=ObservingTransport(httpx2.MockTransport(handler), traffic))
    with client.stream("POST", "http://api.test/v1/sse", json={}) as response:
        assert b"".join(response.iter_bytes()) == SSE
    (exchange,) = traffic.exchanges
    assert exchange.response is None
    assert exchange.events == [
        {"event": "response.created", "data": {"type": "response.created", "sequence_number": 0}},
        {"event": "response.output_text.delta", "data": {"type": "response.output_text.delta", "delta": "hi"}},
        {"event": None, "data": "[DONE]"},
    ]


def test_non_json_and_empty_bodies() -> None:
    traffic = TrafficLog()
    client = httpx2.Client(transport=ObservingTransport(httpx2.MockTransport(handler), traffic))
    client.get("http://api.test/v1/text")
    client.delete("http://api.test/v1/empty")
    text, empty = traffic.exchanges
    assert (text.status, text.response, text.response_text) == (502, None, "Bad gateway")
    assert (empty.status, empty.response, empty.response_text, empty.request) == (204, None, None, None)
    assert [e.index for e in traffic.exchanges] == [0, 1]


def test_parse_sse_handles_crlf_and_missing_trailing_blank_line() -> None:
    assert parse_sse('event: a\r\ndata: {"x": 1}\r\n\r\ndata: tail') == [
        {"event": "a", "data": {"x": 1}},
        {"event": None, "data": "tail"},
    ]


def test_async_transport_logs_the_same() -> None:
    traffic = TrafficLog()
    transport = AsyncObservingTransport(httpx2.MockTransport(handler), traffic)

    async def go() -> httpx2.Response:
        async with httpx2.AsyncClient(transport=transport) as client:
            return await client.post("http://api.test/v1/json", json={"a": 1})

    response = asyncio.run(go())
    assert response.json()["echo"] == {"a": 1}
    assert traffic.exchanges[0].response == {"echo": {"a": 1}, "ok": True}


def test_inner_transport_exceptions_propagate_unchanged() -> None:
    class Boom(Exception):
        pass

    def explode(request: httpx2.Request) -> httpx2.Response:
        raise Boom("inner")

    traffic = TrafficLog()
    client = httpx2.Client(transport=ObservingTransport(httpx2.MockTransport(explode), traffic))
    with pytest.raises(Boom, match="inner"):
        client.get("http://api.test/v1/json")
    assert traffic.exchanges == []


def test_vcrpy_cannot_overwrite_reaches_the_caller_through_the_sdk(tmp_path: Path) -> None:
    """vcrpy patches httpx2.HTTPTransport underneath our wrapper; its no-match error must surface as is."""
    cassette = tmp_path / "empty.yaml"
    cassette.write_text("interactions: []\nversion: 1\n")
    traffic = TrafficLog()
    client = make_client(ClientOptions(base_url="http://127.0.0.1:9/v1", api_key="sk-test"), traffic)
    assert isinstance(client, openai.OpenAI)
    with (
        vcr.use_cassette(str(cassette), record_mode="none"),
        pytest.raises(vcr.errors.CannotOverwriteExistingCassetteException),
    ):
        client.models.list()
    assert traffic.exchanges == []


def test_vcrpy_replays_underneath_the_wrapper(tmp_path: Path) -> None:
    """A recorded interaction is served by vcrpy through our transport, and logged like live traffic."""
    cassette = tmp_path / "one.yaml"
    body = json.dumps({"object": "list", "data": [{"id": "gpt-4.1", "object": "model", "created": 1, "owned_by": "x"}]})
    cassette.write_text(
        json.dumps(
            {
                "version": 1,
                "interactions": [
                    {
                        "request": {
                            "method": "GET",
                            "uri": "http://127.0.0.1:9/v1/models",
                            "body": None,
                            "headers": {},
                        },
                        "response": {
                            "status": {"code": 200, "message": "OK"},
                            "headers": {"content-type": ["application/json"]},
                            "body": {"string": body},
                        },
                    }
                ],
            }
        )
    )
    traffic = TrafficLog()
    client = make_client(ClientOptions(base_url="http://127.0.0.1:9/v1", api_key="sk-test"), traffic)
    assert isinstance(client, openai.OpenAI)
    with vcr.use_cassette(str(cassette), record_mode="none", serializer="json"):
        models = client.models.list()
    assert [m.id for m in models.data] == ["gpt-4.1"]
    assert traffic.exchanges[0].response["data"][0]["id"] == "gpt-4.1"


def test_make_client_builds_sync_or_async_with_options(monkeypatch: pytest.MonkeyPatch) -> None:
    traffic = TrafficLog()
    options = ClientOptions(
        base_url="http://localhost:1/v1", api_key="sk-x", organization="org-1", project="proj-1", max_retries=0
    )
    sync_client = make_client(options, traffic)
    assert isinstance(sync_client, openai.OpenAI)
    assert (sync_client.organization, sync_client.project, sync_client.max_retries) == ("org-1", "proj-1", 0)
    assert str(sync_client.base_url) == "http://localhost:1/v1/"
    async_client = make_client(ClientOptions(api_key="sk-x", use_async=True), traffic)
    assert isinstance(async_client, openai.AsyncOpenAI)


def test_make_client_without_any_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"^no OpenAI API key: set OPENAI_API_KEY"):
        make_client(ClientOptions(base_url="http://localhost:1/v1"), TrafficLog())


def test_every_attempt_is_logged_when_the_sdk_retries() -> None:
    """A 429 then a success: both exchanges are logged and tagged; without retries the turn fails."""
    config_mod = pytest.importorskip("convotest.emulator.config")
    server_mod = pytest.importorskip("convotest.emulator.server")
    from convotest.drivers import drive
    from convotest.scenario.model import Message, Scenario, Turn

    scenario = Scenario(
        name="retry",
        path="retry.convo.yaml",
        model="gpt-4.1",
        modes=("previous_response_id",),
        turns=(Turn(0, "user", (Message("user", "hi"),)),),
    )
    faults = config_mod.FaultConfig(status=429, first=1, retry_after=0.01)
    for max_retries in (2, 0):
        with server_mod.EmulatorServer(config_mod.EmulatorConfig(faults=faults)) as srv:
            traffic = TrafficLog()
            options = ClientOptions(base_url=srv.base_url, api_key="sk-test", max_retries=max_retries)
            result = drive(scenario, "previous_response_id", options=options, traffic=traffic)
        if max_retries:
            assert result.error is None
            assert [(e.status, e.turn) for e in traffic.exchanges] == [(429, 0), (200, 0)]
        else:
            assert result.error is not None and result.error.turn == 0
            assert isinstance(result.error.exception, openai.RateLimitError)
            assert [(e.status, e.turn) for e in traffic.exchanges] == [(429, 0)]
        assert traffic.exchanges[0].response["error"]["type"]
