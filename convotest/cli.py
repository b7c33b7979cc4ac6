"""The ``convotest`` command line: init, validate, schema, record, show, diff, tokens, report, serve.

Exit codes follow the usual convention: 0 all good, 1 a check failed (or a difference was found), 2 a
usage error (bad arguments, a file that does not exist or is not what the command reads). Colour is
used only when writing to a terminal, and never with ``NO_COLOR`` set.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from convotest import __version__
from convotest.errors import ConvotestError

if TYPE_CHECKING:
    from convotest.transcript import Transcript

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the command line: printed as ``convotest CMD: message``, exit 2."""


def _colour(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _paint(text: str, code: str, stream: TextIO) -> str:
    return f"\033[{code}m{text}\033[0m" if _colour(stream) else text


def _existing_file(raw: str, what: str = "file") -> Path:
    path = Path(raw)
    if not path.exists():
        raise UsageError(f"no such {what}: {raw}")
    if not path.is_file():
        raise UsageError(f"not a file: {raw}")
    return path


def _cassette_file(raw: str) -> Path:
    """A cassette path given on the command line; a scenario file given by mistake is a usage error."""
    path = _existing_file(raw, "cassette")
    if ".convo." in path.name:
        stem = path.name.split(".convo.", 1)[0]
        raise UsageError(
            f"{raw} is a scenario, not a cassette; its cassettes are cassettes/{stem}/<scenario>/<mode>.yaml"
        )
    return path


# --- commands ----------------------------------------------------------------------------------------


def _cmd_validate(args: argparse.Namespace) -> int:
    from convotest.scenario.validate import run_validate

    return run_validate(args.paths, sys.stdout, sys.stderr)


def _cmd_schema(args: argparse.Namespace) -> int:
    from convotest.scenario.schema import schema

    if args.report:
        from convotest.reporting.json_report import report_schema

        json.dump(report_schema(), sys.stdout, indent=2)
    else:
        json.dump(schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from convotest.emulator.server import serve

    serve(host=args.host, port=args.port, db=args.db)
    return EXIT_OK


class _RecordSummary:
    """A pytest plugin for ``convotest record``: counts what each item did with its cassette."""

    def __init__(self) -> None:
        self.statuses: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: Any) -> None:
        """Read the cassette status the convotest plugin attaches to each item."""
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == "convo_cassette_status":
                self.statuses[report.nodeid] = str(value)

    def summary(self) -> str:
        """``3 recorded, 8 replayed (already recorded; --rewrite records them again)``."""
        counts: dict[str, int] = {}
        for status in self.statuses.values():
            counts[status] = counts.get(status, 0) + 1
        parts = [f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items())]
        text = ", ".join(parts) or "no scenario ran"
        if counts.get("replayed"):
            text += " (replayed ones were already recorded; --rewrite records them again)"
        return f"convotest record: {text}"


def _record_argv(args: argparse.Namespace) -> list[str]:
    argv = [*args.paths, f"--convo-record-mode={'rewrite' if args.rewrite else 'once'}"]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        # Without autoload the entry point is not loaded; naming it again would register it twice.
        argv += ["-p", "convotest.plugin"]
    if args.base_url:
        argv.append(f"--convo-base-url={args.base_url}")
    elif args.emulator:
        argv.append("--convo-emulator")
    argv.extend(f"--convo-mode={mode}" for mode in args.mode or ())
    argv.extend(args.pytest_args or ())
    return argv


def _cmd_record(args: argparse.Namespace) -> int:
    import pytest

    for raw in args.paths:
        if not Path(raw.split("::", 1)[0]).exists():
            raise UsageError(f"no such file or folder: {raw}")
    if not (args.emulator or args.base_url or os.environ.get("OPENAI_API_KEY")):
        print(
            "convotest record: recording from OpenAI's API but OPENAI_API_KEY is not set "
            "(use --emulator to record from the local emulator)",
            file=sys.stderr,
        )
    summary = _RecordSummary()
    code = int(pytest.main(_record_argv(args), plugins=[summary]))
    print(summary.summary())
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print(f"convotest record: no scenarios found in {' '.join(args.paths)}", file=sys.stderr)
        return EXIT_USAGE
    if code == pytest.ExitCode.USAGE_ERROR:
        return EXIT_USAGE
    return EXIT_OK if code == pytest.ExitCode.OK else EXIT_FAILED


