"""``--convo-cassette-dir`` (ini ``convotest_cassette_dir``): where cassettes are written and read,
relative to rootdir (or absolute); default ``cassettes``. Names are made safe as path components."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import GREETING, cassette, write_project

RECORD = ["--convo-record-mode=once", "--convo-emulator"]


def test_records_and_replays_in_the_given_folder(pytester: pytest.Pytester, xdist: list[str]) -> None:
    """Cassettes go to ``tapes/<file stem>/<scenario>/<mode>.yaml`` and are read from there."""
    root = write_project(pytester)
    pytester.runpytest_inprocess(*xdist, *RECORD, "--convo-cassette-dir=tapes").assert_outcomes(passed=2)
    assert cassette(root, "greeting", "manual_chat", folder="tapes").is_file()
    assert cassette(root, "greeting", "manual_responses", folder="tapes").is_file()
    assert not (root / "cassettes").exists()
    pytester.runpytest_inprocess("--convo-cassette-dir=tapes").assert_outcomes(passed=2)


def test_the_default_folder_does_not_see_them(pytester: pytest.Pytester) -> None:
    """Replaying without the option looks in ``cassettes/`` and says so."""
    root = write_project(pytester)
    pytester.runpytest_inprocess(*RECORD, "--convo-cassette-dir=tapes").assert_outcomes(passed=2)
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(failed=2)
    assert "no cassette at cassettes/greeting/greeting/manual_chat.yaml" in result.stdout.str()
    assert cassette(root, "greeting", "manual_chat", folder="tapes").is_file()


def test_from_the_ini_file_and_absolute(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """The ini key names a folder under rootdir; an absolute path is used as it is, and wins."""
    root = write_project(pytester, ini="convotest_cassette_dir = recordings/openai\n")
    pytester.runpytest_inprocess(*RECORD).assert_outcomes(passed=2)
    assert cassette(root, "greeting", "manual_chat", folder="recordings/openai").is_file()
    elsewhere = tmp_path / "shared-cassettes"
    pytester.runpytest_inprocess(*RECORD, f"--convo-cassette-dir={elsewhere}").assert_outcomes(passed=2)
    assert cassette(elsewhere.parent, "greeting", "manual_chat", folder=elsewhere.name).is_file()


def test_unsafe_and_long_names_become_safe_path_components(pytester: pytest.Pytester) -> None:
    """Spaces and quotes in a file name become ``_``; a name over 64 characters is cut and hashed."""
    long_name = "a_conversation_about_" + "very_" * 20 + "long_names"
    texts = {
        "what's up now": GREETING,
        "long": GREETING.replace("name: greeting", f"name: {long_name}"),
    }
    root = write_project(pytester, texts)
    pytester.runpytest_inprocess(*RECORD, "--convo-mode=manual_chat").assert_outcomes(passed=2)
    assert (root / "cassettes/what_s_up_now/greeting/manual_chat.yaml").is_file()
    (folder,) = (root / "cassettes/long").iterdir()
    assert len(folder.name) == 64
    assert folder.name.startswith("a_conversation_about_very_very_")
    assert (folder / "manual_chat.yaml").is_file()
