"""Secrets: nothing the run knows as a secret reaches a cassette, a report or the failure output.

Every shipped scenario is recorded against the emulator with canary values everywhere a secret can travel:
the API key and the organisation and project ids (from the environment, from ``Settings`` / ``convo_config``,
and both at once), a key typed into a user message (so it goes out in the request body and comes back in
the reply), a key in a query string (a custom driver that sends one, as some proxies expect), and the
emulator's ``set-cookie``. Then every byte of every file written is searched for every canary.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import every_file, run_inprocess, shipped_files, write_project

from convotest.emulator.server import EmulatorServer
from convotest.plugin import render_failures
from convotest.runner import RunResult, Settings, run
from convotest.scenario.loader import load_file, load_text

#: Canaries given through the environment.
ENV = {
    "OPENAI_API_KEY": "sk-proj-canaryEnvKey0000000000000000",
    "OPENAI_ORG_ID": "org-canaryEnvOrganisation000",
    "OPENAI_PROJECT_ID": "proj_canaryEnvProject00000",
}
#: Canaries given through ``Settings`` (``convo_config`` in a pytest project).
SETTINGS = {
    "api_key": "sk-canarySettingsKey000000000000000",
    "organization": "org-canarySettingsOrganisation0",
    "project": "proj_canarySettingsProject000",
}
#: A key the user types into a message: it goes out in the request body and the emulator echoes it.
BODY_KEY = "sk-canaryBodyKey00000000000000000000"
#: A key a proxy-style client puts in the query string of every request.
QUERY_KEY = "sk-canaryQueryKey0000000000000000000"
#: A project secret that looks like no key: only ``scrub_values`` (``convo_config``) names it.
TOKEN = "tok-canaryProjectSecret0000"
#: What the emulator's cookies are called (their values are collected from the live traffic).
COOKIE_NAME = "__cf_bm"

DRIVER_MODULE = "canary_query_driver"
DRIVER = f'''\
"""A custom driver that sends its key in the query string, as some proxies expect."""


class QueryDriver:
    def __init__(self, client):
        self.client = client
        self.history = []

    def send(self, text):
        self.history.append({{"role": "user", "content": text}})
        completion = self.client.chat.completions.create(
            model="gpt-4o-mini", messages=self.history, extra_query={{"key": "{QUERY_KEY}"}}
        )
        reply = completion.choices[0].message.content
        self.history.append({{"role": "assistant", "content": reply}})
        return reply
'''

QUERY_SCENARIO = f"""\
version: 1
name: query_key
model: gpt-4o-mini
driver: "{DRIVER_MODULE}:QueryDriver"
turns:
  - user: "Hello through a proxy."
  - user: "Still there?"
    expect:
      reply:
        contains: ["I have seen 3 messages."]
"""


def echo_scenario(org: str, project: str) -> str:
    """Four turns that each carry a secret in the user text; turns 2 to 4 expect a reply never given, so the
    failure output shows the replies, which echo the secrets back."""
    return textwrap.dedent(
        f"""\
        version: 1
        name: echo_secrets
        model: gpt-4o-mini
        modes: [manual_chat, previous_response_id]
        turns:
          - user: "My key is {BODY_KEY}"
          - user: "My organisation is {org}"
            expect:
              reply:
                contains: ["never said"]
          - user: "My project is {project}"
            expect:
              reply:
                contains: ["never said"]
          - user: "My token is {TOKEN}"
            expect:
              reply:
                contains: ["never said"]
        """
    )


def canaries(org: str, project: str) -> dict[str, str]:
    """Every canary of one configuration, by what it stands for."""
    return {
        "env key": ENV["OPENAI_API_KEY"],
        "env organisation": ENV["OPENAI_ORG_ID"],
        "env project": ENV["OPENAI_PROJECT_ID"],
        "settings key": SETTINGS["api_key"],
        "settings organisation": SETTINGS["organization"],
        "settings project": SETTINGS["project"],
        "body key": BODY_KEY,
        "query key": QUERY_KEY,
        "echoed organisation": org,
        "echoed project": project,
        "scrub_values token": TOKEN,
        "cookie name": COOKIE_NAME,
    }


def leaks(data: bytes, found: dict[str, str]) -> list[str]:
    """The canaries (by name) that occur in ``data``."""
    return [name for name, value in found.items() if value.encode() in data]


def assert_no_canary(files: list[Path], found: dict[str, str]) -> None:
    assert files, "nothing was written: the test would prove nothing"
    problems = [f"{path}: {', '.join(names)}" for path in files if (names := leaks(path.read_bytes(), found))]
    assert not problems, "canaries found:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def driver_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "drivers"
    folder.mkdir()
    (folder / f"{DRIVER_MODULE}.py").write_text(DRIVER, encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    return folder


# --- the library: runner.run ---------------------------------------------------------------------------

SOURCES = ["environment", "settings", "both"]


@pytest.mark.parametrize("source", SOURCES)
def test_recording_every_shipped_scenario_writes_no_canary(
    source: str, tmp_path: Path, emulator: EmulatorServer, driver_on_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Record the shipped scenarios, the echo scenario and the query-string driver; grep every cassette byte.

    ``source`` says where the key, organisation and project come from; the echo scenario types the ones
    in use (the environment's when only those are set, else the settings') into its messages.
    """
    for name, value in ENV.items():
        if source == "settings":
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    given: dict[str, Any] = SETTINGS if source != "environment" else {}
    settings = Settings(
        record_mode="rewrite",
        emulator=True,
        base_url=emulator.base_url,
        cassette_dir=tmp_path / "cassettes",
        scrub_values=(TOKEN,),
        **given,
    )
    org, project = (
        (ENV["OPENAI_ORG_ID"], ENV["OPENAI_PROJECT_ID"])
        if source == "environment"
        else (SETTINGS["organization"], SETTINGS["project"])
    )
    scenarios = [s for path in shipped_files() for s in load_file(path)]
    scenarios += load_text(echo_scenario(org, project), str(tmp_path / "echo_secrets.convo.yaml"))
    scenarios += load_text(QUERY_SCENARIO, str(tmp_path / "query_key.convo.yaml"))

    results: list[RunResult] = []
    for scenario in scenarios:
        for mode in ["custom"] if scenario.driver else scenario.modes:
            result = run(scenario, mode, settings)
            assert result.cassette_status == "recorded", (scenario.name, mode, result.failures)
            results.append(result)
    assert {r.scenario.name for r in results if r.failures} == {"echo_secrets"}

    # The canaries were really on the wire (else finding none proves nothing).
    exchanges = [e for r in results if r.transcript for e in r.transcript.exchanges]
    assert any(BODY_KEY in (e.request_text or json.dumps(e.request)) for e in exchanges)
    assert any(org in json.dumps(e.response) for e in exchanges if e.response)
    assert any(e.query.get("key") == QUERY_KEY for e in exchanges)
    cookies = {
        f"cookie {n}": m.group(1)
        for n, e in enumerate(exchanges)
        if (m := re.match(rf"{COOKIE_NAME}=([^;]+)", e.response_headers.get("set-cookie", "")))
    }
    assert len(cookies) == len(exchanges)

    found = {**canaries(org, project), **cookies}
    assert_no_canary(every_file(tmp_path / "cassettes"), found)

    # The failure text the library renders (what pytest prints) carries none either.
    text = "\n".join(render_failures(r, scrubber=settings.scrubber()) for r in results if r.failures)
    assert "never said" in text and "<redacted>" in text
    assert not leaks(text.encode(), found), text


