"""Helpers for the plugin's end-to-end tests: small scenarios, projects, recording, output slicing.

Every test here is a real pytest run (pytester) in a throw-away project whose rootdir holds a
``pytest.ini``, the scenario files and, when replay is tested, cassettes recorded once per session
against the emulator. The ``xdist`` fixture runs a test twice: alone, and under ``-n 2``.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from convotest.runner import Settings, run
from convotest.scenario.loader import load_text

SHIPPED = Path(__file__).resolve().parents[2] / "scenarios"

#: Two turns, both manual modes: the smallest scenario whose second request carries history.
GREETING = """\
version: 1
name: greeting
model: gpt-4o-mini
modes: [manual_chat, manual_responses]
turns:
  - user: "Knock knock."
    expect:
      reply:
        contains: ["I have seen 1 messages."]
  - user: "Orange."
    expect:
      reply:
        contains: ["I have seen 3 messages.", 'You just said: "Orange.".']
      context:
        messages: 3
"""

#: Server-side state: the modes whose requests carry ids the server assigned.
CHAINED = """\
version: 1
name: chained
model: gpt-4.1-mini
modes: [previous_response_id, conversation]
turns:
  - user: "Tell me a joke."
  - user: "Explain it."
    expect:
      reply:
        contains: ["I have seen 3 messages."]
"""

#: Plugins that have nothing to do with convotest and cost start-up time in every run (and xdist worker).
#: A secret that is not shaped like a key: only ``convo_config["scrub_values"]`` can redact it.
TOKEN = "tok-4242-secret"

#: A user turn carrying an OpenAI-shaped key and a custom secret; the emulator echoes both back.
SECRETIVE = f"""\
version: 1
name: secretive
model: gpt-4o-mini
modes: [manual_chat]
turns:
  - user: "My key is sk-abcdefghijklmnop1234, my token {TOKEN}."
  - user: "Did you keep them?"
"""

INI = """\
[pytest]
addopts = -p no:hypothesispytest -p no:benchmark -p no:anyio
"""


#: No SDK retries (a request to a dead server fails at once), and the project's own secret to scrub.
CONFTEST = """\
import pytest
import yaml


@pytest.fixture
def convo_config():
    return {"max_retries": 0, "scrub_values": ["tok-4242-secret"]}
"""


#: Installed when the project's conftest is imported: in the pytest process and in every xdist worker.
GUARD = (
    CONFTEST
    + """

import pathlib
import socket

_LOG = pathlib.Path(__file__).with_name("network_attempts.txt")
_guard = pytest.MonkeyPatch()


def _attempt(what):
    with _LOG.open("a") as log:
        log.write(f"{what!r}\\n")
    raise OSError("convotest test guard: network access attempted")


def _connect(sock, address, *args):
    _attempt(address)


def _lookup(host, port, *args, **kwargs):
    _attempt((host, port))


_guard.setattr(socket.socket, "connect", _connect)
_guard.setattr(socket.socket, "connect_ex", _connect)
_guard.setattr(socket, "getaddrinfo", _lookup)


def pytest_unconfigure(config):
    # Run in-process (pytester's inline runs), the guard must not outlive the session.
    _guard.undo()
"""
)


def write_project(
    pytester: pytest.Pytester,
    scenarios: dict[str, str] | None = None,
    *,
    ini: str = "",
    cassettes: Path | None = None,
    conftest: str = CONFTEST,
) -> Path:
    """A project in ``pytester.path``: ``pytest.ini`` (plus ``ini`` lines), conftest, scenarios, cassettes."""
    pytester.makefile(".ini", pytest=INI + textwrap.dedent(ini))
    pytester.makeconftest(conftest)
    for name, text in (scenarios if scenarios is not None else {"greeting": GREETING}).items():
        (pytester.path / f"{name}.convo.yaml").write_text(text, encoding="utf-8")
    if cassettes is not None:
        shutil.copytree(cassettes, pytester.path / "cassettes", dirs_exist_ok=True)
    return pytester.path


def cassette(root: Path, name: str, mode: str, stem: str | None = None, folder: str = "cassettes") -> Path:
    """Where the plugin puts the cassette of scenario ``name`` in ``mode``."""
    return root / folder / (stem or name) / name / f"{mode}.yaml"


def record(texts: dict[str, str], into: Path) -> Path:
    """Record every scenario of ``texts`` (file stem → YAML) in every mode against the emulator."""
    sources = into / "sources"
    sources.mkdir(parents=True)
    settings = Settings(
        record_mode="once",
        emulator=True,
        cassette_dir=into / "cassettes",
        rootdir=sources,
        scrub_values=(TOKEN,),
    )
    for stem, text in texts.items():
        path = sources / f"{stem}.convo.yaml"
        path.write_text(text, encoding="utf-8")
        for scenario in load_text(text, str(path)):
            for mode in scenario.modes:
                result = run(scenario, mode, settings)
                assert result.cassette_status == "recorded", (stem, mode, result.failures)
                assert not result.failures, result.failures
    return into / "cassettes"


def failure_section(lines: list[str], title: str) -> list[str]:
    """The body of the failure section headed ``___ title ___`` (up to the next section line)."""
    starts = [i for i, line in enumerate(lines) if line.startswith("_") and f" {title} " in line]
    assert starts, f"no failure section {title!r} in:\n" + "\n".join(lines)
    body: list[str] = []
    for line in lines[starts[0] + 1 :]:
        if line.startswith(("___", "---", "===")) or (line.startswith("_") and line.endswith("_")):
            break
        if not line.startswith("[gw"):  # xdist names the worker that ran the test
            body.append(line)
    while body and not body[-1].strip():
        body.pop()
    return body


#: Appended to a project's conftest: after each test, whether an emulator this session started is running.
WATCH_EMULATOR = """

import pathlib
import threading


def _emulators():
    return {t.ident for t in threading.enumerate() if t.name == "convotest-emulator"}


_BEFORE = _emulators()  # the test process's own servers (inline runs) do not count


@pytest.fixture(autouse=True)
def _watch_emulator(request):
    yield
    started = bool(_emulators() - _BEFORE)
    with pathlib.Path(str(request.config.rootpath), "emulator.txt").open("a") as log:
        log.write(f"{request.node.nodeid} {started}\\n")
"""


def emulator_log(root: Path) -> dict[str, bool]:
    """Node id → whether an emulator of the session was running during that test (see ``WATCH_EMULATOR``)."""
    lines = (root / "emulator.txt").read_text().splitlines()
    return {nodeid: flag == "True" for nodeid, flag in (line.rsplit(" ", 1) for line in lines)}


def uris(path: Path) -> list[str]:
    """The request URIs recorded in a cassette, in order."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [i["request"]["uri"] for i in data["interactions"]]
