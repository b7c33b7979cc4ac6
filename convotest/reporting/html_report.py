"""The HTML report: one self-contained page (inline CSS, JS and SVG; nothing fetched from the network).

Rendered from the JSON report document (``json_report.build_report``), so ``pytest --convo-report`` and
``convotest report RESULTS.json`` produce the same page. Per scenario: an SVG line chart of input tokens
per turn for each mode against the input limit, with the compaction points marked; the failures as the
terminal shows them; and every mode's transcript, call by call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from importlib import resources
from itertools import groupby
from typing import Any

__all__ = ["LIMIT_COLOUR", "MODE_COLOURS", "mode_colour", "render_chart", "render_html"]

#: One colour per built-in mode, the same in every chart of a report (other modes take the spares).
MODE_COLOURS = {
    "manual_chat": "#1c7ed6",
    "manual_responses": "#e8590c",
    "previous_response_id": "#2f9e44",
    "conversation": "#9c36b5",
    "custom": "#c2255c",
}
_SPARE_COLOURS = ("#0c8599", "#f08c00", "#5c940d", "#364fc7")
LIMIT_COLOUR = "#e03131"
_COMPACT_COLOUR = "#868e96"
#: Draw the limit line only when the peak uses at least this share of it; else it would flatten the lines.
_LIMIT_ON_CHART = 0.25


def mode_colour(mode: str, position: int = 0) -> str:
    """The chart colour of a mode: fixed for the built-in ones, else a spare by position."""
    return MODE_COLOURS.get(mode) or _SPARE_COLOURS[position % len(_SPARE_COLOURS)]


def _asset(name: str) -> str:
    return resources.files("convotest.reporting").joinpath(name).read_text(encoding="utf-8")


def _n(value: Any) -> str:
    return "-" if value is None else f"{value:,}"


def _nice_ceiling(value: float) -> float:
    """The smallest 1/2/2.5/5 × 10^k at or above ``value``, for round axis labels."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _points(run: Mapping[str, Any]) -> list[tuple[int, int]]:
    """(1-based turn, input tokens of the turn's last model call) for every turn with token figures."""
    by_turn: dict[int, int] = {}
    for position, call in enumerate(run["calls"]):
        if call["tokens"] is None:
            continue
        turn = call["turn"] if call["turn"] is not None else position
        by_turn[turn] = call["tokens"]["input"]
    return [(t + 1, by_turn[t]) for t in sorted(by_turn)]


def _compaction_turns(runs: Sequence[Mapping[str, Any]]) -> list[int]:
    turns = set()
    for run in runs:
        for position, call in enumerate(run["calls"]):
            if call["compaction_point"]:
                turns.add((call["turn"] if call["turn"] is not None else position) + 1)
    return sorted(turns)


