"""Estimate vs reported input tokens for every model call in ../shared/calibration.

Run ``python tests/tokens/calibration_table.py`` to print the markdown table that docs/tokens.md embeds.
The test suite imports the loader from here; the cassettes are read in place, never copied.

Each cassette format in the folder is read (vcrpy JSON-string bodies, gzip ``!!binary`` bodies, SSE
streams, pydantic-ai ``parsed_body`` mappings, agentic-api ``turns:``), and the context of every
``previous_response_id`` / ``conversation`` call is rebuilt from the earlier traffic of the same file,
so the count covers what the model saw, not just the request body.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from convotest.tokens import count_request_tokens  # noqa: E402

#: Plain-text models whose every call must be counted exactly.
EXACT_MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano")


def calibration_dir() -> Path | None:
    """``<workspace>/shared/calibration`` next to the repository, or None when absent."""
    path = ROOT.parent / "shared" / "calibration"
    return path if (path / "cassettes").is_dir() else None


@dataclass
class Call:
    """One recorded HTTP exchange of a calibration cassette."""

    method: str
    path: str
    request: Any
    response: Any
    status: int


@dataclass
class Case:
    """One model call with its rebuilt context, the local count and the reported count."""

    file: str
    index: int
    path: str
    model: str
    carried_by: str
    items: list[dict[str, Any]]
    instructions: str | None
    reported: int
    estimate: int
    #: Why the call is not an exact-count case (empty when it is one).
    caveats: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """Whether this call must match exactly (plain text, faithful body, a gpt-4o/4.1 model)."""
        return not self.caveats and _family(self.model) in EXACT_MODELS

    @property
    def gpt5(self) -> bool:
        """Whether the call went to a gpt-5 family model (1% tolerance)."""
        return self.model.startswith("gpt-5")


def _family(model: str) -> str:
    """The table name of a dated snapshot (``gpt-4.1-2025-04-14`` → ``gpt-4.1``)."""
    best = ""
    for name in EXACT_MODELS:
        if (model == name or model.startswith(name + "-")) and len(name) > len(best):
            best = name
    return best or model


class _Loader(yaml.SafeLoader):
    """SafeLoader that also accepts the python tags some recorders leave behind."""


def _decode_body(body: Any) -> Any:
    if isinstance(body, Mapping):
        if "string" in body:
            body = body["string"]
        else:
            return body
    if isinstance(body, bytes):
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        body = body.decode("utf-8")
    if not isinstance(body, str) or not body.strip():
        return None
    text = body.strip()
    if text.startswith("event:") or text.startswith("data:"):
        return _final_from_sse(text)
    try:
        return json.loads(text)
    except ValueError:
        return None


def _final_from_sse(text: str) -> Any:
    final = None
    for line in text.splitlines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            continue
        try:
            event = json.loads(data)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("response"), dict):
            final = event["response"]
    return final


def load_calls(path: Path) -> list[Call]:
    """Every exchange of one calibration cassette, bodies parsed."""
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    calls: list[Call] = []
    for inter in doc.get("interactions") or []:
        req, resp = inter["request"], inter["response"]
        body = req["parsed_body"] if "parsed_body" in req else _decode_body(req.get("body"))
        rbody = resp["parsed_body"] if "parsed_body" in resp else _decode_body(resp.get("body"))
        status = resp.get("status", {})
        code = status.get("code", 200) if isinstance(status, Mapping) else int(status)
        calls.append(Call(req["method"].upper(), urlsplit(req["uri"]).path, body, rbody, code))
    for turn in doc.get("turns") or []:
        req, resp = turn["request"], turn["response"]
        calls.append(
            Call(
                req["method"].upper(),
                req["path"],
                req.get("body") or None,
                resp.get("body"),
                int(resp.get("status_code", 200)),
            )
        )
    return calls


def _as_items(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return [dict(v) for v in value]


def _reported(response: Any) -> int | None:
    if not isinstance(response, Mapping):
        return None
    usage = response.get("usage")
    if isinstance(usage, Mapping):
        for key in ("input_tokens", "prompt_tokens"):
            if isinstance(usage.get(key), int):
                return int(usage[key])
    if response.get("object") == "response.input_tokens":
        return int(response["input_tokens"])
    return None


def _plain(items: list[dict[str, Any]]) -> bool:
    """Whether every item is a message whose content is text only."""
    for item in items:
        if item.get("type", "message") != "message":
            return False
        content = item.get("content")
        if isinstance(content, list) and any(
            not isinstance(p, Mapping) or p.get("type") not in ("input_text", "output_text", "text") for p in content
        ):
            return False
    return True


def cases_for_file(path: Path) -> list[Case]:
    """Every model call of one cassette, with its rebuilt context and both counts."""
    name = path.name
    normalised = "pydantic__pydantic-ai__" in name  # NFKC-normalised bodies (README)
    contexts: dict[str, list[dict[str, Any]]] = {}  # response id → full context incl. its output
    conversations: dict[str, list[dict[str, Any]]] = {}
    out: list[Case] = []
    for index, call in enumerate(load_calls(path)):
        body, resp = call.request, call.response
        p = call.path.rstrip("/")
        if call.method == "POST" and p == "/v1/conversations" and isinstance(resp, Mapping):
            conversations[resp["id"]] = _as_items((body or {}).get("items"))
            continue
        if call.method == "POST" and p.startswith("/v1/conversations/") and p.endswith("/items"):
            conv_id = p.split("/")[3]
            added = resp.get("data") if isinstance(resp, Mapping) else None
            conversations.setdefault(conv_id, []).extend(_as_items(added or (body or {}).get("items")))
            continue
        if call.method == "DELETE" and p.startswith("/v1/conversations/") and "/items/" in p:
            conv_id, item_id = p.split("/")[3], p.split("/")[5]
            conversations[conv_id] = [i for i in conversations.get(conv_id, []) if i.get("id") != item_id]
            continue
        if call.method != "POST" or not isinstance(body, Mapping):
            continue
        endpoint = p.removeprefix("/v1")
        if endpoint not in (
            "/chat/completions",
            "/responses",
            "/responses/compact",
            "/responses/input_tokens",
        ):
            continue
        reported = _reported(resp)
        if reported is None or call.status != 200:
            continue
        model = str(body.get("model", ""))
        caveats: list[str] = []
        if normalised:
            caveats.append("NFKC-normalised body")
        if endpoint == "/chat/completions":
            items = [dict(m) for m in body.get("messages", [])]
            instructions = None
            carried_by = "manual_chat"
            estimate = count_request_tokens(call.path, body)
        else:
            instructions = body.get("instructions")
            new = _as_items(body.get("input"))
            prior: list[dict[str, Any]] = []
            carried_by = "manual_responses"
            prev = body.get("previous_response_id")
            conv_ref = body.get("conversation")
            conv = conv_ref.get("id") if isinstance(conv_ref, Mapping) else conv_ref
            if prev:
                carried_by = "previous_response_id"
                if prev not in contexts:
                    caveats.append("earlier context not recorded")
                prior = contexts.get(str(prev), [])
            elif conv:
                carried_by = "conversation"
                prior = list(conversations.get(str(conv), []))
            items = prior + new
            if body.get("context_management"):
                caveats.append("server-side compaction")
            estimate = count_request_tokens(call.path, body, context=items if prior else None)
            output = _as_items(resp.get("output")) if isinstance(resp, Mapping) else []
            if endpoint == "/responses" and isinstance(resp, Mapping) and "id" in resp:
                contexts[resp["id"]] = items + output
            if conv and endpoint == "/responses":
                conversations.setdefault(str(conv), []).extend(new + output)
        if body.get("tools"):
            caveats.append("tools")
        text_cfg = body.get("text")
        if body.get("response_format") or (isinstance(text_cfg, Mapping) and text_cfg.get("format")):
            fmt = body.get("response_format") or text_cfg["format"]  # type: ignore[index]
            if isinstance(fmt, Mapping) and fmt.get("type") not in (None, "text"):
                caveats.append("structured output")
        if not _plain(items):
            kinds = sorted({str(i.get("type", "message")) for i in items} - {"message"})
            caveats.append("non-text items: " + ", ".join(kinds) if kinds else "non-text content")
        if endpoint == "/responses/compact":
            caveats.append("compact endpoint")
        model_name = str(resp.get("model", model)) if isinstance(resp, Mapping) else model
        out.append(
            Case(
                name, index, endpoint, model_name or model, carried_by, items, instructions,
                reported, estimate, caveats,
            )
        )  # fmt: skip
    return out


def all_cases(folder: Path | None = None) -> list[Case]:
    """Every model call of every calibration cassette, in file order."""
    folder = folder or calibration_dir()
    if folder is None:
        return []
    return [case for f in sorted((folder / "cassettes").glob("*.yaml")) for case in cases_for_file(f)]


def _short(name: str) -> str:
    _owner, repo, *rest = name.removesuffix(".yaml").split("__")
    return f"{repo}: {rest[-1]}"


def table(cases: list[Case]) -> Iterator[str]:
    """The markdown table rows (header included) of estimate vs reported."""
    yield "| cassette | # | endpoint | model | carried by | estimate | reported | Δ | kind |"
    yield "|---|---|---|---|---|---:|---:|---:|---|"
    for c in cases:
        if c.exact:
            kind = "exact"
        elif c.gpt5:
            kind = "; ".join(["gpt-5 (±1%)", *c.caveats])
        else:
            kind = "estimate: " + "; ".join(c.caveats)
        yield (
            f"| {_short(c.file)} | {c.index} | {c.path} | {c.model} | {c.carried_by} | {c.estimate} | "
            f"{c.reported} | {c.estimate - c.reported:+d} | {kind} |"
        )


def summary(cases: list[Case]) -> list[str]:
    """Summary lines: exact matches, the gpt-5 error, and the estimates' largest error."""
    exact = [c for c in cases if c.exact]
    gpt5 = [c for c in cases if c.gpt5]
    rest = [c for c in cases if not c.exact and not c.gpt5]
    equal = sum(c.estimate == c.reported for c in rest)
    lines = [
        f"- plain-text gpt-4o / gpt-4o-mini / gpt-4.1* calls: {sum(c.estimate == c.reported for c in exact)} "
        f"of {len(exact)} equal to the reported count",
    ]
    if gpt5:
        worst = max(gpt5, key=lambda c: abs(c.estimate - c.reported) / c.reported)
        err = abs(worst.estimate - worst.reported) / worst.reported
        lines.append(
            f"- gpt-5 family calls: {sum(c.estimate == c.reported for c in gpt5)} of {len(gpt5)} equal, "
            f"largest error {err:.1%}"
        )
    if rest:
        worst = max(rest, key=lambda c: abs(c.estimate - c.reported) / c.reported)
        lines.append(
            f"- other calls (NFKC-normalised bodies, tools, compaction): {equal} of {len(rest)} equal, largest "
            f"error {abs(worst.estimate - worst.reported) / worst.reported:.1%} ({'; '.join(worst.caveats)})"
        )
    return lines


def main() -> int:
    """Print the table and its summary; exit 1 when an exact case does not match."""
    cases = all_cases()
    if not cases:
        print("calibration folder not found", file=sys.stderr)
        return 2
    for row in table(cases):
        print(row)
    print()
    for line in summary(cases):
        print(line)
    return 0 if all(c.estimate == c.reported for c in cases if c.exact) else 1


if __name__ == "__main__":
    raise SystemExit(main())
