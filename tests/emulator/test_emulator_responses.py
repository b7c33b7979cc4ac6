"""/v1/responses through the real SDK: shapes, chains, store:false, reasoning, limits, listing, compaction."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from emulator_checks import strict
from openai import OpenAI
from openai.types.responses import (
    CompactedResponse,
    InputTokenCountResponse,
    Response,
    ResponseCompactionItem,
    ResponseInputMessageItem,
    ResponseItemList,
)

from convotest.emulator import EmulatorConfig
from convotest.emulator.replies import reply_for
from convotest.emulator.store import Store
from convotest.tokens import count_items_tokens, count_text

MODEL = "gpt-4o-mini"


def create(client: OpenAI, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    """(raw JSON, http response) of a responses.create, validated strictly against ``Response``."""
    raw = client.responses.with_raw_response.create(**kwargs)
    data = raw.http_response.json()
    strict(Response, data)
    return data, raw.http_response


def validate_compacted(data: dict[str, Any]) -> None:
    """``CompactedResponse`` types ``output`` as output items, yet the real API (calibration cassette) puts
    the kept user messages there as input messages: validate those as ``ResponseInputMessageItem``."""
    strict(CompactedResponse, {**data, "output": []})
    *users, compaction = data["output"]
    for user in users:
        strict(ResponseInputMessageItem, user)
    strict(ResponseCompactionItem, compaction)


def text_of(data: dict[str, Any]) -> str:
    return "".join(
        part["text"]
        for item in data["output"]
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    )


def test_create_has_the_real_shape_headers_and_the_contract_reply(client: OpenAI) -> None:
    data, http = create(client, model=MODEL, input="My name is Alice. Remember this.")
    assert data["object"] == "response" and data["status"] == "completed"
    assert data["id"].startswith("resp_") and data["model"] == "gpt-4o-mini-2024-07-18"
    assert data["store"] is True and data["previous_response_id"] is None
    [message] = data["output"]
    assert message["id"].startswith("msg_") and message["role"] == "assistant"
    expected = (
        'I have seen 1 messages. You first said: "My name is Alice. Remember this.". '
        'You just said: "My name is Alice. Remember this.".'
    )
    assert text_of(data) == expected
    usage = data["usage"]
    # Real traffic (crewAI cassette) reports 15 input tokens for exactly this request.
    assert usage["input_tokens"] == 15
    assert usage["output_tokens"] == count_text(expected, MODEL)
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert http.headers["content-type"] == "application/json"
    assert http.headers["x-request-id"].startswith("req_")
    assert int(http.headers["openai-processing-ms"]) >= 0
    assert http.headers["openai-version"] == "2020-10-01"
    assert "__cf_bm=" in http.headers["set-cookie"]


def test_long_quotes_are_cut_at_60_characters(client: OpenAI) -> None:
    long = "x" * 61
    data, _ = create(
        client, model=MODEL, input=[{"role": "user", "content": "short"}, {"role": "user", "content": long}]
    )
    assert f'You just said: "{"x" * 60}…".' in text_of(data)
    assert 'You first said: "short".' in text_of(data)


def test_previous_response_id_rebuilds_the_chain_without_earlier_instructions(client: OpenAI) -> None:
    first, _ = create(client, model=MODEL, input="one", instructions="Be brief.")
    second, _ = create(client, model=MODEL, input="two", previous_response_id=first["id"])
    assert second["previous_response_id"] == first["id"] and second["instructions"] is None
    assert text_of(second).startswith('I have seen 3 messages. You first said: "one".')
    context = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": text_of(first)},
        {"role": "user", "content": "two"},
    ]
    # Instructions are not inherited: the count has no system message.
    assert second["usage"]["input_tokens"] == count_items_tokens(context, model=MODEL)
    third, _ = create(client, model=MODEL, input="three", previous_response_id=second["id"], instructions="New rules.")
    context += [{"role": "assistant", "content": text_of(second)}, {"role": "user", "content": "three"}]
    assert third["usage"]["input_tokens"] == count_items_tokens(context, model=MODEL, instructions="New rules.")
    assert text_of(third).startswith('I have seen 5 messages. You first said: "one". You just said: "three".')


def test_retrieve_and_input_items(client: OpenAI) -> None:
    items = [{"role": "user", "content": f"m{i}"} for i in range(5)]
    data, _ = create(client, model=MODEL, input=items)
    raw = client.responses.with_raw_response.retrieve(data["id"])
    assert raw.http_response.json() == data
    page = client.responses.input_items.with_raw_response.list(data["id"], limit=2)
    listed = page.http_response.json()
    strict(ResponseItemList, listed)
    texts = [i["content"][0]["text"] for i in listed["data"]]
    assert texts == ["m4", "m3"] and listed["has_more"] is True
    after = client.responses.input_items.list(data["id"], limit=2, after=listed["last_id"])
    assert [i.content[0].text for i in after.data] == ["m2", "m1"]  # type: ignore[union-attr]
    asc = client.responses.input_items.list(data["id"], order="asc")
    assert [i.content[0].text for i in asc.data] == ["m0", "m1", "m2", "m3", "m4"]  # type: ignore[union-attr]
    assert asc.has_more is False
    everything = [i.id for i in client.responses.input_items.list(data["id"], limit=1)]
    assert len(everything) == 5  # the SDK's auto-pagination follows the cursor


def test_delete_then_retrieve_and_chain_fail(client: OpenAI) -> None:
    data, _ = create(client, model=MODEL, input="to delete")
    client.responses.delete(data["id"])
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(data["id"])
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=MODEL, input="x", previous_response_id=data["id"])
    assert info.value.code == "previous_response_not_found"


def test_store_false_cannot_be_retrieved_chained_or_referenced(client: OpenAI) -> None:
    data, _ = create(client, model="gpt-5-mini", input="secret", store=False, include=["reasoning.encrypted_content"])
    assert data["store"] is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(data["id"])
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=MODEL, input="again", previous_response_id=data["id"])
    assert info.value.code == "previous_response_not_found"
    assert info.value.param == "previous_response_id"
    assert f"Previous response with id '{data['id']}' not found." in info.value.message
    reasoning, message = data["output"]
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model=MODEL, input=[{"type": "item_reference", "id": message["id"]}])
    assert "Items are not persisted when `store` is set to false" in missing.value.message
    assert missing.value.param == "input"
    bare = {"type": "reasoning", "id": reasoning["id"], "summary": []}
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model="gpt-5-mini", input=[bare, {"role": "user", "content": "x"}])
    assert f"Item with id '{reasoning['id']}' not found." in missing.value.message
    # The documented store:false pattern: resend items whole (reasoning with its encrypted content).
    history = [{"role": "user", "content": "secret"}, reasoning, message, {"role": "user", "content": "next"}]
    again, _ = create(client, model="gpt-5-mini", input=history, store=False)
    assert text_of(again).startswith('I have seen 3 messages. You first said: "secret". You just said: "next".')


def test_item_reference_to_a_stored_item_resolves(client: OpenAI) -> None:
    data, _ = create(client, model=MODEL, input="remember me")
    listed = client.responses.input_items.list(data["id"])
    ref = [{"type": "item_reference", "id": listed.data[0].id}, {"role": "user", "content": "and now"}]
    again, _ = create(client, model=MODEL, input=ref)
    assert text_of(again).startswith('I have seen 2 messages. You first said: "remember me".')


def test_reasoning_models_return_a_reasoning_item_and_tokens(client: OpenAI) -> None:
    plain, _ = create(client, model="o4-mini", input="think")
    # As the real API: encrypted content only when asked for.
    assert "encrypted_content" not in plain["output"][0]
    data, _ = create(client, model="o4-mini", input="think", include=["reasoning.encrypted_content"])
    reasoning, message = data["output"]
    assert reasoning["type"] == "reasoning" and reasoning["id"].startswith("rs_")
    assert reasoning["encrypted_content"] and message["type"] == "message"
    details = data["usage"]["output_tokens_details"]
    assert details["reasoning_tokens"] > 0
    assert data["usage"]["output_tokens"] == details["reasoning_tokens"] + count_text(text_of(data), "o4-mini")
    assert data["reasoning"]["effort"] == "medium"
    plain, _ = create(client, model="gpt-4.1", input="think")
    assert [i["type"] for i in plain["output"]] == ["message"]
    assert plain["usage"]["output_tokens_details"]["reasoning_tokens"] == 0


def test_max_output_tokens_minimum_and_incomplete(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=MODEL, input="hi", max_output_tokens=15)
    assert info.value.code == "integer_below_min_value" and info.value.param == "max_output_tokens"
    data, _ = create(client, model=MODEL, input="Give me 300 words please", max_output_tokens=30)
    assert data["status"] == "incomplete"
    assert data["incomplete_details"] == {"reason": "max_output_tokens"}
    assert data["output"][0]["status"] == "incomplete"
    assert 0 < data["usage"]["output_tokens"] <= 30
    assert text_of(data).startswith("I have seen 1 messages.")
    full, _ = create(client, model=MODEL, input="Give me 3 words please")
    assert text_of(full).endswith(" Here are 3 words: w1 w2 w3.")


def test_input_tokens_agrees_with_the_next_call(client: OpenAI) -> None:
    first, _ = create(client, model=MODEL, input="count me", instructions="Sys.")
    raw = client.responses.input_tokens.with_raw_response.count(
        model=MODEL, input="and me", previous_response_id=first["id"], instructions="Sys."
    )
    counted = strict(InputTokenCountResponse, raw.http_response.json())
    nxt, _ = create(client, model=MODEL, input="and me", previous_response_id=first["id"], instructions="Sys.")
    assert counted.input_tokens == nxt["usage"]["input_tokens"]


def test_compact_keeps_user_messages_and_remembers_the_rest(client: OpenAI) -> None:
    window: list[Any] = [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
        {"role": "assistant", "content": "6"},
    ]
    raw = client.responses.with_raw_response.compact(model=MODEL, input=window, instructions="Math.")
    data = raw.http_response.json()
    validate_compacted(data)
    assert data["object"] == "response.compaction"
    *users, compaction = data["output"]
    assert [u["content"][0]["text"] for u in users] == ["What is 2+2?", "And 3+3?"]
    assert all(u["role"] == "user" and u["type"] == "message" for u in users)
    assert compaction["type"] == "compaction" and compaction["id"].startswith("cmp_")
    assert isinstance(compaction["encrypted_content"], str)
    assert data["usage"]["input_tokens"] > count_items_tokens(window, model=MODEL, instructions="Math.")
    following, _ = create(client, model=MODEL, input=[*data["output"], {"role": "user", "content": "And 5+5?"}])
    # All four compacted messages plus the new one are "remembered".
    assert text_of(following).startswith('I have seen 5 messages. You first said: "What is 2+2?".')
    only_compaction, _ = create(client, model=MODEL, input=[compaction, {"role": "user", "content": "And 5+5?"}])
    assert text_of(only_compaction) == text_of(following)
    # Billed as convotest.tokens renders it: kept user messages, the compaction item by its size.
    new = {"role": "user", "content": "And 5+5?"}
    assert following["usage"]["input_tokens"] == count_items_tokens([*data["output"], new], model=MODEL)
    tampered = {**compaction, "encrypted_content": compaction["encrypted_content"][:-8] + "AAAAAAAA"}
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=MODEL, input=[tampered, {"role": "user", "content": "x"}])
    assert info.value.code == "invalid_encrypted_content"


def test_compaction_makes_a_long_window_cheaper(client: OpenAI) -> None:
    story = " ".join(f"sentence {i} tells of river {i * 7} and hill {i * 13}." for i in range(300))
    window: list[Any] = [{"role": "user", "content": "Tell a story"}, {"role": "assistant", "content": story}]
    compacted = client.responses.with_raw_response.compact(model=MODEL, input=window).http_response.json()
    new = {"role": "user", "content": "Go on"}
    after, _ = create(client, model=MODEL, input=[*compacted["output"], new])
    before = count_items_tokens([*window, new], model=MODEL)
    assert after["usage"]["input_tokens"] < before / 2
    assert text_of(after).startswith('I have seen 3 messages. You first said: "Tell a story".')


def test_compact_a_chain_by_previous_response_id(client: OpenAI) -> None:
    first, _ = create(client, model=MODEL, input="alpha")
    compacted = client.responses.compact(model=MODEL, previous_response_id=first["id"])
    assert [o.type for o in compacted.output] == ["message", "compaction"]


def test_server_side_compaction_emits_an_inline_item_and_keeps_memory(client: OpenAI) -> None:
    manage = [{"type": "compaction", "compact_threshold": 1000}]
    history: list[Any] = []
    compacted_at = None
    for turn in range(4):
        history.append({"role": "user", "content": f"turn {turn}: write 250 words"})
        data, _ = create(client, model="gpt-4.1", input=history, context_management=manage)
        kinds = [o["type"] for o in data["output"]]
        if "compaction" in kinds:
            assert kinds == ["message", "compaction"]
            compacted_at = compacted_at if compacted_at is not None else turn
        history.extend(data["output"])
        assert text_of(data).startswith(f"I have seen {2 * turn + 1} messages.")
    assert compacted_at is not None
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(
            model=MODEL, input="x", context_management=[{"type": "compaction", "compact_threshold": 10}]
        )
    assert info.value.code == "integer_below_min_value"


def test_server_side_compaction_in_a_previous_response_id_chain(client: OpenAI) -> None:
    manage = [{"type": "compaction", "compact_threshold": 1000}]
    previous = None
    compactions = 0
    for turn in range(4):
        kwargs: dict[str, Any] = {"previous_response_id": previous} if previous else {}
        data, _ = create(
            client, model="gpt-4.1", input=f"turn {turn}: write 300 words", context_management=manage, **kwargs
        )
        compactions += sum(o["type"] == "compaction" for o in data["output"])
        assert text_of(data).startswith(f"I have seen {2 * turn + 1} messages.")
        previous = data["id"]
    assert compactions >= 1


def test_context_window_exceeded_and_truncation_auto(fresh: Any) -> None:
    srv = fresh(EmulatorConfig(model_limits={"gpt-tiny": (60, 1000)}))
    client = OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
    items = [{"role": "user", "content": f"message number {i} " * 3} for i in range(6)]
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="gpt-tiny", input=items)  # type: ignore[arg-type]
    assert info.value.code == "context_length_exceeded" and info.value.param == "input"
    assert info.value.body["message"] == (  # type: ignore[index]
        "Your input exceeds the context window of this model. Please adjust your input and try again."
    )
    data, _ = create(client, model="gpt-tiny", input=items, truncation="auto")
    assert data["truncation"] == "auto" and data["usage"]["input_tokens"] <= 60
    kept = int(text_of(data).split()[3])
    assert 0 < kept < 6
    assert text_of(data).endswith('You just said: "message number 5 message number 5 message number 5 ".')


def test_conversation_and_previous_response_id_are_exclusive(client: OpenAI) -> None:
    first, _ = create(client, model=MODEL, input="x")
    conv = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=MODEL, input="y", previous_response_id=first["id"], conversation=conv.id)
    assert info.value.code == "mutually_exclusive_parameters"


def test_duplicate_item_ids_are_rejected(client: OpenAI) -> None:
    first, _ = create(client, model=MODEL, input="dup")
    message = first["output"][0]
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=MODEL, input=[message, message, {"role": "user", "content": "x"}])
    assert "Duplicate item found with id" in info.value.message and info.value.param == "input"
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=MODEL, input=[message], previous_response_id=first["id"])


def test_new_ids_step_over_ids_clients_sent(fresh: Any) -> None:
    """A history replayed from a recording carries ids another emulator made from the same seed: the ids
    this one makes next. The new items must not take them (the real API's random ids never collide)."""
    srv = fresh(EmulatorConfig())
    ahead = Store(seed=srv.config.seed)
    taken = [ahead.new_id("msg_") for _ in range(3)]
    client = OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
    history: list[Any] = [{"role": "user", "content": "Knock knock."}]
    history += [
        {
            "type": "message",
            "id": iid,
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": f"reply {n}", "annotations": []}],
        }
        for n, iid in enumerate(taken)
    ]
    history.append({"role": "user", "content": "Orange."})
    data, _ = create(client, model=MODEL, input=history, store=True)
    listed = client.responses.input_items.list(data["id"], order="asc").data
    ids = [item.id for item in listed]
    assert ids[1:4] == taken and len(set(ids)) == len(ids) == 5
    assert data["output"][0]["id"] not in taken and data["id"].removeprefix("resp_") not in {
        t.removeprefix("msg_") for t in taken
    }
    # the same items resent with the next turn, as a manual history does: still no duplicate
    create(client, model=MODEL, input=[*history, data["output"][0], {"role": "user", "content": "Banana."}])


def test_metadata_and_settings_are_echoed(client: OpenAI) -> None:
    data, _ = create(
        client,
        model=MODEL,
        input="echo",
        metadata={"k": "v"},
        temperature=0.2,
        top_p=0.5,
        truncation="auto",
        user="u1",
        parallel_tool_calls=False,
    )
    assert data["metadata"] == {"k": "v"} and data["temperature"] == 0.2 and data["top_p"] == 0.5
    assert data["truncation"] == "auto" and data["user"] == "u1" and data["parallel_tool_calls"] is False


def test_reply_for_is_the_public_contract() -> None:
    context = [
        {"role": "system", "content": "s"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "Now 2 words"},
    ]
    assert reply_for(context) == (
        'I have seen 4 messages. You first said: "a". You just said: "Now 2 words". Here are 2 words: w1 w2.'
    )
    assert json.loads(json.dumps(reply_for([]))) == 'I have seen 0 messages. You first said: "". You just said: "".'


def test_reasoning_effort_none_and_dotted_gpt_5_defaults(client: OpenAI) -> None:
    off, _ = create(client, model="gpt-5-mini", input="quick", reasoning={"effort": "none"})
    assert [o["type"] for o in off["output"]] == ["message"]
    assert off["usage"]["output_tokens_details"]["reasoning_tokens"] == 0
    dotted, _ = create(client, model="gpt-5.4", input="quick")
    assert dotted["reasoning"]["effort"] == "none" and [o["type"] for o in dotted["output"]] == ["message"]
    on, _ = create(client, model="gpt-5.4", input="quick", reasoning={"effort": "low"})
    assert [o["type"] for o in on["output"]] == ["reasoning", "message"]


def test_input_items_before_cursor(client: OpenAI) -> None:
    data, _ = create(client, model=MODEL, input=[{"role": "user", "content": f"b{i}"} for i in range(4)])
    asc = client.responses.input_items.list(data["id"], order="asc")
    ids = [i.id for i in asc.data]
    earlier = client.responses.input_items.with_raw_response.list(
        data["id"], order="asc", limit=2, extra_query={"before": ids[3]}
    )
    page = earlier.http_response.json()
    assert [i["id"] for i in page["data"]] == ids[1:3] and page["has_more"] is True


def test_reasoning_content_on_request_reproduces_the_real_404(fresh: Any) -> None:
    srv = fresh(EmulatorConfig(reasoning_content="on_request"))
    client = OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
    bare, _ = create(client, model="gpt-5-mini", input="My name is Ada.", store=False)
    reasoning, message = bare["output"]
    assert "encrypted_content" not in reasoning
    history = [{"role": "user", "content": "My name is Ada."}, reasoning, message, {"role": "user", "content": "?"}]
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="gpt-5-mini", input=history, store=False)
    assert f"Item with id '{reasoning['id']}' not found." in info.value.message
    asked, _ = create(
        client, model="gpt-5-mini", input="My name is Ada.", store=False, include=["reasoning.encrypted_content"]
    )
    assert asked["output"][0]["encrypted_content"]
