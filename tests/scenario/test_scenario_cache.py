"""``ScenarioCache``: a hit gives what loading gives, locations included; nothing stale is ever served."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from convotest.errors import ScenarioError, SourceLoc
from convotest.scenario import ScenarioCache, cache, load_file, loader
from convotest.scenario.model import Scenario

GOOD = Path(__file__).parent / "data" / "good"
BROKEN = Path(__file__).parent / "data" / "broken"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with the test data's valid files, and an empty cache folder beside it."""
    root = tmp_path / "project"
    shutil.copytree(GOOD, root / "scenarios")
    return root


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the loader parsed (cache misses), in order."""
    seen: list[str] = []
    check = loader._check

    def counting(text: str | bytes, path: str) -> Any:
        seen.append(path)
        return check(text, path)

    monkeypatch.setattr(loader, "_check", counting)
    return seen


def locations(value: Any) -> Iterator[SourceLoc]:
    """Every ``SourceLoc`` inside a loaded model."""
    if isinstance(value, SourceLoc):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from locations(item)
    elif isinstance(value, Mapping):  # dicts, and ``Locs``, whose positions are made as they are read
        for item in value.values():
            yield from locations(item)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            yield from locations(getattr(value, name))


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pickle"))


def test_a_hit_gives_what_loading_gives(project: Path, parses: list[str]) -> None:
    store = ScenarioCache(project / "cache", root=project)
    path = project / "scenarios" / "everything.convo.yaml"
    fresh = load_file(path, cache=store)
    again = load_file(path, cache=store)
    assert parses == [str(path)]
    # repr shows every field, the locations that equality leaves out included.
    assert repr(again) == repr(fresh) == repr(load_file(path))
    assert [type(s) for s in again] == [Scenario]
    assert len(entries(project / "cache")) == 1


def test_locations_follow_the_file_wherever_it_is_loaded_from(
    project: Path, tmp_path: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project moved with its cache, then the same file named relatively: hits, with the path used."""
    load_file(project / "scenarios" / "multi.convo.yml", cache=ScenarioCache(project / "cache", root=project))
    moved = tmp_path / "elsewhere"
    shutil.move(project, moved)
    store = ScenarioCache(moved / "cache", root=moved)
    new_path = moved / "scenarios" / "multi.convo.yml"
    hit = load_file(new_path, cache=store)
    monkeypatch.chdir(moved)
    relative = load_file("scenarios/multi.convo.yml", cache=store)
    assert len(parses) == 1
    assert repr(hit) == repr(load_file(new_path))
    assert {loc.path for loc in locations(hit)} == {str(new_path)}
    assert {loc.path for loc in locations(relative)} == {"scenarios/multi.convo.yml"}
    assert {s.path for s in relative} == {"scenarios/multi.convo.yml"}


def test_the_same_content_under_another_name_is_loaded_for_that_name(project: Path, parses: list[str]) -> None:
    """A scenario without ``name:`` is named after its file: another file name is another entry."""
    text = "version: 1\nmodel: gpt-4o-mini\nturns:\n  - user: hi\n"
    first, second = project / "first.convo.yaml", project / "second.convo.yaml"
    first.write_text(text)
    second.write_text(text)
    store = ScenarioCache(project / "cache", root=project)
    assert [s.name for s in load_file(first, cache=store)] == ["first"]
    assert [s.name for s in load_file(second, cache=store)] == ["second"]
    assert [s.name for s in load_file(first, cache=store)] == ["first"]
    assert parses == [str(first), str(second)]


def test_an_edited_file_is_loaded_again(project: Path, parses: list[str]) -> None:
    path = project / "scenarios" / "multi.convo.yml"
    store = ScenarioCache(project / "cache", root=project)
    before = load_file(path, cache=store)
    path.write_text(path.read_text().replace("gpt-4o-mini", "gpt-4.1-mini"))
    after = load_file(path, cache=store)
    assert len(parses) == 2
    assert {s.model for s in before} != {s.model for s in after}
    assert repr(after) == repr(load_file(path))
    assert len(entries(project / "cache")) == 1, "an edited file's entry is replaced, not added to"