def _is_cassette_path(raw: str) -> bool:
    name = Path(raw).name
    return raw.endswith((".yaml", ".yml")) and ".convo." not in name


def _cassettes_for(paths: Sequence[str], cassette_dir: Path) -> list[tuple[str, str, Path]]:
    """(scenario, mode, cassette) for every scenario file under ``paths`` whose cassette exists."""
    from convotest.recording.paths import cassette_path
    from convotest.scenario.loader import discover, load_file

    found = []
    for file in discover(paths):
        for scenario in load_file(file):
            for mode in scenario.modes:
                path = cassette_path(cassette_dir, scenario.file_stem, scenario.name, mode)
                if path.is_file():
                    found.append((scenario.name, mode, path))
    return found


def _transcript_of(cassette: Path) -> tuple[Transcript, dict[str, Any]]:
    from convotest import tokens
    from convotest.reconstruct import build_transcript
    from convotest.traffic import load_cassette_exchanges

    exchanges, header = load_cassette_exchanges(cassette)
    transcript = build_transcript(exchanges)
    model = str(header.get("model") or next((t.model for t in transcript.turns if t.model), "") or "")
    try:
        limits = tokens.model_limits(model) if model else None
        tokens.annotate(transcript, limits=limits)
    except ConvotestError as exc:
        # An unknown model leaves the transcript without token figures; say so once, show the rest.
        print(f"convotest: no token figures for {cassette}: {exc}", file=sys.stderr)
    return transcript, header


