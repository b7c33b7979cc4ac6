"""Compact steps and server-side compaction in each Responses mode (docs/modes.md, "Compaction")."""

from __future__ import annotations

from typing import Any

import pytest

from convotest.errors import ConfigError


def paths(traffic: Any) -> list[str]:
    return [e.path.removeprefix("/v1") for e in traffic.exchanges]


def test_manual_responses_compacts_its_window_and_continues_from_the_output(run: Any, h: Any) -> None:
    scenario = h.build("alpha", "beta", h.Compact("Keep every name."), "gamma", instructions="Be brief.")
    result, traffic = run(scenario, "manual_responses")
    assert result.error is None
    assert paths(traffic) == ["/responses", "/responses", "/responses/compact", "/responses"]
    second, compact, after = traffic.exchanges[1:]
    assert compact.turn == 2
    assert compact.request == {
        "model": "gpt-4.1",
        "input": [*second.request["input"], *second.response["output"]],
        "instructions": "Keep every name.",
    }
    output = compact.response["output"]
    assert output[-1]["type"] == "compaction"
    assert after.request["input"] == [*output, {"role": "user", "content": "gamma"}]
    assert after.request["store"] is False
    assert result.replies[2] is None
    # The compaction item stands for the turns it replaced: the model still "sees" all five messages.
    assert h.seen(result.replies[3]) == 5
    assert 'You first said: "alpha"' in result.replies[3]


def test_previous_response_id_compacts_by_id_then_starts_a_new_chain(run: Any, h: Any) -> None:
    scenario = h.build("alpha", "beta", h.Compact(), "gamma", "delta", instructions="Be brief.")
    result, traffic = run(scenario, "previous_response_id")
    assert result.error is None
    assert paths(traffic) == ["/responses", "/responses", "/responses/compact", "/responses", "/responses"]
    _, second, compact, restart, chained = traffic.exchanges
    # Without compact instructions of its own, the compact step gets the scenario's instructions.
    assert compact.request == {
        "model": "gpt-4.1",
        "previous_response_id": second.response["id"],
        "instructions": "Be brief.",
    }
    assert restart.request == {
        "model": "gpt-4.1",
        "instructions": "Be brief.",
        "input": [*compact.response["output"], {"role": "user", "content": "gamma"}],
    }
    assert chained.request["previous_response_id"] == restart.response["id"]
    assert chained.request["input"] == [{"role": "user", "content": "delta"}]
    assert [h.seen(r) for r in result.replies if r] == [1, 3, 5, 7]


def test_conversation_compacts_then_continues_on_a_new_seeded_conversation(run: Any, h: Any) -> None:
    scenario = h.build("alpha", "beta", h.Compact(), "gamma")
    result, traffic = run(scenario, "conversation")
    assert result.error is None
    assert paths(traffic) == [
        "/conversations",
        "/responses",
        "/responses",
        "/responses/compact",
        "/conversations",
        "/responses",
    ]
    old, _, second, compact, seeded, after = traffic.exchanges
    assert compact.request == {"model": "gpt-4.1", "previous_response_id": second.response["id"]}
    assert seeded.request == {"items": compact.response["output"]}
    assert [compact.turn, seeded.turn] == [2, 2]
    new_id = seeded.response["id"]
    assert new_id != old.response["id"]
    assert after.request == {
        "model": "gpt-4.1",
        "input": [{"role": "user", "content": "gamma"}],
        "conversation": new_id,
    }
    assert h.seen(result.replies[3]) == 5


def test_conversation_seeds_more_than_twenty_items_in_batches(run: Any, h: Any) -> None:
    words = [f"message {i}" for i in range(21)]
    result, traffic = run(h.build(*words, h.Compact(), "last"), "conversation")
    assert result.error is None
    compact = next(e for e in traffic.exchanges if e.path.endswith("/responses/compact"))
    output = compact.response["output"]
    assert len(output) == 22  # 21 user messages kept verbatim + 1 compaction item
    seeded = traffic.exchanges[compact.index + 1]
    added = traffic.exchanges[compact.index + 2]
    new_id = seeded.response["id"]
    assert (seeded.path, seeded.request) == ("/v1/conversations", {"items": output[:20]})
    assert (added.method, added.path, added.request) == (
        "POST",
        f"/v1/conversations/{new_id}/items",
        {"items": output[20:]},
    )
    assert h.seen(result.replies[-1]) == 43


def test_compact_steps_need_a_responses_mode(run: Any, h: Any) -> None:
    scenario = h.build("alpha", h.Compact(), "beta")
    with pytest.raises(ConfigError) as info:
        run(scenario, "manual_chat")
    assert str(info.value) == (
        f"{scenario.path}:1: scenario 'drivers-test': mode 'manual_chat' cannot run compact steps (turn 2); "
        "compaction needs a Responses mode: manual_responses, previous_response_id, conversation"
    )


def test_server_compaction_needs_a_responses_mode(run: Any, h: Any) -> None:
    with pytest.raises(ConfigError, match="mode 'manual_chat' cannot use server_compaction"):
        run(h.build("alpha", server_compaction=1000), "manual_chat")


LONG = " ".join(["lorem"] * 450)


@pytest.mark.parametrize("mode", ["manual_responses", "previous_response_id", "conversation"])
def test_server_compaction_sends_context_management_every_turn(run: Any, h: Any, mode: str) -> None:
    steps = [f"{i} {LONG}" for i in range(5)]
    result, traffic = run(h.build(*steps, server_compaction=1000), mode)
    assert result.error is None
    creates = [e for e in traffic.exchanges if e.path == "/v1/responses"]
    assert len(creates) == 5
    for call in creates:
        assert call.request["context_management"] == [{"type": "compaction", "compact_threshold": 1000}]
    compacted = [i for i, c in enumerate(creates) if any(o["type"] == "compaction" for o in c.response["output"])]
    assert compacted, "the emulator never compacted: the threshold was not crossed"
    first = compacted[0]
    if first + 1 < len(creates):
        following = creates[first + 1].request
        item = next(o for o in creates[first].response["output"] if o["type"] == "compaction")
        if mode == "manual_responses":
            # Items before the latest compaction item are dropped, as the compaction guide allows.
            assert following["input"][0] == item
        else:
            # previous_response_id / conversation: only the new input; never pruned by hand.
            assert following["input"] == [{"role": "user", "content": steps[first + 1]}]
    # Compacted turns are still remembered.
    assert [h.seen(r) for r in result.replies] == [1, 3, 5, 7, 9]


@pytest.mark.parametrize("mode", ["manual_responses", "previous_response_id", "conversation"])
def test_two_compact_steps_in_a_row_compact_the_compacted_window(run: Any, h: Any, mode: str) -> None:
    result, traffic = run(h.build("alpha", h.Compact(), h.Compact(), "beta"), mode)
    assert result.error is None
    compacts = [e for e in traffic.exchanges if e.path == "/v1/responses/compact"]
    assert len(compacts) == 2
    # The second compaction's input is the first one's output (no response was made in between).
    assert compacts[1].request["input"] == compacts[0].response["output"]
    assert h.seen(result.replies[3]) == 3
    assert 'You first said: "alpha"' in result.replies[3]
