"""Run one scenario in one mode: the library entry point that the pytest plugin and the CLI wrap.

``run(scenario, mode, settings)`` opens the cassette (or none, live), drives the turns with the mode's
driver over the real SDK, rebuilds the transcript from the traffic, counts tokens and evaluates every
expectation. It returns a ``RunResult``; it raises only for programming errors.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from convotest import __version__
from convotest.errors import CassetteError, ConfigError, ConvotestError
from convotest.failures import Failure
from convotest.recording.paths import cassette_path
from convotest.recording.scrub import Scrubber
from convotest.scenario.model import Scenario
from convotest.transcript import Transcript

__all__ = ["CassetteStatus", "RunResult", "Settings", "rerecord_command", "run"]

CassetteStatus = Literal["replayed", "recorded", "partly_recorded", "live", "missing", "unreadable", "not_saved"]

#: Where the SDK goes when nothing else is configured and a recording needs a real server.
_DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: How recorded URIs name the emulator, whose port changes every run.
EMULATOR_HOST = "emulator.convotest"
#: The SDK insists on a key; in replay no request leaves the process, so any placeholder does.
_REPLAY_KEY = "convotest-replay-no-key"


@dataclass
class Settings:
    """How to run: record mode, where cassettes live, which server to talk to, what to scrub."""

    record_mode: str = "none"
    cassette_dir: Path = Path("cassettes")
    #: No cassettes at all: every request goes to the server.
    live: bool = False
    #: Server for recording and live runs (``--convo-base-url``); the emulator's URL when it is used.
    base_url: str | None = None
    #: Start the built-in emulator for runs that need a server (and no ``base_url`` is given).
    emulator: bool = False
    api_key: str | None = None
    organization: str | None = None
    project: str | None = None
    use_async: bool = False
    timeout: float = 60.0
    max_retries: int = 2
    #: Per-model ``{"context_window": …, "max_output_tokens": …}`` overrides (ini / ``convo_config``).
    model_limits: dict[str, dict[str, int]] = field(default_factory=dict)
    scrub_headers: tuple[str, ...] = ()
    scrub_patterns: tuple[str, ...] = ()
    scrub_values: tuple[str, ...] = ()
    #: Request body fields ignored when matching (e.g. ``metadata``, ``user``).
    volatile_fields: tuple[str, ...] = ()
    #: Check the server's own view of the context (costs extra requests when live).
    verify_server: bool = False
    #: Rootdir-relative paths are shown in messages; the rerecord hint names the file from here.
    rootdir: Path | None = None
    #: Called as each turn starts: ``progress(scenario, mode, turn_index)`` (live displays while recording).
    progress: Callable[[Scenario, str, int], None] | None = field(default=None, compare=False)

    def resolved_api_key(self) -> str:
        """The key for the SDK: configured, from the environment, or a placeholder for replay."""
        return self.api_key or os.environ.get("OPENAI_API_KEY") or _REPLAY_KEY

    def scrubber(self) -> Scrubber:
        """The scrubber for this run, knowing the run's own secrets."""
        # Both the settings and the environment: a setting that overrides a variable does not make the
        # variable's value any less secret (a fixture may still send it, or an echo bring it back).
        values = (
            self.api_key,
            os.environ.get("OPENAI_API_KEY"),
            self.organization,
            os.environ.get("OPENAI_ORG_ID"),
            self.project,
            os.environ.get("OPENAI_PROJECT_ID"),
            *self.scrub_values,
        )
        return Scrubber.from_config(extra_headers=self.scrub_headers, extra_patterns=self.scrub_patterns, values=values)


