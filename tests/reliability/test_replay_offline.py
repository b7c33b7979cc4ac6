"""No network in replay: with every connection refused, the shipped scenarios replay and pass; a request the
cassette lacks fails with the drift message, never with a network attempt.

The shipped scenarios are recorded against the emulator into a temporary cassette folder, then replayed by
``python -m pytest`` (record mode ``none``, no API key) in a project whose conftest replaces
``socket.socket.connect``/``connect_ex``, ``socket.create_connection`` and ``socket.getaddrinfo`` with a guard
that logs the attempt and raises. A test in the same project proves the guard is installed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from reliability_helpers import run_pytest, shipped_files, write_project

from convotest.emulator.server import EmulatorServer
from convotest.recording.paths import cassette_path
from convotest.runner import Settings, run
from convotest.scenario.loader import load_file

GUARD = """\
import pathlib
import socket

import pytest

_LOG = pathlib.Path(__file__).with_name("network_attempts.txt")
_guard = pytest.MonkeyPatch()


def _attempt(what):
    with _LOG.open("a") as log:
        log.write(f"{what!r}\\n")
    raise OSError("reliability guard: network access attempted")


def _connect(sock, address, *args):
    _attempt(("connect", address))


def _create_connection(address, *args, **kwargs):
    _attempt(("create_connection", address))


def _lookup(host, port, *args, **kwargs):
    _attempt(("getaddrinfo", host, port))


_guard.setattr(socket.socket, "connect", _connect)
_guard.setattr(socket.socket, "connect_ex", _connect)
_guard.setattr(socket, "create_connection", _create_connection)
_guard.setattr(socket, "getaddrinfo", _lookup)
"""

GUARD_CHECK = """\
import socket

import pytest


def test_the_guard_is_installed():
    with pytest.raises(OSError, match="reliability guard"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    with pytest.raises(OSError, match="reliability guard"):
        socket.socket().connect(("127.0.0.1", 9))
"""

#: ``explain_joke`` with a third turn its cassette does not hold.
DRIFTED_NAME = "drifted"


def drifted() -> str:
    text = (Path(shipped_files()[0]).parent / "explain_joke.convo.yaml").read_text(encoding="utf-8")
    return text.replace("name: explain_joke", f"name: {DRIFTED_NAME}") + '  - user: "And another one?"\n'


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cassettes of every shipped scenario in every mode, recorded against the emulator."""
    cassettes = tmp_path_factory.mktemp("recorded") / "cassettes"
    with EmulatorServer() as server:
        settings = Settings(record_mode="once", emulator=True, base_url=server.base_url, cassette_dir=cassettes)
        for path in shipped_files():
            for scenario in load_file(path):
                for mode in scenario.modes:
                    result = run(scenario, mode, settings)
                    assert result.cassette_status == "recorded" and not result.failures, (scenario.name, mode)
    return cassettes


def test_replay_of_the_shipped_scenarios_never_touches_the_network(tmp_path: Path, recorded: Path) -> None:
    root = write_project(tmp_path, {DRIFTED_NAME: drifted()}, conftest=GUARD, shipped=True)
    (root / "test_guard.py").write_text(GUARD_CHECK, encoding="utf-8")
    shutil.copytree(recorded, root / "cassettes")
    source = cassette_path(root / "cassettes", "explain_joke", "explain_joke", "previous_response_id")
    target = cassette_path(root / "cassettes", DRIFTED_NAME, DRIFTED_NAME, "previous_response_id")
    target.parent.mkdir(parents=True)
    shutil.copy(source, target)

    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    done = run_pytest(root, "-p", "no:xdist", env=env, replace_env=True)
    items = sum(len(s.modes) for path in shipped_files() for s in load_file(path))
    assert done.outcomes() == {"passed": items + 1, "failed": 1}, done.output

    attempts = root / "network_attempts.txt"
    # The guard test itself makes the only attempts: one create_connection, one connect.
    assert attempts.read_text().splitlines() == [
        "('create_connection', ('127.0.0.1', 9))",
        "('connect', ('127.0.0.1', 9))",
    ]
    lines = done.stdout.splitlines()
    start = lines.index(next(line for line in lines if f" {DRIFTED_NAME} [previous_response_id] " in line))
    assert lines[start + 1 : start + 7] == [
        "drifted.convo.yaml:37: turn 3 [previous_response_id]: the request sent differs from the recording "
        "(the scenario or the code changed)",
        "    turn 3 (drifted.convo.yaml:37): user: 'And another one?'",
        "    no recorded response matches POST /v1/responses",
        "    cassette cassettes/drifted/drifted/previous_response_id.yaml: 2 interactions recorded, "
        "2 replayed before this request",
        "    every recorded interaction was already replayed: this run sends more requests than recorded",
        "    to re-record: pytest 'drifted.convo.yaml::drifted[previous_response_id]' --convo-record-mode=rewrite "
        "--convo-emulator",
    ]
    assert "reliability guard" not in done.output and "Connection" not in done.output
