"""The JSON report: every run's transcript, tokens, compaction points and failures, for machines.

``build_report(results)`` turns ``RunResult``s into one JSON document that validates against
``convotest/schemas/report.schema.json``; the HTML report is rendered from that document, so both say
the same thing. Every string goes through the scrubber on the way in: no secret reaches a report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convotest import __version__
from convotest.recording.scrub import Scrubber

if TYPE_CHECKING:
    from convotest.failures import Failure
    from convotest.runner import RunResult
    from convotest.transcript import TurnRecord

__all__ = [
    "REPORT_FORMAT",
    "SCHEMA_RESOURCE",
    "ReportError",
    "build_report",
    "load_report",
    "merge_reports",
    "report_schema",
    "run_entry",
    "scrub",
    "validate_report",
    "write_json",
]

REPORT_FORMAT = "convotest-report"
REPORT_VERSION = 1
#: Where the report's JSON Schema lives inside the installed package.
SCHEMA_RESOURCE = "schemas/report.schema.json"


class ReportError(ValueError):
    """A file given as a report is not one (unreadable, not JSON, or not matching the schema)."""


@lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files("convotest").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")


def report_schema() -> dict[str, Any]:
    """The report's JSON Schema (draft 2020-12) as a fresh dict."""
    result: dict[str, Any] = json.loads(_schema_text())
    return result


def default_scrubber() -> Scrubber:
    """Key-shaped text plus the secrets this process knows from its environment."""
    env = ("OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID")
    return Scrubber.from_config(values=(os.environ.get(name) for name in env))


