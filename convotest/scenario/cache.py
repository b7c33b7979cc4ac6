"""A cache of loaded scenario files between runs, as Python caches bytecode in ``__pycache__``.

One entry per scenario file (named after its path, relative to the cache's root when under it), holding
the loaded scenarios and what they were loaded from: a digest of the file's bytes, of its path, and of
the loader itself (convotest's version, the source of the modules that read, check and build scenarios,
the schema, the Python and PyYAML versions). An entry is used only if all of them match, so an edited
file, a file moved to another name, or another convotest never gets a stale result.

Only valid files are stored: a file with problems is loaded again every time, so its errors are always
reported. Entries are written atomically (a temporary file renamed over the old one); an entry that
cannot be read, or is damaged, counts as a miss and is written again.

Entries are pickles, read back by an unpickler that makes nothing but scenario model objects.
File paths are not stored: each location gets the path the file is loaded from, so a hit is right
wherever the file now lives (a project checked out somewhere else, a path given relatively).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import io
import os
import pickle
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from convotest.scenario import model

__all__ = ["ScenarioCache"]

#: Changes when the layout of an entry changes.
_FORMAT = b"convotest-scenarios-1\n"
_DIGEST = 32
#: Modules whose code decides what a file loads to: any change to them makes every entry a miss.
_LOADER_MODULES = (
    "convotest.errors",
    "convotest.scenario._errors",
    "convotest.scenario._quickschema",
    "convotest.scenario._yaml",
    "convotest.scenario.cache",
    "convotest.scenario.loader",
    "convotest.scenario.model",
    "convotest.scenario.schema",
)
#: The only classes an entry may make (everything else in a scenario is built-in data): the model's classes.
_ALLOWED = {
    ("convotest.errors", "Locs"),
    ("convotest.errors", "SourceLoc"),
    *((model.__name__, name) for name in model.__all__ if isinstance(getattr(model, name), type)),
}
_PATH_ID = "path"


@lru_cache(maxsize=1)
def _loader_digest() -> bytes | None:
    """What the loader is, as a digest; None if its source cannot be read (then nothing is cached)."""
    from importlib import metadata

    import yaml

    import convotest
    from convotest.scenario.schema import schema_text

    try:
        # jsonschema decides the few valid documents the compiled check is not sure of.
        jsonschema = metadata.version("jsonschema")
    except metadata.PackageNotFoundError:
        return None
    digest = hashlib.sha256(_FORMAT)
    versions = (convotest.__version__, sys.version, yaml.__version__, str(yaml.__with_libyaml__), jsonschema)
    for part in (*versions, schema_text()):
        digest.update(part.encode("utf-8") + b"\0")
    for name in _LOADER_MODULES:
        module = importlib.import_module(name)
        try:
            digest.update(Path(str(module.__file__)).read_bytes())
        except (OSError, TypeError):
            return None
    return digest.digest()


class _Pickler(pickle.Pickler):
    """Leaves the file's path out: every location refers to it as the one persistent id."""

    def __init__(self, file: io.BytesIO, path: str) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.path = path

    def persistent_id(self, obj: Any) -> str | None:
        return _PATH_ID if obj is self.path else None

    def reducer_override(self, obj: Any) -> Any:
        cls = type(obj)
        if (cls.__module__, cls.__name__) in _ALLOWED:
            fields = dataclasses.fields(obj)
            if all(f.init for f in fields):
                # Rebuilt by calling the class, as the loader built it: pickle's default would give each
                # object a dict of its own, which makes every later garbage collection slower.
                return cls, tuple(getattr(obj, f.name) for f in fields)
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    """Makes scenario model objects and built-in data only; gives locations the path loaded from."""

    def __init__(self, file: io.BytesIO, path: str) -> None:
        super().__init__(file)
        self.path = path

    def persistent_load(self, pid: Any) -> str:
        if pid != _PATH_ID:
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        return self.path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a scenario")
        return super().find_class(module, name)


class ScenarioCache:
    """Loaded scenarios of valid files, kept in ``folder`` between runs; see ``load_file(path, cache=...)``.

    ``root``: entries of files under it are named by the path relative to it, so moving the whole
    project (with its cache) keeps them. Any file system error while reading or writing is a miss.
    """

    def __init__(self, folder: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder)
        self.root = None if root is None else os.path.abspath(root)

    def _identity(self, path: str) -> str:
        """The path as entries know it: relative to the root when below it, else absolute.

        Not case-folded: a file renamed from ``Greet`` to ``greet`` gets another default scenario name.
        """
        full = os.path.abspath(path)
        if self.root is not None:
            prefix = self.root.rstrip(os.sep) + os.sep
            if full.startswith(prefix):
                return full[len(prefix) :]
        return full

    def _entry(self, path: str, data: bytes) -> tuple[Path, bytes] | None:
        """Where the entry of ``path`` lives, and the header it must start with (None: do not cache)."""
        loader = _loader_digest()
        if loader is None:
            return None
        identity = self._identity(path).encode("utf-8", "surrogateescape")
        name = hashlib.sha256(identity).hexdigest()[:40]
        header = _FORMAT + loader + hashlib.sha256(identity + b"\0" + data).digest()
        return self.folder / f"{name}.pickle", header

    def get(self, path: str | os.PathLike[str], data: bytes) -> list[Any] | None:
        """The scenarios stored for ``path`` loaded from exactly ``data``, or None (a miss)."""
        name = os.fspath(path)
        where = self._entry(name, data)
        if where is None:
            return None
        entry, header = where
        try:
            blob = entry.read_bytes()
        except OSError:
            return None
        start = len(header) + _DIGEST
        # The payload's own digest: a damaged pickle can load "fine" with other text in it.
        if blob[: len(header)] != header or blob[len(header) : start] != hashlib.sha256(blob[start:]).digest():
            return None
        try:
            scenarios = _Unpickler(io.BytesIO(blob[start:]), name).load()
        except Exception:  # a damaged entry is only a miss; it is written again after loading
            return None
        from convotest.scenario.model import Scenario

        if type(scenarios) is not list or not all(type(s) is Scenario for s in scenarios):
            return None
        return scenarios

    def put(self, path: str | os.PathLike[str], data: bytes, scenarios: list[Any]) -> None:
        """Store the scenarios loaded from ``data`` (a valid file) for ``path``; never raises for I/O."""
        name = os.fspath(path)
        where = self._entry(name, data)
        if where is None:
            return
        entry, header = where
        buffer = io.BytesIO()
        _Pickler(buffer, name).dump(scenarios)
        payload = buffer.getvalue()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=entry.stem + ".", suffix=".tmp", dir=self.folder)
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(header + hashlib.sha256(payload).digest() + payload)
            os.replace(temporary, entry)  # readers see the old entry or the new one, never half of one
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
