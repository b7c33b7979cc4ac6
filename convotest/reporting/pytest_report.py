"""``pytest --convo-report PATH``: the HTML report at PATH and the JSON report next to it.

Without xdist the session's own results are written at the end. Under pytest-xdist every worker has its
own results: each worker writes one JSON fragment per finished item into a temporary folder next to the
report (its path handed to the workers through ``workerinput``), and the controller merges the fragments
into one report at ``pytest_sessionfinish`` and removes the folder. Fragments written before a worker
crashes still make it into the report.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from convotest.reporting.json_report import build_report, run_entry, scrub, write_json

__all__ = ["ReportPlugin", "report_paths"]

_PARTS_KEY = "convotest_report_parts"


def report_paths(path: Path) -> tuple[Path | None, Path]:
    """(HTML path or ``None``, JSON path) for ``--convo-report PATH``: a ``.json`` PATH asks for JSON only."""
    if path.suffix.lower() == ".json":
        return None, path
    return path, path.with_suffix(".json") if path.suffix else path.with_name(path.name + ".json")


class ReportPlugin:
    """Writes the reports for one pytest session (controller or single process; workers write fragments)."""

    def __init__(self, config: pytest.Config, path: Path) -> None:
        self.config = config
        self.path = Path(config.invocation_params.dir, path)
        self.html_path, self.json_path = report_paths(self.path)
        self.is_worker = hasattr(config, "workerinput")
        self.parts: Path | None = None
        if self.is_worker:
            given = config.workerinput.get(_PARTS_KEY)  # type: ignore[attr-defined]
            self.parts = Path(given) if given else None
        self._flushed = 0
        self._fragments = 0
        self.written: list[Path] = []

    # --- xdist: controller side ---------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Tell each worker where to put its fragments (one folder per session, next to the report)."""
        if self.parts is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.parts = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.parts-", dir=self.path.parent))
        node.workerinput[_PARTS_KEY] = str(self.parts)

    # --- xdist: worker side -------------------------------------------------------------------------

    def _flush(self) -> None:
        """Write this worker's results not yet written as one fragment."""
        from convotest.plugin import results_of

        results = results_of(self.config)
        if self.parts is None or len(results) <= self._flushed:
            return
        entries = [run_entry(r, self.config.rootpath) for r in results[self._flushed :]]
        worker = self.config.workerinput.get("workerid", "gw")  # type: ignore[attr-defined]
        self._fragments += 1
        target = self.parts / f"{worker}-{os.getpid()}-{self._fragments:05d}.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps({"runs": scrub(entries)}), encoding="utf-8")
        os.replace(tmp, target)
        self._flushed = len(results)

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        """A worker writes the item's results as soon as the item is done."""
        if self.is_worker:
            self._flush()

    # --- both ---------------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Workers flush what is left; the controller (or the only process) writes the reports."""
        if self.is_worker:
            self._flush()
            return
        from convotest.plugin import results_of

        extra: list[dict[str, Any]] = []
        if self.parts is not None and self.parts.is_dir():
            for fragment in sorted(self.parts.glob("*.json")):
                extra.extend(json.loads(fragment.read_text(encoding="utf-8"))["runs"])
            shutil.rmtree(self.parts, ignore_errors=True)
        document = build_report(results_of(self.config), root=self.config.rootpath, extra_runs=extra)
        write_json(document, self.json_path)
        self.written = [self.json_path]
        if self.html_path is not None:
            from convotest.reporting.html_report import render_html

            self.html_path.parent.mkdir(parents=True, exist_ok=True)
            self.html_path.write_text(render_html(document), encoding="utf-8")
            self.written.insert(0, self.html_path)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Say where the reports are, last (after the token table)."""
        if self.written:
            shown = ", ".join(_shown(p, self.config.invocation_params.dir) for p in self.written)
            terminalreporter.write_line(f"convotest report: {shown}")


def _shown(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
