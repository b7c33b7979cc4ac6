"""Reconstruction on real OpenAI traffic recorded by other projects (../shared/calibration).

For every multi-turn file, the effective context of every model call is written out by hand below
(kind, role, text prefix), after reading the cassette. The files are read in place, never copied.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from convotest.context import normalise
from convotest.reconstruct import build_transcript, conversation_items
from convotest.traffic import load_cassette_exchanges
from convotest.transcript import Transcript, TurnRecord

CALIBRATION = Path(__file__).resolve().parents[2].parent / "shared" / "calibration" / "cassettes"

pytestmark = pytest.mark.skipif(not CALIBRATION.is_dir(), reason="../shared/calibration is not available")

Expected = list[tuple[str, str | None, str]]

U, A, S = "user", "assistant", "system"
M, FC, FO, CMP = "message", "function_call", "function_call_output", "compaction"


def load(name: str) -> Transcript:
    path = CALIBRATION / name
    if not path.exists():
        pytest.skip(f"{name} is not in the calibration set")
    exchanges, meta = load_cassette_exchanges(path)
    assert meta == {}  # foreign files carry no convotest header
    return build_transcript(exchanges)


def assert_context(rec: TurnRecord, expected: Expected) -> None:
    got = [(c.kind, c.role, c.text or "") for c in rec.context]
    assert len(got) == len(expected), f"call {rec.index}: {len(got)} items, expected {len(expected)}: {got}"
    for i, ((kind, role, text), (e_kind, e_role, e_prefix)) in enumerate(zip(got, expected, strict=True)):
        assert (kind, role) == (e_kind, e_role), f"call {rec.index} item {i}: {(kind, role)}"
        assert text.startswith(e_prefix), f"call {rec.index} item {i}: {text[:60]!r} !^ {e_prefix!r}"


def assert_contexts(t: Transcript, expected: list[Expected]) -> None:
    assert len(t.turns) == len(expected)
    for rec, exp in zip(t.turns, expected, strict=True):
        assert_context(rec, exp)


def test_crewai_async_conversation_chat_history() -> None:
    t = load("crewAIInc__crewAI__lib__crewai__tests__cassettes__llms__openai__test_openai_async_conversation.yaml")
    assert_contexts(
        t, [[(M, U, "My name is Alice."), (M, A, "Hello Alice! Nice to meet you."), (M, U, "What is my name?")]]
    )
    rec = t.turns[0]
    assert (rec.endpoint, rec.carried_by, rec.instructions) == ("chat", "manual_chat", None)
    assert rec.reply == "Your name is Alice."
    assert rec.status == "completed"
    assert rec.usage is not None and (rec.usage.input_tokens, rec.usage.output_tokens) == (33, 5)


def test_crewai_previous_response_id_chain() -> None:
    t = load(
        "crewAIInc__crewAI__lib__crewai__tests__cassettes__llms__openai__"
        "test_openai_responses_api_auto_chain_integration.yaml"
    )
    assert_contexts(
        t,
        [
            [(M, U, "My name is Alice. Remember this.")],
            [
                (M, U, "My name is Alice. Remember this."),
                (M, A, "Got it, Alice! How can I assist you today?"),
                (M, U, "What is my name?"),
            ],
        ],
    )
    assert [r.carried_by for r in t.turns] == ["manual_responses", "previous_response_id"]
    assert t.turns[1].reply == "Your name is Alice. How can I help you today?"
    assert all(r.notes == [] and not r.partial for r in t.turns)


def test_datadog_single_call_with_system_item_and_reasoning_output() -> None:
    t = load("DataDog__dd-trace-py__tests__contrib__openai__cassettes__v1__response_reasoning_tokens.yaml")
    # gzip !!binary response body; a system item in Responses input stays in the context
    assert_contexts(
        t,
        [
            [
                (M, S, "You are a helpful assistant."),
                (M, U, "Who won the world series in 2020?"),
                (M, A, "The Los Angeles Dodgers won the World Series in 2020."),
                (M, U, "Where was it played?"),
            ]
        ],
    )
    rec = t.turns[0]
    assert [o["type"] for o in rec.output_items] == ["reasoning", "message"]
    assert rec.reply is not None and rec.reply.startswith(
        "The 2020 World Series was played entirely at Globe Life Field"
    )
    assert rec.usage is not None and (rec.usage.input_tokens, rec.usage.reasoning_tokens) == (54, 128)


def test_mirascope_manual_responses_history() -> None:
    t = load(
        "Mirascope__mirascope__python__tests__e2e__input__cassettes__test_caching_multi_turn_conversation__"
        "openai_gpt_4o_responses.yaml"
    )
    first = '\n"Unlimited power!" Indeed! You underestimate my power!'
    assert_contexts(
        t,
        [
            [(M, U, first)],
            [
                (M, U, first),
                (M, A, '"Impressive... most impressive!"'),
                (M, U, "This deal is getting worse all the time!"),
            ],
            [
                (M, U, first),
                (M, A, '"Impressive... most impressive!"'),
                (M, U, "This deal is getting worse all the time!"),
                (M, A, '"I have altered the deal. Pray I do not alter it further."'),
                (M, U, "I have a bad feeling about this"),
            ],
        ],
    )
    assert [r.carried_by for r in t.turns] == ["manual_responses"] * 3
    assert [r.usage.cached_tokens if r.usage else None for r in t.turns] == [0, 3584, 3584]
    # the assistant item resent as input is the output item of the previous call
    assert t.turns[1].context[1].raw["id"] == t.turns[0].output_items[0]["id"]


def test_mirascope_model_not_found_calls() -> None:
    t = load(
        "Mirascope__mirascope__python__tests__e2e__input__cassettes__test_model_not_found__openai_gpt_4o_responses.yaml"
    )
    assert_contexts(t, [[(M, U, "This should fail with NotFoundError")]] * 2)
    for rec in t.turns:
        assert (rec.http_status, rec.response, rec.status, rec.reply) == (400, None, None, None)
        assert rec.notes == ["HTTP 400: The requested model 'this-model-does-not-exist-12345' does not exist."]


def test_chatlas_store_false_history_last_call_streamed() -> None:
    t = load("posit-dev__chatlas__tests___vcr__test_provider_openai__test_data_extraction.yaml")
    doc = "\n# Apples are tasty\n\nBy Hadley Wickham"
    title = '{"title":"Apples are tasty","author":"Hadley Wickham"}'
    assert_contexts(
        t,
        [
            [(M, U, doc)],
            [(M, U, doc), (M, A, title), (M, U, doc)],
            [
                (M, U, doc),
                (M, A, title),
                (M, U, doc),
                (M, A, title),
                (M, U, "Generate the name and age of a random person."),
            ],
            [
                (M, U, doc),
                (M, A, title),
                (M, U, doc),
                (M, A, title),
                (M, U, "Generate the name and age of a random person."),
                (M, A, '{"name":"Maya Turner","age":34}'),
                (M, U, "What is the name of the person?"),
            ],
        ],
    )
    assert [r.streamed for r in t.turns] == [False, False, False, True]
    last = t.turns[3]
    assert last.reply == "Maya Turner"
    assert last.status == "completed"
    assert (
        last.response is not None and last.response["id"] == "resp_094c940d76383840016a6bc6e0c5e08197a72258d1dd18df38"
    )
    assert last.usage is not None and last.usage.output_tokens == 7


def test_pydantic_ai_conversation() -> None:
    t = load(
        "pydantic__pydantic-ai__tests__models__cassettes__test_openai_responses__"
        "test_openai_conversation_id_explicit_and_auto.yaml"
    )
    code = "Remember this exact code for later in this conversation: CONV-PAI-5222."
    assert_contexts(
        t,
        [
            [(M, U, code)],
            [(M, U, code), (M, A, "stored"), (M, U, "What exact code did I ask you to remember?")],
        ],
    )
    assert [r.carried_by for r in t.turns] == ["conversation", "conversation"]
    assert t.turns[1].instructions == (
        "Follow the user instructions exactly. When asked for a code, reply only with that code."
    )
    assert t.turns[1].reply == "CONV-PAI-5222"


def test_pydantic_ai_previous_response_id_chain_with_tool_calls() -> None:
    t = load(
        "pydantic__pydantic-ai__tests__models__cassettes__test_openai_responses__"
        "test_openai_previous_response_id_seed_auto_chains_through_retries.yaml"
    )
    hi = [(M, U, "Say hi in one word, no punctuation."), (M, A, "Hello")]
    ny = [*hi, (M, U, "What's the weather in New York?")]
    retry = [*ny, (FC, None, 'get_weather({"city":"New York"})'), (FO, None, "Location not recognized.")]
    assert_contexts(
        t,
        [hi[:1], ny, retry, [*retry, (FC, None, 'get_weather({"city":"NYC"})'), (FO, None, "Sunny, 72F")]],
    )
    assert [r.carried_by for r in t.turns] == ["manual_responses"] + ["previous_response_id"] * 3
    assert [r.reply for r in t.turns] == ["Hello", "", "", "The weather in New York is sunny and 72°F."]
    assert all(r.notes == [] and not r.partial for r in t.turns)


def test_pydantic_ai_compact_endpoint_then_compacted_window() -> None:
    t = load(
        "pydantic__pydantic-ai__tests__models__cassettes__test_openai_responses__"
        "test_openai_responses_compact_messages.yaml"
    )
    two = [(M, U, "What is 2+2?"), (M, A, "2 + 2 = 4.")]
    assert_contexts(
        t,
        [
            two[:1],
            [*two, (M, U, "And 3+3?")],
            [*two, (M, U, "And 3+3?"), (M, A, "3 + 3 = 6.")],
            # pydantic-ai fed back only the compaction item, not the compact output's user messages
            [(CMP, None, ""), (M, U, "And 5+5?")],
        ],
    )
    compact = t.turns[2]
    assert (compact.endpoint, compact.carried_by, compact.reply) == ("compact", "compact", None)
    assert [(o["type"], o.get("role")) for o in compact.output_items] == [
        ("message", "user"),
        ("message", "user"),
        ("compaction", None),
    ]
    assert t.turns[3].context[0].raw["id"] == compact.output_items[2]["id"]
    assert {r.instructions for r in t.turns} == {"You are a helpful math assistant. Give short answers."}


def test_pydantic_ai_server_side_compaction() -> None:
    t = load(
        "pydantic__pydantic-ai__tests__models__cassettes__test_openai_responses__"
        "test_openai_responses_compact_stateful_mode.yaml"
    )
    fox = [(M, U, "Tell me a 300-word story about a fox"), (M, A, "Beneath a canopy of emerald leaves")]
    rabbit = [(M, U, "Now a 300-word story about a rabbit"), (M, A, "In the gentle embrace of sunrise")]
    assert_contexts(
        t,
        [
            fox[:1],
            [*fox, rabbit[0]],
            [*fox, *rabbit, (M, U, "Now a 300-word story about a bear")],
            # every earlier item was resent, but the inline compaction item stands for all of them
            [(CMP, None, ""), (M, U, "What is 2+2?")],
        ],
    )
    assert [o["type"] for o in t.turns[2].output_items] == ["message", "compaction"]
    assert [r.usage.input_tokens if r.usage else None for r in t.turns] == [25, 435, 847, 552]
    assert len(t.turns[3].request["input"]) == 8


def test_openllmetry_gzip_chat_history_three_conversations() -> None:
    t = load(
        "traceloop__openllmetry__packages__opentelemetry-instrumentation-openai__tests__traces__cassettes__"
        "test_chat__test_chat_history_message_dict.yaml"
    )
    ask = (M, U, "Generate a random noun in Korean. Respond with just that word.")
    follow = (M, U, "Now, generate a sentence using the word you just gave me.")
    assert_contexts(
        t,
        [
            [ask],
            [ask, (M, A, "바다"), follow],
            [ask],
            [ask, (M, A, "나무"), follow],
            [ask],
            [ask, (M, A, "바다"), follow],
        ],
    )
    assert [r.reply for r in t.turns] == [
        "바다",
        "나는 바다를 좋아해요.",
        "나무",
        "나는 공원에서 아름다운 나무를 봤어요.",
        "바다",
        "나는 바다를 좋아해요.",
    ]


def test_agentic_api_conversation_continuation_with_added_item() -> None:
    name = (
        "vllm-project__agentic-api__crates__agentic-server-core__tests__cassettes__conversations__"
        "conversations-continuation-openai.yaml"
    )
    t = load(name)
    assert_contexts(
        t,
        [
            [(M, U, "Remember the secret word SAPPHIRE.")],
            [
                (M, U, "Remember the secret word SAPPHIRE."),
                (M, A, "SAPPHIRE"),
                (M, U, "The new secret word is ORCHID."),
                (M, U, "What is the most recent secret word?"),
            ],
        ],
    )
    assert t.turns[1].reply == "ORCHID"
    # the server's own listing (exchange 4, order=asc) equals what the traffic before it implies
    exchanges = t.exchanges
    listing = exchanges[4].response["data"]
    cid = exchanges[0].response["id"]
    rebuilt = conversation_items(exchanges[:4])[cid]
    assert normalise(rebuilt) == [("message", it["role"], it["content"][0]["text"]) for it in listing]


def test_agentic_api_conversation_item_deletion() -> None:
    name = (
        "vllm-project__agentic-api__crates__agentic-server-core__tests__cassettes__conversations__"
        "conversations-deletion-openai.yaml"
    )
    t = load(name)
    assert_contexts(t, [[(M, U, "Remember the secret word SAPPHIRE.")]])
    exchanges = t.exchanges
    cid = exchanges[0].response["id"]
    assert exchanges[3].method == "DELETE"
    before = conversation_items(exchanges[:3])[cid]
    after = conversation_items(exchanges[:4])[cid]
    assert [c.text for c in before] == [
        "Remember the secret word SAPPHIRE. Reply with only SAPPHIRE.",
        "SAPPHIRE",
        "The new secret word is ORCHID.",
    ]
    listing = exchanges[4].response["data"]
    assert normalise(after) == [("message", it["role"], it["content"][0]["text"]) for it in listing]
    assert len(after) == 2


def test_count_tokens_file_has_no_model_call() -> None:
    t = load("pydantic__pydantic-ai__tests__models__cassettes__test_openai_responses__test_responses_count_tokens.yaml")
    assert t.turns == []
    assert [e.path for e in t.exchanges] == ["/v1/responses/input_tokens"]
