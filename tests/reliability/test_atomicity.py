"""Atomicity: a recording killed at any point leaves the previous cassette byte-identical, never a partial one.

A 50-turn scenario is recorded once (the "previous" cassette); then it is re-recorded (``rewrite``) by a
separate process that is killed, with SIGKILL or SIGINT, at a random turn. After every kill the cassette
must be byte-for-byte what it was, and nothing that replay would read (no other ``*.yaml``) may appear.

To keep each kill cheap, the recording processes are forked from a "zygote" subprocess that imported
convotest once; each fork is a complete recording process (SDK client, vcrpy patching, atomic persister)
that the test kills directly by pid. The emulator runs in the test process.

Two kills are aimed precisely at the most delicate moment, between writing the temporary file and
renaming it over the cassette: the child is held inside ``os.replace`` (an ``os.replace`` that announces
itself and waits) and killed there.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability_helpers import every_file, scaled

from convotest.emulator.server import EmulatorServer
from convotest.recording import cassette_format
from convotest.recording.paths import cassette_path
from convotest.runner import Settings, run
from convotest.scenario.loader import load_file

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the kill harness forks recording processes")

TURNS = 50
MODES = ("previous_response_id", "conversation")
SCENARIO = (
    "version: 1\nname: long_talk\nmodel: gpt-4o-mini\nmodes: [previous_response_id, conversation]\nturns:\n"
    + "".join(f'  - user: "This is turn {n}."\n' for n in range(1, TURNS + 1))
)

#: The zygote: imports everything once, then forks one recording process per command read from stdin.
ZYGOTE = r"""
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from convotest.runner import Settings, run
from convotest.scenario.loader import load_file

def say(line):
    # One write(2) per line: a pipe write that small is atomic, so a kill can never leave half a line.
    os.write(1, (line + "\n").encode())


base_url, cassettes, scenario_file, scratch = sys.argv[1:5]
[scenario] = load_file(scenario_file)
# Warm up (lazy imports, tokenizer tables) with a short recording elsewhere, so each fork starts hot.
warm = Settings(record_mode="rewrite", emulator=True, base_url=base_url, cassette_dir=Path(scratch), max_retries=0)
for mode in scenario.modes:
    assert not run(dataclasses.replace(scenario, turns=scenario.turns[:2]), mode, warm).failures


def progress(scenario, mode, turn):
    say(f"turn {turn}")


def held_replace(src, dst, *, _real=os.replace):
    say("replacing")
    time.sleep(60)
    _real(src, dst)


say("ready")
pid = 0
for line in sys.stdin:
    command = json.loads(line)
    if command.get("reap"):
        # Reaped only when the test says so: until then a finished child stays a zombie and its pid cannot be
        # reused, so the test's kill can only ever reach its own recording process.
        _, status = os.waitpid(pid, 0)
        pid = 0
        say(f"exit {status}")
        continue
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if command["hold_replace"]:
                os.replace = held_replace
            settings = Settings(
                record_mode="rewrite", emulator=True, base_url=base_url, cassette_dir=Path(cassettes),
                max_retries=0, progress=progress,
            )
            result = run(scenario, command["mode"], settings)
            say(f"done {result.cassette_status} {len(result.failures)}")
            code = 0
        except KeyboardInterrupt:
            code = 130
        finally:
            os._exit(code)
    say(f"child {pid}")
