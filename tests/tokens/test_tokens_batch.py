"""Counting many texts in one tiktoken call: exactly what counting each alone gives, or not batched at all."""

from __future__ import annotations

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from convotest import tokens
from convotest.tokenizer_data import get_encoding
from convotest.tokens import TokenCounter, _count_each, _count_joined


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
