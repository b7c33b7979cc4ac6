"""Input items: validation and normalisation to the stored shape, and the compaction codec."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from convotest.emulator.errors import (
    ApiError,
    bad_request,
    invalid_type,
    invalid_value,
    missing_parameter,
    not_found,
)
from convotest.emulator.store import Store

__all__ = [
    "MESSAGE_ROLES",
    "compaction_payload",
    "decode_compaction",
    "encode_compaction",
    "expand",
    "item_not_found",
    "normalize_items",
    "reasoning_blob",
]

MESSAGE_ROLES = ["user", "assistant", "system", "developer"]
ITEM_TYPES = ["message", "item_reference", "reasoning", "function_call", "function_call_output", "compaction"]
_PREFIX = {"message": "msg", "reasoning": "rs", "function_call": "fc", "compaction": "cmp"}
_CONTENT_TYPES = ["input_text", "output_text", "refusal", "input_image", "input_file", "input_audio"]

# Not a secret: it only lets the emulator recognise its own compaction items (clients treat them as opaque).
_KEY = b"convotest-emulator/compaction/v1"
_BLOB_PREFIX = "gAAAAAB"
_VERSION = b"\x01"


def item_not_found(item_id: str) -> ApiError:
    """The 404 the real API gives for an item id it does not hold (e.g. from a ``store: false`` response)."""
    return not_found(
        f"Item with id '{item_id}' not found. Items are not persisted when `store` is set to false. "
        "Try again with `store` set to true, or remove this item from your input.",
        param="input",
    )


def encode_compaction(items: Sequence[Mapping[str, Any]]) -> str:
    """Opaque, signed ``encrypted_content`` holding the messages a compaction item replaces."""
    payload = zlib.compress(json.dumps(list(items), separators=(",", ":"), ensure_ascii=False).encode(), 6)
    mac = hmac.new(_KEY, payload, hashlib.sha256).digest()[:16]
    return _BLOB_PREFIX + base64.urlsafe_b64encode(_VERSION + mac + payload).decode()


def decode_compaction(blob: str) -> list[dict[str, Any]] | None:
    """The items inside an emulator compaction blob; None when it is not one of ours or was altered."""
    if not blob.startswith(_BLOB_PREFIX):
        return None
    try:
        raw = base64.urlsafe_b64decode(blob[len(_BLOB_PREFIX) :].encode())
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 17 or raw[:1] != _VERSION:
        return None
    mac, payload = raw[1:17], raw[17:]
    if not hmac.compare_digest(mac, hmac.new(_KEY, payload, hashlib.sha256).digest()[:16]):
        return None
    try:
        items = json.loads(zlib.decompress(payload))
    except (zlib.error, ValueError):
        return None
    return items if isinstance(items, list) else None


def reasoning_blob(seed: int, item_id: str, context_digest: str) -> str:
    """Opaque ``encrypted_content`` of a reasoning item (never decoded: reasoning is not a message)."""
    digest = hashlib.sha512(f"{seed}:{item_id}:{context_digest}".encode()).digest()
    return _BLOB_PREFIX + base64.urlsafe_b64encode(_VERSION + digest * 4).decode()


def compaction_payload(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What a compaction stores of the items it replaces: everything but ids and status, and no reasoning
    (its encrypted blobs would only bloat the compaction; replies never look at reasoning)."""
    return [
        {k: v for k, v in item.items() if k not in ("id", "status")}
        for item in items
        if item.get("type") != "reasoning"
    ]


