"""``--convo-record-mode``: none replays only, once records what is missing, new_episodes appends,
all records everything again, rewrite replaces the cassette only when the scenario finishes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from plugin_helpers import GREETING, cassette, failure_section, write_project

from convotest.emulator.config import EmulatorConfig, FaultConfig
from convotest.emulator.server import EmulatorServer

#: Nothing listens on the discard port: any request that reaches the network fails at once.
DEAD = ["--convo-base-url", "http://127.0.0.1:9/v1"]
#: Only the Chat item: its requests carry no server-assigned ids, so replay and recording can mix.
CHAT = "greeting.convo.yaml::greeting[manual_chat]"
EDITED = GREETING.replace('"Orange."', '"Banana."').replace("Orange", "Banana")


def interactions(path: Path) -> list[str]:
    """The last user message of every request in a cassette, in order."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [i["request"]["body"]["json"]["messages"][-1]["content"] for i in data["interactions"]]


@pytest.fixture
def faulty() -> Iterator[str]:
    """An emulator that answers its 2nd, 4th, … request with HTTP 400 (the SDK does not retry 400)."""
    with EmulatorServer(EmulatorConfig(faults=FaultConfig(status=400, every=2))) as server:
        yield server.base_url


def test_none_fails_clearly_when_the_cassette_is_missing(pytester: pytest.Pytester) -> None:
    """A missing cassette in 'none' fails with where it was looked for and the command that records it."""
    root = write_project(pytester)
    result = pytester.runpytest_inprocess("--convo-record-mode=none", "--convo-emulator")
    result.assert_outcomes(failed=2)
    assert failure_section(result.stdout.lines, "greeting [manual_chat]") == [
        "greeting.convo.yaml:1: [manual_chat]: no cassette at cassettes/greeting/greeting/manual_chat.yaml and "
        "record mode is 'none'; record it with: pytest 'greeting.convo.yaml::greeting[manual_chat]' "
        "--convo-record-mode=rewrite --convo-emulator"
    ]
    assert not (root / "cassettes").exists()


def test_once_records_missing_cassettes_then_replays_them(pytester: pytest.Pytester, xdist: list[str]) -> None:
    """'once' records what is missing; the default mode ('none') then replays and needs no server."""
    root = write_project(pytester)
    pytester.runpytest_inprocess(*xdist, "--convo-record-mode=once", "--convo-emulator").assert_outcomes(passed=2)
    chat = cassette(root, "greeting", "manual_chat")
    assert interactions(chat) == ["Knock knock.", "Orange."]
    assert cassette(root, "greeting", "manual_responses").is_file()
    before = chat.read_bytes()
    pytester.runpytest_inprocess(*DEAD).assert_outcomes(passed=2)
    assert chat.read_bytes() == before


def test_once_does_not_add_to_an_existing_cassette(pytester: pytest.Pytester, recorded: Path) -> None:
    """An existing cassette is complete for 'once': a new request is drift, and the file is kept."""
    root = write_project(pytester, {"greeting": EDITED}, cassettes=recorded)
    chat = cassette(root, "greeting", "manual_chat")
    before = chat.read_bytes()
    result = pytester.runpytest_inprocess("--convo-record-mode=once", "--convo-emulator", CHAT)
    result.assert_outcomes(failed=1)
    assert "the request sent differs from the recording" in "\n".join(result.stdout.lines)
    assert chat.read_bytes() == before


def test_new_episodes_records_only_the_new_requests(pytester: pytest.Pytester, recorded: Path) -> None:
    """'new_episodes' replays the recorded turn 1 and appends the edited turn 2 to the cassette."""
    root = write_project(pytester, {"greeting": EDITED}, cassettes=recorded)
    result = pytester.runpytest_inprocess("--convo-record-mode=new_episodes", "--convo-emulator", CHAT)
    result.assert_outcomes(passed=1)
    assert interactions(cassette(root, "greeting", "manual_chat")) == ["Knock knock.", "Orange.", "Banana."]
    # Replaying the grown cassette finds the appended request.
    pytester.runpytest_inprocess(*DEAD, CHAT).assert_outcomes(passed=1)


def test_new_episodes_continues_a_resent_history_on_a_fresh_emulator(pytester: pytest.Pytester) -> None:
    """manual_responses resends the replayed replies with the ids the recording's emulator gave them; the
    fresh emulator that takes the new turn makes ids from the same seed and must step over those."""
    three = GREETING.replace("[manual_chat, manual_responses]", "[manual_responses]") + '  - user: "Pear."\n'
    root = write_project(pytester, {"greeting": three})
    pytester.runpytest_inprocess("--convo-record-mode=once", "--convo-emulator").assert_outcomes(passed=1)
    write_project(pytester, {"greeting": three.replace('"Pear."', '"Plum."')})
    result = pytester.runpytest_inprocess("--convo-record-mode=new_episodes", "--convo-emulator")
    result.assert_outcomes(passed=1)
    data = yaml.safe_load(cassette(root, "greeting", "manual_responses").read_text(encoding="utf-8"))
    last = [i["request"]["body"]["json"]["input"][-1]["content"] for i in data["interactions"]]
    assert last == ["Knock knock.", "Orange.", "Pear.", "Plum."]
    pytester.runpytest_inprocess(*DEAD).assert_outcomes(passed=1)


def test_all_sends_every_request_to_the_server(pytester: pytest.Pytester, recorded: Path) -> None:
    """'all' never replays: against a dead server it fails although the cassette holds every request."""
    root = write_project(pytester, cassettes=recorded)
    chat = cassette(root, "greeting", "manual_chat")
    before = chat.read_bytes()
    result = pytester.runpytest_inprocess("--convo-record-mode=all", *DEAD, CHAT)
    result.assert_outcomes(failed=1)
    head = "greeting.convo.yaml:6: turn 1 [manual_chat]: "
    assert any(line.startswith(head) and "Connect" in line for line in result.stdout.lines)
    assert chat.read_bytes() == before
    result = pytester.runpytest_inprocess("--convo-record-mode=all", "--convo-emulator")
    result.assert_outcomes(passed=2)
    assert interactions(chat) == ["Knock knock.", "Orange."]


def test_rewrite_replaces_the_cassette_only_when_the_scenario_finishes(
    pytester: pytest.Pytester, recorded: Path, faulty: str
) -> None:
    """A rewrite that fails at turn 2 leaves the old cassette as it was; one that finishes replaces it."""
    root = write_project(pytester, {"greeting": EDITED}, cassettes=recorded)
    chat = cassette(root, "greeting", "manual_chat")
    before = chat.read_bytes()
    args = ["--convo-record-mode=rewrite", CHAT]
    result = pytester.runpytest_inprocess(*args, "--convo-base-url", faulty)
    result.assert_outcomes(failed=1)
    assert "turn 2 [manual_chat]: BadRequestError" in "\n".join(result.stdout.lines)
    assert chat.read_bytes() == before
    assert not list(chat.parent.glob("*.tmp")), "no temporary file is left behind"

    pytester.runpytest_inprocess(*args, "--convo-emulator").assert_outcomes(passed=1)
    assert interactions(chat) == ["Knock knock.", "Banana."]