def render_chart(runs: Sequence[Mapping[str, Any]], *, width: int = 760, height: int = 280) -> str:
    """An inline SVG line chart: input tokens per turn, one line per mode, limit and compaction points."""
    left, right, top, bottom = 64, 170, 28, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    series = [(run["mode"], _points(run)) for run in runs]
    peak = max((y for _, pts in series for _, y in pts), default=0)
    last_turn = max([run["turns"] for run in runs] + [x for _, pts in series for x, _ in pts] + [1])
    limit = next((run["limits"]["input_limit"] for run in runs if run["limits"]), None)
    limit_shown = limit is not None and peak >= limit * _LIMIT_ON_CHART
    y_max = _nice_ceiling(max(peak * 1.1, limit if limit_shown and limit else 0, 10))

    def x_of(turn: float) -> float:
        return left + (plot_w / 2 if last_turn == 1 else (turn - 1) * plot_w / (last_turn - 1))

    def y_of(value: float) -> float:
        return top + plot_h - value / y_max * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="token-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="input tokens per turn by mode">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#f8f9fa" stroke="#dee2e6"/>',
    ]
    for i in range(5):
        value = y_max * i / 4
        y = y_of(value)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e9ecef"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#495057">{value:,.0f}</text>')
    step = max(1, math.ceil(last_turn / 16))
    for turn in range(1, last_turn + 1, step):
        parts.append(
            f'<text x="{x_of(turn):.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="#495057">{turn}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" fill="#495057">turn</text>'
        f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" fill="#495057" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">input tokens</text>'
    )
    for turn in _compaction_turns(runs):
        x = x_of(turn)
        parts.append(
            f'<line class="compaction" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" '
            f'stroke="{_COMPACT_COLOUR}" stroke-width="1.5" stroke-dasharray="5 4"><title>compaction at turn {turn}'
            f'</title></line><text x="{x + 4:.1f}" y="{top + 12}" fill="{_COMPACT_COLOUR}">compact</text>'
        )
    if limit is not None and limit_shown:
        y = y_of(limit)
        parts.append(
            f'<line class="limit" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{LIMIT_COLOUR}" '
            f'stroke-width="2"/><text x="{left + plot_w - 4}" y="{y - 5:.1f}" text-anchor="end" '
            f'fill="{LIMIT_COLOUR}">input limit {limit:,}</text>'
        )
    elif limit is not None:
        share = peak / limit if limit else 0
        parts.append(
            f'<text class="limit-off" x="{left + 4}" y="{top - 9}" fill="{LIMIT_COLOUR}">input limit {limit:,} '
            f"is off the chart (peak {peak:,} = {share:.2%} of it)</text>"
        )
    for number, (mode, pts) in enumerate(series):
        colour = mode_colour(mode, number)
        # Modes often agree exactly: earlier lines are drawn wider, so each stays visible under the next.
        stroke = 3 + 3 * (len(series) - 1 - number)
        if len(pts) > 1:
            path = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y in pts)
            parts.append(
                f'<polyline class="series" data-mode="{escape(mode)}" points="{path}" fill="none" '
                f'stroke="{colour}" stroke-width="{stroke}" stroke-linejoin="round" stroke-linecap="round"/>'
            )
        for x, y in pts:
            parts.append(
                f'<circle cx="{x_of(x):.1f}" cy="{y_of(y):.1f}" r="{stroke / 2 + 1.5:.1f}" fill="{colour}">'
                f"<title>{escape(mode)}, turn {x}: {y:,} input tokens</title></circle>"
            )
        ly = top + 8 + number * 20
        parts.append(
            f'<line x1="{left + plot_w + 14}" x2="{left + plot_w + 38}" y1="{ly}" y2="{ly}" stroke="{colour}" '
            f'stroke-width="3"/><text x="{left + plot_w + 44}" y="{ly + 4}" fill="#212529">{escape(mode)}</text>'
        )
    if not any(pts for _, pts in series):
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" text-anchor="middle" fill="#868e96">'
            "no token figures (the run stopped before the first model call)</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _item(item: Mapping[str, Any], new: bool) -> str:
    css = ' class="new"' if new else ""
    if item["kind"] == "message":
        return f'<li{css}><span class="role">{escape(item["role"] or "")}</span> {escape(item["text"] or "")}</li>'
    text = f" {escape(item['text'])}" if item["text"] else ""
    return f'<li{css}><span class="role">[{escape(item["kind"])}]</span>{text}</li>'


