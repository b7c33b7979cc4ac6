"""Where a scenario's cassette lives: ``<cassette dir>/<file stem>/<scenario>/<mode>.yaml``."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

__all__ = ["cassette_path", "safe_component"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Long enough to stay readable, short enough that the whole path fits Windows' 260 characters.
_MAX_COMPONENT = 64


def safe_component(name: str) -> str:
    """``name`` made safe as one path component: unsafe runs become ``_``, long names hash-truncated."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "_"
    if len(cleaned) <= _MAX_COMPONENT:
        return cleaned
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
    return f"{cleaned[: _MAX_COMPONENT - 11]}-{digest}"


def cassette_path(cassette_dir: str | Path, file_stem: str, scenario: str, mode: str) -> Path:
    """The cassette of one (scenario, mode) item."""
    return Path(cassette_dir) / safe_component(file_stem) / safe_component(scenario) / f"{safe_component(mode)}.yaml"
