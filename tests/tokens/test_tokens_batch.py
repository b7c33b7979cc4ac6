"""Counting many texts in one tiktoken call: exactly what counting each alone gives, or not batched at all."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from convotest import tokens
from convotest.reconstruct import build_transcript
from convotest.tokenizer_data import get_encoding
from convotest.tokens import TokenCounter, _count_each, _count_joined, annotate, count_text, estimate_record
from convotest.transcript import ContextItem, Exchange, Transcript


def _alone(encoding: tiktoken.Encoding, texts: list[str]) -> list[int]:
    return [len(encoding.encode_ordinary(text)) for text in texts]


# Pieces that stress what a batch could get wrong at the joins: whitespace that tiktoken's lookahead treats
# differently at the end of a text, special-token text, half separators, and text in several scripts.
PIECES = st.sampled_from(
    [" ", "  ", "\n", "\n\n", "\t", " \n ", "<|endoftext|>", "<|endofprompt|>", "<|", "|>", "<|endoftext", "'s"]
)
TEXTS = st.lists(
    st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=6).map("".join),
    min_size=tokens._BATCH_FROM,
    max_size=12,
)


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
@settings(max_examples=150, deadline=None)
@given(texts=TEXTS)
def test_a_batch_counts_each_text_as_alone(name: str, texts: list[str]) -> None:
    encoding = get_encoding(name)
    assert _count_each(encoding, texts) == _alone(encoding, texts)


def test_texts_without_the_separator_are_counted_in_one_joined_encode() -> None:
    encoding = get_encoding("o200k_base")
    texts = ["Tell me a joke.", "Why did the chicken cross the road?", "  spaced  ", "line\n", "日本語 🙂"]
    assert _count_joined(encoding, encoding._core_bpe, texts) == _alone(encoding, texts)


@pytest.mark.parametrize(
    "texts",
    [
        ["one", "two <|endoftext|> inside", "three", "four"],
        ["one", "two", "three", "a lone \ud800 surrogate"],
    ],
)
def test_texts_a_join_cannot_split_exactly_are_not_batched_yet_counted_alike(texts: list[str]) -> None:
    encoding = get_encoding("o200k_base")
    assert _count_joined(encoding, encoding._core_bpe, texts) is None
    assert _count_each(encoding, texts) == [TokenCounter().text(t, encoding="o200k_base") for t in texts]


def test_batches_past_the_size_bound_are_cut_into_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "_BATCH_CHARS", 16)
    encoding = get_encoding("cl100k_base")
    texts = [f"text number {i} " * (i % 4 + 1) for i in range(40)]
    assert _count_joined(encoding, encoding._core_bpe, texts) == _alone(encoding, texts)


def _bytes_encoding() -> tiktoken.Encoding:
    # Byte tokens 0-255 and the separator as 256. Laid out as 4-byte tokens, the separator's bytes also stand
    # astride two tokens, off their boundary, wherever "\x01" (token 1) follows another byte.
    return tiktoken.Encoding(
        "convotest-bytes",
        pat_str=r"\S+|\s+",
        mergeable_ranks={bytes([b]): b for b in range(256)},
        special_tokens={"<|endoftext|>": 256},
    )


def test_separator_bytes_found_off_a_token_boundary_are_not_taken_for_a_separator() -> None:
    encoding = _bytes_encoding()
    plain = ["abc", "de f", "g", "hij"]
    assert _count_joined(encoding, encoding._core_bpe, plain) == [3, 4, 1, 3]
    astride = ["abc", "x\x01y", "g", "hij"]
    assert _count_joined(encoding, encoding._core_bpe, astride) is None
    assert _count_each(encoding, astride) == [3, 3, 1, 3]


def test_an_encoding_without_the_separator_counts_each_text_alone() -> None:
    encoding = tiktoken.Encoding(
        "convotest-no-separator",
        pat_str=r"\S+|\s+",
        mergeable_ranks={bytes([b]): b for b in range(256)},
        special_tokens={},
    )
    texts = ["abc", "de f", "g", "hij"]
    assert _count_joined(encoding, encoding._core_bpe, texts) is None
    assert _count_each(encoding, texts) == [3, 4, 1, 3]


# --- annotate: a transcript's texts counted in one batch before its calls -------------------------------


def _conversation(models: list[str]) -> list[Exchange]:
    """A ``manual_responses`` conversation, one call per model, as traffic is read (each body parsed alone)."""
    history: list[dict[str, Any]] = []
    exchanges = []
    for i, model in enumerate(models):
        history.append({"role": "user", "content": f"Question {i}: what comes after {i}?"})
        out = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": f"{i + 1}."}]}
        response = {"id": f"resp_{i}", "object": "response", "status": "completed", "output": [out], "model": model}
        request = {"model": model, "instructions": "Count.", "input": list(history), "store": False}
        exchanges.append(
            Exchange(i, "POST", "/v1/responses", request=json.loads(json.dumps(request)), response=response)
        )
        history.append(out)
    return exchanges


def _estimates(t: Transcript) -> list[int | None]:
    return [rec.tokens.estimate if rec.tokens else None for rec in t.turns]


def test_annotate_counts_the_plain_texts_of_a_transcript_in_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    batches: list[list[str]] = []

    def spy(encoding: tiktoken.Encoding, texts: Sequence[str]) -> list[int]:
        batches.append(list(texts))
        return _count_each(encoding, texts)

    monkeypatch.setattr(tokens, "_count_each", spy)
    t = build_transcript(_conversation(["gpt-4o"] * 6))
    counter = TokenCounter()
    annotate(t, counter=counter)
    plain = [ci.text for ci in t.items]
    assert batches == [plain]  # the 12 texts together, before any call is counted
    # the walk finds them cached: only the instructions and the roles' framing are counted on their own
    assert counter.encoded == len(plain) + len({"Count.", "system", "user", "assistant"})
    assert _estimates(t) == [estimate_record(rec, TokenCounter()) for rec in t.turns]


def test_calls_under_another_encoding_count_their_texts_as_met() -> None:
    # primed under gpt-4o's o200k_base; gpt-4's calls count theirs under cl100k_base as the walk meets them
    t = build_transcript(_conversation(["gpt-4o", "gpt-4o", "gpt-4", "gpt-4", "gpt-4o", "gpt-4"]))
    annotate(t)
    assert _estimates(t) == [estimate_record(rec, TokenCounter()) for rec in t.turns]


def test_items_put_in_a_context_after_reconstruct_count_as_they_stand() -> None:
    t = build_transcript(_conversation(["gpt-4o"] * 5))
    text = "An edited first question, much longer than the one sent."
    edited = ContextItem("message", "user", text, {"role": "user", "content": text}, plain=True)
    last = t.turns[-1]
    last.context = [edited, *last.context[1:]]
    assert edited not in t.items  # never counted in the batch
    annotate(t)
    assert _estimates(t) == [estimate_record(rec, TokenCounter()) for rec in t.turns]
    unedited = build_transcript(_conversation(["gpt-4o"] * 5))
    annotate(unedited)
    was = count_text("Question 0: what comes after 0?", "gpt-4o")
    assert _estimates(t) == [*_estimates(unedited)[:-1], _estimates(unedited)[-1] + count_text(text, "gpt-4o") - was]


def test_a_request_model_that_is_not_a_string_renders_as_the_record_model() -> None:
    # gpt-5 renders an assistant message 2 tokens longer and primes the reply with 1 less than gpt-4o
    exchanges = _conversation(["gpt-5", "gpt-5"])
    for ex in exchanges:
        ex.request["model"] = None
    t = build_transcript(exchanges)
    assert [rec.model for rec in t.turns] == ["gpt-5", "gpt-5"]  # the response's
    annotate(t)
    gpt4o = build_transcript(_conversation(["gpt-4o", "gpt-4o"]))
    annotate(gpt4o)
    assert _estimates(t) == [estimate_record(rec, TokenCounter()) for rec in t.turns]
    # the second call's context holds one assistant message
    assert _estimates(t) == [n - 1 + 2 * assistants for n, assistants in zip(_estimates(gpt4o), [0, 1], strict=True)]
