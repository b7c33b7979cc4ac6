"""The starlette application: routes, JSON parsing, auth, fault injection, headers and streaming."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from convotest.emulator.config import EmulatorConfig, FaultConfig
from convotest.emulator.errors import ApiError, bad_request
from convotest.emulator.service import Emulator
from convotest.emulator.sse import chat_chunks, response_events
from convotest.emulator.store import RUN, RUN_HEADER
from convotest.errors import ConfigError

__all__ = ["create_app"]

_JSON = "application/json"
_SSE = "text/event-stream; charset=utf-8"
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
    "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you "
    "have trouble figuring out how to fix this, please contact us through our help center at "
    "help.openai.com.)"
)
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
    "auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're "
    "accessing the API from your browser and are prompted for a username. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
_FAULT_MESSAGES = {
    429: ("Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}
_STATIC_HEADERS = {
    "openai-version": "2020-10-01",
    "openai-organization": "user-convotest-emulator",
    "openai-project": "proj_convotestemulator",
    "access-control-expose-headers": "X-Request-ID",
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-limit-tokens": "30000000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-remaining-tokens": "29999000",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-reset-tokens": "0s",
}

_STATIC_RAW = [(k.encode(), v.encode()) for k, v in _STATIC_HEADERS.items()]

Handler = Callable[[Request, dict[str, Any]], Any]


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class _Frontend:
    """Per-app request bookkeeping (request counter for ids and faults) around an ``Emulator``."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.emulator = Emulator(config)
        self._count_lock = threading.Lock()
        self.requests = 0
        self._run_requests: dict[str, int] = {}

    def next_request(self) -> int:
        with self._count_lock:
            self.requests += 1
            return self.requests

    def _request_digest(self) -> str:
        # Counted per run namespace, like the store's ids, so a run's request ids do not depend on others.
        run = RUN.get()
        with self._count_lock:
            count = self._run_requests[run] = self._run_requests.get(run, 0) + 1
        basis = f"{self.config.seed}:request:{count}" if not run else f"{self.config.seed}:request:{run}:{count}"
        return hashlib.sha256(basis.encode()).hexdigest()

    def headers(self, number: int, started: float) -> list[tuple[bytes, bytes]]:
        """Realistic response headers, already encoded (static ones once, at import)."""
        rid = self._request_digest()
        return [
            *_STATIC_RAW,
            (b"x-request-id", f"req_{rid[:32]}".encode()),
            (b"openai-processing-ms", str(int((time.perf_counter() - started) * 1000)).encode()),
            (
                b"set-cookie",
                f"__cf_bm={rid[32:]}-{number}; path=/; expires=Thu, 01-Jan-2026 00:30:00 GMT; "
                "domain=.api.openai.com; HttpOnly; Secure; SameSite=None".encode(),
            ),
        ]

    def respond(
        self,
        content: bytes | AsyncIterator[bytes],
        number: int,
        started: float,
        *,
        status: int = 200,
        extra: Mapping[str, str] | None = None,
    ) -> Response:
        """A JSON (bytes) or event-stream (async iterator) response with the realistic headers."""
        response: Response
        if isinstance(content, bytes):
            response = Response(content, status_code=status, media_type=_JSON)
        else:
            response = StreamingResponse(content, status_code=status, media_type=_SSE)
        response.raw_headers.extend(self.headers(number, started))
        if extra:
            response.raw_headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in extra.items())
        return response

    def fault(self, number: int, path: str) -> ApiError | None:
        faults: FaultConfig | None = self.config.faults
        if faults is None:
            return None
        if faults.paths and not any(path.startswith(p) for p in faults.paths):
            return None
        hit = number <= faults.first or (faults.every > 0 and number % faults.every == 0)
        if not hit:
            return None
        kind = "invalid_request_error" if faults.status < 500 else "server_error"
        generic = (f"Injected failure (convotest emulator fault, status {faults.status}).", kind, None)
        message, kind, code = _FAULT_MESSAGES.get(faults.status, generic)
        headers: dict[str, str] = {}
        if faults.status == 429:
            headers = {
                "retry-after": f"{faults.retry_after:g}",
                "retry-after-ms": str(int(faults.retry_after * 1000)),
            }
        return ApiError(faults.status, message, type=kind, code=code, headers=headers)

    def auth(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(401, _NO_KEY)
        key = key.strip()
        if key in self.config.invalid_api_keys:
            shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else key
            raise ApiError(
                401,
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        # NaN/Infinity are not JSON; echoing them back would make the answer unparseable.
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad_request(_BAD_JSON) from None
    if not isinstance(value, dict):
        raise bad_request(_BAD_JSON)
    return value


def _endpoint(front: _Frontend, handler: Handler, *, reads_body: bool) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        number = front.next_request()
        RUN.set(request.headers.get(RUN_HEADER, ""))
        delay = front.config.delay_ms + (front.config.faults.delay_ms if front.config.faults else 0)
        if delay:
            await asyncio.sleep(delay / 1000)
        try:
            fault = front.fault(number, request.url.path)
            if fault is not None:
                raise fault
            front.auth(request)
            body = await _body(request) if reads_body else {}
            result = handler(request, body)
        except ApiError as exc:
            return front.respond(_dump(exc.body()), number, started, status=exc.status, extra=exc.headers)
        except RecursionError:
            error = bad_request("The request body is nested too deeply.")
            return front.respond(_dump(error.body()), number, started, status=400)
        except Exception:  # a bug of ours: answer like the real API's 500, never with a traceback
            error = ApiError(
                500,
                "The server had an error while processing your request. Sorry about that!",
                type="server_error",
            )
            return front.respond(_dump(error.body()), number, started, status=500)
        if isinstance(result, _Stream):
            return front.respond(result.batches(), number, started)
        return front.respond(_dump(result), number, started)

    return endpoint


class _Stream:
    """A handler's answer to stream as server-sent events."""

    #: Events per write: the whole answer is computed already, so one write per event (and, for a sync
    #: iterator, one threadpool hop per event in starlette) would only cost time.
    BATCH = 32

    def __init__(self, events: Iterator[bytes]) -> None:
        self.events = events

    async def batches(self) -> AsyncIterator[bytes]:
        """The events, a few per chunk, as an async iterator (no threadpool)."""
        batch: list[bytes] = []
        for event in self.events:
            batch.append(event)
            if len(batch) >= self.BATCH:
                yield b"".join(batch)
                batch = []
        if batch:
            yield b"".join(batch)


def _wants_stream(body: Mapping[str, Any]) -> bool:
    return body.get("stream") is True


def create_app(config: EmulatorConfig | None = None) -> Starlette:
    """A starlette app serving the emulated OpenAI API under ``/v1``."""
    config = config or EmulatorConfig()
    if config.reasoning_content not in ("always", "on_request"):
        raise ConfigError(f"reasoning_content must be 'always' or 'on_request', not {config.reasoning_content!r}")
    front = _Frontend(config)
    emu = front.emulator

    def responses(request: Request, body: dict[str, Any]) -> Any:
        response = emu.create_response(body)
        return _Stream(response_events(response)) if _wants_stream(body) else response

    def chat(request: Request, body: dict[str, Any]) -> Any:
        completion = emu.chat(body)
        if not _wants_stream(body):
            return completion
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return _Stream(chat_chunks(completion, include_usage))

    def p(request: Request, name: str) -> str:
        return str(request.path_params[name])

    def query(request: Request) -> dict[str, str]:
        return dict(request.query_params)

    table: list[tuple[str, str, Handler, bool]] = [
        ("/v1/responses", "POST", responses, True),
        ("/v1/responses/input_tokens", "POST", lambda r, b: emu.input_tokens(b), True),
        ("/v1/responses/compact", "POST", lambda r, b: emu.compact(b), True),
        ("/v1/responses/{rid}", "GET", lambda r, b: emu.get_response(p(r, "rid")), False),
        ("/v1/responses/{rid}", "DELETE", lambda r, b: emu.delete_response(p(r, "rid")), False),
        ("/v1/responses/{rid}/cancel", "POST", lambda r, b: emu.cancel_response(p(r, "rid")), False),
        ("/v1/responses/{rid}/input_items", "GET", lambda r, b: emu.input_items(p(r, "rid"), query(r)), False),
        ("/v1/conversations", "POST", lambda r, b: emu.create_conversation(b), True),
        ("/v1/conversations/{cid}", "GET", lambda r, b: emu.get_conversation(p(r, "cid")), False),
        ("/v1/conversations/{cid}", "POST", lambda r, b: emu.update_conversation(p(r, "cid"), b), True),
        ("/v1/conversations/{cid}", "DELETE", lambda r, b: emu.delete_conversation(p(r, "cid")), False),
        ("/v1/conversations/{cid}/items", "POST", lambda r, b: emu.add_items(p(r, "cid"), b), True),
        ("/v1/conversations/{cid}/items", "GET", lambda r, b: emu.list_items(p(r, "cid"), query(r)), False),
        (
            "/v1/conversations/{cid}/items/{iid}",
            "GET",
            lambda r, b: emu.get_item(p(r, "cid"), p(r, "iid")),
            False,
        ),
        (
            "/v1/conversations/{cid}/items/{iid}",
            "DELETE",
            lambda r, b: emu.delete_item(p(r, "cid"), p(r, "iid")),
            False,
        ),
        ("/v1/chat/completions", "POST", chat, True),
        ("/v1/models", "GET", lambda r, b: emu.models(), False),
        ("/v1/models/{name:path}", "GET", lambda r, b: emu.model(p(r, "name")), False),
    ]
    # One Route per path with a method dispatcher, so a wrong method is a 405 rather than a 404.
    by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
    for path, method, handler, reads_body in table:
        by_path.setdefault(path, {})[method] = _endpoint(front, handler, reads_body=reads_body)

    routes = [Route(path, _dispatch(methods), methods=list(methods)) for path, methods in by_path.items()]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 405:
            error = ApiError(
                405,
                f"Invalid method for URL ({request.method} {request.url.path}).",
                code="method_not_allowed",
            )
        elif status == 404:
            error = ApiError(404, f"Invalid URL ({request.method} {request.url.path})")
        else:
            error = ApiError(status, "The server could not handle this request.", type="server_error")
        return front.respond(_dump(error.body()), front.next_request(), time.perf_counter(), status=error.status)

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    # The real API answers an unknown path (a trailing slash included) with its 404 envelope, not a redirect.
    app.router.redirect_slashes = False
    app.state.emulator = emu
    return app


def _dispatch(
    methods: dict[str, Callable[[Request], Awaitable[Response]]],
) -> Callable[[Request], Awaitable[Response]]:
    if len(methods) == 1:
        return next(iter(methods.values()))

    async def endpoint(request: Request) -> Response:
        handler = methods.get(request.method) or methods.get("GET") or next(iter(methods.values()))
        return await handler(request)

    return endpoint
