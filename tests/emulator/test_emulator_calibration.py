"""Replays the request sequences of the real cassettes against the emulator and compares structure.

Ids in requests (previous_response_id, conversation and item ids, encrypted contents) are mapped to what
the emulator answered. Values that are inherently different (ids, text, timestamps, numbers) are compared
by type only; keys that come and go between API versions in the real traffic itself are listed below.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx2
import pytest
from calibration_reader import Interaction, cassettes, parse_sse, read
from deepdiff import DeepDiff

from convotest.emulator.server import EmulatorServer

#: Keys some real cassettes have and others lack (API versions differ by recording date); the emulator
#: may omit them. Everything else must match key for key.
VERSION_DEPENDENT = {
    "access_programs",
    "moderation",
    "tool_usage",
    "phase",
    "obfuscation",
    "context",
    "mode",
    "completed_at",
    "cache_write_tokens",
    "frequency_penalty",
    "presence_penalty",
}
#: Keys whose value is null in older real traffic and a string in newer: compared by presence only.
PRESENCE_ONLY = {"prompt_cache_retention"}

#: (cassette name fragment, interaction index) → why the emulator's structure legitimately differs.
KNOWN_DIFFERENCES = {
    ("previous_response_id_seed_auto_chains", 1): "the real model called a tool; the emulator never does",
    ("previous_response_id_seed_auto_chains", 2): "the real model called a tool; the emulator never does",
    ("compact_stateful_mode", 2): "the real 1179-token story crossed compact_threshold; the short reply does not",
}


def shape(value: Any) -> Any:
    """The structure of a JSON value: dicts keep their keys, leaves become type names."""
    if isinstance(value, dict):
        out = {k: "present" if k in PRESENCE_ONLY else shape(v) for k, v in value.items() if k not in VERSION_DEPENDENT}
        if value.get("type") == "reasoning":
            # Deliberate: the emulator always sends it (docs/architecture.md); the real API only on request.
            out.pop("encrypted_content", None)
        return out
    if isinstance(value, list):
        if value and all(isinstance(v, dict) and "type" in v for v in value):
            return [shape(v) for v in value]
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return "str"


class Replayer:
    """Sends a cassette's requests to an emulator, rewriting the real ids to the emulator's."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx2.Client(base_url=base_url.removesuffix("/v1"), headers={"authorization": "Bearer sk-test"})
        self.ids: dict[str, str] = {}

    def rewrite(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.rewrite(v) for v in value]
        if isinstance(value, str):
            return self.ids.get(value, value)
        return value

    def learn(self, real: Any, ours: Any, key: str = "") -> None:
        """Pair up ids (and encrypted contents) where the real and emulated answers line up."""
        if isinstance(real, dict) and isinstance(ours, dict):
            for k in real.keys() & ours.keys():
                self.learn(real[k], ours[k], k)
        elif isinstance(real, list) and isinstance(ours, list):
            for r, o in zip(real, ours, strict=False):
                if isinstance(r, dict) and isinstance(o, dict) and r.get("type") != o.get("type"):
                    continue
                self.learn(r, o, key)
        elif (
            isinstance(real, str)
            and isinstance(ours, str)
            and (key in ("id", "encrypted_content", "first_id", "last_id") or key.endswith("_id"))
        ):
            self.ids.setdefault(real, ours)

    def substitute_compactions(self, body: Any) -> None:
        """A real compaction item the emulator never produced stands for the window before it: have the
        emulator compact that window and map the real item to its own."""
        if not isinstance(body, dict) or not isinstance(body.get("input"), list):
            return
        for index, item in enumerate(body["input"]):
            if not (isinstance(item, dict) and item.get("type") == "compaction"):
                continue
            if item.get("encrypted_content") in self.ids:
                continue
            window = self.rewrite(body["input"][:index])
            ours = self.http.post("/v1/responses/compact", json={"model": body["model"], "input": window}).json()
            self.learn(item, ours["output"][-1])

    def send(self, interaction: Interaction) -> httpx2.Response:
        path = "/".join(self.ids.get(part, part) for part in interaction.path.split("/"))
        self.substitute_compactions(interaction.request)
        body = self.rewrite(interaction.request)
        if interaction.method in ("GET", "DELETE"):
            return self.http.request(interaction.method, path, params=interaction.query)
        return self.http.request(interaction.method, path, params=interaction.query, json=body or {})


def _events(interaction: Interaction, response: httpx2.Response) -> tuple[list[str], list[str]]:
    def collapse(names: list[str]) -> list[str]:
        return [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]

    return collapse([n for n, _ in interaction.sse]), collapse([n for n, _ in parse_sse(response.text)])


def _output_types(body: Any) -> list[str]:
    output = body.get("output") if isinstance(body, dict) else None
    return [o.get("type") for o in output] if isinstance(output, list) else []


@pytest.mark.parametrize("path", cassettes(), ids=lambda p: p.name[:70])
def test_replay_matches_real_structure(path: Path) -> None:
    interactions = read(path)
    with EmulatorServer() as server:
        replayer = Replayer(server.base_url)
        for index, interaction in enumerate(interactions):
            response = replayer.send(interaction)
            where = f"{path.name} #{index} {interaction.method} {interaction.path}"
            assert response.status_code == interaction.status, (where, response.text[:500])
            known = next(
                (why for (frag, i), why in KNOWN_DIFFERENCES.items() if frag in path.name and i == index), None
            )
            if interaction.sse:
                real_names, our_names = _events(interaction, response)
                final_real = interaction.sse[-1][1]["response"]
                final_ours = parse_sse(response.text)[-1][1]["response"]
                assert our_names == real_names, where
                real, ours = final_real, final_ours
            else:
                real, ours = interaction.response, response.json()
            replayer.learn(real, ours)
            if known is not None:
                assert _output_types(real) != _output_types(ours), f"{where}: no longer differs ({known})"
                real = {k: v for k, v in real.items() if k != "output"}
                ours = {k: v for k, v in ours.items() if k != "output"}
            diff = DeepDiff(shape(real), shape(ours), ignore_order=False)
            assert not diff, f"{where}: {diff.pretty()}"


def test_calibration_set_is_present_or_skipped() -> None:
    if not cassettes():
        pytest.skip("../shared/calibration is absent")
    assert len(cassettes()) >= 10
    assert all(re.match(r"^[\w.-]+__", p.name) for p in cassettes())
