"""``convotest init`` as a new user meets it, and ``convotest record``, on real folders and the emulator."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from cli_helpers import SCENARIOS, cli, make_project, offline_env

from convotest.scenario.schema import schema_text

INIT_FILES = [
    ".github/workflows/convotest.yml",
    "cassettes/.gitattributes",
    "pytest.ini",
    "scenarios/.convotest.schema.json",
    "scenarios/example.convo.yaml",
]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _printed_commands(stdout: str) -> list[str]:
    """The commands ``init`` ends with: the indented lines after its 'Next,' line."""
    tail = stdout.split("\nNext, ", 1)[1].splitlines()[1:]
    return [line.strip() for line in tail if line.startswith("  ")]


def _argv(command: str) -> list[str]:
    """A printed command as argv, run with this interpreter (the console scripts may not be on PATH)."""
    words = shlex.split(command)
    modules = {"convotest": "convotest.cli", "pytest": "pytest"}
    return [sys.executable, "-m", modules[words[0]], *words[1:]]


def test_a_new_user_can_init_record_and_replay_offline(tmp_path: Path) -> None:
    done = cli("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"convotest init in {tmp_path.resolve()}\n"
        "  created  scenarios/example.convo.yaml\n"
        "  created  scenarios/.convotest.schema.json\n"
        "  created  cassettes/.gitattributes\n"
        "  created  pytest.ini\n"
        "  created  .github/workflows/convotest.yml\n"
        "\n"
        "Next, record the example from the local emulator (no API key, no network), then replay it:\n"
        "  convotest record scenarios --emulator\n"
        "  pytest scenarios\n"
    )
    assert sorted(_files(tmp_path)) == INIT_FILES
    record, replay = _printed_commands(done.stdout)

    recorded = subprocess.run(_argv(record), cwd=tmp_path, env=offline_env(), capture_output=True, text=True)
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert "convotest record: 4 recorded" in recorded.stdout
    cassettes = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "cassettes").rglob("*.yaml"))
    assert cassettes == [
        f"cassettes/example/example/{mode}.yaml"
        for mode in ("conversation", "manual_chat", "manual_responses", "previous_response_id")
    ]

    # Replay as CI does: the emulator is not started and any request leaving the machine would fail.
    replayed = subprocess.run(_argv(replay), cwd=tmp_path, env=offline_env(), capture_output=True, text=True)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "4 passed" in replayed.stdout
    assert "configfile: pytest.ini" in replayed.stdout


def test_init_writes_files_that_work(tmp_path: Path) -> None:
    assert cli("init", cwd=tmp_path).returncode == 0
    scenario = (tmp_path / "scenarios" / "example.convo.yaml").read_text(encoding="utf-8")
    assert scenario.startswith("# yaml-language-server: $schema=./.convotest.schema.json\n")
    assert (tmp_path / "scenarios" / ".convotest.schema.json").read_text(encoding="utf-8") == schema_text()
    assert cli("validate", "scenarios", cwd=tmp_path).stdout == "1 scenario in 1 file OK\n"
    assert "* linguist-generated" not in (tmp_path / "cassettes" / ".gitattributes").read_text()
    assert "*.yaml linguist-generated=true" in (tmp_path / "cassettes" / ".gitattributes").read_text()
    workflow = yaml.safe_load((tmp_path / ".github" / "workflows" / "convotest.yml").read_text(encoding="utf-8"))
    commands = [step.get("run", "") for step in workflow["jobs"]["replay"]["steps"]]
    assert any("pytest scenarios --convo-record-mode=none" in c for c in commands)
    assert (tmp_path / "pytest.ini").read_text(encoding="utf-8").startswith("[pytest]\n")


def test_init_twice_changes_nothing_and_says_so(tmp_path: Path) -> None:
    assert cli("init", cwd=tmp_path).returncode == 0
    (tmp_path / "scenarios" / "example.convo.yaml").write_text("# mine now\n", encoding="utf-8")
    before = _files(tmp_path)
    again = cli("init", cwd=tmp_path)
    assert again.returncode == 0
    assert _files(tmp_path) == before
    assert "  skipped  scenarios/example.convo.yaml (exists; left as it is)\n" in again.stdout
    assert "  skipped  pytest.ini (already has the convotest settings)\n" in again.stdout
    assert "created" not in again.stdout


def test_init_appends_to_a_pyproject_without_pytest_settings(tmp_path: Path) -> None:
    original = '[project]\nname = "app"\nversion = "1"\n'
    (tmp_path / "pyproject.toml").write_text(original, encoding="utf-8")
    done = cli("init", cwd=tmp_path)
    assert done.returncode == 0
    assert "  added    [tool.pytest.ini_options] to pyproject.toml\n" in done.stdout
    assert not (tmp_path / "pytest.ini").exists()
    text = (tmp_path / "pyproject.toml").read_text(encoding="utf-8")
    assert text.startswith(original)
    settings = tomllib.loads(text)["tool"]["pytest"]["ini_options"]
    assert settings == {"convotest_cassette_dir": "cassettes", "convotest_record_mode": "none"}
    assert "skipped  pyproject.toml (already has the convotest settings)" in cli("init", cwd=tmp_path).stdout


def test_init_never_edits_existing_pytest_settings_but_prints_the_lines(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-ra"\n', encoding="utf-8")
    (tmp_path / "sub").mkdir()
    before = (tmp_path / "pyproject.toml").read_bytes()
    # From a sub-folder: the settings pytest would use are the parent's, and cassettes/ is sub/cassettes.
    done = cli("init", cwd=tmp_path / "sub")
    assert done.returncode == 0
    assert (tmp_path / "pyproject.toml").read_bytes() == before
    assert not (tmp_path / "sub" / "pytest.ini").exists()
    assert "  skipped  ../pyproject.toml (it already configures pytest; add the lines below to" in done.stdout
    assert '\n    convotest_cassette_dir = "sub/cassettes"\n    convotest_record_mode = "none"\n' in done.stdout


def test_init_respects_tox_ini_settings(tmp_path: Path) -> None:
    (tmp_path / "tox.ini").write_text("[pytest]\naddopts = -ra\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\n', encoding="utf-8")
    before = _files(tmp_path)
    done = cli("init", cwd=tmp_path)
    assert done.returncode == 0
    # Adding a pytest section to pyproject.toml would silently take over from tox.ini's.
    assert {k: v for k, v in _files(tmp_path).items() if k in before} == before
    assert "\n    convotest_cassette_dir = cassettes\n" in done.stdout


def test_init_in_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    done = cli("init", "--dir", "nope", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (2, "convotest init: no such folder: nope\n")


def test_record_records_what_is_missing_and_passes_arguments_to_pytest(tmp_path: Path) -> None:
    # jokes has no cassette yet, knock_knock has: only the missing one is recorded.
    make_project(tmp_path, ["knock_knock"])
    shutil.copy(SCENARIOS / "jokes.convo.yaml", tmp_path / "scenarios")
    args = ["record", "scenarios", "--emulator", "--mode", "manual_chat", "--", "-q", "-p", "no:cacheprovider"]
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith(
        "convotest record: 1 recorded, 1 replayed (replayed ones were already recorded; --rewrite records them again)"
    )
    assert "2 passed" in done.stdout
    assert "test session starts" not in done.stdout  # -q reached pytest
    assert (tmp_path / "cassettes" / "jokes" / "jokes" / "manual_chat.yaml").is_file()
    assert not (tmp_path / "cassettes" / "jokes" / "jokes" / "manual_responses.yaml").exists()


def test_record_usage_errors(tmp_path: Path) -> None:
    missing = cli("record", "nope", "--emulator", cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (2, "convotest record: no such file or folder: nope\n")
    (tmp_path / "empty").mkdir()
    empty = cli("record", "empty", "--emulator", "--", "-p", "no:cacheprovider", cwd=tmp_path)
    assert empty.returncode == 2
    assert "convotest record: no scenarios found in empty" in empty.stderr
