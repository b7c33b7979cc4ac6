"""Settings precedence: command line > ini file > the ``convo_config`` fixture > built-in default,
shown for the record mode and the cassette folder."""

from __future__ import annotations

import pytest
from plugin_helpers import write_project

CONFTEST = """\
import pytest


@pytest.fixture
def convo_config():
    return {config!r}
"""


def project(pytester: pytest.Pytester, ini: dict[str, str], fixture: dict[str, str]) -> None:
    """The greeting project with these ini keys and ``convo_config`` entries."""
    lines = "".join(f"convotest_{key} = {value}\n" for key, value in ini.items())
    write_project(pytester, ini=lines, conftest=CONFTEST.format(config={"max_retries": 0, **fixture}))


@pytest.mark.parametrize(
    ("cli", "ini", "fixture", "effective"),
    [
        pytest.param("once", "none", "none", "once", id="cli-beats-ini"),
        pytest.param("none", "once", "once", "none", id="cli-none-beats-ini-once"),
        pytest.param(None, "once", "none", "once", id="ini-beats-fixture"),
        pytest.param(None, "none", "once", "none", id="ini-none-beats-fixture-once"),
        pytest.param(None, None, "once", "once", id="fixture-beats-default"),
        pytest.param(None, None, None, "none", id="default-is-none"),
    ],
)
def test_record_mode(
    pytester: pytest.Pytester, cli: str | None, ini: str | None, fixture: str | None, effective: str
) -> None:
    """'once' records the missing cassettes and passes; 'none' fails on them."""
    project(
        pytester,
        {"record_mode": ini} if ini else {},
        {"record_mode": fixture} if fixture else {},
    )
    args = ["--convo-emulator", *([f"--convo-record-mode={cli}"] if cli else [])]
    result = pytester.runpytest_inprocess(*args)
    if effective == "once":
        result.assert_outcomes(passed=2)
        assert (pytester.path / "cassettes/greeting/greeting/manual_chat.yaml").is_file()
    else:
        result.assert_outcomes(failed=2)
        assert "and record mode is 'none'" in result.stdout.str()


@pytest.mark.parametrize(
    ("layers", "winner"),
    [
        pytest.param(("cli", "ini", "fixture"), "cli", id="cli-beats-ini-and-fixture"),
        pytest.param(("ini", "fixture"), "ini", id="ini-beats-fixture"),
        pytest.param(("fixture",), "fixture", id="fixture-beats-default"),
        pytest.param((), "cassettes", id="default-is-cassettes"),
    ],
)
def test_cassette_dir(pytester: pytest.Pytester, layers: tuple[str, ...], winner: str) -> None:
    """Each layer names its own folder; only the winner's receives the recording."""
    project(
        pytester,
        {"cassette_dir": "ini"} if "ini" in layers else {},
        {"cassette_dir": "fixture"} if "fixture" in layers else {},
    )
    args = ["--convo-emulator", "--convo-record-mode=once", *(["--convo-cassette-dir=cli"] if "cli" in layers else [])]
    pytester.runpytest_inprocess(*args).assert_outcomes(passed=2)
    written = {path.relative_to(pytester.path).parts[0] for path in pytester.path.rglob("manual_chat.yaml")}
    assert written == {winner}