# stdin closed (the test is over): a child not reaped yet (a failed test left it running) goes with us.
if pid:
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
"""


@dataclass
class Zygote:
    """The zygote subprocess and a line reader over its (and its children's) stdout."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str]

    def expect(self, prefix: str, timeout: float = 60) -> str:
        """The next line starting with ``prefix``; earlier lines are skipped."""
        while True:
            line = self.next_line(timeout)
            if line.startswith(prefix):
                return line

    def next_line(self, timeout: float = 60) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the recording process said nothing within {timeout} s") from None
        assert line != "<zygote gone>", "the zygote process ended"
        return line

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def start(self, mode: str, *, hold_replace: bool = False) -> int:
        """Fork a recording process; its pid."""
        self.send(f'{{"mode": "{mode}", "hold_replace": {str(hold_replace).lower()}}}')
        return int(self.expect("child ").split()[1])

    def reap(self) -> tuple[int, bool]:
        """Wait for the last recording process: (wait status, whether it said it finished)."""
        self.send('{"reap": true}')
        done = False
        while True:
            line = self.next_line()
            if line.startswith("done"):
                done = True
            elif line.startswith("exit "):
                return int(line.split()[1]), done


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("atomicity")
    (root / "long_talk.convo.yaml").write_text(SCENARIO, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def zygote(project: Path, emulator: EmulatorServer) -> Iterator[Zygote]:
    script = project / "zygote.py"
    script.write_text(ZYGOTE, encoding="utf-8")
    process = subprocess.Popen(
        [
            sys.executable,
            str(script),
            emulator.base_url,
            str(project / "cassettes"),
            str(project / "long_talk.convo.yaml"),
            str(project / "scratch"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put("<zygote gone>")

    threading.Thread(target=pump, daemon=True).start()
    zyg = Zygote(process, lines)
    zyg.expect("ready")
    yield zyg
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=30)


def settings(project: Path, emulator: EmulatorServer, record_mode: str = "rewrite") -> Settings:
    return Settings(
        record_mode=record_mode, emulator=True, base_url=emulator.base_url, cassette_dir=project / "cassettes"
    )


def check_cassette(path: Path) -> None:
    """A complete cassette: parses, one interaction per turn at least, every turn tagged."""
    data = cassette_format.deserialize(path.read_text(encoding="utf-8"), str(path))
    turns = data["metadata"]["convotest"]["turns"]
    assert len(turns) == len(data["interactions"]) >= TURNS
    assert sorted(set(turns)) == list(range(TURNS))


def readable_by_replay(cassettes: Path) -> set[Path]:
    """The files replay (or the unused-cassette scan) could read: every ``*.yaml``/``*.yml`` below the folder."""
    return {p for p in every_file(cassettes) if p.suffix in (".yaml", ".yml")}


def killed(status: int, sig: signal.Signals) -> bool:
    """Whether a wait status says the process died of ``sig`` (SIGKILL) or stopped on it (SIGINT: exit 130)."""
    if sig == signal.SIGKILL:
        return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 130) or (
        os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT
    )


def test_killed_recordings_leave_the_previous_cassette_intact(
    project: Path, emulator: EmulatorServer, zygote: Zygote
) -> None:
    scenario = load_file(project / "long_talk.convo.yaml")[0]
    paths = {mode: cassette_path(project / "cassettes", "long_talk", "long_talk", mode) for mode in MODES}
    for mode in MODES:
        result = run(scenario, mode, settings(project, emulator))
        assert result.cassette_status == "recorded" and not result.failures, result.failures
        check_cassette(paths[mode])
    previous = {mode: paths[mode].read_bytes() for mode in MODES}

    rng = random.Random(20261124)
    kills = scaled(20)
    finished = replaced = 0
    for number in range(kills):
        sig = (signal.SIGKILL, signal.SIGINT)[number % 2]
        mode = MODES[(number // 2) % len(MODES)]
        # A turn to kill at; TURNS means "after the last turn started", where the save happens.
        at = rng.randint(0, TURNS)
        pid = zygote.start(mode)
        zygote.expect(f"turn {min(at, TURNS - 1)}")
        delay = rng.uniform(0, 0.3) if at == TURNS else rng.uniform(0, 0.02)
        threading.Event().wait(delay)
        os.kill(pid, sig)  # not yet reaped: the pid is still our child's, even if it has finished
        status, done = zygote.reap()
        where = f"kill {number + 1}/{kills} ({sig.name} at turn {at + 1}, {mode})"
        if done:
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, where
            finished += 1
        else:
            assert killed(status, sig), f"{where}: wait status {status}"
        if paths[mode].read_bytes() != previous[mode]:
            # Only a recording that got through its last turn may have replaced the cassette, and then whole.
            assert at == TURNS, f"{where}: the cassette changed before the recording ended"
            check_cassette(paths[mode])
            previous[mode] = paths[mode].read_bytes()
            replaced += 1
        for name, path in paths.items():
            assert path.read_bytes() == previous[name], f"{where}: {path.name} changed"
        assert readable_by_replay(project / "cassettes") == set(paths.values()), where
        leftovers = [p for p in every_file(project / "cassettes") if p not in paths.values()]
        assert not leftovers, f"{where}: {leftovers}"
    # Most kills must land mid-recording, or the test proves little.
    assert replaced <= kills // 4, f"{replaced} of {kills} recordings saved before their kill ({finished} finished)"

    # Every cassette left behind replays, offline, and passes.
    for mode in MODES:
        result = run(scenario, mode, settings(project, emulator, record_mode="none"))
        assert result.cassette_status == "replayed" and not result.failures, result.failures


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_kill_between_temp_file_and_rename_leaves_the_previous_cassette(
    sig: signal.Signals, project: Path, emulator: EmulatorServer, zygote: Zygote
) -> None:
    """The child is held inside ``os.replace`` (temp file written and synced, not yet renamed) and killed."""
    scenario = load_file(project / "long_talk.convo.yaml")[0]
    path = cassette_path(project / "cassettes", "long_talk", "long_talk", "conversation")
    if not path.is_file():
        assert not run(scenario, "conversation", settings(project, emulator)).failures
    before = path.read_bytes()

    pid = zygote.start("conversation", hold_replace=True)
    zygote.expect("replacing")
    temps = [p for p in every_file(path.parent) if p.name.endswith(".tmp")]
    assert len(temps) == 1 and temps[0].name.startswith(f".{path.name}."), temps
    os.kill(pid, sig)
    status, done = zygote.reap()
    assert killed(status, sig) and not done, status

    assert path.read_bytes() == before
    others = [p for p in every_file(path.parent) if p.name != path.name and p.suffix == ".yaml"]
    assert readable_by_replay(path.parent) == {path, *others}
    left = [p for p in every_file(path.parent) if p != path and p not in others]
    if sig == signal.SIGINT:
        assert left == [], "an interrupted write must remove its temporary file"
    else:
        # SIGKILL gives no chance to clean up: the temporary file stays, hidden and not *.yaml, so neither
        # replay nor the unused-cassette scan reads it; the next successful write of the cassette removes it.
        assert left == temps
        result = run(scenario, "conversation", settings(project, emulator))
        assert result.cassette_status == "recorded" and not result.failures
        assert [p for p in every_file(path.parent) if p != path and p not in others] == []


def test_cassettes_are_written_with_the_users_umask(tmp_path: Path) -> None:
    """The temporary file becomes the cassette: it must get a normal file's permissions (not mkstemp's 0600)."""
    from convotest.recording.vcr_backend import write_atomic

    umask = os.umask(0o022)
    try:
        path = tmp_path / "c" / "x.yaml"
        write_atomic(path, "version: 1\ninteractions: []\n")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.umask(0o077)
        write_atomic(path, "version: 1\ninteractions: []\n")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(umask)
    assert path.read_text() == "version: 1\ninteractions: []\n"
    assert every_file(tmp_path) == [path]
