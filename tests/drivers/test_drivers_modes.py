"""Each built-in mode sends exactly the requests docs/modes.md describes, against the emulator over HTTP."""

from __future__ import annotations

import re
from typing import Any

import openai
import pytest

from convotest.drivers import available_modes, get
from convotest.errors import ConfigError
from convotest.scenario.model import ALL_MODES

THREE = ("My name is Ada.", "I like tea.", "What is my name?")


def requests(traffic: Any) -> list[tuple[str, str, Any]]:
    return [(e.method, e.path, e.request) for e in traffic.exchanges]


def test_registry_lists_the_modes_and_rejects_typos() -> None:
    assert available_modes() == [*ALL_MODES, "custom"]
    assert get("previous_response_id").name == "previous_response_id"
    assert get("manual_chat").api == "chat"
    assert [get(m).supports_compact for m in ALL_MODES] == [False, True, True, True]
    with pytest.raises(ConfigError) as info:
        get("previous_response")
    assert str(info.value) == (
        "unknown mode 'previous_response', amongst: "
        "manual_chat, manual_responses, previous_response_id, conversation, custom"
    )


def test_manual_chat_resends_the_history_with_instructions_as_system(run: Any, h: Any) -> None:
    result, traffic = run(h.build(*THREE, instructions="Be brief.", params={"temperature": 0}), "manual_chat")
    assert result.error is None
    calls = requests(traffic)
    assert [(m, p) for m, p, _ in calls] == [("POST", "/v1/chat/completions")] * 3
    replies = [h.reply_of(e) for e in traffic.exchanges]
    assert result.replies == replies
    system = {"role": "system", "content": "Be brief."}
    assert calls[2][2] == {
        "model": "gpt-4.1",
        "temperature": 0,
        "messages": [
            system,
            {"role": "user", "content": THREE[0]},
            {"role": "assistant", "content": replies[0]},
            {"role": "user", "content": THREE[1]},
            {"role": "assistant", "content": replies[1]},
            {"role": "user", "content": THREE[2]},
        ],
    }
    # The leading system message is the instructions: the emulator counts the 1, 3, 5 others, as in Responses.
    assert [h.seen(r) for r in replies] == [1, 3, 5]
    assert [e.turn for e in traffic.exchanges] == [0, 1, 2]


def test_manual_responses_resends_every_output_item_with_store_false(run: Any, h: Any) -> None:
    result, traffic = run(h.build(*THREE, instructions="Be brief."), "manual_responses")
    assert result.error is None
    calls = [e for e in traffic.exchanges]
    assert [(e.method, e.path) for e in calls] == [("POST", "/v1/responses")] * 3
    for call in calls:
        assert call.request["store"] is False
        assert call.request["include"] == ["reasoning.encrypted_content"]
        assert call.request["instructions"] == "Be brief."
        assert "previous_response_id" not in call.request and "conversation" not in call.request
    # Every turn's input is the previous input + every output item, verbatim, + the new message.
    for before, after, text in zip(calls[:-1], calls[1:], THREE[1:], strict=True):
        assert after.request["input"] == [*before.request["input"], *before.response["output"], _user(text)]
    assert calls[0].request["input"] == [_user(THREE[0])]
    assert [h.seen(r) for r in result.replies] == [1, 3, 5]


def test_previous_response_id_sends_only_new_input_chained_by_id(run: Any, h: Any) -> None:
    result, traffic = run(h.build(*THREE, instructions="Be brief."), "previous_response_id")
    assert result.error is None
    calls = traffic.exchanges
    assert [(e.method, e.path) for e in calls] == [("POST", "/v1/responses")] * 3
    assert calls[0].request == {"model": "gpt-4.1", "instructions": "Be brief.", "input": [_user(THREE[0])]}
    for before, after, text in zip(calls[:-1], calls[1:], THREE[1:], strict=True):
        assert after.request == {
            "model": "gpt-4.1",
            "instructions": "Be brief.",
            "input": [_user(text)],
            "previous_response_id": before.response["id"],
        }
    assert [c.response["instructions"] for c in calls] == ["Be brief."] * 3
    assert [h.seen(r) for r in result.replies] == [1, 3, 5]
    assert 'You first said: "My name is Ada."' in result.replies[2]


