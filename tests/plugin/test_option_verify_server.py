"""``--convo-verify-server`` (ini ``convotest_verify_server``): for previous_response_id and conversation
modes, list what the server holds after the run (``GET /responses/{id}/input_items``, ``GET
/conversations/{id}/items``), record those listings, and fail where they differ from the rebuilt context."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from plugin_helpers import CHAINED, cassette, failure_section, uris, write_project

RECORD = ["--convo-record-mode=once", "--convo-emulator", "--convo-verify-server"]
DEAD = "--convo-base-url=http://127.0.0.1:9/v1"


def listings(path: Path) -> list[str]:
    """The GET requests of a cassette, ids left out."""
    return [uri.split("/v1/")[1].split("_", 1)[0] for uri in uris(path) if uri.split("?")[0].endswith("items")]


def test_records_the_server_listings_and_replays_them(pytester: pytest.Pytester, xdist: list[str]) -> None:
    """One input_items listing per response, one item listing per conversation; replay needs no server."""
    root = write_project(pytester, {"chained": CHAINED})
    pytester.runpytest_inprocess(*xdist, *RECORD).assert_outcomes(passed=2)
    assert listings(cassette(root, "chained", "previous_response_id")) == ["responses/resp"] * 2
    assert listings(cassette(root, "chained", "conversation")) == ["conversations/conv"]
    pytester.runpytest_inprocess("--convo-verify-server", DEAD).assert_outcomes(passed=2)


def test_a_server_that_holds_something_else_fails_the_turn(pytester: pytest.Pytester) -> None:
    """A listing that disagrees with what was sent (here: edited in the cassette) is a failure."""
    root = write_project(pytester, {"chained": CHAINED})
    pytester.runpytest_inprocess(*RECORD, "--convo-mode=previous_response_id").assert_outcomes(passed=1)
    path = cassette(root, "chained", "previous_response_id")
    data = yaml.safe_load(path.read_text())
    listing = next(i for i in data["interactions"] if "input_items" in i["request"]["uri"])
    listing["response"]["body"]["json"]["data"][0]["content"][0]["text"] = "Tell me a riddle."
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    result = pytester.runpytest_inprocess("--convo-verify-server", "--convo-mode=previous_response_id")
    result.assert_outcomes(failed=1)
    (headline, turn) = failure_section(result.stdout.lines, "chained [previous_response_id]")
    assert headline.startswith("chained.convo.yaml:6: turn 1 [previous_response_id]: the server's input_items of resp_")
    assert headline.endswith("(exchange 2) differ from the input sent at item 1")
    assert turn == "    turn 1 (chained.convo.yaml:6): user: 'Tell me a joke.'"


def test_off_by_default_and_needed_in_replay_when_recorded_with(pytester: pytest.Pytester, recorded: Path) -> None:
    """Cassettes recorded without it hold no listings; asking for them in replay is drift, with the fix."""
    root = write_project(pytester, {"chained": CHAINED}, cassettes=recorded, ini="convotest_verify_server = true\n")
    assert listings(cassette(root, "chained", "conversation")) == []
    result = pytester.runpytest_inprocess("--convo-mode=conversation")
    result.assert_outcomes(failed=1)
    section = failure_section(result.stdout.lines, "chained [conversation]")
    assert "    no recorded response matches GET /v1/conversations/<conv#1>/items" in section
    assert section[-1] == (
        "    to re-record: pytest 'chained.convo.yaml::chained[conversation]' --convo-record-mode=rewrite "
        "--convo-emulator --convo-verify-server"
    )
