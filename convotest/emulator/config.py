"""Emulator settings: persistence, seed, limits for unknown models, fault injection."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["EmulatorConfig", "FaultConfig"]


@dataclass(frozen=True)
class FaultConfig:
    """Deterministic failures for reliability tests.

    Request numbers count every ``/v1`` request the emulator receives, from 1. A request is failed with
    ``status`` when its number is ≤ ``first`` or a multiple of ``every`` (0 disables either rule), and,
    when ``paths`` is not empty, its path starts with one of them. A failed request changes no state.
    429 answers carry ``retry-after`` (seconds) and ``retry-after-ms``; ``delay_ms`` delays every request.
    """

    status: int = 429
    first: int = 0
    every: int = 0
    retry_after: float = 0.0
    paths: tuple[str, ...] = ()
    delay_ms: int = 0


@dataclass(frozen=True)
class EmulatorConfig:
    """How an emulator instance behaves; the defaults suit tests (in memory, seed 0, no faults)."""

    #: SQLite file for durable state; None keeps everything in memory.
    db: str | None = None
    #: Ids are derived from the seed and a counter: same seed + same requests → same ids.
    seed: int = 0
    #: (context window, max output tokens) for models the token table does not know.
    default_limits: tuple[int, int] = (128_000, 16_384)
    #: Extra per-model limits, model name (or prefix of a dated name) → (context window, max output).
    model_limits: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Failures to inject (429/500/503…), None for none.
    faults: FaultConfig | None = None
    #: Added latency for every request, in milliseconds.
    delay_ms: int = 0
    #: When reasoning items carry ``encrypted_content``: "on_request" (as the real API: only with
    #: ``include=["reasoning.encrypted_content"]``, so resending a bare reasoning item under store:false is
    #: the real 404) or "always".
    reasoning_content: str = "on_request"
    #: API keys answered with 401 ``invalid_api_key``; any other non-empty key is accepted.
    invalid_api_keys: frozenset[str] = frozenset({"sk-invalid"})
