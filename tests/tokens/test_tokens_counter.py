"""TokenCounter caching: a long conversation costs about one encoding of its distinct text.

The encoder is wrapped to count its calls; nothing here measures time.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st
from tokens_helpers import msg, record, transcript

from convotest.tokenizer_data import get_encoding
from convotest.tokens import TokenCounter, annotate, count_items_tokens, model_limits, reply_primer
from convotest.transcript import ContextItem


class CountingEncoder:
    """tiktoken, with every call recorded."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()

    def __call__(self, encoding: str, text: str) -> int:
        self.calls[(encoding, text)] += 1
        return len(get_encoding(encoding).encode(text, disallowed_special=()))


def history(turns: int) -> list[dict[str, str]]:
    items: list[dict[str, str]] = []
    for i in range(turns):
        items.append({"role": "user", "content": f"question number {i}: what comes after {i}?"})
        items.append({"role": "assistant", "content": f"after {i} comes {i + 1}."})
    return items


def test_a_growing_history_encodes_each_text_once() -> None:
    enc = CountingEncoder()
    counter = TokenCounter(encoder=enc)
    items = history(1_000)
    for turn in range(1, 1_001):
        counter.items(items[: 2 * turn], model="gpt-4o", instructions="Be brief.")
    # every distinct text (2,000 messages, the instructions and three role names) reached the encoder once
    assert sum(enc.calls.values()) == len(enc.calls) == 2_000 + 1 + 3
    assert counter.encoded == 2_004


def test_cached_counts_equal_uncached_counts() -> None:
    items = history(50)
    cached = TokenCounter()
    for turn in range(1, 51):
        assert cached.items(items[: 2 * turn], model="gpt-4.1") == count_items_tokens(
            items[: 2 * turn], model="gpt-4.1"
        )
    assert TokenCounter().items(items, model="gpt-4.1") == cached.items(items, model="gpt-4.1")


def test_short_and_typed_forms_share_one_cache_entry() -> None:
    enc = CountingEncoder()
    counter = TokenCounter(encoder=enc)
    short = {"role": "assistant", "content": "after 1 comes 2."}
    typed = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "after 1 comes 2.", "annotations": []}],
    }
    assert counter.item(short, model="gpt-4o") == counter.item(typed, model="gpt-4o")
    assert sum(enc.calls.values()) == 2  # "assistant" and the text


def test_models_with_different_rules_do_not_share_entries() -> None:
    counter = TokenCounter()
    item = {"role": "assistant", "content": "after 1 comes 2."}
    assert counter.item(item, model="gpt-5") == counter.item(item, model="gpt-4o") + 2
    # cl100k_base is a different encoding: its own text entries
    enc = CountingEncoder()
    counter = TokenCounter(encoder=enc)
    counter.text("Sunny", "gpt-4o")
    counter.text("Sunny", "gpt-4")
    assert set(enc.calls) == {("o200k_base", "Sunny"), ("cl100k_base", "Sunny")}


def test_caches_are_bounded() -> None:
    enc = CountingEncoder()
    counter = TokenCounter(encoder=enc, max_entries=10)
    for i in range(25):
        counter.text(f"text {i}", "gpt-4o")
    assert sum(map(len, counter._texts.values())) <= 10
    counter.text("text 24", "gpt-4o")  # still cached after the last reset
    assert enc.calls[("o200k_base", "text 24")] == 1


def test_annotate_a_long_transcript_through_one_counter() -> None:
    enc = CountingEncoder()
    counter = TokenCounter(encoder=enc)
    turns = 300
    context: list[ContextItem] = []
    records = []
    for i in range(turns):
        context = [*context, msg("user", f"question number {i}"), msg("assistant", f"answer {i}")]
        records.append(record(i, list(context)))
    annotate(transcript(*records), limits=model_limits("gpt-4o"), counter=counter)
    assert len(enc.calls) == 2 * turns + 2  # every message text, "user" and "assistant"
    assert max(enc.calls.values()) == 1
    last = records[-1].tokens
    assert last is not None and last.estimate == TokenCounter().items(
        [c.raw for c in records[-1].context], model="gpt-4o"
    )


messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system", "developer"]), "content": st.text(max_size=40)}
    ),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(items=messages, model=st.sampled_from(["gpt-4o", "gpt-4", "gpt-5-mini"]))
def test_counts_are_additive_and_cache_independent(items: list[dict[str, str]], model: str) -> None:
    shared = TokenCounter()
    total = shared.items(items, model=model)
    assert total == TokenCounter().items(items, model=model)
    primer = reply_primer(model)
    assert total == primer + sum(TokenCounter().items([m], model=model) - primer for m in items)
    typed = [
        {"type": "message", "role": m["role"], "content": [{"type": "input_text", "text": m["content"]}]} for m in items
    ]
    assert shared.items(typed, model=model) == total