def test_another_loader_never_reads_an_entry(project: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Another convotest (its version, or the code that loads scenarios) makes every entry a miss."""
    path = project / "scenarios" / "multi.convo.yml"
    store = ScenarioCache(project / "cache", root=project)
    load_file(path, cache=store)
    monkeypatch.setattr(cache, "_loader_digest", lambda: b"\1" * 32)
    load_file(path, cache=store)
    assert len(parses) == 2


def test_the_loader_digest_covers_version_and_code(monkeypatch: pytest.MonkeyPatch) -> None:
    import convotest

    cache._loader_digest.cache_clear()
    before = cache._loader_digest()
    monkeypatch.setattr(convotest, "__version__", "99.0")
    cache._loader_digest.cache_clear()
    assert cache._loader_digest() != before
    monkeypatch.undo()
    cache._loader_digest.cache_clear()
    assert cache._loader_digest() == before
    assert "convotest.scenario.loader" in cache._LOADER_MODULES


@pytest.mark.parametrize("name", sorted(p.name for p in BROKEN.glob("*.convo.yaml")))
def test_a_file_with_problems_is_never_stored(name: str, tmp_path: Path) -> None:
    """Its errors come from loading it, every time."""
    store = ScenarioCache(tmp_path / "cache")
    path = tmp_path / name
    shutil.copy(BROKEN / name, path)
    for _ in range(2):
        with pytest.raises(ScenarioError) as info:
            load_file(path, cache=store)
        assert info.value.path == str(path) and info.value.line >= 1
    assert not entries(tmp_path / "cache")


@pytest.mark.parametrize(
    "damage",
    [
        lambda entry: entry.write_bytes(b""),
        lambda entry: entry.write_bytes(entry.read_bytes()[:-20]),
        lambda entry: entry.write_bytes(entry.read_bytes()[:100] + b"\0" * 50 + entry.read_bytes()[150:]),
        lambda entry: entry.write_bytes(b"not a cache entry at all"),
    ],
    ids=["empty", "truncated", "overwritten", "junk"],
)
def test_a_damaged_entry_is_a_miss_and_is_written_again(project: Path, parses: list[str], damage: Any) -> None:
    path = project / "scenarios" / "everything.convo.yaml"
    store = ScenarioCache(project / "cache", root=project)
    expected = repr(load_file(path, cache=store))
    [entry] = entries(project / "cache")
    good = entry.read_bytes()
    damage(entry)
    assert repr(load_file(path, cache=store)) == expected
    assert entry.read_bytes() == good
    assert repr(load_file(path, cache=store)) == expected
    assert len(parses) == 2


def test_an_entry_that_would_make_other_objects_is_refused(project: Path, parses: list[str]) -> None:
    """Entries are unpickled by an unpickler that makes scenario model objects only."""
    path = project / "scenarios" / "multi.convo.yml"
    store = ScenarioCache(project / "cache", root=project)
    load_file(path, cache=store)
    [entry] = entries(project / "cache")
    header_size = len(cache._FORMAT) + 2 * cache._DIGEST
    payload = pickle.dumps([os.getcwd])
    entry.write_bytes(entry.read_bytes()[:header_size] + hashlib.sha256(payload).digest() + payload)
    assert repr(load_file(path, cache=store)) == repr(load_file(path))
    assert len(parses) == 3


def test_an_unreadable_or_unwritable_cache_only_costs_the_loading(project: Path, parses: list[str]) -> None:
    path = project / "scenarios" / "multi.convo.yml"
    store = ScenarioCache(project / "cache", root=project)
    load_file(path, cache=store)
    [entry] = entries(project / "cache")
    entry.unlink()
    entry.mkdir()  # neither readable as a file nor replaceable
    assert repr(load_file(path, cache=store)) == repr(load_file(path))
    blocked = ScenarioCache(path, root=project)  # the "folder" is a file: nothing can be written there
    assert repr(load_file(path, cache=blocked)) == repr(load_file(path))
    assert len(parses) == 2 + 1 + 1 + 1


def test_writes_leave_no_temporary_files(project: Path) -> None:
    store = ScenarioCache(project / "cache", root=project)
    for path in sorted((project / "scenarios").iterdir()):
        load_file(path, cache=store)
        load_file(path, cache=store)
    assert sorted(p.suffix for p in (project / "cache").iterdir()) == [".pickle", ".pickle"]
