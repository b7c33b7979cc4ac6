"""Removing secrets from traffic before anything is written or printed.

Applied at record time to request and response alike: sensitive headers are dropped, and anything shaped
like an OpenAI key (``sk-…``) or equal to a secret the run knows (its API key, organisation, project) is
replaced in header values, query strings and bodies. Users extend it through ``convo_config``
(``scrub_headers``, ``scrub_patterns``, ``scrub_values``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["DEFAULT_HEADERS", "KEY_PATTERN", "REDACTED", "Scrubber"]

#: Headers never written, in either direction (lower case).
DEFAULT_HEADERS: frozenset[str] = frozenset(
    {
        "authorization",
        "api-key",
        "openai-organization",
        "openai-project",
        "cookie",
        "set-cookie",
        "x-api-key",
        "proxy-authorization",
    }
)
#: OpenAI key shapes: sk-…, sk-proj-…, sk-svcacct-…, sk-admin-….
KEY_PATTERN = r"sk-[A-Za-z0-9_-]{8,}"
REDACTED = "<redacted>"
#: How much of a literal secret, cut short by "…", is still recognised as that secret.
_CUT_MIN = 6


@dataclass
class Scrubber:
    """Removes sensitive headers and replaces secret-shaped text everywhere else."""

    headers: frozenset[str] = DEFAULT_HEADERS
    patterns: tuple[str, ...] = (KEY_PATTERN,)
    #: Literal secrets of this run (API key, organisation, project): replaced wherever they appear.
    values: tuple[str, ...] = ()
    _regex: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        parts = [f"(?:{p})" for p in self.patterns]
        values = sorted({v for v in self.values if v and len(v) >= 4}, key=len, reverse=True)
        # Longest first so a secret that contains another is replaced whole.
        parts += [re.escape(v) for v in values]
        # Messages shorten long text with "…"; a secret cut there must still go (its first 6+ characters).
        parts += [f"{re.escape(v[:_CUT_MIN])}[^\\s…]{{0,{len(v) - _CUT_MIN}}}…" for v in values if len(v) > _CUT_MIN]
        self._regex = re.compile("|".join(parts)) if parts else re.compile(r"(?!x)x")

    @classmethod
    def from_config(
        cls,
        *,
        extra_headers: Iterable[str] = (),
        extra_patterns: Iterable[str] = (),
        values: Iterable[str | None] = (),
    ) -> Scrubber:
        """A scrubber with the defaults plus the user's headers, regexes and literal values."""
        return cls(
            headers=DEFAULT_HEADERS | {h.lower() for h in extra_headers},
            patterns=(KEY_PATTERN, *extra_patterns),
            values=tuple(v for v in values if v),
        )

    def text(self, value: str) -> str:
        """``value`` with every secret replaced."""
        return self._regex.sub(REDACTED, value)

    def data(self, value: bytes) -> bytes:
        """Bytes with every secret replaced (non-UTF-8 bytes are left as they are)."""
        try:
            decoded = value.decode("utf-8")
        except UnicodeDecodeError:
            return value
        scrubbed = self.text(decoded)
        return value if scrubbed == decoded else scrubbed.encode("utf-8")

    def uri(self, uri: str) -> str:
        """A URL with secrets removed from its query string and user-info."""
        parts = urlsplit(uri)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        query = urlencode([(k, self.text(v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)])
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

    def header_map(self, headers: Mapping[str, Any]) -> dict[str, Any]:
        """Headers without the sensitive ones, values scrubbed (values may be strings or lists)."""
        out: dict[str, Any] = {}
        for name, value in headers.items():
            if name.lower() in self.headers:
                continue
            if isinstance(value, list):
                out[name] = [self.text(v) if isinstance(v, str) else v for v in value]
            elif isinstance(value, str):
                out[name] = self.text(value)
            else:
                out[name] = value
        return out
