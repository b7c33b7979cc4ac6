"""The ``convotest`` command line: validate, schema, serve, record, tokens, show, diff, report, init.

Exit codes follow the usual convention: 0 all good, 1 a check failed, 2 a usage error. Colour is used
only when writing to a terminal (and never with ``NO_COLOR`` set).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from convotest import __version__
from convotest.errors import ConvotestError

if TYPE_CHECKING:
    from convotest.transcript import Transcript

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def _paint(text: str, code: str, stream: TextIO) -> str:
    return f"\033[{code}m{text}\033[0m" if _colour(stream) else text


# --- commands ----------------------------------------------------------------------------------------


def _cmd_validate(args: argparse.Namespace) -> int:
    from convotest.scenario.validate import run_validate

    return run_validate(args.paths, sys.stdout, sys.stderr)


def _cmd_schema(args: argparse.Namespace) -> int:
    from convotest.scenario.schema import schema

    json.dump(schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from convotest.emulator.server import serve

    serve(host=args.host, port=args.port, db=args.db)
    return EXIT_OK


def _cmd_record(args: argparse.Namespace) -> int:
    import pytest

    argv = [*args.paths, f"--convo-record-mode={'rewrite' if args.rewrite else 'once'}", "-p", "convotest.plugin"]
    if args.base_url:
        argv.append(f"--convo-base-url={args.base_url}")
    elif args.emulator:
        argv.append("--convo-emulator")
    for mode in args.mode or ():
        argv.append(f"--convo-mode={mode}")
    argv.extend(args.pytest_args or ())
    code = int(pytest.main(argv))
    return EXIT_OK if code == 0 else (EXIT_USAGE if code in (2, 3, 4) else EXIT_FAILED)


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
    except ConvotestError:
        limits = None
    tokens.annotate(transcript, limits=limits)
    return transcript, header


def _cmd_tokens(args: argparse.Namespace) -> int:
    from convotest import tokens

    targets: list[tuple[str, str, Path]] = []
    for raw in args.paths:
        if raw.endswith((".yaml", ".yml")) and ".convo." not in Path(raw).name:
            targets.append(("", "", Path(raw)))
    scenario_paths = [p for p in args.paths if not (p.endswith((".yaml", ".yml")) and ".convo." not in Path(p).name)]
    if scenario_paths:
        targets.extend(_cassettes_for(scenario_paths, Path(args.cassette_dir)))
    if not targets:
        print("convotest tokens: no cassettes found for those paths (record them first)", file=sys.stderr)
        return EXIT_FAILED
    for name, mode, cassette in targets:
        transcript, header = _transcript_of(cassette)
        title = f"{name} [{mode}]" if name else str(cassette)
        print(_paint(title, "1", sys.stdout))
        print(tokens.format_token_table(transcript))
        model = str(header.get("model") or "")
        if model:
            with contextlib.suppress(ConvotestError, ValueError, ZeroDivisionError):
                print(tokens.project(transcript, tokens.model_limits(model)).describe())
        print()
    return EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    from convotest.reporting.text import render_transcript

    transcript, header = _transcript_of(Path(args.cassette))
    print(render_transcript(transcript, header, colour=_colour(sys.stdout)))
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    from convotest.reporting.text import diff_transcripts

    old, _ = _transcript_of(Path(args.old))
    new, _ = _transcript_of(Path(args.new))
    lines = diff_transcripts(old, new)
    print("\n".join(lines) if lines else "no difference in what the model saw or replied")
    return EXIT_FAILED if lines else EXIT_OK


# --- parser ------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(
        prog="convotest",
        description="Record and replay multi-turn OpenAI conversations, checking what the model saw at every turn.",
    )
    parser.add_argument("--version", action="version", version=f"convotest {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, handler: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    p = add("validate", _cmd_validate, "check scenario files and print one path:line:col: message per problem")
    p.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or folders")
    add("schema", _cmd_schema, "print the JSON Schema of the scenario format (for editors)")
    p = add("serve", _cmd_serve, "run the local OpenAI emulator")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (default: 8765)")
    p.add_argument("--db", default=None, metavar="PATH", help="keep state in this SQLite file (default: memory)")
    p = add("record", _cmd_record, "record cassettes for scenarios (runs pytest with the record options)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or folders")
    p.add_argument("--mode", action="append", metavar="MODE", help="only these state modes (repeatable)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--emulator", action="store_true", help="record from the local emulator")
    target.add_argument("--base-url", metavar="URL", help="record from this server (default: OpenAI's API)")
    p.add_argument("--rewrite", action="store_true", help="re-record existing cassettes (default: only missing ones)")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --, arguments passed to pytest")
    for name, handler, help in (("tokens", _cmd_tokens, "per-turn token table of recorded scenarios (no network)"),):
        p = add(name, handler, help)
        p.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or folders, or cassette files")
        p.add_argument("--cassette-dir", default="cassettes", help="where cassettes live (default: cassettes)")
    p = add("show", _cmd_show, "print a cassette's transcript turn by turn: what the model saw, replies, tokens")
    p.add_argument("cassette", metavar="CASSETTE")
    p = add("diff", _cmd_diff, "turn-aware difference between two cassettes of one scenario")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convotest`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if getattr(args, "pytest_args", None) and args.pytest_args[0] == "--":
        args.pytest_args = args.pytest_args[1:]
    try:
        code: int = args.handler(args)
    except ConvotestError as exc:
        print(f"convotest {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