def _shared_prefix(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _tokens_line(tokens: Mapping[str, Any] | None) -> str:
    if tokens is None:
        return ""
    parts = [f"input {_n(tokens['input'])}"]
    if tokens["reported_input"] is None:
        parts[0] += " (estimated)"
    elif tokens["reported_input"] != tokens["estimate"]:
        parts.append(f"estimate {_n(tokens['estimate'])}")
    if tokens["cached"]:
        parts.append(f"cached {_n(tokens['cached'])}")
    if tokens["output"] is not None:
        parts.append(f"output {_n(tokens['output'])}")
    if tokens["reasoning"]:
        parts.append(f"reasoning {_n(tokens['reasoning'])}")
    parts.append(f"window {tokens['window_used']:.1%}")
    parts.append(f"headroom {_n(tokens['headroom'])}")
    parts.append(f"billed so far {_n(tokens['billed_input'])}")
    if tokens["truncated"]:
        parts.append("<strong>output cut</strong>")
    return f'<div class="tokens">{" · ".join(parts)}</div>'


def _transcript(run: Mapping[str, Any]) -> str:
    out: list[str] = []
    previous: Sequence[Mapping[str, Any]] = []
    for call in run["calls"]:
        turn = f"turn {call['turn'] + 1}" if call["turn"] is not None else f"call {call['index'] + 1}"
        status = f" · {escape(call['status'])}" if call["status"] else ""
        css = "call compact" if call["endpoint"] == "compact" else "call"
        out.append(
            f'<div class="{css}"><div class="head">{turn}: {escape(call["endpoint"])} via '
            f"{escape(call['carried_by'])} · HTTP {call['http_status']}{status}</div>"
        )
        if call["instructions"]:
            out.append(f'<div class="muted">instructions: {escape(call["instructions"])}</div>')
        context = call["context"]
        kept = _shared_prefix(previous, context)
        partial = " (partial: the traffic does not show all of it)" if call["partial"] else ""
        new = len(context) - kept
        out.append(
            f'<div class="muted">the model saw {len(context)} item(s){partial}; {new} new since the previous call'
            "</div><ol>"
        )
        out.extend(_item(item, n >= kept) for n, item in enumerate(context))
        out.append("</ol>")
        if call["endpoint"] == "compact":
            out.append(f'<div class="reply muted">compacted to {call["output_items"]} item(s)</div>')
        elif call["reply"] is not None:
            out.append(f'<div class="reply"><strong>reply:</strong> {escape(call["reply"])}</div>')
        out.append(_tokens_line(call["tokens"]))
        out.extend(f'<div class="muted">note: {escape(note)}</div>' for note in call["notes"])
        out.append("</div>")
        previous = context
    if not run["calls"]:
        out.append('<div class="muted">no model call was made</div>')
    return "".join(out)


def _peak(run: Mapping[str, Any]) -> tuple[int | None, float | None]:
    tokens = [c["tokens"] for c in run["calls"] if c["tokens"] is not None]
    if not tokens:
        return None, None
    return max(t["input"] for t in tokens), max(t["window_used"] for t in tokens)


def _badge(passed: bool) -> str:
    return '<span class="badge pass">passed</span>' if passed else '<span class="badge fail">failed</span>'


def _anchor(run: Mapping[str, Any]) -> str:
    return "s-" + "".join(c if c.isalnum() else "-" for c in f"{run['file']}-{run['scenario']}")


def _index(runs: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for run in runs:
        peak, used = _peak(run)
        billed = next((c["tokens"]["billed_input"] for c in reversed(run["calls"]) if c["tokens"]), None)
        rows.append(
            f'<tr><td><a href="#{_anchor(run)}">{escape(run["scenario"])}</a></td><td>{escape(run["mode"])}</td>'
            f"<td>{_badge(run['passed'])}</td><td class='num'>{_n(peak)}</td>"
            f"<td class='num'>{'-' if used is None else f'{used:.2%}'}</td><td class='num'>{_n(billed)}</td>"
            f"<td class='num'>{len(run['compactions'])}</td><td>{escape(run['cassette_status'])}</td></tr>"
        )
    return (
        '<table class="index"><thead><tr><th>scenario</th><th>mode</th><th>result</th><th class="num">peak input'
        '</th><th class="num">window</th><th class="num">billed input</th><th class="num">compactions</th>'
        f"<th>cassette</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _scenario(runs: Sequence[Mapping[str, Any]]) -> str:
    first = runs[0]
    failed = [r for r in runs if not r["passed"]]
    description = f'<div class="muted">{escape(first["description"])}</div>' if first["description"] else ""
    out = [
        f'<section class="scenario{" failed" if failed else ""}" id="{_anchor(first)}">',
        f"<h2>{escape(first['scenario'])} {_badge(not failed)}</h2>",
        f'<div class="muted">{escape(first["file"])} · model {escape(first["model"])} · {first["turns"]} turn(s) · '
        f"modes: {escape(', '.join(r['mode'] for r in runs))}</div>{description}",
        f'<div class="chart">{render_chart(runs)}</div>',
    ]
    if failed:
        out.append("<h3>Failures</h3>")
        out.extend(f'<pre class="failures">{escape(r["failure_text"])}</pre>' for r in failed)
    notes = [(r["mode"], note) for r in runs for note in r["notes"]]
    if notes:
        out.append('<ul class="notes">')
        out.extend(f"<li>[{escape(mode)}] {escape(note)}</li>" for mode, note in notes)
        out.append("</ul>")
    out.append("<h3>Transcripts</h3>")
    for run in runs:
        opened = " open" if not run["passed"] else ""
        cassette = f" · cassette {escape(run['cassette'])}" if run["cassette"] else ""
        out.append(
            f'<details class="transcript"{opened}><summary>{escape(run["mode"])} {_badge(run["passed"])} '
            f'<span class="muted">{len(run["calls"])} model call(s) · {escape(run["cassette_status"])}{cassette} · '
            f"{run['duration']:.2f}s</span></summary>{_transcript(run)}</details>"
        )
    out.append("</section>")
    return "".join(out)


def render_html(document: Mapping[str, Any], *, title: str = "convotest report") -> str:
    """The whole report page for a (scrubbed, schema-valid) report document."""
    runs: list[Mapping[str, Any]] = list(document["runs"])
    summary = document["summary"]
    groups = [list(g) for _, g in groupby(runs, key=lambda r: (r["file"], r["scenario"]))]
    verdict = _badge(summary["failed"] == 0)
    body = [
        f"<h1>{escape(title)} {verdict}</h1>",
        f'<div class="muted">{summary["runs"]} run(s): {summary["passed"]} passed, {summary["failed"]} failed · '
        f"written {escape(document['created'])} by convotest {escape(document['convotest'])}"
        '<button class="toggle" id="toggle-all" type="button">expand all transcripts</button></div>',
        _index(runs),
        *(_scenario(g) for g in groups),
    ]
    if not runs:
        body.append('<p class="muted">No scenario ran.</p>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_asset('report.css')}</style></head>"
        f"<body>{''.join(body)}<script>{_asset('report.js')}</script></body></html>\n"
    )
