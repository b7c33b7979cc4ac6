"""The SDK client factory and the observing transport that logs every HTTP exchange of a run.

``make_client`` builds an ``openai.OpenAI`` (or ``AsyncOpenAI``) whose ``httpx2`` client sends through an
``ObservingTransport``: it wraps the real ``httpx2.HTTPTransport`` — which vcrpy patches when a cassette is
active, so recording and replay still happen underneath — reads each response body in full, and appends a
parsed ``Exchange`` to a ``TrafficLog``, tagged with the scenario turn being driven.

This is the only module of convotest that imports ``httpx2``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai

from convotest.errors import ConfigError
from convotest.incremental_json import HistoryParser
from convotest.sse import parse_sse
from convotest.transcript import Exchange

__all__ = [
    "AsyncObservingTransport",
    "ClientOptions",
    "ObservingTransport",
    "TrafficLog",
    "make_client",
    "parse_sse",
]


@dataclass
class ClientOptions:
    """How to build the SDK client: where to send, which key, timeouts, sync or async."""

    base_url: str | None = None
    api_key: str | None = None
    organization: str | None = None
    project: str | None = None
    timeout: float = 60.0
    max_retries: int = 2
    use_async: bool = False
    default_headers: dict[str, str] = field(default_factory=dict)


class TrafficLog:
    """Every HTTP exchange of one run, in order, each tagged with the turn being driven."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        #: The 0-based scenario turn being driven; ``drive`` sets it before each turn.
        self.turn: int | None = None
        self._lock = threading.Lock()
        # Request bodies of manual modes resend the history: parse only what each adds (items are shared).
        self._requests = HistoryParser()

    def __len__(self) -> int:
        return len(self.exchanges)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(list(self.exchanges))

    def for_turn(self, turn: int) -> list[Exchange]:
        """The exchanges sent while driving scenario turn ``turn``."""
        return [e for e in self.exchanges if e.turn == turn]

    def model_calls(self) -> list[Exchange]:
        """The exchanges that asked the model for output (chat, responses, compact)."""
        return [e for e in self.exchanges if e.is_model_call]

    def record(
        self,
        request: httpx2.Request,
        request_body: bytes,
        response: httpx2.Response,
        raw_response_body: bytes,
    ) -> Exchange:
        """Parse one finished exchange and append it; returns the ``Exchange``."""
        with self._lock:
            parsed = self._requests.parse(request_body, f"{request.method} {request.url.path}")
        request_json, request_text = parsed.data, parsed.text
        body = _decode(response, raw_response_body)
        content_type = response.headers.get("content-type", "")
        events: list[dict[str, Any]] | None = None
        response_json: Any = None
        response_text: str | None = None
        if content_type.split(";")[0].strip().lower() == "text/event-stream":
            events = parse_sse(body.decode("utf-8", errors="replace"))
        else:
            response_json, response_text = _parse_body(body)
        with self._lock:
            exchange = Exchange(
                index=len(self.exchanges),
                method=request.method,
                path=request.url.path,
                query=dict(request.url.params.items()),
                request=request_json,
                request_text=request_text,
                status=response.status_code,
                response=response_json,
                response_text=response_text,
                events=events,
                response_headers={k.lower(): v for k, v in response.headers.items()},
                turn=self.turn,
            )
            self.exchanges.append(exchange)
        return exchange


def _parse_body(body: bytes) -> tuple[Any, str | None]:
    """``(parsed JSON, None)`` when the body is JSON, else ``(None, text)``; ``(None, None)`` when empty."""
    if not body:
        return None, None
    text = body.decode("utf-8", errors="replace")
    # Some servers omit or mislabel the content type of JSON error bodies: try JSON whatever the header says.
    try:
        return json.loads(text), None
    except ValueError:
        return None, text


def _decode(response: httpx2.Response, raw: bytes) -> bytes:
    """The body with its ``content-encoding`` (gzip, deflate, br, …) undone, as httpx2 itself would."""
    if not response.headers.get("content-encoding"):
        return raw
    probe = httpx2.Response(response.status_code, headers=response.headers, stream=httpx2.ByteStream(raw))
    try:
        return probe.read()
    except httpx2.DecodingError:
        return raw


class ObservingTransport(httpx2.BaseTransport):
    """Wraps a transport: buffers each response in full and logs it to a ``TrafficLog``."""

    def __init__(self, inner: httpx2.BaseTransport, traffic: TrafficLog) -> None:
        self._inner = inner
        self._traffic = traffic

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send through the inner transport; exceptions from it propagate unchanged."""
        body = request.read()
        response = self._inner.handle_request(request)
        stream = response.stream
        assert isinstance(stream, httpx2.SyncByteStream)
        try:
            raw = b"".join(stream)
        finally:
            stream.close()
        # The SDK decodes and parses the same bytes (vcrpy's stub does the same swap).
        response.stream = httpx2.ByteStream(raw)
        self._traffic.record(request, body, response, raw)
        return response

    def close(self) -> None:
        """Close the inner transport."""
        self._inner.close()


class AsyncObservingTransport(httpx2.AsyncBaseTransport):
    """The async twin of ``ObservingTransport``."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, traffic: TrafficLog) -> None:
        self._inner = inner
        self._traffic = traffic

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send through the inner transport; exceptions from it propagate unchanged."""
        body = await request.aread()
        response = await self._inner.handle_async_request(request)
        stream = response.stream
        assert isinstance(stream, httpx2.AsyncByteStream)
        try:
            raw = b"".join([chunk async for chunk in stream])
        finally:
            await stream.aclose()
        response.stream = httpx2.ByteStream(raw)
        self._traffic.record(request, body, response, raw)
        return response

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()


def make_client(options: ClientOptions, traffic: TrafficLog) -> openai.OpenAI | openai.AsyncOpenAI:
    """Build the SDK client for one run, every request observed into ``traffic``."""
    api_key = options.api_key or os.environ.get("OPENAI_API_KEY")
    if not api_key:
        raise ConfigError(
            "no OpenAI API key: set OPENAI_API_KEY (any value works when replaying or against the emulator)"
        )
    common: dict[str, Any] = {
        "api_key": api_key,
        "organization": options.organization,
        "project": options.project,
        "timeout": options.timeout,
        "max_retries": options.max_retries,
        "default_headers": options.default_headers or None,
    }
    if options.base_url is not None:
        common["base_url"] = options.base_url
    if options.use_async:
        async_http = openai.DefaultAsyncHttpxClient(
            transport=AsyncObservingTransport(httpx2.AsyncHTTPTransport(), traffic)
        )
        return openai.AsyncOpenAI(http_client=async_http, **common)
    http = openai.DefaultHttpxClient(transport=ObservingTransport(httpx2.HTTPTransport(), traffic))
    return openai.OpenAI(http_client=http, **common)
