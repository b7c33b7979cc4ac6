"""/v1/conversations through the real SDK: CRUD, items, ordering, pagination, responses in a conversation."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from emulator_checks import strict
from openai import OpenAI
from openai.types.conversations import Conversation, ConversationDeletedResource, ConversationItemList, Message
from openai.types.responses import Response

MODEL = "gpt-4.1"


def test_create_retrieve_update_delete(client: OpenAI) -> None:
    raw = client.conversations.with_raw_response.create(metadata={"topic": "demo"})
    data = raw.http_response.json()
    strict(Conversation, data)
    assert data["id"].startswith("conv_") and data["metadata"] == {"topic": "demo"}
    assert client.conversations.with_raw_response.retrieve(data["id"]).http_response.json() == data
    updated = client.conversations.with_raw_response.update(data["id"], metadata={"topic": "new"})
    assert updated.http_response.json()["metadata"] == {"topic": "new"}
    deleted = client.conversations.with_raw_response.delete(data["id"]).http_response.json()
    strict(ConversationDeletedResource, deleted)
    assert deleted == {"id": data["id"], "object": "conversation.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(data["id"])
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model=MODEL, input="x", conversation=data["id"])
    assert info.value.param == "conversation"


def test_initial_items_limit_and_string_content_as_input_text(client: OpenAI) -> None:
    too_many = [{"role": "user", "content": str(i)} for i in range(21)]
    with pytest.raises(openai.BadRequestError) as info:
        client.conversations.create(items=too_many)  # type: ignore[arg-type]
    assert info.value.code == "array_above_max_length" and info.value.param == "items"
    conv = client.conversations.create(items=too_many[:20])  # type: ignore[arg-type]
    listed = client.conversations.items.with_raw_response.list(conv.id, order="asc", limit=100)
    data = listed.http_response.json()
    strict(ConversationItemList, data)
    assert [i["content"] for i in data["data"][:2]] == [
        [{"type": "input_text", "text": "0"}],
        [{"type": "input_text", "text": "1"}],
    ]
    for item in data["data"]:
        strict(Message, item)


def test_responses_in_a_conversation_append_input_then_output(client: OpenAI) -> None:
    conv = client.conversations.create()
    raw = client.responses.with_raw_response.create(
        model=MODEL, input="Remember SAPPHIRE.", conversation={"id": conv.id}
    )
    first = raw.http_response.json()
    strict(Response, first)
    assert first["conversation"] == {"id": conv.id}
    added = client.conversations.items.with_raw_response.create(
        conv.id, items=[{"role": "user", "content": "The new word is ORCHID."}]
    ).http_response.json()
    strict(ConversationItemList, added)
    second = client.responses.create(model=MODEL, input="Which word?", conversation=conv.id)
    assert second.output_text.startswith(
        'I have seen 4 messages. You first said: "Remember SAPPHIRE.". You just said: "Which word?".'
    )
    newest_first = client.conversations.items.list(conv.id)
    roles = [(i.role, i.content[0].text) for i in newest_first.data]  # type: ignore[union-attr]
    assert [r for r, _ in roles] == ["assistant", "user", "user", "assistant", "user"]
    assert roles[1][1] == "Which word?" and roles[4][1] == "Remember SAPPHIRE."
    assert newest_first.data[0].id == second.output[0].id


def test_items_pagination_retrieve_and_delete(client: OpenAI) -> None:
    conv = client.conversations.create(items=[{"role": "user", "content": f"u{i}"} for i in range(5)])
    page = client.conversations.items.with_raw_response.list(conv.id, limit=2).http_response.json()
    assert [i["content"][0]["text"] for i in page["data"]] == ["u4", "u3"] and page["has_more"] is True
    assert page["first_id"] == page["data"][0]["id"] and page["last_id"] == page["data"][1]["id"]
    nxt = client.conversations.items.list(conv.id, limit=2, after=page["last_id"])
    assert [i.content[0].text for i in nxt.data] == ["u2", "u1"]  # type: ignore[union-attr]
    assert len(list(client.conversations.items.list(conv.id, limit=2))) == 5
    target = page["data"][0]["id"]
    raw_item = client.conversations.items.with_raw_response.retrieve(target, conversation_id=conv.id)
    strict(Message, raw_item.http_response.json())
    after_delete = client.conversations.items.with_raw_response.delete(target, conversation_id=conv.id)
    strict(Conversation, after_delete.http_response.json())
    assert after_delete.http_response.json()["id"] == conv.id
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(target, conversation_id=conv.id)
    reply = client.responses.create(model=MODEL, input="count", conversation=conv.id)
    assert reply.output_text.startswith("I have seen 5 messages.")  # 4 left + the new one
    empty = client.conversations.create()
    envelope = client.conversations.items.with_raw_response.list(empty.id).http_response.json()
    assert envelope == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


def test_item_id_rules(client: OpenAI) -> None:
    conv = client.conversations.create(items=[{"role": "user", "content": "a"}])
    existing = client.conversations.items.list(conv.id).data[0]
    item: dict[str, Any] = {
        "type": "message",
        "id": existing.id,
        "role": "user",
        "content": [{"type": "input_text", "text": "a"}],
    }
    with pytest.raises(openai.BadRequestError) as info:
        client.conversations.items.create(conv.id, items=[item])  # type: ignore[list-item]
    assert info.value.code == "item_already_in_conversation"
    with pytest.raises(openai.BadRequestError) as info:
        client.conversations.items.create(conv.id, items=[{**item, "id": "bogus_1"}])  # type: ignore[list-item]
    assert info.value.code == "invalid_value" and info.value.param == "items[0].id"
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list("conv_doesnotexist")
