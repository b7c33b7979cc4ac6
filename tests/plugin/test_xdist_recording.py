"""Recording under ``-n 2``: every item records its own cassette through its worker's emulator; the
cassettes are complete, name their own scenario and mode, load in plain vcrpy, and replay."""

from __future__ import annotations

import pytest
import vcr
from plugin_helpers import CHAINED, GREETING, write_project

from convotest.recording import cassette_format

ITEMS = {
    ("greeting", "manual_chat"): 2,
    ("greeting", "manual_responses"): 2,
    ("chained", "previous_response_id"): 2,
    ("chained", "conversation"): 3,  # the conversation is created first
}


def test_each_worker_writes_its_items_cassettes(pytester: pytest.Pytester) -> None:
    """Four items on two workers: four cassettes, each whole and its own, that replay."""
    root = write_project(pytester, {"greeting": GREETING, "chained": CHAINED})
    result = pytester.runpytest_inprocess("-n", "2", "--convo-record-mode=once", "--convo-emulator")
    result.assert_outcomes(passed=4)
    written = sorted(p.relative_to(root / "cassettes").as_posix() for p in (root / "cassettes").rglob("*"))
    assert written == [
        "chained",
        "chained/chained",
        "chained/chained/conversation.yaml",
        "chained/chained/previous_response_id.yaml",
        "greeting",
        "greeting/greeting",
        "greeting/greeting/manual_chat.yaml",
        "greeting/greeting/manual_responses.yaml",
    ], "one cassette per item and no temporary files"
    plain = vcr.VCR()
    plain.register_serializer("convotest", cassette_format)
    for (name, mode), count in ITEMS.items():
        path = root / "cassettes" / name / name / f"{mode}.yaml"
        data = cassette_format.deserialize(path.read_text(), str(path))
        header = data["metadata"]["convotest"]
        assert (header["scenario"], header["mode"], header["file"]) == (name, mode, f"{name}.convo.yaml")
        assert len(data["interactions"]) == count
        assert header["turns"] == [0] * (count - 1) + [1]
        assert {i["request"]["uri"].split("/v1/")[0] for i in data["interactions"]} == {"http://emulator.convotest"}
        with plain.use_cassette(str(path), serializer="convotest", record_mode="none") as cassette:
            assert len(cassette) == count
    pytester.runpytest_inprocess().assert_outcomes(passed=4)
