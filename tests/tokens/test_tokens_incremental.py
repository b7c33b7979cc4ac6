"""annotate counts growing contexts incrementally, each text once: the same figures as counting each call alone."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from convotest.errors import ConfigError
from convotest.tokenizer_data import get_encoding
from convotest.tokens import TokenCounter, annotate, count_text, estimate_record, model_limits
from convotest.transcript import ContextItem, Endpoint, Exchange, Transcript, TurnRecord

TRICKY = [
    "hello",
    " leading space",
    "trailing space ",
    "two\n\nparagraphs\n",
    "   ",
    "ünïcödé — “quotes” 日本語 🙂",
    "special <|endoftext|> text inside",
    "<|fim_prefix|> other special text",
    "x" * 3000,
    "code: def f(x):\n    return x  # comment\n",
    "1234567890 9876543210",
    "a lone \ud800 surrogate, as JSON can hold",
]


def test_prime_counts_exactly_like_one_text_at_a_time() -> None:
    counter = TokenCounter()
    counter.prime(TRICKY, encoding="o200k_base")
    assert counter.encoded == len(TRICKY)
    for text in TRICKY:
        assert counter.text(text, encoding="o200k_base") == count_text(text, "gpt-4o"), text
    assert counter.encoded == len(TRICKY)  # every later lookup is a cache hit


def test_prime_goes_through_a_custom_encoder() -> None:
    calls: list[str] = []

    def encoder(encoding: str, text: str) -> int:
        calls.append(text)
        return len(text)

    counter = TokenCounter(encoder=encoder)
    counter.prime(["ab", "abc", "ab", ""], encoding="o200k_base")
    assert calls == ["ab", "abc"]
    assert counter.text("abc", encoding="o200k_base") == 3


def _msg(role: str, text: str, **raw: Any) -> ContextItem:
    # Plain (counted from role and text alone) unless it holds more, as reconstruct marks it.
    return ContextItem("message", role, text, {"role": role, "content": text, **raw}, plain=not raw)


def _compaction(blob: str) -> ContextItem:
    return ContextItem("compaction", None, None, {"type": "compaction", "encrypted_content": blob})


def _record(
    index: int,
    context: list[ContextItem],
    *,
    model: str = "gpt-4o",
    instructions: str | None = "Be brief.",
    endpoint: Endpoint = "responses",
) -> TurnRecord:
    path = "/v1/chat/completions" if endpoint == "chat" else "/v1/responses"
    exchange = Exchange(index=index, method="POST", path=path)
    request = {"model": model, "input": []}
    return TurnRecord(
        index=index,
        endpoint=endpoint,
        turn=index,
        exchange=exchange,
        request=request,
        response={"output": []},
        http_status=200,
        context=context,
        instructions=instructions,
        reply="ok",
        status="completed",
        output_items=[],
        usage=None,
        model=model,
        carried_by="manual_responses",
    )


def _annotated(contexts: list[list[ContextItem]], counter: TokenCounter | None = None) -> list[int]:
    transcript = Transcript([_record(i, c) for i, c in enumerate(contexts)], [])
    annotate(transcript, limits=model_limits("gpt-4o"), counter=counter)
    return [rec.tokens.estimate for rec in transcript.turns if rec.tokens is not None]


def _alone(contexts: list[list[ContextItem]]) -> list[int]:
    return [estimate_record(_record(i, c), TokenCounter()) for i, c in enumerate(contexts)]


def _estimates(records: list[TurnRecord]) -> list[int | None]:
    return [rec.tokens.estimate if rec.tokens is not None else None for rec in records]


def test_growing_context_counts_as_each_call_alone() -> None:
    items = [_msg("user" if i % 2 == 0 else "assistant", f"message number {i} " * (i % 7 + 1)) for i in range(40)]
    contexts = [items[: k + 1] for k in range(len(items))]
    assert _annotated(contexts) == _alone(contexts)


@pytest.mark.parametrize(
    "contexts",
    [
        # a new compaction item where the previous call had another one: equal as ContextItems, not in size
        [[_compaction("a" * 100), _msg("user", "x")], [_compaction("b" * 900), _msg("user", "x")]],
        # a later compaction drops what came before it (but user messages)
        [
            [_msg("user", "hi"), _msg("assistant", "hello there")],
            [_msg("user", "hi"), _msg("assistant", "hello there"), _compaction("c" * 400), _msg("user", "more")],
        ],
        # the context shrinks, then grows from something else
        [[_msg("user", "a"), _msg("assistant", "b")], [_msg("user", "c")], [_msg("user", "c"), _msg("user", "d")]],
        # same text, different name: equal as ContextItems, counted differently
        [[_msg("user", "same")], [_msg("user", "same", name="someone"), _msg("user", "next")]],
        # same text, an image part besides it
        [
            [
                ContextItem(
                    "message", "user", "look", {"role": "user", "content": [{"type": "input_text", "text": "look"}]}
                )
            ],
            [
                ContextItem(
                    "message",
                    "user",
                    "look",
                    {"role": "user", "content": [{"type": "input_text", "text": "look"}, {"type": "input_image"}]},
                ),
                _msg("user", "and?"),
            ],
        ],
    ],
)
def test_contexts_that_do_not_simply_extend_are_counted_whole(contexts: list[list[ContextItem]]) -> None:
    assert _annotated(contexts) == _alone(contexts)


# 3 + role 1 + text: A 5, B 7, C 6, D 5 tokens; every call adds the primer 3 and its instructions 7 (3 + 1 + 3)
A, B, C, D = (_msg("user", "alpha"), _msg("assistant", "bravo two"), _msg("user", "charlie"), _msg("user", "delta"))


@pytest.mark.parametrize(
    ("contexts", "expected"),
    [
        ([[A, B, C], [A, C, B, D]], [10 + 5 + 7 + 6, 10 + 5 + 6 + 7 + 5]),  # reordered
        ([[A, B], [A, C]], [10 + 5 + 7, 10 + 5 + 6]),  # same length, the last item replaced
        ([[A, B, C], [A, C, D]], [10 + 5 + 7 + 6, 10 + 5 + 6 + 5]),  # an item dropped from the middle
        ([[], [A], [A, B], [], []], [10, 15, 22, 10, 10]),  # empty contexts, before and after others
    ],
)
def test_contexts_that_reorder_replace_drop_or_empty(contexts: list[list[ContextItem]], expected: list[int]) -> None:
    assert _annotated(contexts) == _alone(contexts) == expected


def test_equal_copies_of_earlier_items_are_counted_whole_with_the_same_figures() -> None:
    # fresh objects equal to the earlier ones (and with equal raw items): not the previous context, same counts
    copies = [ContextItem(ci.kind, ci.role, ci.text, dict(ci.raw)) for ci in (A, B, C)]
    contexts = [[A, B], [*copies[:2], C], [A, B, C, D], [*copies, D, A]]
    assert _annotated(contexts) == _alone(contexts) == [22, 28, 33, 38]


def _with_bases(contexts: list[list[ContextItem]], bases: list[int | None], **kw: Any) -> list[TurnRecord]:
    records = [_record(i, c, **kw) for i, c in enumerate(contexts)]
    for rec, base in zip(records, bases, strict=True):
        rec.context_base = base
    return records


def test_interleaved_conversations_count_from_the_call_reconstruct_names() -> None:
    X, Y = _msg("user", "x-ray"), _msg("assistant", "yankee")
    contexts = [[A], [X], [A, B], [X, Y], [A, B, C], [X, Y, D]]
    records = _with_bases(contexts, [None, None, 0, 1, 2, 3])
    counter = TokenCounter()
    annotate(Transcript(records, []), limits=model_limits("gpt-4o"), counter=counter)
    assert _estimates(records) == _alone(contexts)
    assert counter.encoded == len({"alpha", "bravo two", "charlie", "delta", "x-ray", "yankee"}) + 4


ROLES_TEXTS = [("user", "a"), ("assistant", "b"), ("user", "x"), ("assistant", "y")]


def test_only_what_a_call_adds_to_its_base_is_looked_at() -> None:
    reads: Counter[str] = Counter()

    class Watched(ContextItem):
        """An item that counts how often its raw form is read."""

        def __getattribute__(self, name: str) -> Any:
            if name == "raw":
                reads[object.__getattribute__(self, "text")] += 1
            return object.__getattribute__(self, name)

    a, b, x, y = (Watched("message", role, text, {"role": role, "content": text}) for role, text in ROLES_TEXTS)
    contexts = [[a], [x], [a, b], [x, y], [a, b, a], [x, y, x]]
    records = _with_bases(contexts, [None, None, 0, 1, 2, 3])
    annotate(Transcript(records, []), limits=model_limits("gpt-4o"))
    # each call's own items only: a at calls 0 and 4, b at call 2, x at calls 1 and 5, y at call 3
    assert reads == {"a": 2, "b": 1, "x": 2, "y": 1}


@pytest.mark.parametrize(
    ("contexts", "bases"),
    [
        # edited since: the first item replaced, or the context cut shorter than the base
        ([[A, B], [C, B, D]], [None, 0]),
        ([[A, B, C], [A, B]], [None, 0]),
        # a base that is not in this transcript (a filtered one), or names the call itself
        ([[A], [A, B]], [None, 7]),
        ([[A], [A, B]], [None, 1]),
        # what the call adds holds a compaction item: the server renders what precedes it differently
        ([[A, B], [A, B, _compaction("z" * 80), C]], [None, 0]),
    ],
)
def test_a_base_that_does_not_fit_is_not_used(contexts: list[list[ContextItem]], bases: list[int | None]) -> None:
    records = _with_bases(contexts, bases)
    annotate(Transcript(records, []), limits=model_limits("gpt-4o"))
    assert _estimates(records) == _alone(contexts)


def test_a_base_counted_under_another_model_is_not_used() -> None:
    contexts = [[A, B], [A, B, C]]
    records = _with_bases(contexts, [None, 0])
    records[0].request["model"] = records[0].model = "gpt-5"
    annotate(Transcript(records, []))
    alone = [estimate_record(rec, TokenCounter()) for rec in records]
    assert _estimates(records) == alone == [22 + 2 - 1, 28]


def test_every_kind_of_item_counts_incrementally_as_alone() -> None:
    items = [
        _msg("user", "what is the weather in Paris?"),
        ContextItem(
            "message",
            "assistant",
            "checking",
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "checking"}]},
        ),
        ContextItem(
            "function_call",
            None,
            'get_weather({"city":"Paris"})',
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        ),
        ContextItem(
            "function_call_output", None, "sunny", {"type": "function_call_output", "call_id": "c1", "output": "sunny"}
        ),
        ContextItem("reasoning", None, None, {"type": "reasoning", "id": "rs_1", "encrypted_content": "x" * 50}),
        ContextItem(
            "message",
            "user",
            "look",
            {
                "role": "user",
                "name": "ann",
                "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "detail": "low"},
                    {"type": "input_file", "filename": "notes.txt", "file_data": "rain later"},
                ],
            },
        ),
        ContextItem("compaction", None, None, {"type": "compaction_summary", "summary": "earlier: the weather"}),
        _msg("user", "and tomorrow?"),
    ]
    contexts = [items[: k + 1] for k in range(len(items))]
    assert _annotated(contexts) == _alone(contexts)


def test_instructions_that_change_between_calls() -> None:
    context = [A]
    cases = [("Be brief.", "responses"), ("Be brief.", "responses"), ("Answer in French.", "responses")]
    cases += [(None, "responses"), ("", "responses"), ("", "chat"), ("Be brief.", "chat"), ("Be brief.", "responses")]
    records = [_record(i, context, instructions=text, endpoint=ep) for i, (text, ep) in enumerate(cases)]
    annotate(Transcript(records, []), limits=model_limits("gpt-4o"))
    alone = [estimate_record(_record(i, context, instructions=t, endpoint=ep)) for i, (t, ep) in enumerate(cases)]
    # "Answer in French." is 4 tokens; empty instructions count nothing, but Chat's empty system message does
    assert _estimates(records) == alone == [15, 15, 16, 8, 8, 12, 15, 15]


def test_a_warm_counter_gives_the_same_figures_without_encoding_again() -> None:
    counter = TokenCounter()
    contexts = [[A], [A, B], [A, B, C]]
    first = _annotated(contexts, counter)
    encoded = counter.encoded
    assert encoded == 7  # four texts, "Be brief.", and the roles user, assistant and system
    assert _annotated(contexts, counter) == first == _alone(contexts) == [15, 22, 28]
    assert counter.encoded == encoded


def test_a_model_switch_counts_the_whole_context_under_the_new_rules() -> None:
    # gpt-5 renders each assistant message 2 tokens longer and primes the reply with 1 token less
    contexts = [[A], [A, B], [A, B, C], [A, B, C, D], [A, B, C, D, B]]
    models = ["gpt-4o", "gpt-5", "gpt-5", "gpt-4o", "gpt-5"]
    records = [_record(i, c, model=m) for i, (c, m) in enumerate(zip(contexts, models, strict=True))]
    annotate(Transcript(records, []))
    alone = [estimate_record(_record(i, c, model=m)) for i, (c, m) in enumerate(zip(contexts, models, strict=True))]
    assert _estimates(records) == alone == [15, 22 + 2 - 1, 28 + 2 - 1, 33, 40 + 4 - 1]


def test_an_encoding_switch_keeps_the_shared_instructions_counted() -> None:
    # gpt-4 encodes with cl100k_base, gpt-4o with o200k_base: the same instructions are counted under each
    contexts = [[A], [A, B], [A, B, C]]
    models = ["gpt-4", "gpt-4o", "gpt-4"]
    records = [_record(i, c, model=m) for i, (c, m) in enumerate(zip(contexts, models, strict=True))]
    annotate(Transcript(records, []))
    alone = [estimate_record(_record(i, c, model=m)) for i, (c, m) in enumerate(zip(contexts, models, strict=True))]
    assert _estimates(records) == alone


def test_an_unknown_model_part_way_raises_after_annotating_the_calls_before_it() -> None:
    records = [_record(0, [A]), _record(1, [A, B]), _record(2, [A, B, C], model="gpt-5.4"), _record(3, [A, B, C])]
    with pytest.raises(ConfigError, match=r"unknown model 'gpt-5\.4'"):
        annotate(Transcript(records, []))
    assert _estimates(records) == [15, 22, None, None]


def test_annotate_with_a_custom_encoder_encodes_each_distinct_text_once() -> None:
    calls: Counter[str] = Counter()

    def encoder(encoding: str, text: str) -> int:
        calls[text] += 1
        return len(get_encoding(encoding).encode(text, disallowed_special=()))

    contexts = [[A], [A, B], [A, B, C], [A, C], [A, C, D]]
    assert _annotated(contexts, TokenCounter(encoder=encoder)) == _alone(contexts) == [15, 22, 28, 21, 26]
    texts = {"alpha", "bravo two", "charlie", "delta", "Be brief.", "user", "assistant", "system"}
    assert calls == dict.fromkeys(texts, 1)


def test_tricky_texts_count_in_annotate_as_alone() -> None:
    # special-token text, a lone surrogate (which tiktoken's core refuses), long and blank texts
    items = [_msg("user" if i % 2 == 0 else "assistant", text) for i, text in enumerate(TRICKY)]
    items += [ContextItem("message", "user", text, {"role": "user", "content": text}) for text in TRICKY]
    contexts = [items[: k + 1] for k in range(len(items))]
    assert _annotated(contexts) == _alone(contexts)


def test_a_text_cache_bound_reached_part_way_keeps_the_figures() -> None:
    items = [_msg("user" if i % 2 == 0 else "assistant", f"message {i} " * (i % 5 + 1)) for i in range(60)]
    contexts = [items[: k + 1] for k in range(len(items))]
    counter = TokenCounter(max_entries=16)
    assert _annotated(contexts, counter) == _annotated(contexts) == _alone(contexts)
    assert sum(map(len, counter._texts.values())) <= 16
    # every text is needed once (a call counts only what it adds), so dropping the cache costs no encode here
    assert counter.encoded == 60 + 4


def test_prime_returns_every_count_cached_or_not() -> None:
    counter = TokenCounter()
    assert counter.prime(["hello world", "Sunny"], encoding="o200k_base") == {"": 0, "hello world": 2, "Sunny": 1}
    again = counter.prime(["Sunny", "", "The capital is Paris.", "Sunny"], encoding="o200k_base")
    assert again == {"": 0, "Sunny": 1, "The capital is Paris.": 5}
    assert counter.encoded == 3


@pytest.mark.parametrize(
    "texts",
    [
        ["<|endoftext|>"],
        ["a<|endoftext|>b", "<|endoftext|>", "c", "plain text"],
        ["<|endoftext|><|endoftext|>", "x <|endoftext|>"],
        # half a separator on each side of a gap: still exactly one separator there
        ["ends with <|endoftext", "|> starts the next"],
    ],
)
def test_prime_counts_texts_holding_the_separator_alone(texts: list[str]) -> None:
    counts = TokenCounter().prime(texts, encoding="o200k_base")
    assert [counts[t] for t in texts] == [count_text(t, "gpt-4o") for t in texts]
