"""The HTML report in a real browser: headless Chromium takes a screenshot, which must show the chart.

Chromium is looked up on PATH. When it is absent and ``CONVOTEST_INSTALL_CHROMIUM=1`` is set, Debian's
package is installed once for the session; otherwise the test is skipped, saying why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_helpers import count_colour, read_png

from conftest import ReportRun
from convotest.reporting.html_report import MODE_COLOURS


@pytest.fixture(scope="session")
def chromium() -> str:
    """The chromium executable, installed once when CONVOTEST_INSTALL_CHROMIUM=1 asks for it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CONVOTEST_INSTALL_CHROMIUM") != "1":
        pytest.skip("chromium is not installed (set CONVOTEST_INSTALL_CHROMIUM=1 to apt-get install it)")
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.skip(f"could not install chromium ({' '.join(command)}): {done.stderr.strip()[-300:]}")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("apt-get installed chromium but it is not on PATH")
    return found


def _screenshot(chromium: str, page: Path, png: Path, profile: Path) -> bytes:
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            "--window-size=1200,900",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert png.is_file(), f"no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
    return png.read_bytes()


def test_screenshot_shows_the_token_chart(chromium: str, report_run: ReportRun, tmp_path: Path) -> None:
    data = _screenshot(chromium, report_run.html, tmp_path / "report.png", tmp_path / "profile")
    width, height, rows = read_png(data)
    assert (width, height) == (1200, 900)
    assert rows[5][:3] == b"\xff\xff\xff", "the page background is white"
    # The first scenario on the page is jokes: its two modes' lines and points are drawn in their colours.
    assert count_colour(rows, MODE_COLOURS["manual_chat"]) > 300
    assert count_colour(rows, MODE_COLOURS["manual_responses"]) > 300
    # The chart's plot area is painted too; the conversation mode's colour belongs to the chart below the fold.
    assert count_colour(rows, "#f8f9fa") > 50_000
    assert count_colour(rows, MODE_COLOURS["conversation"]) == 0
