"""Parallel recording: four xdist workers record 40 scenario items at once; every cassette is whole, is its own
item's (no cross-talk between workers), is byte-for-byte what a serial recording writes, and replays. Two items
whose cassette paths collide must be reported rather than silently merged.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from reliability_helpers import every_file, run_inprocess, run_pytest, scaled, write_project

from convotest.emulator.server import EmulatorServer
from convotest.recording import cassette_format
from convotest.recording.paths import cassette_path
from convotest.runner import Settings, run
from convotest.scenario.loader import load_file

MODE_PAIRS = [
    ("manual_chat", "manual_responses"),
    ("previous_response_id", "conversation"),
    ("manual_chat", "previous_response_id"),
    ("manual_responses", "conversation"),
]


def scenario_text(number: int) -> str:
    modes = MODE_PAIRS[number % len(MODE_PAIRS)]
    turns = 2 + number % 3
    lines = [
        "version: 1",
        f"name: item_{number:03d}",
        "model: gpt-4o-mini",
        f"modes: [{', '.join(modes)}]",
        "turns:",
    ]
    for turn in range(1, turns + 1):
        lines.append(f'  - user: "Scenario {number} says {turn}."')
    lines += [
        "    expect:",
        "      reply:",
        f"        contains: ['I have seen {2 * turns - 1} messages.',",
        f"                   'You first said: \"Scenario {number} says 1.\".']",
    ]
    return "\n".join(lines) + "\n"


def test_four_workers_record_forty_items(tmp_path: Path) -> None:
    files = scaled(20)
    texts = {f"parallel_{n:03d}": scenario_text(n) for n in range(files)}
    (tmp_path / "project").mkdir()
    root = write_project(tmp_path / "project", texts)
    items = [(name, s, mode) for name in texts for s in load_file(root / f"{name}.convo.yaml") for mode in s.modes]
    assert len(items) == 2 * files

    done = run_pytest(root, "-n", "4", "--convo-emulator", "--convo-record-mode=once")
    assert done.outcomes() == {"passed": len(items)}, done.output

    # One whole cassette per item, nothing else (no temporary files), each naming its own item.
    written = every_file(root / "cassettes")
    expected = {cassette_path(root / "cassettes", name, s.name, mode): (name, s, mode) for name, s, mode in items}
    assert set(written) == set(expected)
    for path, (name, scenario, mode) in expected.items():
        data = cassette_format.deserialize(path.read_text(encoding="utf-8"), str(path))
        header = data["metadata"]["convotest"]
        assert (header["scenario"], header["mode"], header["file"]) == (scenario.name, mode, f"{name}.convo.yaml")
        assert sorted(set(header["turns"])) == list(range(len(scenario.turns)))
        bodies = "".join(str(i["request"]["body"]) for i in data["interactions"])
        number = int(name.rsplit("_", 1)[1])
        assert f"Scenario {number} says" in bodies
        assert not any(f"Scenario {other} says" in bodies for other in range(files) if other != number)

    # Byte for byte what recording an item alone writes (every fourth item, one of each mode pair): no worker's
    # traffic leaked into another's cassette.
    sample = items[::4]
    serial = tmp_path / "serial"
    with EmulatorServer() as server:
        settings = Settings(
            record_mode="once", emulator=True, base_url=server.base_url, cassette_dir=serial, rootdir=root
        )
        for _name, scenario, mode in sample:
            assert not run(scenario, mode, settings).failures
    for path in (p for p, item in expected.items() if item in sample):
        alone = serial / path.relative_to(root / "cassettes")
        assert path.read_bytes() == alone.read_bytes(), path

    # And the whole set replays, offline.
    replay = run_pytest(root, "-p", "no:xdist", "--convo-record-mode=none")
    assert replay.outcomes() == {"passed": len(items)}, replay.output


#: Two scenario files whose names differ only in what ``safe_component`` replaces: one cassette folder.
CLASHING = {
    "same name": "version: 1\nname: dup\nmodel: gpt-4o-mini\nmodes: [manual_chat]\nturns:\n  - user: 'First file.'\n",
    "same_name": "version: 1\nname: dup\nmodel: gpt-4o-mini\nmodes: [manual_chat]\nturns:\n  - user: 'Second file.'\n",
}


def test_the_clashing_items_really_share_one_cassette_path() -> None:
    """The premise of the next test: both items map to the same file."""
    paths = {cassette_path("cassettes", stem, "dup", "manual_chat") for stem in CLASHING}
    assert paths == {Path("cassettes/same_name/dup/manual_chat.yaml")}


def test_two_items_sharing_a_cassette_path_are_reported(pytester: pytest.Pytester) -> None:
    write_project(pytester.path, CLASHING)
    done = run_inprocess(pytester, "--convo-emulator", "--convo-record-mode=rewrite", "-p", "no:xdist")
    shared = "cassettes/same_name/dup/manual_chat.yaml"
    assert done.returncode != 0, done.output
    reported = [line for line in done.output.splitlines() if shared in line]
    assert any("same name.convo.yaml" in line and "same_name.convo.yaml" in line for line in reported), done.output


def test_the_mode_pairs_cover_every_mode() -> None:
    assert set(itertools.chain(*MODE_PAIRS)) == {
        "manual_chat",
        "manual_responses",
        "previous_response_id",
        "conversation",
    }
