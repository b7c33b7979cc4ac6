"""Normalised views of an effective context, and the cross-mode comparison (``same_across_modes``).

Two contexts carried in different modes are the same conversation when their normalised items are
equal: ``(kind, role, text)`` with whitespace collapsed; ids, typed-vs-short-form items, statuses and
annotations are not part of it. Reasoning items are left out unless asked for, since only the Responses
modes carry them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from deepdiff import DeepDiff

from convotest.errors import SourceLoc
from convotest.failures import Failure
from convotest.scenario.model import Scenario
from convotest.transcript import ContextItem, Transcript

__all__ = ["compare_across_modes", "normalise", "normalise_text", "render_diff", "same_across_modes", "short"]

NormItem = tuple[str, str | None, str | None]


def normalise_text(text: str | None) -> str | None:
    """Collapse runs of whitespace to one space and strip the ends (``None`` stays ``None``)."""
    return None if text is None else " ".join(text.split())


def normalise(context: Sequence[ContextItem], *, include_reasoning: bool = False) -> list[NormItem]:
    """``(kind, role, text)`` per item, whitespace normalised; reasoning items dropped unless asked for."""
    out: list[NormItem] = []
    for item in context:
        if item.kind == "reasoning" and not include_reasoning:
            continue
        role = item.role if item.kind == "message" else None
        out.append((item.kind, role, normalise_text(item.text)))
    return out


def short(text: str | None, limit: int = 80) -> str:
    """``repr`` of a text cut to ``limit`` characters with ``…``, for one-line messages."""
    if text is None:
        return "None"
    t = normalise_text(text) or ""
    if len(t) > limit:
        t = t[: limit - 1] + "…"
    return repr(t)


def _fmt(v: Any) -> str:
    if isinstance(v, str):
        return short(v, 120)
    return repr(v)


def render_diff(expected: Any, actual: Any, *, max_lines: int = 20) -> str | None:
    """A deepdiff of ``expected`` → ``actual``, one change a line (``root[2]['content']: 'a' → 'b'``)."""
    dd = DeepDiff(expected, actual, verbose_level=2)
    if not dd:
        return None
    lines: list[str] = []
    for kind in ("values_changed", "type_changes"):
        for path, change in dd.get(kind, {}).items():
            lines.append(f"{path}: {_fmt(change.get('old_value'))} → {_fmt(change.get('new_value'))}")
    for kind, verb in (
        ("iterable_item_removed", "missing"),
        ("dictionary_item_removed", "missing"),
        ("iterable_item_added", "unexpected"),
        ("dictionary_item_added", "unexpected"),
    ):
        for path, value in dd.get(kind, {}).items():
            lines.append(f"{path}: {verb} {_fmt(value)}")
    lines.sort(key=_path_key)
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"… {len(lines) - max_lines} more differences"]
    return "\n".join(lines)


def _path_key(line: str) -> tuple[int, str]:
    # order by the first list index so the earliest differing item is shown first
    head = line.split(":", 1)[0]
    if head.startswith("root[") and "]" in head:
        num = head[5 : head.index("]")]
        if num.isdigit():
            return int(num), line
    return 1 << 30, line


def _describe(item: NormItem | None) -> str:
    if item is None:
        return "nothing"
    kind, role, text = item
    if kind == "message":
        return f"{role}: {short(text, 60)}"
    if text is None:
        return kind
    return f"{kind} {short(text, 60)}"


def _as_dicts(items: Sequence[NormItem]) -> list[dict[str, str | None]]:
    return [{"kind": k, "role": r, "text": t} for k, r, t in items]


def _loc(scenario: Scenario | None, turn: int) -> SourceLoc | None:
    if scenario is None:
        return None
    locs = scenario.expect.locs if scenario.expect is not None else {}
    for key in ("context.same_across_modes", "context"):
        if key in locs:
            return locs[key]
    return scenario.turn_loc(turn) if 0 <= turn < len(scenario.turns) else scenario.loc


def compare_across_modes(
    transcripts: Mapping[str, Transcript], *, include_reasoning: bool = False, scenario: Scenario | None = None
) -> Failure | None:
    """Compare every scenario turn's normalised context across modes; report the first difference.

    The first mode given is the reference. Turns are the scenario turns the exchanges were tagged with;
    each is compared on its last model call, as expectations are. Returns ``None`` when all agree.
    With ``scenario``, the failure points at its ``same_across_modes`` line (else at the turn).
    """
    if len(transcripts) < 2:
        return None
    modes = list(transcripts)
    ref_mode = modes[0]
    turn_ids: set[int] = set()
    for t in transcripts.values():
        turn_ids.update(r.turn for r in t.turns if r.turn is not None)
    for turn in sorted(turn_ids):
        ref_rec = transcripts[ref_mode].last_for_turn(turn)
        for mode in modes[1:]:
            rec = transcripts[mode].last_for_turn(turn)
            if ref_rec is None or rec is None:
                if ref_rec is rec:
                    continue
                missing = ref_mode if ref_rec is None else mode
                return Failure(
                    check="context.same_across_modes",
                    message=f"turn {turn + 1} made no model call in {missing} but did in "
                    f"{mode if missing == ref_mode else ref_mode}",
                    turn=turn,
                    mode=missing,
                    loc=_loc(scenario, turn),
                )
            a = normalise(ref_rec.context, include_reasoning=include_reasoning)
            b = normalise(rec.context, include_reasoning=include_reasoning)
            if a == b:
                continue
            pos = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
            left = a[pos] if pos < len(a) else None
            right = b[pos] if pos < len(b) else None
            sizes = f" ({len(a)} vs {len(b)} items)" if len(a) != len(b) else ""
            return Failure(
                check="context.same_across_modes",
                message=(
                    f"context differs across modes at item {pos + 1}{sizes}: "
                    f"{ref_mode} has {_describe(left)}, {mode} has {_describe(right)}"
                ),
                turn=turn,
                mode=mode,
                loc=_loc(scenario, turn),
                diff=render_diff(_as_dicts(a), _as_dicts(b)),
            )
    return None


#: The name the architecture notes use for the cross-mode check.
same_across_modes = compare_across_modes