def _cmd_tokens(args: argparse.Namespace) -> int:
    from convotest import tokens

    targets: list[tuple[str, str, Path]] = []
    scenario_paths: list[str] = []
    for raw in args.paths:
        if not Path(raw).exists():
            raise UsageError(f"no such file or folder: {raw}")
        if _is_cassette_path(raw):
            targets.append(("", "", Path(raw)))
        else:
            scenario_paths.append(raw)
    if scenario_paths:
        targets.extend(_cassettes_for(scenario_paths, Path(args.cassette_dir)))
    if not targets:
        print(
            f"convotest tokens: no cassettes under {args.cassette_dir}/ for those scenarios; record them first "
            "(convotest record PATH --emulator), or name a cassette file",
            file=sys.stderr,
        )
        return EXIT_FAILED
    for name, mode, cassette in targets:
        transcript, header = _transcript_of(cassette)
        title = f"{name} [{mode}]" if name else str(cassette)
        print(_paint(title, "1", sys.stdout) + f"  {cassette}" * bool(name))
        print(tokens.format_token_table(transcript))
        model = str(header.get("model") or "")
        if model:
            with contextlib.suppress(ConvotestError, ValueError, ZeroDivisionError):
                print(tokens.project(transcript, tokens.model_limits(model)).describe())
        print()
    return EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    from convotest.reporting.text import render_transcript

    transcript, header = _transcript_of(_cassette_file(args.cassette))
    print(render_transcript(transcript, header, colour=_colour(sys.stdout), full=args.full))
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    from convotest.reporting.text import diff_transcripts

    old, old_header = _transcript_of(_cassette_file(args.old))
    new, new_header = _transcript_of(_cassette_file(args.new))
    for key in ("scenario", "mode"):
        a, b = old_header.get(key), new_header.get(key)
        if a and b and a != b:
            print(f"note: comparing different {key}s: {a} → {b}")
    lines = diff_transcripts(old, new, colour=_colour(sys.stdout))
    print("\n".join(lines) if lines else "no difference in what the model saw, replied or was billed")
    return EXIT_FAILED if lines else EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from convotest.reporting.html_report import render_html
    from convotest.reporting.json_report import ReportError, load_report, merge_reports, scrub, write_json

    documents = []
    for raw in args.results:
        try:
            documents.append(load_report(_existing_file(raw, "report")))
        except ReportError as exc:
            raise UsageError(str(exc)) from None
    # Scrub again: a report may come from an older version or another machine's environment.
    document = scrub(documents[0] if len(documents) == 1 else merge_reports(documents))
    first = Path(args.results[0])
    out = Path(args.output) if args.output else first.with_suffix(".html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(document, title=args.title), encoding="utf-8")
    written = [str(out)]
    if args.json:
        write_json(document, Path(args.json))
        written.append(args.json)
    summary = document["summary"]
    scenarios = len({(r["file"], r["scenario"]) for r in document["runs"]})
    print(
        f"wrote {' and '.join(written)}: {scenarios} scenario(s), {summary['runs']} run(s), "
        f"{summary['passed']} passed, {summary['failed']} failed"
    )
    return EXIT_OK


# --- init --------------------------------------------------------------------------------------------

#: The commands ``init`` prints last: record the example from the emulator, then replay it.
NEXT_COMMANDS = ("convotest record scenarios --emulator", "pytest scenarios")
_SETTINGS = (("convotest_cassette_dir", "cassettes"), ("convotest_record_mode", "none"))
_SETTINGS_COMMENT = "# convotest: scenarios/*.convo.yaml run as tests, replayed from the cassettes (never recorded)"


def _template(name: str) -> str:
    from importlib import resources

    return resources.files("convotest").joinpath("templates", name).read_text(encoding="utf-8")


def _pytest_config(start: Path) -> tuple[Path, str] | None:
    """The file pytest takes its settings from, looking here and upwards as pytest does: (path, kind)."""
    import configparser
    import tomllib

    for folder in (start, *start.parents):
        for name in ("pytest.ini", ".pytest.ini"):
            if (folder / name).is_file():
                return folder / name, "ini"
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                tool = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
            except (OSError, ValueError):
                tool = {}
            if "pytest" in tool:
                return pyproject, "toml"
        for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
            parser = configparser.ConfigParser(interpolation=None)
            with contextlib.suppress(OSError, configparser.Error):
                if (folder / name).is_file() and parser.read(folder / name) and parser.has_section(section):
                    return folder / name, "ini"
    return None


def _settings_lines(kind: str, cassettes: str) -> list[str]:
    values = [(k, cassettes if k == "convotest_cassette_dir" else v) for k, v in _SETTINGS]
    if kind == "toml":
        return [_SETTINGS_COMMENT, *(f'{k} = "{v}"' for k, v in values)]
    return [_SETTINGS_COMMENT, *(f"{k} = {v}" for k, v in values)]


class _Scaffold:
    """Writes the files of ``convotest init``, never replacing one, and says what it did."""

    def __init__(self, root: Path, out: TextIO, colour: bool) -> None:
        self.root = root
        self.out = out
        self.colour = colour

    def say(self, verb: str, what: str) -> None:
        codes = {"created": "32", "added": "32", "skipped": "33"}
        shown = f"\033[{codes[verb]}m{verb:<8}\033[0m" if self.colour else f"{verb:<8}"
        self.out.write(f"  {shown} {what}\n")

    def write(self, relative: str, text: str) -> None:
        path = self.root / relative
        if path.exists():
            self.say("skipped", f"{relative} (exists; left as it is)")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # "x": fail rather than replace a file that appeared since the check.
        with path.open("x", encoding="utf-8") as handle:
            handle.write(text)
        self.say("created", relative)

    def settings(self) -> list[str]:
        """Add the pytest settings where that is safe; else the lines to add by hand (printed later)."""
        found = _pytest_config(self.root.resolve())
        if found is None:
            self.write("pytest.ini", "\n".join(["[pytest]", *_settings_lines("ini", "cassettes")]) + "\n")
            return []
        path, kind = found
        shown = os.path.relpath(path, self.root)
        text = path.read_text(encoding="utf-8")
        if "convotest_cassette_dir" in text:
            self.say("skipped", f"{shown} (already has the convotest settings)")
            return []
        cassettes = os.path.relpath(self.root.resolve() / "cassettes", path.parent.resolve()).replace(os.sep, "/")
        lines = _settings_lines(kind, cassettes)
        section = "[tool.pytest.ini_options]" if kind == "toml" else f"the pytest section of {path.name}"
        self.say("skipped", f"{shown} (it already configures pytest; add the lines below to {section})")
        return lines

    def pyproject_without_pytest(self) -> bool:
        """Append the settings to a pyproject.toml that has no pytest section (and no other config wins)."""
        import tomllib

        path = self.root / "pyproject.toml"
        if not path.is_file() or _pytest_config(self.root.resolve()) is not None:
            return False
        text = path.read_text(encoding="utf-8")
        try:
            tomllib.loads(text)
        except ValueError:
            return False  # not ours to fix; pytest.ini will do
        block = "\n".join(["[tool.pytest.ini_options]", *_settings_lines("toml", "cassettes")])
        with path.open("a", encoding="utf-8") as handle:
            handle.write(("" if text.endswith("\n") or not text else "\n") + "\n" + block + "\n")
        self.say("added", "[tool.pytest.ini_options] to pyproject.toml")
        return True


def init_project(root: Path, out: TextIO, *, colour: bool = False) -> int:
    """Scaffold a working convotest setup in ``root`` (see ``convotest init --help``)."""
    from convotest.scenario.schema import schema_text

    out.write(f"convotest init in {root.resolve()}\n")
    scaffold = _Scaffold(root, out, colour)
    scaffold.write("scenarios/example.convo.yaml", _template("example.convo.yaml"))
    scaffold.write("scenarios/.convotest.schema.json", schema_text())
    scaffold.write("cassettes/.gitattributes", _template("cassettes.gitattributes"))
    manual = [] if scaffold.pyproject_without_pytest() else scaffold.settings()
    scaffold.write(".github/workflows/convotest.yml", _template("convotest.yml"))
    if manual:
        out.write("\nAdd these lines to your pytest settings:\n")
        out.writelines(f"    {line}\n" for line in manual)
    out.write("\nNext, record the example from the local emulator (no API key, no network), then replay it:\n")
    out.writelines(f"  {command}\n" for command in NEXT_COMMANDS)
    return EXIT_OK


def _cmd_init(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    if not root.is_dir():
        raise UsageError(f"no such folder: {args.dir}")
    return init_project(root, sys.stdout, colour=_colour(sys.stdout))


# --- parser ------------------------------------------------------------------------------------------

_EPILOGS = {
    "init": """
        examples:
          convotest init                       scaffold here, then follow the two commands it prints
          convotest init --dir path/to/repo

        Writes scenarios/example.convo.yaml (+ scenarios/.convotest.schema.json for editors),
        cassettes/.gitattributes, the pytest ini lines and .github/workflows/convotest.yml.
        Never overwrites a file: what exists is left alone and listed as skipped.
    """,
    "validate": """
        examples:
          convotest validate scenarios
          convotest validate scenarios/jokes.convo.yaml

        exit status: 0 all valid, 1 problems found, 2 usage error.
    """,
    "schema": """
        examples:
          convotest schema > scenario.schema.json
          convotest schema --report > report.schema.json
    """,
    "record": """
        examples:
          convotest record scenarios --emulator            record missing cassettes from the local emulator
          convotest record scenarios/jokes.convo.yaml --mode conversation --rewrite
          OPENAI_API_KEY=... convotest record scenarios    record from OpenAI's API
          convotest record scenarios --emulator -- -n 4 -x pass what follows -- to pytest

        Same as: pytest PATH --convo-record-mode=once|rewrite [--convo-emulator | --convo-base-url URL].
        exit status: 0 all recorded and passing, 1 a scenario failed, 2 usage error or no scenarios.
    """,
    "show": """
        examples:
          convotest show cassettes/jokes/jokes/conversation.yaml
          convotest show --full cassettes/jokes/jokes/conversation.yaml | less -R
    """,
    "diff": """
        examples:
          git show HEAD:cassettes/jokes/jokes/conversation.yaml > /tmp/old.yaml
          convotest diff /tmp/old.yaml cassettes/jokes/jokes/conversation.yaml

        exit status: 0 no difference, 1 differences found (like diff(1)), 2 usage error.
    """,
    "tokens": """
        examples:
          convotest tokens scenarios                        every recorded scenario under scenarios/
          convotest tokens cassettes/jokes/jokes/manual_chat.yaml
    """,
    "report": """
        examples:
          pytest scenarios --convo-report=out/report.json   (in CI: JSON only)
          convotest report out/report.json -o report.html
          convotest report job1.json job2.json -o all.html --json all.json   (merge CI shards)
    """,
    "serve": """
        examples:
          convotest serve --port 8765
          OPENAI_BASE_URL=http://127.0.0.1:8765/v1 python my_app.py
    """,
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(
        prog="convotest",
        description="Record and replay multi-turn OpenAI conversations, checking what the model saw at every turn.",
        epilog="Run 'convotest COMMAND --help' for a command's options and examples. "
        "Exit status: 0 ok, 1 a check failed, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"convotest {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    def add(name: str, handler: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help,
            description=help[0].upper() + help[1:] + ".",
            epilog=textwrap.dedent(_EPILOGS[name]).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(handler=handler)
        return p

    p = add("init", _cmd_init, "scaffold a scenario, cassettes/, pytest settings and a CI workflow")
    p.add_argument("--dir", default=".", metavar="DIR", help="the project folder (default: the current one)")
    p = add("validate", _cmd_validate, "check scenario files and print one path:line:col: message per problem")
    p.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or folders")
    p = add("schema", _cmd_schema, "print the JSON Schema of the scenario format (for editors)")
    p.add_argument("--report", action="store_true", help="print the JSON report's schema instead")
    p = add("record", _cmd_record, "record cassettes for scenarios (runs pytest with the record options)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or folders (pytest node ids work too)")
    p.add_argument("--mode", action="append", metavar="MODE", help="only this state mode (repeatable)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--emulator", action="store_true", help="record from the local emulator (no key, offline)")
    target.add_argument("--base-url", metavar="URL", help="record from this server (default: OpenAI's API)")
    p.add_argument("--rewrite", action="store_true", help="re-record existing cassettes (default: only missing ones)")
    p.usage = (
        "convotest record [-h] [--mode MODE] [--emulator | --base-url URL] [--rewrite] PATH [PATH ...] "
        "[-- PYTEST_ARGS ...]"
    )
    p = add("show", _cmd_show, "print a cassette's transcript turn by turn: what the model saw, replies, tokens")
    p.add_argument("cassette", metavar="CASSETTE", help="a cassette file (cassettes/<file>/<scenario>/<mode>.yaml)")
    p.add_argument("--full", action="store_true", help="list every context item at every call, not only new ones")
    p = add("diff", _cmd_diff, "turn-aware difference between two cassettes of one scenario")
    p.add_argument("old", metavar="OLD", help="the earlier cassette")
    p.add_argument("new", metavar="NEW", help="the later cassette")
    p = add("tokens", _cmd_tokens, "per-turn token table of recorded scenarios (no network)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or folders, or cassette files")
    p.add_argument(
        "--cassette-dir", default="cassettes", metavar="DIR", help="where cassettes live (default: cassettes)"
    )
    p = add("report", _cmd_report, "render JSON reports (from pytest --convo-report) as one HTML page")
    p.add_argument("results", nargs="+", metavar="RESULTS.json", help="JSON reports; several are merged")
    p.add_argument("-o", "--output", metavar="HTML", help="where to write the page (default: RESULTS.html)")
    p.add_argument("--json", metavar="PATH", help="also write the (merged) JSON report here")
    p.add_argument("--title", default="convotest report", help="the page title")
    p = add("serve", _cmd_serve, "run the local OpenAI emulator")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (default: 8765)")
    p.add_argument("--db", default=None, metavar="PATH", help="keep state in this SQLite file (default: memory)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convotest`` console script."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # `convotest record PATH -- -n 4`: what follows -- goes to pytest untouched (argparse's REMAINDER
    # would also swallow record's own options written after PATH).
    passed_on: list[str] = []
    command = next((a for a in argv if not a.startswith("-")), None)
    if command == "record" and "--" in argv:
        at = argv.index("--")
        argv, passed_on = argv[:at], argv[at + 1 :]
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args.pytest_args = passed_on
    try:
        code: int = args.handler(args)
    except UsageError as exc:
        print(f"convotest {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConvotestError as exc:
        print(f"convotest {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `convotest show … | head`: the reader left; not an error. Point stdout at devnull so the
        # interpreter's final flush does not complain again.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
