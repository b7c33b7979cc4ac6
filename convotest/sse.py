"""Server-sent events: the one parser (and writer) every layer uses for ``text/event-stream`` bodies."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["maybe_json", "parse_sse", "render_sse"]


def maybe_json(raw: str) -> Any:
    """``raw`` parsed when it looks like a JSON object, array or constant; else ``raw`` itself."""
    s = raw.strip()
    if s[:1] in ("{", "[") or s in ("null", "true", "false"):
        try:
            return json.loads(s)
        except ValueError:
            return raw
    return raw


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Parse a ``text/event-stream`` body into ``[{"event": name or None, "data": JSON or str}, …]``.

    An event with a name and no data gets ``data: None``; comments (``:``) and ``id:``/``retry:`` lines
    carry nothing convotest uses. A last event without its blank line is still returned.
    """
    events: list[dict[str, Any]] = []
    name: str | None = None
    data: list[str] = []
    seen_field = False

    def dispatch() -> None:
        nonlocal name, data, seen_field
        if data:
            events.append({"event": name, "data": maybe_json("\n".join(data))})
        elif name is not None:
            events.append({"event": name, "data": None})
        name, data, seen_field = None, [], False

    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if seen_field:
                dispatch()
            continue
        if line.startswith(":"):
            continue
        field_name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        seen_field = True
        if field_name == "event":
            name = value
        elif field_name == "data":
            data.append(value)
    if seen_field:
        dispatch()
    return events


def render_sse(events: list[dict[str, Any]]) -> str:
    """The SSE text for events as ``parse_sse`` returns them (``parse_sse(render_sse(e)) == e``)."""
    out: list[str] = []
    for event in events:
        if event.get("event"):
            out.append(f"event: {event['event']}\n")
        data = event.get("data")
        if data is not None:
            payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            out.extend(f"data: {line}\n" for line in payload.split("\n"))
        out.append("\n")
    return "".join(out)
