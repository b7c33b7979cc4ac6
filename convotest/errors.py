"""The exceptions convotest raises.

Hierarchy::

    ConvotestError
    ├── ScenarioError        a scenario file is malformed (path, line, column, message)
    ├── CassetteError        a cassette file cannot be read or is of the wrong format
    ├── DriftError           a request in replay matches nothing recorded
    ├── ConfigError          a setting is missing or invalid (unknown model, bad option)
    └── DriverError          a driver could not run a turn (SDK error, timeout, bad custom driver)

Every one of them renders as a single human-readable message; none needs a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CassetteError",
    "ConfigError",
    "ConvotestError",
    "DriftError",
    "DriverError",
    "Locs",
    "ScenarioError",
    "SourceLoc",
]


@dataclass(frozen=True)
class SourceLoc:
    """A position in a source file: 1-based line and column."""

    path: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def long(self) -> str:
        """``path:line:col`` as compilers print it."""
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True, eq=False)
class Locs(Mapping[str, SourceLoc]):
    """Positions in one file by name (``"reply.contains"`` → ``SourceLoc``), each made when asked for.

    Held as numbers (``Locs.pack``), not ``SourceLoc`` objects: a scenario's model lives as long as the pytest
    session, and pytest ends it with full garbage collections, which walk every object with references but
    never an int. Compares equal to any mapping of the same positions.
    """

    path: str
    #: name -> line and column, packed (``Locs.pack``).
    packed: dict[str, int]

    @staticmethod
    def pack(line: int, column: int) -> int:
        """Line and column as the one number ``packed`` holds."""
        return line << 32 | column

    def __getitem__(self, name: str) -> SourceLoc:
        at = self.packed[name]
        return SourceLoc(self.path, at >> 32, at & 0xFFFFFFFF)

    def __iter__(self) -> Iterator[str]:
        return iter(self.packed)

    def __len__(self) -> int:
        return len(self.packed)

    def __repr__(self) -> str:
        return f"Locs({dict(self)!r})"


class ConvotestError(Exception):
    """Base class of every error convotest raises on purpose."""


class ScenarioError(ConvotestError):
    """A scenario file could not be loaded: names the file, line, column and field."""

    def __init__(self, path: str | Path, line: int, column: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.column = column
        self.message = message
        super().__init__(f"{self.path}:{line}:{column}: {message}")

    @property
    def loc(self) -> SourceLoc:
        """Where the problem is."""
        return SourceLoc(self.path, self.line, self.column)


class CassetteError(ConvotestError):
    """A cassette file is missing, unreadable or of an unsupported format."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


class DriftError(ConvotestError):
    """A replayed request has no recorded match; the message explains the difference."""


class ConfigError(ConvotestError):
    """A setting is missing or invalid; the message names the setting to change."""


class DriverError(ConvotestError):
    """A driver failed to run a turn (SDK error, timeout, or a broken custom driver)."""
