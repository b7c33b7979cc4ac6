"""Per-turn checks of ``expect.reply``, ``expect.status`` and ``expect.context`` on a transcript.

Each scenario turn is checked on its last model call (``Transcript.last_for_turn``). Every failure names
the check as the scenario format spells it, gives expected vs actual on one line, and points ``loc`` at
the YAML that set the expectation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from convotest.context import compare_across_modes, normalise_text, render_diff, short
from convotest.errors import SourceLoc
from convotest.failures import Failure
from convotest.scenario.model import ContextExpect, ReplyExpect, Scenario, Turn
from convotest.transcript import ContextItem, Transcript, TurnRecord

__all__ = ["check_across_modes", "check_turns", "count_messages", "starts_with_compaction"]

_MESSAGE_ROLES = ("user", "assistant", "system", "developer")
#: How reconstruct's notes about the server's own view of a context begin.
SERVER_VIEW_NOTE = "the server's "


def count_messages(context: Sequence[ContextItem]) -> int:
    """Message items of a context (user/assistant/system/developer); compaction and reasoning not counted."""
    return sum(1 for it in context if it.kind == "message" and it.role in _MESSAGE_ROLES)


def starts_with_compaction(context: Sequence[ContextItem]) -> bool:
    """Whether the context begins with a compacted window: optional user messages, then a compaction item."""
    for it in context:
        if it.kind == "compaction":
            return True
        if it.kind == "message" and it.role == "user":
            continue
        return False
    return False


def _loc(turn: Turn, key: str) -> SourceLoc | None:
    """The YAML position of ``expect.<key>``, falling back to its parents, then to the turn."""
    locs = turn.expect.locs if turn.expect is not None else {}
    parts = key.split(".")
    while parts:
        got = locs.get(".".join(parts))
        if got is not None:
            return got
        parts.pop()
    return turn.loc


class _Checker:
    def __init__(self, mode: str, turn: Turn, rec: TurnRecord) -> None:
        self.mode = mode
        self.turn = turn
        self.rec = rec
        self.failures: list[Failure] = []

    def fail(self, check: str, message: str, diff: str | None = None) -> None:
        self.failures.append(
            Failure(
                check=check,
                message=message,
                turn=self.turn.index,
                mode=self.mode,
                loc=_loc(self.turn, check),
                diff=diff,
            )
        )

    def reply(self, exp: ReplyExpect) -> None:
        text = self.rec.reply or ""
        for s in exp.contains:
            if s not in text:
                self.fail("reply.contains", f"reply does not contain {s!r}: got {short(text)}")
        for s in exp.not_contains:
            if s in text:
                self.fail("reply.not_contains", f"reply contains {s!r}: got {short(text)}")
        if exp.matches is not None:
            try:
                found = re.search(exp.matches, text, re.DOTALL) is not None
            except re.error as exc:
                self.fail("reply.matches", f"invalid regular expression {exp.matches!r}: {exc}")
                return
            if not found:
                self.fail("reply.matches", f"reply does not match /{exp.matches}/: got {short(text)}")

    def status(self, expected: str) -> None:
        actual = self.rec.status
        if actual == expected:
            return
        detail = ""
        resp = self.rec.response or {}
        inc = resp.get("incomplete_details")
        if isinstance(inc, dict) and inc.get("reason"):
            detail = f" (reason: {inc['reason']})"
        self.fail("status", f"status is {actual!r}{detail}, expected {expected!r}")

    def context(self, exp: ContextExpect) -> None:
        ctx = self.rec.context
        messages = [it for it in ctx if it.kind == "message" and it.role in _MESSAGE_ROLES]
        # A partial context (state begun outside the traffic: a reused conversation, a chain from an
        # earlier run) cannot satisfy a count, an order or an exact list, whatever is visible of it.
        partial = self.rec.partial
        why = ""
        if partial:
            reason = next((n for n in self.rec.notes if "partial" in n), "the traffic does not show all of it")
            why = f": the context is partial — {reason}"
        if exp.messages is not None and (partial or len(messages) != exp.messages):
            roles = ", ".join(str(m.role) for m in messages)
            count = f"at least {len(messages)}" if partial else str(len(messages))
            self.fail(
                "context.messages",
                f"context has {count} messages, expected {exp.messages} (roles: {roles or 'none'}){why}",
            )
        if exp.roles is not None:
            actual_roles = [str(m.role) for m in messages]
            if partial or actual_roles != list(exp.roles):
                after = "… " if partial else ""
                self.fail(
                    "context.roles",
                    f"context roles are [{after}{', '.join(actual_roles)}], expected [{', '.join(exp.roles)}]{why}",
                    diff=render_diff(list(exp.roles), actual_roles),
                )
        for s in exp.contains:
            want = normalise_text(s) or ""
            if not any(want in (normalise_text(m.text) or "") for m in messages):
                self.fail("context.contains", f"no context message contains {s!r} ({len(messages)} messages){why}")
        if exp.equals is not None:
            expected = [{"role": m.role, "content": normalise_text(m.content)} for m in exp.equals]
            actual = [{"role": m.role, "content": normalise_text(m.text)} for m in messages]
            if partial or expected != actual:
                if expected == actual:
                    message = f"context messages are as expected but follow unknown earlier items{why}"
                else:
                    message = _equals_message(expected, actual) + why
                self.fail("context.equals", message, render_diff(expected, actual))
        if exp.starts_with_compaction is not None:
            got = starts_with_compaction(ctx)
            if partial:
                self.fail("context.starts_with_compaction", f"cannot tell how the context starts{why}")
            elif got != exp.starts_with_compaction:
                first = _describe_start(ctx)
                if exp.starts_with_compaction:
                    msg = f"context does not start with a compacted window: it starts with {first}"
                else:
                    msg = f"context starts with a compacted window, expected it not to: it starts with {first}"
                self.fail("context.starts_with_compaction", msg)
        if exp.reasoning_items is not None:
            reasoning = sum(1 for it in ctx if it.kind == "reasoning")
            if partial or reasoning != exp.reasoning_items:
                count = f"at least {reasoning}" if partial else str(reasoning)
                self.fail(
                    "context.reasoning_items",
                    f"context has {count} reasoning items, expected {exp.reasoning_items}{why}",
                )
        if exp.instructions is not None:
            got_i = self.rec.instructions
            if normalise_text(got_i) != normalise_text(exp.instructions):
                self.fail(
                    "context.instructions", f"instructions are {short(got_i)}, expected {short(exp.instructions)}"
                )


def _equals_message(expected: list[dict[str, str | None]], actual: list[dict[str, str | None]]) -> str:
    for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
        if e != a:
            return (
                f"context message {i + 1} is {a['role']}: {short(a['content'], 60)}, "
                f"expected {e['role']}: {short(e['content'], 60)}"
            )
    if len(actual) > len(expected):
        extra = actual[len(expected)]
        return (
            f"context has {len(actual)} messages, expected {len(expected)}: "
            f"unexpected message {len(expected) + 1} {extra['role']}: {short(extra['content'], 60)}"
        )
    missing = expected[len(actual)]
    return (
        f"context has {len(actual)} messages, expected {len(expected)}: "
        f"missing message {len(actual) + 1} {missing['role']}: {short(missing['content'], 60)}"
    )


def _describe_start(ctx: Sequence[ContextItem]) -> str:
    parts: list[str] = []
    for it in ctx[:3]:
        parts.append(f"{it.role}: {short(it.text, 40)}" if it.kind == "message" else it.kind)
    if not parts:
        return "nothing (empty context)"
    return "[" + ", ".join(parts) + (", …]" if len(ctx) > 3 else "]")


def check_turns(scenario: Scenario, mode: str, transcript: Transcript) -> list[Failure]:
    """Evaluate every turn's ``expect.reply`` / ``status`` / ``context`` on its last model call."""
    failures: list[Failure] = []
    for turn in scenario.turns:
        rec = transcript.last_for_turn(turn.index)
        if rec is None:
            failures.append(
                Failure(
                    check="turn",
                    message=f"no model call was made for turn {turn.number} ({turn.describe()})",
                    turn=turn.index,
                    mode=mode,
                    loc=turn.loc,
                )
            )
            continue
        # the server's own view (input_items / item listings, fetched under --convo-verify-server)
        # disagreeing with the traffic is a failure whatever the turn expects
        for call in transcript.for_turn(turn.index):
            for note in call.notes:
                if note.startswith(SERVER_VIEW_NOTE):
                    failures.append(Failure("context.server_view", note, turn.index, mode, turn.loc))
        exp = turn.expect
        if exp is None:
            continue
        checker = _Checker(mode, turn, rec)
        failed_call = rec.response is None
        if failed_call and (exp.reply is not None or exp.status is not None):
            reason = rec.notes[0] if rec.notes else f"HTTP {rec.http_status}"
            checker.fail("reply" if exp.reply is not None else "status", f"the model call failed: {reason}")
        else:
            if exp.reply is not None:
                checker.reply(exp.reply)
            if exp.status is not None:
                checker.status(exp.status)
        if exp.context is not None:
            checker.context(exp.context)
        failures.extend(checker.failures)
    return failures


def check_across_modes(scenario: Scenario, transcripts: Mapping[str, Transcript]) -> list[Failure]:
    """``expect.context.same_across_modes``: the scenario's transcripts (mode → transcript) must agree.

    Modes are compared in the scenario's order (its first mode present is the reference); returns no
    failure when the scenario does not ask for it or fewer than two modes ran.
    """
    exp = scenario.expect.context if scenario.expect is not None else None
    if exp is None or not exp.same_across_modes:
        return []
    ordered = {m: transcripts[m] for m in scenario.modes if m in transcripts}
    ordered.update({m: t for m, t in transcripts.items() if m not in ordered})
    failure = compare_across_modes(ordered, scenario=scenario)
    return [failure] if failure is not None else []
