"""A small private reader of the real cassettes in ../shared/calibration (vcrpy v1, pydantic-ai, agentic-api).

Deliberately independent of ``convotest.traffic`` (the product's reader): these tests check the emulator,
not that module. Never copies the cassettes anywhere.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

CALIBRATION = Path(__file__).resolve().parents[2].parent / "shared" / "calibration" / "cassettes"


@dataclass
class Interaction:
    """One recorded HTTP exchange, bodies parsed."""

    method: str
    path: str
    query: dict[str, str]
    request: Any
    status: int
    response: Any
    sse: list[tuple[str, Any]] = field(default_factory=list)


def cassettes() -> list[Path]:
    """The calibration cassettes, sorted; empty when ../shared is absent."""
    return sorted(CALIBRATION.glob("*.yaml")) if CALIBRATION.is_dir() else []


def _decode(raw: Any) -> Any:
    if isinstance(raw, dict) and "string" in raw:
        raw = raw["string"]
    if isinstance(raw, bytes):
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        raw = raw.decode()
    if isinstance(raw, str):
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """(event name, parsed data) of a server-sent event stream."""
    events: list[tuple[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name = ""
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            payload = "\n".join(data)
            try:
                events.append((name, json.loads(payload)))
            except ValueError:
                events.append((name, payload))
    return events


def read(path: Path) -> list[Interaction]:
    """Every exchange of a cassette, in order."""
    doc = yaml.load(path.read_text(), Loader=yaml.Loader)
    out: list[Interaction] = []
    if "turns" in doc:
        for turn in doc["turns"]:
            req, resp = turn["request"], turn["response"]
            body = req.get("body")
            out.append(
                Interaction(
                    method=req["method"],
                    path=req["path"],
                    query={k: str(v) for k, v in (req.get("query_params") or {}).items()},
                    request=body if body != {} or req["method"] == "POST" else None,
                    status=int(resp["status_code"]),
                    response=resp.get("body"),
                )
            )
        return out
    for item in doc["interactions"]:
        req, resp = item["request"], item["response"]
        url = urlsplit(req["uri"])
        request = req["parsed_body"] if "parsed_body" in req else _decode(req.get("body"))
        response = resp["parsed_body"] if "parsed_body" in resp else _decode(resp.get("body"))
        sse: list[tuple[str, Any]] = []
        if isinstance(response, str) and response.lstrip().startswith(("event:", "data:")):
            sse = parse_sse(response)
        out.append(
            Interaction(
                method=req["method"],
                path=url.path,
                query=dict(parse_qsl(url.query)),
                request=request,
                status=int(resp["status"]["code"]),
                response=response,
                sse=sse,
            )
        )
    return out


def is_pydantic_ai(path: Path) -> bool:
    """pydantic-ai cassettes NFKC-normalise their text: not usable for exact token checks."""
    return path.name.startswith("pydantic__")