@dataclass
class RunResult:
    """What one (scenario, mode) run produced."""

    scenario: Scenario
    mode: str
    transcript: Transcript | None
    failures: list[Failure]
    cassette: Path | None
    cassette_status: CassetteStatus
    duration: float = 0.0
    #: Lines the terminal summary may show (projection, compaction savings).
    notes: list[str] = field(default_factory=list)
    #: Removes this run's secrets (its key, organisation, project, ``scrub_values``) from anything shown.
    scrubber: Scrubber | None = field(default=None, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        """Whether every expectation held."""
        return not self.failures


def rerecord_command(scenario: Scenario, mode: str, settings: Settings) -> str:
    """The command that re-records this item's cassette."""
    path = _display_path(scenario.path, settings)
    target = (
        "--convo-emulator" if settings.emulator or not settings.base_url else f"--convo-base-url {settings.base_url}"
    )
    # The server listings are part of the recording: re-recording without them would drift again.
    verify = " --convo-verify-server" if settings.verify_server else ""
    return f"pytest '{path}::{scenario.name}[{mode}]' --convo-record-mode=rewrite {target}{verify}"


def _display_path(path: str, settings: Settings) -> str:
    if settings.rootdir is not None:
        with contextlib.suppress(ValueError):
            return str(Path(path).resolve().relative_to(settings.rootdir.resolve()))
    return path


def _sdk_version() -> str:
    try:
        return metadata.version("openai")
    except metadata.PackageNotFoundError:  # pragma: no cover - openai is a dependency
        return "unknown"


@contextlib.contextmanager
def _server(settings: Settings, needs_server: bool) -> Iterator[str | None]:
    """The base URL to talk to, starting the emulator for this run when asked and nothing else is set."""
    if settings.base_url or not needs_server or not settings.emulator:
        yield settings.base_url
        return
    from convotest.emulator.server import EmulatorServer

    with EmulatorServer() as server:
        yield server.base_url


def run(scenario: Scenario, mode: str, settings: Settings | None = None, *, driver: str | None = None) -> RunResult:
    """Drive ``scenario`` in ``mode`` under the recorder and check every expectation."""
    settings = settings or Settings()
    started = time.perf_counter()
    result = _run(scenario, mode, settings, driver or scenario.driver)
    result.duration = time.perf_counter() - started
    result.scrubber = settings.scrubber()
    return result


def _run(scenario: Scenario, mode: str, settings: Settings, driver: str | None) -> RunResult:
    from convotest.drivers import ClientOptions, drive

    path = None if settings.live else cassette_path(settings.cassette_dir, scenario.file_stem, scenario.name, mode)
    loc = scenario.loc

    def fail(check: str, message: str, status: CassetteStatus, turn: int | None = None) -> RunResult:
        where = scenario.turn_loc(turn) if turn is not None else loc
        return RunResult(scenario, mode, None, [Failure(check, message, turn, mode, where)], path, status)

    replay_only = settings.record_mode == "none" and not settings.live
    if path is not None and replay_only and not path.is_file():
        return fail(
            "cassette",
            f"no cassette at {_display_path(str(path), settings)} and record mode is 'none'; "
            f"record it with: {rerecord_command(scenario, mode, settings)}",
            "missing",
        )

    traffic = _traffic_log(settings, scenario, mode)
    header = {
        "format": 1,
        "convotest": __version__,
        "openai": _sdk_version(),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "scenario": scenario.name,
        "file": _display_path(scenario.path, settings),
        "mode": mode,
        "model": scenario.model,
    }
    status: CassetteStatus = "live"
    drive_error: Any = None
    no_match_text: str | None = None
    try:
        with (
            _server(settings, needs_server=not replay_only) as base_url,
            _cassette(path, settings, header, traffic, base_url if settings.emulator else None) as session,
        ):
            options = ClientOptions(
                base_url=base_url or _DEFAULT_BASE_URL,
                api_key=settings.resolved_api_key(),
                organization=settings.organization,
                project=settings.project,
                timeout=settings.timeout,
                max_retries=settings.max_retries,
                use_async=settings.use_async,
                # Names this run's id namespace on the emulator, so its ids do not depend on other runs.
                default_headers={"x-convotest-run": f"{scenario.file_stem}/{scenario.name}[{mode}]"}
                if settings.emulator and base_url
                else {},
            )
            outcome = drive(scenario, mode, options=options, traffic=traffic, driver=driver)
            drive_error = outcome.error
            if drive_error is None and settings.verify_server:
                drive_error = _verify_server(mode, options, traffic)
            if session is not None:
                if drive_error is None:
                    session.keep()
                else:
                    no_match_text = _explain_no_match(session, drive_error.exception, drive_error.turn, settings)
                status = _cassette_status(session, drive_error is None)
    except CassetteError as exc:
        return fail("cassette", f"{exc}; re-record with: {rerecord_command(scenario, mode, settings)}", "unreadable")
    except ConfigError as exc:
        return fail("config", str(exc), "not_saved" if path else "live")

    return _check(scenario, mode, settings, traffic.exchanges, drive_error, no_match_text, path, status)


def _verify_server(mode: str, options: Any, traffic: Any) -> Any:
    """Ask the server what it holds: each response's input items, each conversation's items.

    The listings go through the traffic log (and the cassette), where ``reconstruct`` compares them with
    the context rebuilt from the traffic and ``assertions`` turns a difference into a failure. Only the
    modes whose state lives on the server have anything to ask. Returns a ``DriveFailure`` or ``None``.
    """
    from convotest.drivers import DriveFailure
    from convotest.drivers.client import make_client

    if mode not in ("previous_response_id", "conversation"):
        return None
    targets: list[tuple[str, str, int | None]] = []
    for exchange in list(traffic.exchanges):
        if exchange.method.upper() != "POST" or not 200 <= exchange.status < 300:
            continue
        path = exchange.path.rstrip("/")
        if mode == "previous_response_id" and path.endswith("/responses"):
            rid = _response_id(exchange)
            if rid:
                targets.append(("input_items", rid, exchange.turn))
        elif mode == "conversation" and path.endswith("/conversations"):
            cid = exchange.response.get("id") if isinstance(exchange.response, dict) else None
            if isinstance(cid, str):
                targets.append(("items", cid, None))
    last_turn = max((e.turn for e in traffic.exchanges if e.turn is not None), default=None)
    client: Any = make_client(replace(options, use_async=False), traffic)
    for kind, ident, turn in targets:
        traffic.turn = turn if turn is not None else last_turn
        try:
            if kind == "input_items":
                client.responses.input_items.list(ident, order="asc", limit=100)
            else:
                client.conversations.items.list(ident, order="asc", limit=100)
        except Exception as exc:  # reported as the turn's failure, like any request the run makes
            return DriveFailure(turn=traffic.turn if traffic.turn is not None else 0, exception=exc)
    return None


def _response_id(exchange: Any) -> str | None:
    """The id of the response a ``POST /responses`` created, streamed or not."""
    if isinstance(exchange.response, dict) and isinstance(exchange.response.get("id"), str):
        return str(exchange.response["id"])
    for event in exchange.events or []:
        data = event.get("data")
        response = data.get("response") if isinstance(data, dict) else None
        if isinstance(response, dict) and isinstance(response.get("id"), str):
            return str(response["id"])
    return None


def _traffic_log(settings: Settings, scenario: Scenario, mode: str) -> Any:
    """The drivers' traffic log; with a progress callback, one that reports each turn as it starts."""
    from convotest.drivers.client import TrafficLog

    progress = settings.progress
    if progress is None:
        return TrafficLog()

    class _ReportingLog(TrafficLog):
        @property
        def turn(self) -> int | None:
            return self._turn

        @turn.setter
        def turn(self, value: int | None) -> None:
            self._turn = value
            if value is not None and progress is not None:
                progress(scenario, mode, value)

    return _ReportingLog()


@contextlib.contextmanager
def _cassette(
    path: Path | None, settings: Settings, header: dict[str, Any], traffic: Any, emulator_url: str | None
) -> Iterator[Any]:
    if path is None:
        yield None
        return
    from convotest.recording.vcr_backend import open_cassette

    with open_cassette(
        path,
        record_mode=settings.record_mode,
        scrubber=settings.scrubber(),
        header=header,
        turn_source=lambda: traffic.turn,
        volatile_fields=settings.volatile_fields,
        host_alias=(urlsplit(emulator_url).netloc, EMULATOR_HOST) if emulator_url else None,
    ) as session:
        yield session


def _cassette_status(session: Any, ok: bool) -> CassetteStatus:
    # A run that could record and failed saved nothing, even when it failed before any response arrived.
    if not ok and (session.recorded_new or session.record_mode != "none"):
        return "not_saved"
    if session.recorded_new:
        return "partly_recorded" if session.existed and session.record_mode != "rewrite" else "recorded"
    return "replayed"


def _explain_no_match(session: Any, exc: BaseException, turn: int, settings: Settings) -> str | None:
    """The drift explanation: what was sent, the closest recorded request, and each difference by turn."""
    from convotest.recording.matching import explain_difference
    from convotest.recording.vcr_backend import is_no_match

    if not is_no_match(exc):
        return None
    found = session.no_match()
    if found is None:
        return "the request matches nothing recorded"
    lines = [f"no recorded response matches {found.shape.method} {found.shape.path}"]
    lines.append(
        f"cassette {_display_path(str(session.path), settings)}: {found.recorded} interactions recorded, "
        f"{found.played} replayed before this request"
    )
    if found.closest is None:
        lines.append("every recorded interaction was already replayed: this run sends more requests than recorded")
    else:
        number, shape = found.closest
        lines.append(f"closest recorded request: #{number} {shape.method} {shape.path}")
        # Each difference names the scenario turn (1-based) whose request drifted, as the headline does.
        differences = explain_difference(shape, found.shape) or ["(identical after normalising)"]
        lines.extend(f"  turn {turn + 1}: {line}" for line in differences)
    return "\n".join(lines)


def _check(
    scenario: Scenario,
    mode: str,
    settings: Settings,
    exchanges: list[Any],
    drive_error: Any,
    no_match_text: str | None,
    path: Path | None,
    status: CassetteStatus,
) -> RunResult:
    from convotest import assertions, compaction, tokens
    from convotest.reconstruct import build_transcript

    transcript = build_transcript(exchanges)
    transcript.scenario, transcript.mode = scenario.name, mode
    failures: list[Failure] = []
    notes: list[str] = []
    try:
        limits = _resolve_limits(scenario, settings)
        tokens.annotate(transcript, limits=limits, params=scenario.params)
    except ConfigError as exc:
        failures.append(Failure("config", str(exc), None, mode, scenario.locs.get("model", scenario.loc)))
        limits = None

    failed_turn: int | None = drive_error.turn if drive_error is not None else None
    checks = [assertions.check_turns, compaction.check_compaction_expectations]
    if limits is not None:
        checks.append(tokens.check_tokens)
    for check in checks:
        found = check(scenario, mode, transcript)
        # Turns after a failed one never ran; the failed turn keeps only its window overflow, which is
        # usually why the server refused it.
        failures.extend(
            f
            for f in found
            if failed_turn is None
            or f.turn is None
            or f.turn < failed_turn
            or (f.turn == failed_turn and f.check == "tokens.window")
        )

    if drive_error is None:
        failures.extend(_check_across_modes(scenario, mode, transcript, settings))
    if drive_error is not None:
        failures.append(_drive_failure(scenario, mode, settings, drive_error, no_match_text, path, status))
    if transcript.turns:
        notes.extend(_cut_outputs(transcript))
    if drive_error is None and limits is not None:
        with contextlib.suppress(ConvotestError, ValueError, ZeroDivisionError):
            used_max = scenario.expect.tokens.window_used_max if scenario.expect and scenario.expect.tokens else None
            projection = tokens.project(transcript, limits, window_used_max=used_max)
            # Only a conversation heading for its limit soon (within ten times the turns recorded) is worth a
            # line here; `convotest tokens` shows every projection.
            if projection.crossing_turn is not None and projection.crossing_turn <= 10 * projection.last_turn:
                notes.append(projection.describe())
        with contextlib.suppress(ConvotestError, ValueError, ZeroDivisionError):
            notes.extend(step.describe() for step in compaction.compaction_report(transcript))
    return RunResult(scenario, mode, transcript, failures, path, status, notes=notes)


def _cut_outputs(transcript: Transcript) -> list[str]:
    """One note per model call whose output was cut short (status incomplete / finish_reason length)."""
    notes = []
    for record in transcript.turns:
        if record.tokens is None or not record.tokens.truncated:
            continue
        where = f"turn {record.turn + 1}" if record.turn is not None else f"call {record.index + 1}"
        details = (record.response or {}).get("incomplete_details") or {}
        reason = details.get("reason") if isinstance(details, dict) else None
        notes.append(
            f"{where}: output cut at {record.tokens.output or 0:,} tokens "
            f"(status {record.status}{f', reason {reason}' if reason else ''}; "
            f"max output {record.tokens.max_output_tokens:,})"
        )
    return notes


def _check_across_modes(scenario: Scenario, mode: str, transcript: Transcript, settings: Settings) -> list[Failure]:
    """``same_across_modes``: this mode's transcript against the other modes' recorded cassettes.

    Each mode's item compares itself with every other mode recorded so far, so the check works per item
    (and under xdist) without running the modes together; the failure names the mode it disagrees with.
    """
    from convotest.assertions import check_across_modes
    from convotest.reconstruct import build_transcript
    from convotest.traffic import load_cassette_exchanges

    expect = scenario.expect.context if scenario.expect else None
    if expect is None or not expect.same_across_modes or settings.live:
        return []
    failures: list[Failure] = []
    for other in scenario.modes:
        path = cassette_path(settings.cassette_dir, scenario.file_stem, scenario.name, other)
        if other == mode or not path.is_file():
            continue
        try:
            exchanges, _ = load_cassette_exchanges(path)
        except CassetteError as exc:
            failures.append(Failure("context.same_across_modes", str(exc), None, mode, scenario.loc))
            continue
        found = check_across_modes(scenario, {other: build_transcript(exchanges), mode: transcript})
        failures.extend(found)
    return failures


def _resolve_limits(scenario: Scenario, settings: Settings) -> Any:
    """Built-in table < project ``model_limits`` (matched by prefix, like the table) < the scenario's ``limits``."""
    from convotest import tokens

    own = {
        key: value
        for key, value in (
            ("context_window", scenario.limits.context_window),
            ("max_output_tokens", scenario.limits.max_output_tokens),
        )
        if value is not None
    }
    return tokens.model_limits(scenario.model, overrides={**settings.model_limits, **own} or None)


def _drive_failure(
    scenario: Scenario,
    mode: str,
    settings: Settings,
    error: Any,
    no_match_text: str | None,
    path: Path | None = None,
    status: CassetteStatus = "live",
) -> Failure:
    turn: int = error.turn
    loc = scenario.turn_loc(turn) if 0 <= turn < len(scenario.turns) else scenario.loc
    if no_match_text is not None:
        return Failure(
            "drift",
            "the request sent differs from the recording (the scenario or the code changed)",
            turn,
            mode,
            loc,
            diff=f"{no_match_text}\nto re-record: {rerecord_command(scenario, mode, settings)}",
        )
    exc = error.exception
    message = str(exc) if isinstance(exc, ConvotestError) else f"{type(exc).__name__}: {exc}"
    if status == "replayed" and path is not None and not _is_api_error(exc):
        # Only recorded responses reached the code: one of them is not what the SDK or driver expects.
        message += (
            f" (while replaying {_display_path(str(path), settings)}: a recorded response may have been edited; "
            f"re-record with: {rerecord_command(scenario, mode, settings)})"
        )
    return Failure("driver", settings.scrubber().text(message), turn, mode, loc)


def _is_api_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the SDK reporting a (recorded) HTTP error or connection problem, not a crash."""
    return any(cls.__module__.startswith("openai") and cls.__name__.endswith("Error") for cls in type(exc).__mro__)