def scrub(value: Any, scrubber: Scrubber | None = None) -> Any:
    """``value`` (JSON data) with every string, key or value, passed through the scrubber."""
    scrubber = scrubber or default_scrubber()

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return scrubber.text(v)
        if isinstance(v, Mapping):
            return {scrubber.text(str(k)): walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        return v

    return walk(value)


# --- from run results ---------------------------------------------------------------------------------


def _relative(path: str | Path | None, root: Path | None) -> str | None:
    if path is None:
        return None
    if root is not None:
        with contextlib.suppress(ValueError):
            return Path(path).resolve().relative_to(root.resolve()).as_posix()
    return str(path)


def _failure(failure: Failure, root: Path | None) -> dict[str, Any]:
    loc = failure.loc
    location = None
    if loc is not None:
        loc = dataclasses.replace(loc, path=_relative(loc.path, root) or loc.path)
        location = {"path": loc.path, "line": loc.line, "column": loc.column}
    return {
        "check": failure.check,
        "message": failure.message,
        "turn": failure.turn,
        "location": location,
        "diff": failure.diff,
        "headline": dataclasses.replace(failure, loc=loc).headline(),
    }


def _is_compaction_point(record: TurnRecord) -> bool:
    """A compact call, or a call whose output carries a server-side (inline) compaction item."""
    if record.endpoint == "compact":
        return True
    return any(isinstance(o, Mapping) and o.get("type") == "compaction" for o in record.output_items)


def _call(record: TurnRecord) -> dict[str, Any]:
    info = record.tokens
    tokens = None
    if info is not None:
        tokens = {
            "input": info.reported_input if info.reported_input is not None else info.estimate,
            "estimate": info.estimate,
            "reported_input": info.reported_input,
            "cached": info.cached,
            "output": info.output,
            "reasoning": info.reasoning,
            "window_used": info.window_used,
            "headroom": info.headroom,
            "billed_input": info.billed_input,
            "truncated": info.truncated,
        }
    return {
        "index": record.index,
        "turn": record.turn,
        "endpoint": record.endpoint,
        "carried_by": record.carried_by,
        "http_status": record.http_status,
        "status": record.status,
        "model": record.model,
        "instructions": record.instructions,
        "context": [{"kind": i.kind, "role": i.role, "text": i.text} for i in record.context],
        "partial": record.partial,
        "reply": record.reply,
        "output_items": len(record.output_items),
        "compaction_point": _is_compaction_point(record),
        "tokens": tokens,
        "notes": list(record.notes),
    }


def _limits(result: RunResult) -> dict[str, Any] | None:
    infos = [r.tokens for r in (result.transcript.turns if result.transcript else []) if r.tokens is not None]
    if not infos:
        return None
    info = infos[-1]
    return {
        "context_window": info.context_window,
        "max_input_tokens": info.max_input_tokens,
        "input_limit": info.max_input_tokens if info.max_input_tokens is not None else info.context_window,
    }


def _compactions(result: RunResult) -> list[dict[str, Any]]:
    from convotest.compaction import compaction_report

    if result.transcript is None:
        return []
    try:
        steps = compaction_report(result.transcript)
    except (ValueError, ZeroDivisionError):  # a report must not fail on an odd transcript
        return []
    return [
        {
            "index": s.index,
            "turn": s.turn,
            "tokens_before": s.tokens_before,
            "tokens_after": s.tokens_after,
            "cost": s.cost,
            "turns_to_pay_off": s.turns_to_pay_off,
            "summary": s.describe(),
        }
        for s in steps
    ]


def _failure_text(result: RunResult, root: Path | None) -> str:
    # The plugin's own rendering (paths relative to the rootdir), so the report reads like the terminal.
    from convotest.plugin import render_failures

    return render_failures(result, rootdir=root) if result.failures else ""


def run_entry(result: RunResult, root: Path | None = None) -> dict[str, Any]:
    """One run (scenario × mode) as report JSON, scrubbed with the run's own secrets (``result.scrubber``)."""
    entry = _run_entry(result, root)
    scrubbed: dict[str, Any] = scrub(entry, result.scrubber) if result.scrubber is not None else entry
    return scrubbed


def _run_entry(result: RunResult, root: Path | None) -> dict[str, Any]:
    scenario = result.scenario
    return {
        "scenario": scenario.name,
        "file": _relative(scenario.path, root) or scenario.path,
        "description": scenario.description,
        "model": scenario.model,
        "turns": len(scenario.turns),
        "mode": result.mode,
        "passed": result.passed,
        "cassette": _relative(result.cassette, root),
        "cassette_status": result.cassette_status,
        "duration": round(result.duration, 4),
        "limits": _limits(result),
        "calls": [_call(r) for r in result.transcript.turns] if result.transcript else [],
        "compactions": _compactions(result),
        "failures": [_failure(f, root) for f in result.failures],
        "failure_text": _failure_text(result, root),
        "notes": list(result.notes),
    }


def _summary(runs: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    failed = sum(1 for r in runs if not r["passed"])
    return {"runs": len(runs), "passed": len(runs) - failed, "failed": failed}


def _sorted(runs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    # Stable, readable order whatever order xdist workers finished in.
    return sorted((dict(r) for r in runs), key=lambda r: (r["file"], r["scenario"], r["mode"]))


def build_report(
    results: Iterable[RunResult],
    *,
    root: Path | None = None,
    scrubber: Scrubber | None = None,
    extra_runs: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The report document for ``results`` (plus runs already in JSON form, e.g. from xdist workers)."""
    runs = _sorted([*(run_entry(r, root) for r in results), *extra_runs])
    document = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "convotest": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "summary": _summary(runs),
        "runs": runs,
    }
    result: dict[str, Any] = scrub(document, scrubber)
    return result


def merge_reports(documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One report holding the runs of several (e.g. one per CI job)."""
    runs = _sorted(run for doc in documents for run in doc["runs"])
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "convotest": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "summary": _summary(runs),
        "runs": runs,
    }


def validate_report(document: Any) -> list[str]:
    """Schema problems of ``document`` as ``path: message`` lines (empty when it is a valid report)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(report_schema())
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        problems.append(f"{where}: {error.message}")
    return problems


def load_report(path: Path) -> dict[str, Any]:
    """A report written by convotest, validated; ``ReportError`` says why a file is not one."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ReportError(f"{path} is not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != REPORT_FORMAT:
        raise ReportError(f"{path} is not a convotest JSON report (write one with pytest --convo-report PATH)")
    problems = validate_report(document)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ReportError(f"{path} does not match the report schema: " + "; ".join(problems[:3]) + more)
    return document


def write_json(document: Mapping[str, Any], path: Path) -> None:
    """Write the document atomically (a reader never sees half a report)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
