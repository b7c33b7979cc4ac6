"""``--convo-base-url`` (ini ``convotest_base_url``): the server to record from. It wins over
``--convo-emulator``, is written into the recorded URIs, and does not matter to replay."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from plugin_helpers import CONFTEST, WATCH_EMULATOR, cassette, emulator_log, uris, write_project

from convotest.emulator.server import EmulatorServer


@pytest.fixture
def server() -> Iterator[str]:
    """An emulator of the test's own, standing in for a real server."""
    with EmulatorServer() as emulator:
        yield emulator.base_url


def test_records_from_the_given_server(pytester: pytest.Pytester, xdist: list[str], server: str) -> None:
    """The cassettes hold the server's URL; no session emulator is started although one was asked for."""
    root = write_project(pytester, conftest=CONFTEST + WATCH_EMULATOR)
    args = ["--convo-record-mode=once", "--convo-base-url", server, "--convo-emulator"]
    pytester.runpytest_inprocess(*xdist, *args).assert_outcomes(passed=2)
    assert uris(cassette(root, "greeting", "manual_chat")) == [f"{server}/chat/completions"] * 2
    assert set(emulator_log(root).values()) == {False}
    # The host is not part of matching: the recording replays under another (unreachable) base URL.
    pytester.runpytest_inprocess("--convo-base-url=http://127.0.0.1:9/v1").assert_outcomes(passed=2)


def test_from_the_ini_file(pytester: pytest.Pytester, server: str) -> None:
    """``convotest_base_url`` names the server when the command line does not."""
    root = write_project(pytester, ini=f"convotest_base_url = {server}\n")
    pytester.runpytest_inprocess("--convo-record-mode=once").assert_outcomes(passed=2)
    assert uris(cassette(root, "greeting", "manual_responses")) == [f"{server}/responses"] * 2


def test_the_command_line_wins_over_the_ini_file(pytester: pytest.Pytester, server: str) -> None:
    """An unreachable ini server is not used when ``--convo-base-url`` is given."""
    root = write_project(pytester, ini="convotest_base_url = http://127.0.0.1:9/v1\n")
    pytester.runpytest_inprocess("--convo-record-mode=once", f"--convo-base-url={server}").assert_outcomes(passed=2)
    assert uris(cassette(root, "greeting", "manual_chat"))[0].startswith(server)


def test_recording_from_an_unreachable_server_writes_nothing(pytester: pytest.Pytester) -> None:
    """A connection error is the turn's failure, and no cassette is written."""
    root = write_project(pytester)
    result = pytester.runpytest_inprocess("--convo-record-mode=once", "--convo-base-url=http://127.0.0.1:9/v1")
    result.assert_outcomes(failed=2)
    # The exception named depends on how the SDK wraps the refused connection.
    head = "greeting.convo.yaml:6: turn 1 [manual_chat]: "
    assert any(line.startswith(head) and "Connect" in line for line in result.stdout.lines)
    assert not (root / "cassettes").exists()
