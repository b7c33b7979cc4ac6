"""The emulator's deterministic assistant text (docs/architecture.md, "deterministic replies")."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["COUNTED_ROLES", "MAX_WORDS", "message_text", "reply_for", "truncate_to_tokens"]

#: Roles of the messages a reply counts (``instructions`` are not a message; Chat ``tool`` messages neither).
COUNTED_ROLES = frozenset({"user", "assistant", "system", "developer"})
#: Longest word list a reply produces, so ``1000000000 words`` cannot exhaust memory.
MAX_WORDS = 20_000
QUOTE_CHARS = 60

_WORDS = re.compile(r"(\d+) words")
_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})


def message_text(content: Any) -> str:
    """The text of a message content: the string itself, or its text parts concatenated."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    out: list[str] = []
    for part in content:
        if isinstance(part, Mapping) and part.get("type", "text") in _TEXT_PARTS:
            text = part.get("text")
            if isinstance(text, str):
                out.append(text)
    return "".join(out)


def _quote(text: str) -> str:
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "…"


def reply_for(messages: Iterable[Mapping[str, Any]]) -> str:
    """The reply to an expanded context: every item that is a message (any other item is ignored)."""
    n = 0
    first: str | None = None
    last = ""
    for item in messages:
        role = item.get("role")
        if role not in COUNTED_ROLES or item.get("type", "message") != "message":
            continue
        n += 1
        if role == "user":
            last = message_text(item.get("content"))
            if first is None:
                first = last
    text = f'I have seen {n} messages. You first said: "{_quote(first or "")}". You just said: "{_quote(last)}".'
    found = _WORDS.search(last)
    if found:
        count = min(int(found.group(1)), MAX_WORDS)
        words = " ".join(f"w{i}" for i in range(1, count + 1))
        text += f" Here are {count} words: {words}."
    return text


def truncate_to_tokens(text: str, budget: int, count: Callable[[str], int]) -> str:
    """The longest word-boundary prefix of ``text`` whose token count is ≤ ``budget``."""
    if budget <= 0:
        return ""
    if count(text) <= budget:
        return text
    cuts: Sequence[int] = [m.start() for m in re.finditer(r" ", text)]
    lo, hi = 0, len(cuts) - 1
    best = ""
    while lo <= hi:
        mid = (lo + hi) // 2
        prefix = text[: cuts[mid]]
        if count(prefix) <= budget:
            best = prefix
            lo = mid + 1
        else:
            hi = mid - 1
    return best
