"""Emulator ``input_tokens`` vs the real reported counts, for every plain-text request of the calibration set.

Run ``python tests/emulator/token_table.py`` to print the Markdown table kept in docs/emulator.md.
Stateful requests (``previous_response_id``, ``conversation``) are rebuilt from the cassette itself — the
real earlier inputs and outputs — and sent to the emulator as one manual-history request, so the emulator
counts exactly the context the real server saw.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibration_reader import Interaction, cassettes, is_pydantic_ai, read

MODEL_CALLS = ("/v1/responses", "/v1/chat/completions", "/v1/responses/input_tokens", "/v1/responses/compact")


@dataclass
class Row:
    """One request: where it comes from, the real count and the emulator's."""

    cassette: str
    index: int
    endpoint: str
    model: str
    real: int
    emulator: int
    note: str

    @property
    def exact_family(self) -> bool:
        """gpt-4o / gpt-4.1 requests whose text is verbatim: the counts must agree exactly."""
        return self.model.startswith(("gpt-4o", "gpt-4.1")) and "NFKC" not in self.note


def _plain_item(item: Any) -> bool:
    if not isinstance(item, dict) or item.get("type", "message") != "message":
        return False
    content = item.get("content")
    if isinstance(content, str):
        return True
    return isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type") in ("input_text", "output_text", "text") for p in content
    )


def _plain(body: dict[str, Any], items: list[Any]) -> bool:
    if body.get("tools") or body.get("response_format"):
        return False
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") not in (None, "text"):
        return False
    return all(_plain_item(i) for i in items)


def _real_usage(interaction: Interaction) -> int | None:
    body = interaction.response
    if interaction.sse:
        body = interaction.sse[-1][1].get("response", {})
    if not isinstance(body, dict):
        return None
    if body.get("object") == "response.input_tokens":
        return int(body["input_tokens"])
    usage = body.get("usage") or {}
    value = usage.get("input_tokens", usage.get("prompt_tokens"))
    return int(value) if value is not None else None


def _as_input(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return list(value)


def rows(base_url: str) -> list[Row]:
    """The table's rows, counting with the emulator at ``base_url``."""
    http = httpx2.Client(base_url=base_url.removesuffix("/v1"), headers={"authorization": "Bearer sk-test"})
    out: list[Row] = []
    for path in cassettes():
        chains: dict[str, list[Any]] = {}  # real response id → its whole context + output
        conversations: dict[str, list[Any]] = {}
        for index, interaction in enumerate(read(path)):
            body = interaction.request if isinstance(interaction.request, dict) else {}
            response = interaction.response if isinstance(interaction.response, dict) else {}
            if interaction.sse:
                response = interaction.sse[-1][1].get("response", {})
            if interaction.path == "/v1/conversations" and interaction.method == "POST":
                conversations[response["id"]] = _as_input(body.get("items"))
                continue
            if interaction.path.startswith("/v1/conversations/") and interaction.path.endswith("/items"):
                cid = interaction.path.split("/")[3]
                if interaction.method == "POST" and isinstance(response.get("data"), list):
                    conversations.setdefault(cid, []).extend(response["data"])
                continue
            if interaction.path.startswith("/v1/conversations/") and interaction.method == "DELETE":
                parts = interaction.path.split("/")
                if len(parts) == 6:
                    cid, item_id = parts[3], parts[5]
                    conversations[cid] = [i for i in conversations.get(cid, []) if i.get("id") != item_id]
                continue
            if interaction.path not in MODEL_CALLS or interaction.status != 200:
                continue
            new = _as_input(body.get("messages") if "messages" in body else body.get("input"))
            previous = body.get("previous_response_id")
            conv = body.get("conversation")
            conv_id = conv.get("id") if isinstance(conv, dict) else conv
            earlier: list[Any] = []
            note = []
            if previous:
                earlier = chains.get(previous, [])
                note.append("chained")
            if conv_id:
                earlier = conversations.get(conv_id, [])
                note.append("conversation")
            context = [*earlier, *new]
            output = response.get("output") if isinstance(response.get("output"), list) else []
            if interaction.path == "/v1/responses" and response.get("id"):
                chains[response["id"]] = [*context, *output]
                if conv_id:
                    conversations.setdefault(conv_id, []).extend([*new, *output])
            real = _real_usage(interaction)
            if real is None or not _plain(body, context):
                continue
            if is_pydantic_ai(path):
                note.append("NFKC-normalised text")
            if interaction.sse:
                note.append("streamed")
            model = str(body.get("model", ""))
            if interaction.path == "/v1/chat/completions":
                sent = {"model": model, "messages": context}
                counted = http.post("/v1/chat/completions", json=sent).json()["usage"]["prompt_tokens"]
            else:
                sent = {"model": model, "input": context}
                if isinstance(body.get("instructions"), str):
                    sent["instructions"] = body["instructions"]
                if interaction.path == "/v1/responses":
                    answer = http.post("/v1/responses", json={**sent, "store": False}).json()
                    counted = answer["usage"]["input_tokens"]
                elif interaction.path == "/v1/responses/compact":
                    counted = http.post("/v1/responses/compact", json=sent).json()["usage"]["input_tokens"]
                else:
                    counted = http.post("/v1/responses/input_tokens", json=sent).json()["input_tokens"]
            out.append(
                Row(
                    cassette=path.name.split("__")[1] + ":" + path.stem.split("__")[-1],
                    index=index,
                    endpoint=interaction.path.removeprefix("/v1"),
                    model=model,
                    real=real,
                    emulator=counted,
                    note=", ".join(note),
                )
            )
    return out


def markdown(table: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| cassette | # | endpoint | model | real | emulator | Δ | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        delta = r.emulator - r.real
        lines.append(
            f"| {r.cassette} | {r.index} | {r.endpoint} | {r.model} | {r.real} | {r.emulator} | {delta:+d} | {r.note} |"
        )
    return "\n".join(lines)


def main() -> int:
    """Print the table (needs ../shared/calibration)."""
    from convotest.emulator.server import EmulatorServer

    if not cassettes():
        print("../shared/calibration is absent", file=sys.stderr)
        return 1
    with EmulatorServer() as server:
        print(markdown(rows(server.base_url)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
