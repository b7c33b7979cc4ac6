"""Reading recorded HTTP traffic (cassettes of ours and of other tools) into ``Exchange`` objects.

Pure: plain YAML (libyaml when available, via ``cassette_format.load_yaml``), no vcrpy import. Readable layouts:

* ours: bodies as ``{json: …}``, ``{sse: [{event, data}, …]}`` or ``{string: "…"}``, with the turn tags
  in ``metadata.convotest.turns``; a resent history may be stored as a delta (``extends``);
* plain vcrpy ``version: 1`` YAML: the body is a (JSON) string, ``{string: "…"}``, or ``!!binary`` bytes,
  gzip-compressed when they start with the gzip magic or ``content-encoding: gzip`` says so;
* pydantic-ai's serializer: the body as a YAML mapping under ``parsed_body``;
* agentic-api's layout: ``turns:`` with ``request: {method, path, query_params, body}`` and
  ``response: {status_code, body}``.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from convotest.errors import CassetteError
from convotest.incremental_json import HISTORY_FIELDS
from convotest.recording.cassette_format import load_yaml
from convotest.sse import maybe_json, parse_sse
from convotest.transcript import Exchange

__all__ = ["exchanges_from_interactions", "load_cassette_exchanges", "parse_sse"]


class _BodyError(ValueError):
    """A body that cannot be decoded (raised inside, reported as ``CassetteError`` by the loader)."""


def _lower_headers(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if not isinstance(headers, Mapping):
        return out
    for k, v in headers.items():
        if isinstance(v, list | tuple):
            out[str(k).lower()] = ", ".join(str(x) for x in v)
        elif v is not None:
            out[str(k).lower()] = str(v)
    return out


def _decode_bytes(data: bytes, headers: Mapping[str, str]) -> str:
    encoding = headers.get("content-encoding", "").lower()
    if data[:2] == b"\x1f\x8b" or "gzip" in encoding:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise _BodyError(f"gzip body cannot be decompressed ({exc})") from exc
    elif "deflate" in encoding:
        try:
            data = zlib.decompress(data)
        except zlib.error:
            try:
                data = zlib.decompress(data, -zlib.MAX_WBITS)
            except zlib.error as exc:
                raise _BodyError(f"deflate body cannot be decompressed ({exc})") from exc
    elif "br" in encoding or "zstd" in encoding:
        raise _BodyError(f"{encoding} compressed bodies are not supported; record with accept-encoding gzip")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _is_sse(headers: Mapping[str, str], text: str) -> bool:
    if "text/event-stream" in headers.get("content-type", ""):
        return True
    head = text.lstrip()[:6]
    return head.startswith(("event:", "data:"))


def _body(raw: Any, headers: Mapping[str, str]) -> tuple[Any, str | None, list[dict[str, Any]] | None]:
    """Decode one stored body into (parsed JSON, raw text, SSE events)."""
    if raw is None:
        return None, None, None
    if isinstance(raw, Mapping):
        keys = set(raw)
        if "json" in keys and keys <= {"json", "extends"}:
            return raw["json"], None, None
        if keys == {"sse"}:
            events = raw["sse"]
            if not isinstance(events, list):
                raise _BodyError("'sse' body is not a list of events")
            return None, None, [e if isinstance(e, dict) else {"event": None, "data": e} for e in events]
        if "string" in raw and keys <= {"string", "encoding"}:
            return _body(raw["string"], headers)
        # a body stored as a plain YAML mapping (agentic-api, some hand-written cassettes)
        return dict(raw), None, None
    if isinstance(raw, list):
        return raw, None, None
    if isinstance(raw, bytes | bytearray):
        raw = _decode_bytes(bytes(raw), headers)
    if not isinstance(raw, str):
        return raw, None, None
    if not raw.strip():
        return None, raw or None, None
    if _is_sse(headers, raw):
        return None, raw, parse_sse(raw)
    parsed = maybe_json(raw)
    if isinstance(parsed, dict | list):
        return parsed, None, None
    return None, raw, None


def _status(resp: Mapping[str, Any]) -> int:
    st = resp.get("status")
    if isinstance(st, Mapping):
        st = st.get("code")
    if st is None:
        st = resp.get("status_code", 200)
    try:
        return int(st)
    except (TypeError, ValueError):
        return 200


def _extended(index: int, body: Any, req_raw: Any, earlier: Sequence[Exchange]) -> Any:
    """Resolve our delta form: ``{json: {messages: [new…]}, extends: {interaction: N, field: messages}}``.

    Interaction numbers are 1-based, as the recording layer writes them; the earlier list's items are
    shared, not copied, so history resent every turn stays one object per item.
    """
    ref = req_raw.get("extends")
    target = ref.get("interaction") if isinstance(ref, Mapping) else None
    name = ref.get("field") if isinstance(ref, Mapping) else None
    if not isinstance(target, int) or not 1 <= target <= index or name not in HISTORY_FIELDS:
        raise _BodyError(f"interaction {index} request 'extends' must name an earlier interaction and input/messages")
    base = earlier[target - 1].request
    prior = base.get(name) if isinstance(base, Mapping) else None
    own = body.get(name) if isinstance(body, Mapping) else None
    if not isinstance(prior, list) or not isinstance(own, list):
        raise _BodyError(f"interaction {index} request extends #{target}.{name}, which is not a list")
    return {**body, name: [*prior, *own]}


def _one(index: int, interaction: Any, turn: int | None, earlier: Sequence[Exchange] = ()) -> Exchange:
    if not isinstance(interaction, Mapping):
        raise _BodyError(f"interaction {index} is not a mapping")
    req = interaction.get("request")
    resp = interaction.get("response") or {}
    if not isinstance(req, Mapping):
        raise _BodyError(f"interaction {index} has no 'request' mapping")
    if not isinstance(resp, Mapping):
        raise _BodyError(f"interaction {index} has a 'response' that is not a mapping")
    method = str(req.get("method") or "GET").upper()
    query: dict[str, str] = {}
    if "uri" in req:
        parts = urlsplit(str(req["uri"]))
        path = parts.path or "/"
        query.update(parse_qsl(parts.query, keep_blank_values=True))
    elif "path" in req:
        parts = urlsplit(str(req["path"]))
        path = parts.path or "/"
        query.update(parse_qsl(parts.query, keep_blank_values=True))
    else:
        raise _BodyError(f"interaction {index} request has neither 'uri' nor 'path'")
    qp = req.get("query_params")
    if isinstance(qp, Mapping):
        query.update({str(k): str(v) for k, v in qp.items()})

    req_headers = _lower_headers(req.get("headers"))
    resp_headers = _lower_headers(resp.get("headers"))
    # pydantic-ai keeps the decoded body under parsed_body (and no 'body')
    req_raw = req["parsed_body"] if "parsed_body" in req else req.get("body")
    resp_raw = resp["parsed_body"] if "parsed_body" in resp else resp.get("body")
    try:
        request, request_text, _ = _body(req_raw, req_headers)
    except _BodyError as exc:
        raise _BodyError(f"interaction {index} request body: {exc}") from exc
    if isinstance(req_raw, Mapping) and "extends" in req_raw:
        request = _extended(index, request, req_raw, earlier)
    try:
        response, response_text, events = _body(resp_raw, resp_headers)
    except _BodyError as exc:
        raise _BodyError(f"interaction {index} response body: {exc}") from exc
    return Exchange(
        index=index,
        method=method,
        path=path,
        query=query,
        request=request,
        request_text=request_text,
        status=_status(resp),
        response=response,
        response_text=response_text,
        events=events,
        response_headers=resp_headers,
        turn=turn,
    )


def exchanges_from_interactions(
    interactions: list[dict[str, Any]], *, turns: Sequence[int | None] | None = None
) -> list[Exchange]:
    """Parse cassette interactions (ours, vcrpy, pydantic-ai or agentic-api shape) into ``Exchange``s.

    ``turns`` (one entry per interaction, from ``metadata.convotest.turns``) tags each exchange with the
    scenario turn it belongs to. Raises ``ValueError`` naming the interaction when one is malformed.
    """
    if turns is not None and len(turns) != len(interactions):
        raise ValueError(
            f"metadata.convotest.turns has {len(turns)} entries but there are {len(interactions)} interactions"
        )
    out: list[Exchange] = []
    for i, interaction in enumerate(interactions):
        turn = turns[i] if turns is not None else None
        out.append(_one(i, interaction, turn if isinstance(turn, int) else None, out))
    return out


def load_cassette_exchanges(path: str | Path) -> tuple[list[Exchange], dict[str, Any]]:
    """Read a cassette file into exchanges plus our ``metadata.convotest`` header (``{}`` for foreign files)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CassetteError(p, "cassette file not found; record it first (pytest --convo-record-mode=once)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CassetteError(p, f"cannot read the cassette ({exc}); check the file is a UTF-8 YAML file") from exc
    try:
        doc = load_yaml(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CassetteError(
            p, f"not valid YAML{where}: {problem}; re-record the cassette or fix the file by hand"
        ) from exc
    if not isinstance(doc, Mapping):
        raise CassetteError(
            p, "not a cassette: expected a YAML mapping with 'interactions:' (vcrpy) or 'turns:' (agentic-api)"
        )
    meta: dict[str, Any] = {}
    md = doc.get("metadata")
    if isinstance(md, Mapping) and isinstance(md.get("convotest"), Mapping):
        meta = dict(md["convotest"])
    if "interactions" in doc:
        interactions = doc["interactions"]
    elif "turns" in doc:
        interactions = doc["turns"]
    else:
        raise CassetteError(
            p,
            "not a cassette: no 'interactions:' (vcrpy) or 'turns:' (agentic-api) list at the top level; "
            f"found keys {sorted(str(k) for k in doc)}",
        )
    if interactions is None:
        interactions = []
    if not isinstance(interactions, list):
        raise CassetteError(p, "'interactions' is not a list; re-record the cassette")
    turns = meta.get("turns")
    if turns is not None and not isinstance(turns, list):
        raise CassetteError(p, "metadata.convotest.turns is not a list; re-record the cassette")
    try:
        exchanges = exchanges_from_interactions(interactions, turns=turns)
    except ValueError as exc:
        raise CassetteError(p, f"{exc}; re-record the cassette or fix that interaction") from exc
    return exchanges, meta
