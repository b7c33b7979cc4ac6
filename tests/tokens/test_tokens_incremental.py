"""annotate counts growing contexts incrementally and texts in one batch: same figures as counting each alone."""

from __future__ import annotations

from typing import Any

import pytest

from convotest.tokens import TokenCounter, annotate, count_text, estimate_record, model_limits
from convotest.transcript import ContextItem, Exchange, Transcript, TurnRecord

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
    return ContextItem("message", role, text, {"role": role, "content": text, **raw})


def _compaction(blob: str) -> ContextItem:
    return ContextItem("compaction", None, None, {"type": "compaction", "encrypted_content": blob})


def _record(index: int, context: list[ContextItem]) -> TurnRecord:
    exchange = Exchange(index=index, method="POST", path="/v1/responses")
    request = {"model": "gpt-4o", "input": []}
    return TurnRecord(
        index=index,
        endpoint="responses",
        turn=index,
        exchange=exchange,
        request=request,
        response={"output": []},
        http_status=200,
        context=context,
        instructions="Be brief.",
        reply="ok",
        status="completed",
        output_items=[],
        usage=None,
        model="gpt-4o",
        carried_by="manual_responses",
    )


def _annotated(contexts: list[list[ContextItem]]) -> list[int]:
    transcript = Transcript([_record(i, c) for i, c in enumerate(contexts)], [])
    annotate(transcript, limits=model_limits("gpt-4o"))
    return [rec.tokens.estimate for rec in transcript.turns if rec.tokens is not None]


def _alone(contexts: list[list[ContextItem]]) -> list[int]:
    return [estimate_record(_record(i, c), TokenCounter()) for i, c in enumerate(contexts)]


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