def test_conversation_creates_one_conversation_and_sends_only_new_input(run: Any, h: Any) -> None:
    result, traffic = run(h.build(*THREE, instructions="Be brief."), "conversation")
    assert result.error is None
    calls = traffic.exchanges
    assert [(e.method, e.path, e.turn) for e in calls] == [
        ("POST", "/v1/conversations", 0),
        ("POST", "/v1/responses", 0),
        ("POST", "/v1/responses", 1),
        ("POST", "/v1/responses", 2),
    ]
    assert calls[0].request in (None, {})
    conversation = calls[0].response["id"]
    assert conversation.startswith("conv_")
    for call, text in zip(calls[1:], THREE, strict=True):
        assert call.request == {
            "model": "gpt-4.1",
            "instructions": "Be brief.",
            "input": [_user(text)],
            "conversation": conversation,
        }
    assert [h.seen(r) for r in result.replies] == [1, 3, 5]


@pytest.mark.parametrize("mode", ALL_MODES)
def test_input_turns_send_every_message_with_its_role(run: Any, h: Any, mode: str) -> None:
    scenario = h.build(
        [("developer", "Answer in French."), ("user", "Hello"), ("assistant", "Bonjour"), ("user", "Again")],
        "And again",
    )
    result, traffic = run(scenario, mode)
    assert result.error is None
    first = h.model_calls(traffic)[0].request
    sent = first.get("messages", first.get("input"))
    assert sent == [
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "Again"},
    ]
    # In Chat a leading developer message is the instructions (not counted), as docs/scenario-format.md says.
    assert [h.seen(r) for r in result.replies] == ([3, 5] if mode == "manual_chat" else [4, 6])


def test_params_are_mapped_for_chat(run: Any, h: Any) -> None:
    params = {"max_output_tokens": 64, "temperature": 0.5, "reasoning": {"effort": "low"}}
    _, chat = run(h.build("hi", model="o4-mini", params=params), "manual_chat")
    assert chat.exchanges[0].request == {
        "model": "o4-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 64,
        "temperature": 0.5,
        "reasoning_effort": "low",
    }
    _, responses = run(h.build("hi", model="o4-mini", params=params), "previous_response_id")
    assert responses.exchanges[0].request == {
        "model": "o4-mini",
        "input": [{"role": "user", "content": "hi"}],
        "max_output_tokens": 64,
        "temperature": 0.5,
        "reasoning": {"effort": "low"},
    }


def test_user_include_params_are_merged_in_manual_responses(run: Any, h: Any) -> None:
    scenario = h.build("hi", params={"include": ["message.output_text.logprobs"]})
    _, traffic = run(scenario, "manual_responses")
    assert traffic.exchanges[0].request["include"] == [
        "message.output_text.logprobs",
        "reasoning.encrypted_content",
    ]


@pytest.mark.parametrize("key", ["store", "previous_response_id", "conversation", "input", "instructions"])
def test_params_may_not_override_what_the_mode_sets(run: Any, h: Any, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        run(h.build("hi", params={key: "x"}), "manual_responses")
    path = h.build("hi").path
    assert str(info.value) == (
        f"{path}:1: scenario 'drivers-test': params.{key} is set by the state mode itself; remove it from params"
    )


def test_reasoning_items_are_requested_and_resent_with_encrypted_content(run: Any, h: Any) -> None:
    result, traffic = run(h.build("one", "two", model="gpt-5-mini"), "manual_responses")
    assert result.error is None
    first, second = traffic.exchanges
    output = first.response["output"]
    assert [item["type"] for item in output] == ["reasoning", "message"]
    assert output[0]["encrypted_content"]
    assert second.request["input"][1:3] == output
    assert h.seen(result.replies[1]) == 3


def test_a_failing_turn_stops_the_run_and_is_reported(run: Any, h: Any) -> None:
    result, traffic = run(h.build("one", "two", model="not-a-model"), "previous_response_id")
    assert result.error is not None
    assert result.error.turn == 0
    assert isinstance(result.error.exception, openai.NotFoundError | openai.BadRequestError)
    assert result.replies == []
    assert [e.turn for e in traffic.exchanges] == [0]


def test_unknown_mode_fails_before_any_request(run: Any, h: Any) -> None:
    with pytest.raises(ConfigError, match=r"^unknown mode 'manual', amongst: manual_chat, "):
        run(h.build("hi"), "manual")


def test_async_client_needs_aturn_not_turn(h: Any) -> None:
    client = openai.AsyncOpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    driver = get("manual_chat")(client, h.build("hi"))
    with pytest.raises(Exception, match=re.escape("has an AsyncOpenAI client: use `await driver.aturn(turn)`")):
        driver.turn(h.build("hi").turns[0])


def test_driver_turn_runs_one_turn_with_a_sync_client(emulator_url: str, h: Any) -> None:
    client = openai.OpenAI(api_key="sk-test", base_url=emulator_url)
    scenario = h.build("one", "two")
    driver = get("manual_responses")(client, scenario)
    replies = [driver.turn(t) for t in scenario.turns]
    assert [h.seen(r) for r in replies] == [1, 3]


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}
