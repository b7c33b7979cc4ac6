"""Transcripts for terminals: ``convotest show`` and ``convotest diff``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from convotest.transcript import ContextItem, Transcript, TurnRecord

__all__ = ["describe_item", "diff_transcripts", "render_transcript"]

_WIDTH = 100


def _clip(text: str | None, width: int = _WIDTH) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def describe_item(item: ContextItem) -> str:
    """One line for a context item: ``user: Tell me a joke`` or ``[compaction]``."""
    if item.kind == "message":
        return f"{item.role}: {_clip(item.text)}"
    if item.text:
        return f"[{item.kind}] {_clip(item.text)}"
    return f"[{item.kind}]"


def _tokens_line(record: TurnRecord) -> str:
    info = record.tokens
    if info is None:
        return ""
    parts = [f"estimate {info.estimate:,}"]
    if info.reported_input is not None:
        parts.append(f"reported input {info.reported_input:,}")
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


def render_transcript(transcript: Transcript, header: Mapping[str, Any] | None = None, *, colour: bool = False) -> str:
    """The whole transcript, one block per model call: what the model saw, what it replied, tokens."""

    def bold(text: str) -> str:
        return f"\033[1m{text}\033[0m" if colour else text

    header = header or {}
    lines: list[str] = []
    if header:
        lines.append(
            bold(f"{header.get('scenario', '?')} [{header.get('mode', '?')}]")
            + f"  model {header.get('model', '?')}, recorded with convotest {header.get('convotest', '?')}, "
            f"openai {header.get('openai', '?')}"
        )
    for record in transcript.turns:
        turn = f"turn {record.turn + 1}" if record.turn is not None else f"call {record.index + 1}"
        lines.append(bold(f"── {turn}: {record.endpoint} via {record.carried_by} (HTTP {record.http_status})"))
        if record.instructions:
            lines.append(f"   instructions: {_clip(record.instructions)}")
        lines.append(f"   the model saw {len(record.context)} item(s){' (partial)' if record.partial else ''}:")
        lines.extend(f"     {n}. {describe_item(item)}" for n, item in enumerate(record.context, 1))
        if record.endpoint == "compact":
            lines.append(f"   compacted to {len(record.output_items)} item(s)")
        elif record.reply is not None:
            lines.append(f"   reply ({record.status}): {_clip(record.reply)}")
        tokens = _tokens_line(record)
        if tokens:
            lines.append(f"   {tokens}")
        lines.extend(f"   note: {note}" for note in record.notes)
    return "\n".join(lines)


def _key(record: TurnRecord) -> Any:
    return record.turn if record.turn is not None else record.index


def diff_transcripts(old: Transcript, new: Transcript) -> list[str]:
    """Turn-aware differences: per turn, what the model saw, its reply, status and input tokens."""
    lines: list[str] = []
    old_by = {_key(r): r for r in old.turns}
    new_by = {_key(r): r for r in new.turns}
    for key in sorted(set(old_by) | set(new_by), key=lambda k: (k is None, k)):
        a, b = old_by.get(key), new_by.get(key)
        label = f"turn {key + 1}" if isinstance(key, int) else str(key)
        if a is None or b is None:
            lines.append(f"{label}: only in {'new' if a is None else 'old'}")
            continue
        seen_a = [describe_item(i) for i in a.context]
        seen_b = [describe_item(i) for i in b.context]
        if seen_a != seen_b:
            lines.append(f"{label}: the model saw {len(seen_a)} → {len(seen_b)} item(s)")
            for n in range(max(len(seen_a), len(seen_b))):
                x = seen_a[n] if n < len(seen_a) else "(none)"
                y = seen_b[n] if n < len(seen_b) else "(none)"
                if x != y:
                    lines.append(f"  item {n + 1}: {x} → {y}")
        if a.reply != b.reply:
            lines.append(f"{label}: reply {_clip(a.reply, 60)!r} → {_clip(b.reply, 60)!r}")
        if a.status != b.status:
            lines.append(f"{label}: status {a.status} → {b.status}")
        ua = a.usage.input_tokens if a.usage else None
        ub = b.usage.input_tokens if b.usage else None
        if ua != ub:
            lines.append(f"{label}: input tokens {ua} → {ub}")
    return lines
