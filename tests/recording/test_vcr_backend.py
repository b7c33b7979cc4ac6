"""Recording and replaying real HTTP with vcrpy through convotest's indexed, atomic cassette."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpx2
import pytest

from convotest.recording import cassette_format
from convotest.recording.matching import explain_difference
from convotest.recording.scrub import Scrubber
from convotest.recording.vcr_backend import is_no_match, open_cassette


def _post(client: httpx2.Client, base: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        f"{base}/responses?key=sk-querycanary12345",
        json=body,
        headers={"authorization": "Bearer sk-headercanary12345", "x-stainless-retry-count": "0"},
    )
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def _record(path: Path, base: str, bodies: list[dict[str, Any]], mode: str = "once", keep: bool = True) -> list[Any]:
    turn = {"n": 0}
    out = []
    with (
        open_cassette(
            path,
            record_mode=mode,
            scrubber=Scrubber.from_config(),
            header={"format": 1, "scenario": "s"},
            turn_source=lambda: turn["n"],
        ) as session,
        httpx2.Client() as client,
    ):
        for n, body in enumerate(bodies):
            turn["n"] = n
            out.append(_post(client, base, body))
        if keep:
            session.keep()
    return out


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a TCP connection fails the test."""

    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"network access attempted: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_record_then_replay_with_no_network(tmp_path: Path, echo_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    bodies = [{"input": "one"}, {"input": "two"}, {"input": "one"}]
    recorded = _record(path, echo_server, bodies)
    data = cassette_format.load_yaml(path.read_text())
    assert data["metadata"]["convotest"] == {"format": 1, "scenario": "s", "turns": [0, 1, 2]}
    assert [i["request"]["body"]["json"]["input"] for i in data["interactions"]] == ["one", "two", "one"]

    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"network access attempted: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    replayed = _record(path, "http://127.0.0.1:9/v1", bodies, mode="none")
    # Equal requests replay in recorded order; only the scrubbed query differs from the live answer.
    assert [r["echo"] for r in replayed] == [r["echo"] for r in recorded]
    assert [r["path"] for r in replayed] == ["/v1/responses?key=<redacted>"] * 3
    assert [r["id"] for r in replayed] == ["resp_00000001abcdef", "resp_00000002abcdef", "resp_00000003abcdef"]


def test_secrets_never_reach_the_file(tmp_path: Path, echo_server: str) -> None:
    path = tmp_path / "c.yaml"
    _record(path, echo_server, [{"input": "my key is sk-bodycanary1234567"}])
    text = path.read_text()
    for canary in ("sk-bodycanary", "sk-querycanary", "sk-headercanary", "secret-cookie", "org-canary"):
        assert canary not in text
    assert "x-request-id" in text


def test_drift_names_the_closest_recorded_request(tmp_path: Path, echo_server: str) -> None:
    path = tmp_path / "c.yaml"
    _record(path, echo_server, [{"input": [{"role": "user", "content": "Orange."}]}])
    with (
        open_cassette(
            path, record_mode="none", scrubber=Scrubber.from_config(), header={}, turn_source=lambda: 0
        ) as session,
        httpx2.Client() as client,
    ):
        with pytest.raises(Exception) as info:
            _post(client, echo_server, {"input": [{"role": "user", "content": "Banana."}]})
        assert is_no_match(info.value)
        found = session.no_match()
    assert found is not None and found.closest is not None
    number, shape = found.closest
    assert (number, found.recorded, found.played) == (1, 1, 0)
    assert json.loads(shape.body) == {"input": [{"role": "user", "content": "Orange."}]}


def test_a_run_that_is_not_kept_leaves_the_old_cassette_untouched(tmp_path: Path, echo_server: str) -> None:
    path = tmp_path / "c.yaml"
    _record(path, echo_server, [{"input": "one"}])
    before = path.read_bytes()
    _record(path, echo_server, [{"input": "changed"}], mode="rewrite", keep=False)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.yaml"]  # no temporary file left behind
    _record(path, echo_server, [{"input": "changed"}], mode="rewrite")
    assert "changed" in path.read_text()
    assert "one" not in path.read_text()


def test_new_episodes_appends_and_tags_turns(tmp_path: Path, echo_server: str) -> None:
    path = tmp_path / "c.yaml"
    _record(path, echo_server, [{"input": "one"}])
    _record(path, echo_server, [{"input": "one"}, {"input": "two"}], mode="new_episodes")
    data = cassette_format.load_yaml(path.read_text())
    assert [i["request"]["body"]["json"]["input"] for i in data["interactions"]] == ["one", "two"]
    assert data["metadata"]["convotest"]["turns"] == [0, 1]


def _history_bodies(turns: int, secret: str = "") -> list[dict[str, Any]]:
    """A manual-mode conversation: each body resends every earlier message."""
    history: list[dict[str, Any]] = []
    bodies = []
    for k in range(turns):
        history.append({"role": "user", "content": f"message {k} {secret}".strip()})
        bodies.append({"model": "m", "input": list(history), "store": False})
    return bodies


@pytest.fixture
def history_cassette(tmp_path: Path, echo_server: str) -> tuple[Path, list[dict[str, Any]], list[Any]]:
    path = tmp_path / "c.yaml"
    bodies = _history_bodies(30, "sk-bodycanary1234567")
    return path, bodies, _record(path, echo_server, bodies)


def test_resent_histories_replay_from_deltas(
    history_cassette: tuple[Path, list[dict[str, Any]], list[Any]], no_network: None
) -> None:
    path, bodies, recorded = history_cassette
    text = path.read_text()
    assert "sk-bodycanary" not in text and text.count("extends:") == 29
    # The live bodies still hold the secret; they match the scrubbed recording all the same.
    replayed = _record(path, "http://127.0.0.1:9/v1", bodies, mode="none")
    assert [r["id"] for r in replayed] == [r["id"] for r in recorded]


def test_drift_deep_in_a_resent_history_is_explained(
    history_cassette: tuple[Path, list[dict[str, Any]], list[Any]], no_network: None
) -> None:
    path, bodies, _ = history_cassette
    drifted = json.loads(json.dumps(bodies))
    drifted[20]["input"][7]["content"] = "changed"
    with (
        open_cassette(
            path, record_mode="none", scrubber=Scrubber.from_config(), header={}, turn_source=lambda: 0
        ) as session,
        httpx2.Client() as client,
    ):
        for body in drifted[:20]:
            _post(client, "http://127.0.0.1:9/v1", body)
        with pytest.raises(Exception) as info:
            _post(client, "http://127.0.0.1:9/v1", drifted[20])
        assert is_no_match(info.value)
        found = session.no_match()
    assert found is not None and found.closest is not None
    number, shape = found.closest
    assert number == 21
    assert explain_difference(shape, found.shape) == ["body.input[7].content: 'message 7 <redacted>' → 'changed'"]


def test_new_episodes_keeps_the_loaded_histories(
    history_cassette: tuple[Path, list[dict[str, Any]], list[Any]], echo_server: str
) -> None:
    path, _, _ = history_cassette
    before = cassette_format.deserialize(path.read_text())["interactions"]
    more = _history_bodies(31, "sk-bodycanary1234567")
    _record(path, echo_server, more, mode="new_episodes")
    after = cassette_format.deserialize(path.read_text())["interactions"]
    assert [i["request"]["body"] for i in after[:30]] == [i["request"]["body"] for i in before]
    assert len(after) == 31
    assert json.loads(after[30]["request"]["body"])["input"][-1] == {"role": "user", "content": "message 30 <redacted>"}
