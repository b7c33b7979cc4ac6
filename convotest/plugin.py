"""The pytest plugin: collects ``*.convo.yaml`` files and runs each (scenario, mode) as a test item.

Everything pytest touches lives here; the work is done by ``convotest.runner.run``. Nothing heavy is
imported until a scenario file is collected or a ``convo`` fixture is used.

Settings precedence, applied once in ``_settings``: command line > ini (``convotest_*``) >
the ``convo_config`` fixture > built-in default.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import functools
import os
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from convotest.errors import SourceLoc
    from convotest.recording.scrub import Scrubber
    from convotest.runner import RunResult, Settings
    from convotest.scenario.cache import ScenarioCache
    from convotest.scenario.model import Scenario
    from convotest.transcript import Transcript

__all__ = ["Convo", "ScenarioFailed", "render_failures", "results_of"]

RECORD_MODES = ("none", "once", "new_episodes", "all", "rewrite")
_DEFAULT_PATTERN = "*.convo.yaml *.convo.yml"
_PROPERTY_PREFIX = "convo_"
#: The folder of loaded scenarios under pytest's cache (``.pytest_cache/d/``).
_CACHE_DIR = "convotest-scenarios"
#: The start of an OpenAI-shaped key that a message shortened with an ellipsis.
_CUT_KEY = r"sk-[A-Za-z0-9_-]*(?=…)"


# --- options -----------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``--convo-*`` options and ``convotest_*`` ini keys."""
    group = parser.getgroup("convotest", "record and replay OpenAI conversations (convotest)")
    group.addoption(
        "--convo-record-mode",
        choices=RECORD_MODES,
        default=None,
        help="cassette record mode. 'none' (default) only replays and never touches the network, "
        "safe for CI; 'once' records missing cassettes; 'new_episodes' records requests not yet "
        "recorded; 'all' records every request again; 'rewrite' records a fresh cassette that "
        "replaces the old one when the scenario finishes.",
    )
    group.addoption(
        "--convo-live",
        action="store_true",
        default=None,
        help="no cassettes at all: every request goes to the server (the emulator with --convo-emulator).",
    )
    group.addoption(
        "--convo-base-url",
        default=None,
        metavar="URL",
        help="the server to record from or run live against (default: OpenAI's API, with OPENAI_API_KEY).",
    )
    group.addoption(
        "--convo-emulator",
        action="store_true",
        default=None,
        help="start convotest's local OpenAI emulator for this session and record from it (not started "
        "when only replaying).",
    )
    group.addoption(
        "--convo-cassette-dir",
        default=None,
        metavar="DIR",
        help="where cassettes live, relative to rootdir (default: cassettes).",
    )
    group.addoption(
        "--convo-mode",
        action="append",
        default=None,
        metavar="MODE",
        help="run only this state mode (repeatable): manual_chat, manual_responses, previous_response_id, "
        "conversation, custom.",
    )
    group.addoption("--convo-full-trace", action="store_true", default=None, help="show Python tracebacks in failures.")
    group.addoption(
        "--convo-strict", action="store_true", default=None, help="fail the run when cassettes are left unused."
    )
    group.addoption(
        "--convo-verify-server",
        action="store_true",
        default=None,
        help="previous_response_id and conversation modes: after the run, list what the server holds "
        "(input items, conversation items) and fail where it differs from the context rebuilt from the "
        "traffic. The listings are recorded: give the option when recording and when replaying.",
    )
    group.addoption("--convo-report", default=None, metavar="PATH", help="write an HTML report (and PATH.json).")
    parser.addini("convotest_record_mode", "default record mode (none, once, new_episodes, all, rewrite)")
    parser.addini("convotest_base_url", "server to record from")
    parser.addini("convotest_emulator", "start the local emulator (true/false)", type="bool", default=None)
    parser.addini("convotest_live", "no cassettes at all (true/false)", type="bool", default=None)
    parser.addini("convotest_cassette_dir", "cassette directory, relative to rootdir")
    parser.addini("convotest_file_pattern", "scenario file patterns, space separated", default=_DEFAULT_PATTERN)
    parser.addini("convotest_modes", "state modes to run", type="args", default=None)
    parser.addini("convotest_strict", "fail on unused cassettes (true/false)", type="bool", default=None)
    parser.addini("convotest_full_trace", "show Python tracebacks (true/false)", type="bool", default=None)
    parser.addini("convotest_verify_server", "check the server's own view (true/false)", type="bool", default=None)
    parser.addini(
        "convotest_model_limits",
        "extra models, one per line: NAME CONTEXT_WINDOW MAX_OUTPUT_TOKENS",
        type="linelist",
        default=None,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register markers and the session state object."""
    config.addinivalue_line("markers", "convo: a convotest scenario item")
    config.addinivalue_line("markers", "convo_mode(name): the state mode a convotest item runs in")
    _check_modes(config)
    ini_mode = config.getini("convotest_record_mode")
    if ini_mode and ini_mode not in RECORD_MODES:
        # Fail the whole session at once rather than every scenario item with the same error.
        raise pytest.UsageError(
            f"convotest_record_mode must be one of {', '.join(RECORD_MODES)}, not {ini_mode!r} (ini file)"
        )
    config.stash[_STATE] = _State(config)
    config.pluginmanager.register(_SessionPlugin(config), "convotest-session")
    report = config.getoption("--convo-report", default=None)
    if report:
        from convotest.reporting.pytest_report import ReportPlugin

        config.pluginmanager.register(ReportPlugin(config, Path(report)), "convotest-report")


def _check_modes(config: pytest.Config) -> None:
    """A misspelt ``--convo-mode`` would silently select nothing: refuse it."""
    wanted = config.getoption("--convo-mode") or config.getini("convotest_modes") or []
    if not wanted:
        return
    from convotest.scenario.model import ALL_MODES

    known = (*ALL_MODES, "custom")
    unknown = [mode for mode in wanted if mode not in known]
    if unknown:
        raise pytest.UsageError(f"--convo-mode: unknown mode {unknown[0]!r}; choose from {', '.join(known)}")


def results_of(config: pytest.Config) -> list[RunResult]:
    """Every ``RunResult`` produced in this process (this xdist worker, under xdist) so far."""
    return config.stash[_STATE].results


_STATE = pytest.StashKey["_State"]()
#: Set on an item whose cassette path another collected item also maps to: why it cannot run.
_CLASH = pytest.StashKey[str]()


def _option(config: pytest.Config, name: str, convo_config: Mapping[str, Any] | None = None) -> Any:
    """CLI > ini > convo_config > None for one setting."""
    cli = config.getoption(f"--convo-{name.replace('_', '-')}", default=None)
    if cli is not None:
        return cli
    try:
        ini = config.getini(f"convotest_{name}")
    except ValueError:
        ini = None
    if ini not in (None, "", []):
        return ini
    if convo_config and name in convo_config:
        return convo_config[name]
    return None


def _parse_limits(lines: list[str] | None) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for line in lines or []:
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise pytest.UsageError(
                f"convotest_model_limits: expected 'NAME CONTEXT_WINDOW MAX_OUTPUT_TOKENS', got {line!r}"
            )
        table[parts[0]] = {"context_window": int(parts[1]), "max_output_tokens": int(parts[2])}
    return table


# --- session state -----------------------------------------------------------------------------------


@dataclass
class _State:
    """Per-session (per xdist worker) state: the emulator, results for the summary."""

    config: pytest.Config
    emulator: Any = None
    summaries: list[dict[str, Any]] = field(default_factory=list)
    #: Scenario files collected in this session (learnt from the workers' node ids under xdist).
    scenario_files: set[Path] = field(default_factory=set)
    results: list[RunResult] = field(default_factory=list)
    _unused: list[Path] | None = None
    _cache: ScenarioCache | None = None
    _cache_made: bool = False

    def scenario_cache(self) -> ScenarioCache | None:
        """Loaded scenarios kept in pytest's cache folder between runs; None with ``-p no:cacheprovider``."""
        if not self._cache_made:
            self._cache_made = True
            cache = getattr(self.config, "cache", None)
            if cache is not None:
                from convotest.scenario.cache import ScenarioCache

                # A read-only checkout cannot have the folder: every file is then loaded, as without the cache.
                with contextlib.suppress(OSError):
                    self._cache = ScenarioCache(cache.mkdir(_CACHE_DIR), root=self.config.rootpath)
        return self._cache

    def unused_cassettes(self) -> list[Path]:
        """The unused cassettes of this session, worked out once, on the controller (or single process)."""
        config = self.config
        if hasattr(config, "workerinput") or config.option.collectonly or not self.scenario_files:
            return []
        if self._unused is None:
            used = {Path(str(row["cassette"])) for row in self.summaries if row.get("cassette")}
            self._unused = _unused_cassettes(config, self.scenario_files, used)
        return self._unused

    def emulator_url(self) -> str:
        if self.emulator is None:
            from convotest.emulator.server import EmulatorServer

            self.emulator = EmulatorServer()
            self.emulator.start()
        url: str = self.emulator.base_url
        return url

    def close(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None


def _settings(config: pytest.Config, convo_config: Mapping[str, Any]) -> Settings:
    from convotest.runner import Settings

    state = config.stash[_STATE]
    record_mode = _option(config, "record_mode", convo_config) or "none"
    if record_mode not in RECORD_MODES:
        raise pytest.UsageError(f"convotest record mode must be one of {', '.join(RECORD_MODES)}, not {record_mode!r}")
    cassette_dir = _option(config, "cassette_dir", convo_config) or "cassettes"
    base_url = _option(config, "base_url", convo_config)
    emulator = bool(_option(config, "emulator", convo_config))
    live = bool(_option(config, "live", convo_config))
    needs_server = live or record_mode != "none"
    if base_url:
        # An explicit server wins: the emulator is neither started nor named in the recorded URIs.
        emulator = False
    elif emulator and needs_server:
        base_url = state.emulator_url()
    progress = None
    if needs_server:
        # Recording is slow: show the turn being recorded (on a terminal only; the display is reporting's).
        from convotest.reporting.progress import progress_for

        progress = progress_for(config)
    limits = _parse_limits(config.getini("convotest_model_limits"))
    limits.update(convo_config.get("model_limits", {}))
    return Settings(
        record_mode=record_mode,
        cassette_dir=Path(config.rootpath, cassette_dir),
        live=live,
        base_url=base_url,
        emulator=emulator,
        api_key=convo_config.get("api_key"),
        organization=convo_config.get("organization"),
        project=convo_config.get("project"),
        use_async=bool(convo_config.get("use_async", False)),
        timeout=float(convo_config.get("timeout", 60.0)),
        max_retries=int(convo_config.get("max_retries", 2)),
        model_limits=limits,
        scrub_headers=tuple(convo_config.get("scrub_headers", ())),
        scrub_patterns=tuple(convo_config.get("scrub_patterns", ())),
        scrub_values=tuple(convo_config.get("scrub_values", ())),
        volatile_fields=tuple(convo_config.get("volatile_fields", ())),
        verify_server=bool(_option(config, "verify_server", convo_config)),
        rootdir=config.rootpath,
        progress=progress,
    )


# --- collection --------------------------------------------------------------------------------------


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    """Collect scenario files matching ``convotest_file_pattern``."""
    if any(fnmatch.fnmatch(file_path.name, p) for p in _patterns(parent.config)):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def _patterns(config: pytest.Config) -> list[str]:
    return str(config.getini("convotest_file_pattern") or _DEFAULT_PATTERN).split()


class ScenarioFile(pytest.Module):
    """A scenario file. A ``Module`` so module-scoped fixtures work; it imports no Python."""

    def _getobj(self) -> types.ModuleType:
        return types.ModuleType(f"convotest_scenarios_{abs(hash(str(self.path)))}")

    def collect(self) -> Iterator[pytest.Item]:
        from convotest.scenario.loader import load_file

        state = self.config.stash[_STATE]
        state.scenario_files.add(self.path)
        wanted = self.config.getoption("--convo-mode") or self.config.getini("convotest_modes") or None
        fixtureinfo = None
        for scenario in load_file(self.path, cache=state.scenario_cache()):
            marks = _scenario_marks(scenario.marks.skip, scenario.marks.xfail)
            for mode in scenario.modes:
                if wanted and mode not in wanted:
                    continue
                item = ScenarioItem.from_parent(
                    self,
                    name=f"{scenario.name}[{mode}]",
                    callobj=_run_item,
                    scenario=scenario,
                    mode=mode,
                    fixtureinfo=fixtureinfo,
                )
                # Every item of a file calls the same function under the same parents, so they need the
                # same fixtures: resolve them once, as pytest does for the instances of a parametrized test.
                fixtureinfo = item._fixtureinfo
                for mark in (*_mode_marks(mode), *marks):
                    item.add_marker(mark)
                yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from convotest.errors import ScenarioError

        if isinstance(excinfo.value, ScenarioError):
            # The loader's own message, as a compiler prints it; the traceback would only show our code.
            error = excinfo.value
            loc = _shown_loc(error.loc, self.config.rootpath)
            return f"{loc.long if loc else error.path}: {error.message}"
        return super().repr_failure(excinfo)


@functools.cache
def _mode_marks(mode: str) -> tuple[pytest.MarkDecorator, ...]:
    """The marks of every item of ``mode``, made once: items share them (marks are immutable)."""
    return (pytest.mark.convo, pytest.mark.convo_mode(mode))


def _scenario_marks(skip: str | None, xfail: str | None) -> tuple[pytest.MarkDecorator, ...]:
    marks: list[pytest.MarkDecorator] = []
    if skip is not None:
        marks.append(pytest.mark.skip(reason=skip))
    if xfail is not None:
        marks.append(pytest.mark.xfail(reason=xfail, strict=False))
    return tuple(marks)


class ScenarioFailed(AssertionError):
    """Raised by a scenario item (or ``convo.run``) whose expectations failed."""

    def __init__(self, result: RunResult, *, rootdir: Path | None = None, scrubber: Scrubber | None = None) -> None:
        self.result = result
        super().__init__(render_failures(result, rootdir=rootdir, scrubber=scrubber))


def render_failures(result: RunResult, *, rootdir: Path | None = None, scrubber: Scrubber | None = None) -> str:
    """The failure text: file:line, turn, mode, the turn's script, the reply, and the diff.

    Paths are shown relative to ``rootdir`` when given; ``scrubber`` (default: the run's own,
    ``result.scrubber``, else the defaults plus the environment's API key, organisation and project)
    redacts secrets from everything shown.
    """
    from convotest.runner import Settings

    scenario = result.scenario
    lines: list[str] = []
    for failure in result.failures:
        lines.append(dataclasses.replace(failure, loc=_shown_loc(failure.loc, rootdir)).headline())
        if failure.turn is not None and 0 <= failure.turn < len(scenario.turns):
            turn = scenario.turns[failure.turn]
            where = f" ({_shown_loc(turn.loc, rootdir)})" if turn.loc else ""
            lines.append(f"    turn {turn.number}{where}: {turn.describe()}")
            record = result.transcript.last_for_turn(failure.turn) if result.transcript else None
            if record is not None and record.reply is not None and failure.check.startswith(("reply", "status")):
                lines.append(f"    reply: {record.reply!r}")
        if failure.diff:
            lines.extend("    " + line for line in failure.diff.splitlines())
    # Nothing printed may carry a secret, whatever a server echoed back. Messages shorten long values
    # with '…': a key cut there no longer looks like a key, so its stub is redacted too.
    scrubber = scrubber or result.scrubber or Settings().scrubber()
    shown = dataclasses.replace(scrubber, patterns=(*scrubber.patterns, _CUT_KEY))
    return shown.text("\n".join(lines))


def _shown_loc(loc: SourceLoc | None, rootdir: Path | None) -> SourceLoc | None:
    """``loc`` with its path relative to ``rootdir`` (as pytest shows node ids), when it lies below it."""
    if loc is None or rootdir is None:
        return loc
    try:
        shown = Path(loc.path).resolve().relative_to(rootdir.resolve())
    except ValueError:
        return loc
    return dataclasses.replace(loc, path=shown.as_posix())


class ScenarioItem(pytest.Function):
    """One (scenario, mode) pair, run through ``convotest.runner.run``."""

    def __init__(self, *, scenario: Scenario, mode: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.mode = mode

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = self.scenario.loc.line - 1 if self.scenario.loc else None
        return self.path, line, f"{self.scenario.name} [{self.mode}]"

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        full = bool(_option(self.config, "full_trace"))
        if isinstance(excinfo.value, ScenarioFailed) and not full:
            return str(excinfo.value)
        return super().repr_failure(excinfo)


def _run_item(request: pytest.FixtureRequest, convo_config: dict[str, Any]) -> None:
    from convotest.runner import run

    item = request.node
    assert isinstance(item, ScenarioItem)
    clash = item.stash.get(_CLASH, None)
    if clash is not None:
        pytest.fail(clash, pytrace=False)
    settings = _settings(request.config, convo_config)
    result = run(item.scenario, item.mode, settings)
    _remember(item, result)
    if result.failures:
        raise ScenarioFailed(result, rootdir=request.config.rootpath)


def _remember(item: pytest.Item, result: RunResult) -> None:
    """Attach the token figures to the report (terminal summary, JUnit XML, xdist controller)."""
    state = item.config.stash[_STATE]
    state.results.append(result)
    props = _summary(result)
    item.user_properties.extend((f"{_PROPERTY_PREFIX}{k}", v) for k, v in props.items())


def _summary(result: RunResult) -> dict[str, Any]:
    out: dict[str, Any] = {"scenario": result.scenario.name, "mode": result.mode}
    if result.cassette is not None:
        out["cassette"] = str(result.cassette)
        out["cassette_status"] = result.cassette_status
    turns = result.transcript.turns if result.transcript else []
    infos = [t.tokens for t in turns if t.tokens is not None]
    if infos:
        peak = max(infos, key=lambda i: i.reported_input if i.reported_input is not None else i.estimate)
        out["peak_input_tokens"] = peak.reported_input if peak.reported_input is not None else peak.estimate
        out["peak_window_used"] = round(max(i.window_used for i in infos), 4)
        out["billed_input_tokens"] = infos[-1].billed_input
    out["compactions"] = sum(1 for t in turns if t.endpoint == "compact")
    if result.notes:
        out["notes"] = "\n".join(result.notes)
    return out


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture
def convo_config() -> dict[str, Any]:
    """Override in a conftest.py to configure convotest (like vcrpy's ``vcr_config``)."""
    return {}


class Convo:
    """The ``convo`` fixture: run scenarios from Python and assert on their transcripts."""

    def __init__(self, request: pytest.FixtureRequest, convo_config: Mapping[str, Any]) -> None:
        self._request = request
        self._config = convo_config

    def load(self, path: str | Path, name: str | None = None) -> Scenario:
        """One scenario from a file (the only one, or the one called ``name``)."""
        from convotest.scenario.loader import load_file

        config = self._request.config
        full = Path(config.rootpath, path) if not Path(path).is_absolute() else path
        scenarios = load_file(full, cache=config.stash[_STATE].scenario_cache())
        found: list[Scenario] = [s for s in scenarios if name is None or s.name == name]
        if len(found) == 1:
            return found[0]
        names = ", ".join(s.name for s in scenarios)
        raise LookupError(f"no scenario {name!r} in {path}; amongst: {names}")

    def run(
        self,
        scenario: str | Path | Scenario,
        *,
        mode: str | None = None,
        name: str | None = None,
        driver: str | None = None,
        check: bool = True,
    ) -> Transcript:
        """Run a scenario (a path or a loaded ``Scenario``) in one mode; fails the test if ``check`` fails."""
        from convotest.runner import run

        loaded = scenario if not isinstance(scenario, str | Path) else self.load(scenario, name)
        chosen = mode or ("custom" if (driver or loaded.driver) else loaded.modes[0])
        settings = _settings(self._request.config, self._config)
        result = run(loaded, chosen, settings, driver=driver)
        _remember(self._request.node, result)
        if (check and result.failures) or result.transcript is None:
            raise ScenarioFailed(result, rootdir=self._request.config.rootpath)
        return result.transcript


@pytest.fixture
def convo(request: pytest.FixtureRequest, convo_config: dict[str, Any]) -> Convo:
    """Run scenarios from Python: ``convo.run("scenarios/x.convo.yaml", mode="conversation")``."""
    return Convo(request, convo_config)


# --- reporting ---------------------------------------------------------------------------------------


def _unused_cassettes(config: pytest.Config, files: set[Path], used: set[Path]) -> list[Path]:
    """Cassettes in the folders of the collected scenario files that no scenario of those files owns.

    Every (scenario, mode) the files define owns its cassette, whether or not this run selected it
    (``-k``, ``-m``, ``--convo-mode``, skips, xdist): deselecting a test must not make its cassette "unused".
    ``used`` holds the cassettes the runs of this session opened (custom drivers, ``convo_config`` folders).
    """
    from convotest.errors import ScenarioError
    from convotest.recording.paths import cassette_path, safe_component
    from convotest.scenario.loader import load_file

    dirs = {Path(config.rootpath, _option(config, "cassette_dir") or "cassettes").resolve()}
    dirs.update(path.resolve().parents[2] for path in used)
    expected = {path.resolve() for path in used}
    stems: set[str] = set()
    cache = config.stash[_STATE].scenario_cache()
    for file in files:
        try:
            scenarios = load_file(file, cache=cache)
        except (ScenarioError, OSError):
            continue  # reported as a collection error already
        for scenario in scenarios:
            stems.add(safe_component(scenario.file_stem))
            for mode in scenario.modes:
                expected.update(cassette_path(d, scenario.file_stem, scenario.name, mode) for d in dirs)
    unused: list[Path] = []
    for folder in sorted(d / stem for d in dirs for stem in stems):
        if folder.is_dir():
            unused.extend(p for p in sorted(folder.rglob("*.yaml")) if p not in expected)
    return unused


class _SessionPlugin:
    """Session-wide hooks: token summary, unused cassettes, strict mode, emulator shutdown."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect token figures from every report (also those sent by xdist workers)."""
        if report.when != "call":
            return
        # One row per run: a Python test may call ``convo.run`` several times, and each run's
        # properties start with its scenario name (flat pairs, as JUnit XML and xdist carry them).
        rows = self.config.stash[_STATE].summaries
        row: dict[str, Any] | None = None
        for key, value in report.user_properties:
            if not key.startswith(_PROPERTY_PREFIX):
                continue
            name = key[len(_PROPERTY_PREFIX) :]
            if name == "scenario":
                row = {}
                rows.append(row)
            if row is not None:
                row[name] = value

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Two items whose cassettes would be one file both fail, instead of one overwriting the other."""
        scenario_items = [item for item in items if isinstance(item, ScenarioItem)]
        if not scenario_items:
            return
        from convotest.recording.paths import cassette_path, safe_component

        # Compared by their components (case-folded on Windows), as the cassette paths compare, without
        # building a Path per item.
        safe = functools.cache(lambda name: os.path.normcase(safe_component(name)))
        owners: dict[tuple[str, str, str], list[ScenarioItem]] = {}
        for item in scenario_items:
            key = (safe(item.scenario.file_stem), safe(item.scenario.name), safe(item.mode))
            owners.setdefault(key, []).append(item)
        for clashing in owners.values():
            if len(clashing) > 1:
                first = clashing[0]
                path = cassette_path(Path("cassettes"), first.scenario.file_stem, first.scenario.name, first.mode)
                names = " and ".join(i.nodeid for i in clashing)
                for item in clashing:
                    item.stash[_CLASH] = (
                        f"{path.as_posix()} would be the cassette of both {names}: cassette paths keep only letters, "
                        "digits, '.', '_' and '-' of the file stem and scenario name; give one scenario another "
                        "`name:` or rename one file"
                    )

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Under xdist only the workers collect: learn the scenario files from their node ids."""
        state = self.config.stash[_STATE]
        for nodeid in ids:
            file_part, sep, item = nodeid.partition("::")
            if sep and item.endswith("]"):
                path = Path(self.config.rootpath, file_part)
                if any(fnmatch.fnmatch(path.name, p) for p in _patterns(self.config)):
                    state.scenario_files.add(path)

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        """One table of token budgets per scenario and mode, and the unused cassettes."""
        state = config.stash[_STATE]
        tr = terminalreporter
        if state.summaries:
            tr.write_sep("-", "convotest token budgets")
            tr.write_line(
                f"{'scenario':<28} {'mode':<22} {'peak input':>10} {'window':>7} {'billed in':>10} {'compact':>7}"
            )
            for row in sorted(state.summaries, key=lambda r: (str(r.get("scenario")), str(r.get("mode")))):
                peak = row.get("peak_input_tokens")
                used = row.get("peak_window_used")
                billed = row.get("billed_input_tokens")
                tr.write_line(
                    f"{str(row.get('scenario'))[:28]:<28} {str(row.get('mode'))[:22]:<22} "
                    f"{'-' if peak is None else f'{peak:,}':>10} {'-' if used is None else f'{used:.1%}':>7} "
                    f"{'-' if billed is None else f'{billed:,}':>10} {row.get('compactions', 0):>7}"
                )
        notes = [row for row in state.summaries if row.get("notes")]
        if notes:
            # Cut outputs, conversations heading for their window, and what each compaction saved.
            tr.write_sep("-", "convotest notes")
            for row in sorted(notes, key=lambda r: (str(r.get("scenario")), str(r.get("mode")))):
                for note in str(row["notes"]).splitlines():
                    tr.write_line(f"{row.get('scenario')} [{row.get('mode')}]: {note}")
        unused = state.unused_cassettes()
        if unused:
            tr.write_sep("-", f"convotest: {len(unused)} unused cassette(s)")
            for path in unused:
                shown = path.relative_to(config.rootpath) if path.is_relative_to(config.rootpath) else path
                tr.write_line(f"  {shown.as_posix()}")
            if _option(config, "strict"):
                tr.write_line("  --convo-strict: the run fails; delete these cassettes or restore their scenarios")
            else:
                tr.write_line("  (--convo-strict fails the run on unused cassettes)")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Stop the emulator; with ``--convo-strict``, fail the run on unused cassettes."""
        state = self.config.stash[_STATE]
        state.close()
        if _option(self.config, "strict") and state.unused_cassettes() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
