"""The ``Failure`` record every check returns, and how a list of them is rendered for people."""

from __future__ import annotations

from dataclasses import dataclass

from convotest.errors import SourceLoc

__all__ = ["Failure"]


@dataclass(frozen=True)
class Failure:
    """One failed expectation (or a run problem) at a turn of a scenario in a mode.

    ``check`` names what failed, dotted as in the scenario format (``reply.contains``,
    ``context.equals``, ``tokens.input_max``, ``compaction.compaction_items``, ``drift``, ``driver``).
    ``message`` is one line with the numbers; ``diff`` is an optional multi-line deepdiff rendering.
    ``turn`` is 0-based (shown 1-based); ``loc`` points at the YAML that set the expectation, else the turn.
    """

    check: str
    message: str
    turn: int | None = None
    mode: str | None = None
    loc: SourceLoc | None = None
    diff: str | None = None

    def headline(self) -> str:
        """``file:line: turn N [mode]: message`` — the line a terminal shows."""
        parts: list[str] = []
        if self.loc is not None:
            parts.append(f"{self.loc}:")
        where = []
        if self.turn is not None:
            where.append(f"turn {self.turn + 1}")
        if self.mode:
            where.append(f"[{self.mode}]")
        if where:
            parts.append(" ".join(where) + ":")
        parts.append(self.message)
        return " ".join(parts)
