"""Transcripts for terminals: ``convotest show`` and ``convotest diff``.

``show`` prints one block per model call. A conversation resends (or the server keeps) everything said
before, so by default each block lists only the items that are new since the previous call and says how
many came before unchanged; ``full=True`` lists every item every time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from convotest.transcript import ContextItem, Transcript, TurnRecord

__all__ = ["describe_item", "diff_transcripts", "render_transcript"]

_WIDTH = 100


def _clip(text: str | None, width: int = _WIDTH) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def describe_item(item: ContextItem, width: int = _WIDTH) -> str:
    """One line for a context item: ``user: Tell me a joke`` or ``[compaction]``."""
    if item.kind == "message":
        return f"{item.role}: {_clip(item.text, width)}"
    if item.text:
        return f"[{item.kind}] {_clip(item.text, width)}"
    return f"[{item.kind}]"


def _tokens_line(record: TurnRecord) -> str:
    info = record.tokens
    if info is None:
        return ""
    if info.reported_input is not None:
        parts = [f"input {info.reported_input:,}"]
        if info.estimate != info.reported_input:
            parts.append(f"estimate {info.estimate:,}")
    else:
        parts = [f"input {info.estimate:,} (estimated)"]
    if info.cached:
        parts.append(f"cached {info.cached:,}")
    if info.output is not None:
        parts.append(f"output {info.output:,}")
    if info.reasoning:
        parts.append(f"reasoning {info.reasoning:,}")
    parts.append(f"window {info.window_used:.1%}")
    parts.append(f"headroom {info.headroom:,}")
    parts.append(f"billed so far {info.billed_input:,}")
    if info.truncated:
        parts.append("OUTPUT CUT")
    return "tokens: " + ", ".join(parts)


def _shared_prefix(a: Sequence[ContextItem], b: Sequence[ContextItem]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _styler(colour: bool) -> Callable[[str, str], str]:
    def style(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if colour else text

    return style


def render_transcript(
    transcript: Transcript, header: Mapping[str, Any] | None = None, *, colour: bool = False, full: bool = False
) -> str:
    """The whole transcript, one block per model call: what the model saw, what it replied, tokens."""
    style = _styler(colour)
    header = header or {}
    lines: list[str] = []
    if header:
        lines.append(
            style(f"{header.get('scenario', '?')} [{header.get('mode', '?')}]", "1")
            + f"  model {header.get('model', '?')} · recorded with convotest {header.get('convotest', '?')}, "
            f"openai {header.get('openai', '?')} · {len(transcript.turns)} model call(s)"
        )
    previous: Sequence[ContextItem] = []
    for record in transcript.turns:
        turn = f"turn {record.turn + 1}" if record.turn is not None else f"call {record.index + 1}"
        status = f", {record.status}" if record.status else ""
        lines.append("")
        lines.append(
            style(f"── {turn}: {record.endpoint} via {record.carried_by}", "1")
            + style(f" (HTTP {record.http_status}{status})", "2")
        )
        if record.instructions:
            lines.append(f"   instructions: {_clip(record.instructions)}")
        context = record.context
        kept = 0 if full else _shared_prefix(previous, context)
        partial = " (partial: the traffic does not show all of it)" if record.partial else ""
        if kept:
            same = "item 1" if kept == 1 else f"items 1–{kept}"
            lines.append(
                f"   the model saw {len(context)} item(s){partial}: "
                + style(f"{same} as in the previous call, then {len(context) - kept} new:", "2")
            )
        else:
            lines.append(f"   the model saw {len(context)} item(s){partial}:")
        lines.extend(f"     {n}. {describe_item(item)}" for n, item in enumerate(context, 1) if n > kept)
        if record.endpoint == "compact":
            lines.append(f"   compacted to {len(record.output_items)} item(s)")
        elif record.reply is not None:
            lines.append("   " + style("reply:", "1") + f" {_clip(record.reply, 3 * _WIDTH)}")
        tokens = _tokens_line(record)
        if tokens:
            lines.append("   " + style(tokens, "2"))
        lines.extend("   " + style(f"note: {note}", "33") for note in record.notes)
        previous = context
    return "\n".join(lines).lstrip("\n")


def _around_difference(a: str | None, b: str | None, width: int = 90) -> tuple[str, str]:
    """Both texts flattened and clipped to ``width``, starting a little before where they first differ."""
    x, y = " ".join((a or "").split()), " ".join((b or "").split())
    same = 0
    for cx, cy in zip(x, y, strict=False):
        if cx != cy:
            break
        same += 1
    start = max(0, same - 30)
    if start:
        x, y = "…" + x[start:], "…" + y[start:]
    return _clip(x, width) if a is not None else "(none)", _clip(y, width) if b is not None else "(none)"


def _key(record: TurnRecord) -> Any:
    return record.turn if record.turn is not None else record.index


def _input(record: TurnRecord) -> int | None:
    if record.usage is not None:
        return record.usage.input_tokens
    return record.tokens.estimate if record.tokens is not None else None


def diff_transcripts(old: Transcript, new: Transcript, *, colour: bool = False) -> list[str]:
    """Turn-aware differences, grouped by turn: what the model saw, its reply, status and input tokens.

    Each turn is compared on its last model call (the one its expectations are checked on). Empty when
    the two recordings agree on all of that.
    """
    style = _styler(colour)
    lines: list[str] = []
    old_by = {_key(r): r for r in old.turns}
    new_by = {_key(r): r for r in new.turns}
    for key in sorted(set(old_by) | set(new_by)):
        a, b = old_by.get(key), new_by.get(key)
        label = style(f"turn {key + 1}", "1")
        if a is None or b is None:
            lines.append(f"{label}: only in the {'new' if a is None else 'old'} recording")
            continue
        found: list[str] = []
        seen_a = [describe_item(i, 10**6) for i in a.context]
        seen_b = [describe_item(i, 10**6) for i in b.context]
        if seen_a != seen_b:
            found.append(f"the model saw {len(seen_a)} → {len(seen_b)} item(s)")
            for n in range(max(len(seen_a), len(seen_b))):
                x = seen_a[n] if n < len(seen_a) else None
                y = seen_b[n] if n < len(seen_b) else None
                if x != y:
                    was, now = _around_difference(x, y)
                    found.append(f"  item {n + 1}:")
                    if x is not None:
                        found.append("    " + style(f"- {was}", "31"))
                    if y is not None:
                        found.append("    " + style(f"+ {now}", "32"))
        if a.reply != b.reply:
            was, now = _around_difference(a.reply, b.reply)
            found.append("reply:")
            found.append("    " + style(f"- {was}", "31"))
            found.append("    " + style(f"+ {now}", "32"))
        if a.status != b.status:
            found.append(f"status {a.status} → {b.status}")
        ia, ib = _input(a), _input(b)
        if ia != ib:
            delta = f" ({ib - ia:+,})" if ia is not None and ib is not None else ""
            found.append(f"input tokens {ia if ia is None else f'{ia:,}'} → {ib if ib is None else f'{ib:,}'}{delta}")
        if found:
            lines.append(f"{label}:")
            lines.extend("  " + line for line in found)
    return lines