def expand(items: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(counted, expanded) views of a context.

    Everything before the latest compaction item is superseded by it: ``counted`` (what is billed)
    starts at that item; ``expanded`` (what the reply describes) replaces it by the items it holds.
    """
    last = -1
    for index in range(len(items) - 1, -1, -1):
        if items[index].get("type") == "compaction":
            last = index
            break
    if last < 0:
        return list(items), list(items)
    counted = list(items[last:])
    inner = decode_compaction(str(items[last].get("encrypted_content") or "")) or []
    return counted, [*inner, *items[last + 1 :]]


def _text_parts(role: str, content: str) -> list[dict[str, Any]]:
    if role == "assistant":
        return [{"type": "output_text", "annotations": [], "logprobs": [], "text": content}]
    return [{"type": "input_text", "text": content}]


def _check_id(value: Any, kind: str, param: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_type(param, "string", value)
    prefix = _PREFIX.get(kind)
    if prefix and not value.startswith(prefix):
        raise invalid_value(param, value, why=f"Expected an ID that begins with '{prefix}'.")
    return value


def _require_str(item: Mapping[str, Any], key: str, param: str) -> str:
    value = item.get(key)
    if value is None:
        raise missing_parameter(f"{param}.{key}")
    if not isinstance(value, str):
        raise invalid_type(f"{param}.{key}", "string", value)
    return value


def _message(item: Mapping[str, Any], param: str, store: Store) -> dict[str, Any]:
    role = item.get("role")
    if role is None:
        raise missing_parameter(f"{param}.role")
    if role not in MESSAGE_ROLES:
        raise invalid_value(f"{param}.role", role, MESSAGE_ROLES)
    content = item.get("content")
    if content is None:
        raise missing_parameter(f"{param}.content")
    if isinstance(content, str):
        parts = _text_parts(role, content)
    elif isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            where = f"{param}.content[{j}]"
            if not isinstance(part, Mapping):
                raise invalid_type(where, "object", part)
            kind = part.get("type")
            if kind not in _CONTENT_TYPES:
                raise invalid_value(f"{where}.type", kind, _CONTENT_TYPES)
            if kind in ("input_text", "output_text"):
                _require_str(part, "text", where)
            parts.append(dict(part))
    else:
        raise invalid_type(f"{param}.content", "one of a string or an array", content)
    given = _check_id(item.get("id"), "message", f"{param}.id")
    status = item.get("status") or "completed"
    out: dict[str, Any] = {
        "id": given or store.new_id("msg_"),
        "type": "message",
        "status": status,
        "content": parts,
        "role": role,
    }
    if isinstance(item.get("phase"), str):
        out["phase"] = item["phase"]
    return out


def normalize_items(raw: Any, param: str, store: Store) -> list[dict[str, Any]]:
    """Validate a list of input items and return them in stored shape, each with an id.

    ``item_reference`` items resolve to the stored item; a reference to an unknown id, or a reasoning
    item without ``encrypted_content`` the server never stored, fails with the real API's 404.
    """
    if isinstance(raw, str):
        raw = [{"role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise invalid_type(param, "one of a string or an array", raw)
    # Before any item here gets a new id: a later item may carry the id the counter would give next.
    store.note_given_ids(item["id"] for item in raw if isinstance(item, Mapping) and isinstance(item.get("id"), str))
    out: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        where = f"{param}[{index}]"
        if not isinstance(item, Mapping):
            raise invalid_type(where, "object", item)
        kind = item.get("type")
        if kind is None and "role" in item:
            kind = "message"
        if kind is None:
            raise missing_parameter(f"{where}.type")
        if kind == "message":
            out.append(_message(item, where, store))
        elif kind == "item_reference":
            ref = _require_str(item, "id", where)
            stored = store.items.get(ref)
            if stored is None:
                raise item_not_found(ref)
            out.append(stored)
        elif kind == "reasoning":
            rid = _check_id(item.get("id"), kind, f"{where}.id")
            if rid is None:
                raise missing_parameter(f"{where}.id")
            blob = item.get("encrypted_content")
            if blob is None and rid not in store.items:
                raise item_not_found(rid)
            if blob is None:
                out.append(store.items[rid])
                continue
            if not isinstance(blob, str):
                raise invalid_type(f"{where}.encrypted_content", "string", blob)
            summary = item.get("summary", [])
            if not isinstance(summary, list):
                raise invalid_type(f"{where}.summary", "array", summary)
            out.append({"id": rid, "type": "reasoning", "summary": summary, "encrypted_content": blob})
        elif kind == "function_call":
            fid = _check_id(item.get("id"), kind, f"{where}.id")
            out.append(
                {
                    "id": fid or store.new_id("fc_"),
                    "type": "function_call",
                    "status": item.get("status") or "completed",
                    "arguments": _require_str(item, "arguments", where),
                    "call_id": _require_str(item, "call_id", where),
                    "name": _require_str(item, "name", where),
                }
            )
        elif kind == "function_call_output":
            output = item.get("output")
            if output is None:
                raise missing_parameter(f"{where}.output")
            if not isinstance(output, str | list):
                raise invalid_type(f"{where}.output", "one of a string or an array", output)
            oid = _check_id(item.get("id"), kind, f"{where}.id")
            out.append(
                {
                    "id": oid or store.new_id("fco_"),
                    "type": "function_call_output",
                    "status": item.get("status") or "completed",
                    "call_id": _require_str(item, "call_id", where),
                    "output": output,
                }
            )
        elif kind == "compaction":
            blob = _require_str(item, "encrypted_content", where)
            cid = _check_id(item.get("id"), kind, f"{where}.id")
            if decode_compaction(blob) is None:
                raise bad_request(
                    f"The encrypted content for item {cid or where} could not be verified.",
                    param=f"{where}.encrypted_content",
                    code="invalid_encrypted_content",
                )
            out.append({"id": cid or store.new_id("cmp_"), "type": "compaction", "encrypted_content": blob})
        else:
            raise invalid_value(f"{where}.type", kind, ITEM_TYPES)
    return out
