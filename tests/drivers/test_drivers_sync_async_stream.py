"""Sync and async clients send identical traffic; streamed turns end where unstreamed ones do."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from convotest.scenario.model import ALL_MODES, RESPONSES_MODES

VOLATILE = {"created_at", "created"}


def scrub(value: Any) -> Any:
    """Drop timestamps, which differ between two runs of the same requests."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def scrub_empty_annotations(items: list[dict[str, Any]]) -> list[Any]:
    """Timestamps scrubbed, and ``annotations: []`` dropped."""
    return [{k: v for k, v in scrub(item).items() if not (k == "annotations" and v == [])} for item in items]


def wire(traffic: Any) -> list[Any]:
    return [
        (e.method, e.path, e.query, e.request, e.status, scrub(e.response), scrub(e.events), e.turn)
        for e in traffic.exchanges
    ]


def scenario_for(h: Any, mode: str, **kw: Any) -> Any:
    steps: list[Any] = ["My name is Ada.", "I like tea.", "Give me 5 words", "What is my name?"]
    if mode in RESPONSES_MODES:
        steps.insert(2, h.Compact())
    return h.build(*steps, instructions="Be brief.", model="gpt-5-mini", **kw)


@pytest.mark.parametrize("stream", [False, True], ids=["unstreamed", "streamed"])
@pytest.mark.parametrize("mode", ALL_MODES)
def test_sync_and_async_clients_send_identical_exchanges(
    run: Any, h: Any, fresh_emulator: Any, mode: str, stream: bool
) -> None:
    scenario = scenario_for(h, mode, params={"stream": stream})
    sync_result, sync_traffic = run(scenario, mode, base_url=fresh_emulator())
    async_result, async_traffic = run(scenario, mode, base_url=fresh_emulator(), use_async=True)
    assert sync_result.error is None and async_result.error is None
    assert len(sync_traffic.exchanges) >= len(scenario.turns)
    assert wire(sync_traffic) == wire(async_traffic)
    assert sync_result.replies == async_result.replies


def test_drive_with_an_async_client_works_inside_a_running_event_loop(run: Any, h: Any) -> None:
    """A caller already in an event loop (an async test) still gets a result: drive uses its own loop."""

    async def inside() -> Any:
        return run(h.build("one", "two"), "conversation", use_async=True)

    result, _ = asyncio.run(inside())
    assert result.error is None
    assert [h.seen(r) for r in result.replies] == [1, 3]


def drop_stream_keys(request: Any) -> Any:
    if not isinstance(request, dict):
        return request
    return {k: v for k, v in request.items() if k not in ("stream", "stream_options")}


@pytest.mark.parametrize("mode", ALL_MODES)
def test_streamed_turns_equal_unstreamed_ones(run: Any, h: Any, fresh_emulator: Any, mode: str) -> None:
    """Sync only: the test above shows async streaming sends exactly what sync streaming does."""
    plain_result, plain = run(scenario_for(h, mode), mode, base_url=fresh_emulator())
    streamed_result, streamed = run(scenario_for(h, mode, params={"stream": True}), mode, base_url=fresh_emulator())
    assert plain_result.error is None and streamed_result.error is None
    assert streamed_result.replies == plain_result.replies
    plain_calls, streamed_calls = h.model_calls(plain), h.model_calls(streamed)
    assert len(plain_calls) == len(streamed_calls)
    for p, s in zip(plain_calls, streamed_calls, strict=True):
        if s.path.endswith("/compact"):
            assert s.events is None  # compact has no streaming variant
        else:
            assert s.events, "a streamed turn must have been sent with stream: true"
            assert s.request["stream"] is True
            if mode == "manual_chat":
                assert s.request["stream_options"] == {"include_usage": True}
        assert drop_stream_keys(s.request) == drop_stream_keys(p.request)
        final_p, final_s = h.final_body(p), h.final_body(s)
        assert h.reply_of(s) == h.reply_of(p)
        assert final_s["usage"] == final_p["usage"]
        if "output" in final_p:
            assert scrub(final_s["output"]) == scrub(final_p["output"])

    # The transcripts rebuilt from the two runs' traffic agree turn by turn.
    reconstruct = pytest.importorskip("convotest.reconstruct")
    a = reconstruct.build_transcript(plain.exchanges)
    b = reconstruct.build_transcript(streamed.exchanges)
    assert [t.turn for t in a.turns] == [t.turn for t in b.turns]
    for x, y in zip(a.turns, b.turns, strict=True):
        assert (y.reply, y.usage, y.status, y.context) == (x.reply, x.usage, x.status, x.context)
        # Chat deltas carry no annotations: an empty list and its absence are the same message.
        assert scrub_empty_annotations(y.output_items) == scrub_empty_annotations(x.output_items)
        assert y.streamed is (not y.exchange.path.endswith("/compact"))