# --- the pytest plugin: cassettes, HTML/JSON reports, failure output, JUnit XML ------------------------

CONFTEST = f"""\
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "drivers"))


@pytest.fixture
def convo_config():
    return {{**{SETTINGS!r}, "scrub_values": [{TOKEN!r}]}}
"""


PLUGIN_CANARIES = canaries(SETTINGS["organization"], SETTINGS["project"])


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_the_plugin_writes_and_prints_no_canary(
    xdist: list[str], pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pytest --convo-emulator --convo-record-mode=rewrite --convo-report … --junitxml …`` over the shipped
    scenarios, the echo scenario (whose failures print the replies) and the query-string driver, with the
    environment's and ``convo_config``'s canaries all set: no canary in what pytest prints, in the cassettes,
    in the HTML and JSON reports, or in the JUnit XML."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    org, project = SETTINGS["organization"], SETTINGS["project"]
    root = write_project(
        pytester.path,
        {"echo_secrets": echo_scenario(org, project), "query_key": QUERY_SCENARIO},
        conftest=CONFTEST,
        shipped=True,
    )
    (root / "drivers").mkdir()
    (root / "drivers" / f"{DRIVER_MODULE}.py").write_text(DRIVER, encoding="utf-8")
    done = run_inprocess(
        pytester,
        *xdist,
        "--convo-emulator",
        "--convo-record-mode=rewrite",
        "--convo-report=out/report.html",
        "--junitxml=out/junit.xml",
    )
    shipped_items = sum(len(s.modes) for path in shipped_files() for s in load_file(path))
    assert done.outcomes() == {"passed": shipped_items + 1, "failed": 2}, done.output

    # What pytest prints: the failing replies echo every canary, redacted.
    assert "reply does not contain 'never said'" in done.output and "<redacted>" in done.output
    assert not leaks(done.output.encode(), PLUGIN_CANARIES), done.output
    # Every file the run wrote.
    reports = [root / "out" / "report.html", root / "out" / "report.json", root / "out" / "junit.xml"]
    assert all(path.is_file() for path in reports)
    assert_no_canary(reports, PLUGIN_CANARIES)
    assert_no_canary(every_file(root / "cassettes"), PLUGIN_CANARIES)


def test_the_environments_secrets_are_scrubbed_even_when_settings_override_them(
    tmp_path: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_key = "azure-canary-0123456789abcdef0123"  # not shaped like an OpenAI key: only its value can match
    monkeypatch.setenv("OPENAI_API_KEY", env_key)
    monkeypatch.setenv("OPENAI_ORG_ID", ENV["OPENAI_ORG_ID"])
    monkeypatch.setenv("OPENAI_PROJECT_ID", ENV["OPENAI_PROJECT_ID"])
    text = echo_scenario(ENV["OPENAI_ORG_ID"], ENV["OPENAI_PROJECT_ID"]).replace(BODY_KEY, env_key)
    [scenario] = load_text(text, str(tmp_path / "echo_secrets.convo.yaml"))
    settings = Settings(
        record_mode="rewrite",
        emulator=True,
        base_url=emulator.base_url,
        cassette_dir=tmp_path / "cassettes",
        **SETTINGS,
    )
    result = run(scenario, "manual_chat", settings)
    assert result.cassette_status == "recorded"
    found = {"env key": env_key, "env organisation": ENV["OPENAI_ORG_ID"], "env project": ENV["OPENAI_PROJECT_ID"]}
    assert_no_canary(every_file(tmp_path / "cassettes"), found)
