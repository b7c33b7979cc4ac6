"""``pytest --help``: convotest's options and ini keys, pinned as printed at 100 columns."""

from __future__ import annotations

import pytest
from plugin_helpers import write_project

OPTIONS = """\
record and replay OpenAI conversations (convotest):
  --convo-record-mode={none,once,new_episodes,all,rewrite}
                        cassette record mode. 'none' (default) only replays and never touches the
                        network, safe for CI; 'once' records missing cassettes; 'new_episodes'
                        records requests not yet recorded; 'all' records every request again;
                        'rewrite' records a fresh cassette that replaces the old one when the
                        scenario finishes.
  --convo-live          no cassettes at all: every request goes to the server (the emulator with
                        --convo-emulator).
  --convo-base-url=URL  the server to record from or run live against (default: OpenAI's API, with
                        OPENAI_API_KEY).
  --convo-emulator      start convotest's local OpenAI emulator for this session and record from it
                        (not started when only replaying).
  --convo-cassette-dir=DIR
                        where cassettes live, relative to rootdir (default: cassettes).
  --convo-mode=MODE     run only this state mode (repeatable): manual_chat, manual_responses,
                        previous_response_id, conversation, custom.
  --convo-full-trace    show Python tracebacks in failures.
  --convo-strict        fail the run when cassettes are left unused.
  --convo-verify-server
                        previous_response_id and conversation modes: after the run, list what the
                        server holds (input items, conversation items) and fail where it differs
                        from the context rebuilt from the traffic. The listings are recorded: give
                        the option when recording and when replaying.
  --convo-report=PATH   write an HTML report (and PATH.json).
"""

INI_KEYS = """\
  convotest_record_mode (string):
                        default record mode (none, once, new_episodes, all, rewrite)
  convotest_base_url (string):
                        server to record from
  convotest_emulator (bool):
                        start the local emulator (true/false)
  convotest_live (bool):
                        no cassettes at all (true/false)
  convotest_cassette_dir (string):
                        cassette directory, relative to rootdir
  convotest_file_pattern (string):
                        scenario file patterns, space separated
  convotest_modes (args):
                        state modes to run
  convotest_strict (bool):
                        fail on unused cassettes (true/false)
  convotest_full_trace (bool):
                        show Python tracebacks (true/false)
  convotest_verify_server (bool):
                        check the server's own view (true/false)
  convotest_model_limits (linelist):
                        extra models, one per line: NAME CONTEXT_WINDOW MAX_OUTPUT_TOKENS
"""


@pytest.fixture
def helptext(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> str:
    """``pytest --help`` in a convotest project, 100 columns wide."""
    monkeypatch.setenv("COLUMNS", "100")
    write_project(pytester)
    result = pytester.runpytest_inprocess("--help")
    assert result.ret == pytest.ExitCode.OK
    return result.stdout.str() + "\n"


def test_options_section(helptext: str) -> None:
    """The option group, every line of it."""
    start = helptext.index("record and replay OpenAI conversations (convotest):")
    assert helptext[start : helptext.index("\n\n", start) + 1] == OPTIONS


def test_ini_keys(helptext: str) -> None:
    """Every ``convotest_*`` ini key with its type and help."""
    start = helptext.index("  convotest_record_mode (string):")
    end = helptext.index("  convotest_model_limits (linelist):")
    assert helptext[start : helptext.index("\n", helptext.index("\n", end) + 1) + 1] == INI_KEYS


def test_every_option_has_an_ini_key(helptext: str) -> None:
    """Each ``--convo-X`` except the per-run ``--convo-report`` and ``--convo-mode`` has ``convotest_X``."""
    options = {line.split()[0].split("=")[0] for line in OPTIONS.splitlines() if line.startswith("  --convo-")}
    keys = {line.split()[0] for line in INI_KEYS.splitlines() if line.startswith("  convotest_")}
    expected = {f"convotest_{o[len('--convo-') :].replace('-', '_')}" for o in options} - {
        "convotest_report",
        "convotest_mode",
    }
    assert expected <= keys
    assert "convotest_modes" in keys
