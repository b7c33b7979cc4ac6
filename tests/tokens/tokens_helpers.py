"""Hand-built transcripts for the token accounting tests (no traffic, no reconstruction)."""

from __future__ import annotations

from typing import Any

from convotest.errors import SourceLoc
from convotest.scenario.model import Expect, Limits, Message, Scenario, TokensExpect, Turn
from convotest.transcript import ContextItem, Endpoint, Exchange, Transcript, TurnRecord, Usage

PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "compact": "/v1/responses/compact"}
FILE = "scenarios/budget.convo.yaml"


def msg(role: str, text: str) -> ContextItem:
    """A context message whose raw form is the short-form item."""
    return ContextItem("message", role, text, {"role": role, "content": text})


def record(
    index: int,
    context: list[ContextItem],
    *,
    turn: int | None = None,
    usage: Usage | None = None,
    endpoint: Endpoint = "responses",
    model: str = "gpt-4o",
    status: str | None = "completed",
    request: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    instructions: str | None = None,
    http_status: int = 200,
) -> TurnRecord:
    """One model call; ``response`` defaults to a minimal object unless the call failed."""
    body = {"model": model, **(request or {})}
    if response is None and 200 <= http_status < 300:
        response = {"status": status}
    return TurnRecord(
        index=index,
        endpoint=endpoint,
        turn=index if turn is None else turn,
        exchange=Exchange(index=index, method="POST", path=PATHS[endpoint], request=body, status=http_status),
        request=body,
        response=response,
        http_status=http_status,
        context=context,
        instructions=instructions,
        reply=None,
        status=status,
        output_items=[],
        usage=usage,
        model=model,
        carried_by="manual_responses",
    )


def usage(inp: int, out: int = 10, *, cached: int = 0, reasoning: int = 0) -> Usage:
    """A reported usage."""
    return Usage(inp, out, inp + out, cached, reasoning)


def transcript(*records: TurnRecord) -> Transcript:
    """A transcript of the given calls."""
    return Transcript(turns=list(records), exchanges=[r.exchange for r in records], mode="manual_responses")


def loc(line: int) -> SourceLoc:
    """A position in the test scenario file."""
    return SourceLoc(FILE, line)


def scenario(
    turn_expects: list[TokensExpect | None],
    *,
    scenario_expect: TokensExpect | None = None,
    model: str = "gpt-4o",
    limits: Limits | None = None,
    params: dict[str, Any] | None = None,
    turn_locs: dict[str, SourceLoc] | None = None,
) -> Scenario:
    """A scenario of ``len(turn_expects)`` user turns, turn ``i`` written at line ``10 + 5 * i``."""
    turns = tuple(
        Turn(
            index=i,
            kind="user",
            messages=(Message("user", f"message {i}"),),
            expect=Expect(tokens=exp, locs=dict(turn_locs or {})) if exp is not None else None,
            loc=loc(10 + 5 * i),
        )
        for i, exp in enumerate(turn_expects)
    )
    return Scenario(
        name="budget",
        path=FILE,
        model=model,
        turns=turns,
        modes=("manual_responses",),
        params=params or {},
        limits=limits or Limits(),
        expect=Expect(tokens=scenario_expect, locs={"tokens": loc(3)}) if scenario_expect is not None else None,
        loc=loc(1),
    )
