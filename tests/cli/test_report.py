"""``pytest --convo-report`` and ``convotest report``: the JSON and HTML reports of a real run."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from cli_helpers import cli, offline_env, run_pytest

from conftest import ReportRun

#: The key shapes and literal secret that must never reach a report.
KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUv0123"
LITERAL = "hunter2-literal-secret-value"


def _schema() -> dict[str, Any]:
    # The file as shipped in the package, not the module's loader: the schema itself is under test.
    text = resources.files("convotest").joinpath("schemas/report.schema.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def _run(document: dict[str, Any], scenario: str, mode: str) -> dict[str, Any]:
    found = [r for r in document["runs"] if (r["scenario"], r["mode"]) == (scenario, mode)]
    assert len(found) == 1
    return found[0]


def test_pytest_writes_both_reports_and_says_where(report_run: ReportRun) -> None:
    assert report_run.html.is_file()
    assert report_run.json.is_file()
    assert "convotest report: out/report.html, out/report.json" in report_run.done.stdout
    # No fragments folder is left behind without xdist either.
    assert sorted(p.name for p in report_run.html.parent.iterdir()) == ["junit.xml", "report.html", "report.json"]


def test_json_report_validates_against_its_schema(report_run: ReportRun) -> None:
    document = report_run.document()
    jsonschema.Draft202012Validator.check_schema(_schema())
    jsonschema.validate(document, _schema(), cls=jsonschema.Draft202012Validator)
    assert document["summary"] == {"runs": 5, "passed": 3, "failed": 2}
    assert [(r["scenario"], r["mode"], r["passed"]) for r in document["runs"]] == [
        ("jokes", "manual_chat", False),
        ("jokes", "manual_responses", False),
        ("long_compaction", "conversation", True),
        ("long_compaction", "manual_responses", True),
        ("long_compaction", "previous_response_id", True),
    ]


def test_schema_rejects_what_the_report_must_not_be(report_run: ReportRun) -> None:
    validator = jsonschema.Draft202012Validator(_schema())
    document = report_run.document()
    document["runs"][0]["calls"][0]["tokens"]["input"] = "51"
    assert not validator.is_valid(document)
    document = report_run.document()
    document["runs"][0]["surprise"] = 1
    assert not validator.is_valid(document)


def test_json_report_holds_transcripts_tokens_and_compaction_points(report_run: ReportRun) -> None:
    run = _run(report_run.document(), "long_compaction", "conversation")
    assert run["file"] == "scenarios/long_compaction.convo.yaml"
    assert run["cassette"] == "cassettes/long_compaction/long_compaction/conversation.yaml"
    assert run["cassette_status"] == "replayed"
    assert run["limits"] == {"context_window": 1_047_576, "max_input_tokens": None, "input_limit": 1_047_576}
    calls = run["calls"]
    assert [c["turn"] for c in calls] == list(range(8))
    assert [c["compaction_point"] for c in calls] == [False] * 5 + [True] + [False] * 2
    inputs = [c["tokens"]["input"] for c in calls]
    assert inputs[:6] == [16, 67, 204, 341, 475, 615]
    assert inputs[6] < 200  # the conversation goes on from the compacted window
    assert [(i["kind"], i["role"]) for i in calls[1]["context"]] == [
        ("message", "user"),
        ("message", "assistant"),
        ("message", "user"),
    ]
    assert calls[0]["reply"].startswith("I have seen 1 messages.")
    assert calls[5]["instructions"] == "Keep the itinerary and the restaurant ideas."
    assert calls[5]["output_items"] == 6
    [compaction] = run["compactions"]
    assert compaction["turn"] == 5
    assert compaction["summary"].startswith(f"compact at turn 6: input 475 → {inputs[6]} tokens")


def test_json_report_failures_read_like_the_terminal(report_run: ReportRun) -> None:
    run = _run(report_run.document(), "jokes", "manual_chat")
    [failure] = run["failures"]
    assert failure["check"] == "tokens.input_max"
    assert failure["turn"] == 1
    assert failure["message"] == "input 51 tokens > input_max 40"
    assert failure["location"]["path"] == "scenarios/jokes.convo.yaml"
    assert failure["headline"] == "scenarios/jokes.convo.yaml:10: turn 2 [manual_chat]: input 51 tokens > input_max 40"
    assert "turn 2 (" in run["failure_text"]
    # The plugin's own rendering: every line of it is what pytest printed for that item.
    for line in run["failure_text"].splitlines():
        assert line in report_run.done.stdout


def test_html_report_is_self_contained(report_run: ReportRun) -> None:
    html = report_run.html.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "<link" not in html
    assert not re.search(r"\b(src|href)=\"(?!#)", html), "only in-page links"
    assert set(re.findall(r"https?://[^\s\"'<>)]+", html)) == {"http://www.w3.org/2000/svg"}
    assert "<style>" in html
    assert "<script>" in html


def test_html_report_has_a_chart_per_scenario_transcripts_and_failures(report_run: ReportRun) -> None:
    html = report_run.html.read_text(encoding="utf-8")
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="token-chart"') == 2
    # One line per mode, the compaction point, and the limit (far above these small inputs) named.
    assert len(re.findall(r'<polyline class="series" data-mode="', html)) == 5
    assert html.count('<line class="compaction"') == 1
    assert "input limit 128,000 is off the chart (peak 51 = 0.04% of it)" in html
    assert html.count('<pre class="failures">') == 2
    assert "turn 2 [manual_chat]: input 51 tokens &gt; input_max 40" in html
    assert html.count('<details class="transcript" open>') == 2
    assert html.count('<details class="transcript">') == 3
    assert "Remind me: which city are we visiting?" in html
    assert "compacted to 6 item(s)" in html


def test_junit_xml_carries_the_token_figures(report_run: ReportRun) -> None:
    tree = ET.parse(report_run.junit)
    cases = {case.get("name"): case for case in tree.iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["jokes[manual_chat]"].iter("property")}
    assert props["convo_peak_input_tokens"] == "51"
    assert props["convo_billed_input_tokens"] == "63"
    compacted = {p.get("name"): p.get("value") for p in cases["long_compaction[conversation]"].iter("property")}
    assert compacted["convo_compactions"] == "1"


def test_convotest_report_renders_the_same_page(report_run: ReportRun, tmp_path: Path) -> None:
    done = cli("report", str(report_run.json), "-o", str(tmp_path / "again.html"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote {tmp_path / 'again.html'}: 2 scenario(s), 5 run(s), 3 passed, 2 failed\n"
    assert (tmp_path / "again.html").read_text(encoding="utf-8") == report_run.html.read_text(encoding="utf-8")


def test_convotest_report_defaults_to_the_html_next_to_the_json(report_run: ReportRun, tmp_path: Path) -> None:
    shutil.copy(report_run.json, tmp_path / "results.json")
    done = cli("report", "results.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "results.html").is_file()


def test_convotest_report_merges_and_never_shows_a_secret(report_run: ReportRun, tmp_path: Path) -> None:
    leaky = report_run.document()
    leaky["runs"][0]["calls"][0]["reply"] = f"my key is {KEY}, the password is {LITERAL}"
    leaky["runs"][0]["failure_text"] += f"\nAuthorization: Bearer {KEY}"
    leaky["runs"][1]["notes"].append(f"{LITERAL} in a note")
    (tmp_path / "leaky.json").write_text(json.dumps(leaky), encoding="utf-8")
    done = cli(
        "report",
        str(report_run.json),
        "leaky.json",
        "-o",
        "merged.html",
        "--json",
        "merged.json",
        cwd=tmp_path,
        env=offline_env(OPENAI_API_KEY=LITERAL),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "wrote merged.html and merged.json: 2 scenario(s), 10 run(s), 6 passed, 4 failed\n"
    for name in ("merged.html", "merged.json"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert KEY not in text
        assert LITERAL not in text
        assert "&lt;redacted&gt;" in text or "<redacted>" in text
    merged = json.loads((tmp_path / "merged.json").read_text(encoding="utf-8"))
    jsonschema.validate(merged, _schema(), cls=jsonschema.Draft202012Validator)


def test_convotest_report_usage_errors(report_run: ReportRun, tmp_path: Path) -> None:
    (tmp_path / "text.json").write_text("not json", encoding="utf-8")
    (tmp_path / "other.json").write_text('{"format": "something-else"}', encoding="utf-8")
    broken = report_run.document()
    del broken["runs"][0]["calls"]
    (tmp_path / "broken.json").write_text(json.dumps(broken), encoding="utf-8")
    expected = {
        "missing.json": "convotest report: no such report: missing.json",
        "text.json": "convotest report: text.json is not JSON: ",
        "other.json": "convotest report: other.json is not a convotest JSON report",
        "broken.json": "convotest report: broken.json does not match the report schema: runs/0: 'calls' is a required",
    }
    for name, message in expected.items():
        done = cli("report", name, cwd=tmp_path)
        assert done.returncode == 2, name
        assert done.stderr.startswith(message), done.stderr
    assert not list(tmp_path.glob("*.html"))


def test_xdist_workers_fragments_merge_into_the_same_report(report_run: ReportRun) -> None:
    # Same project folder as the single-process run (paths in failure texts agree), another output folder.
    out = report_run.root / "xdist"
    done = run_pytest(
        "scenarios", "-n", "2", "-p", "no:randomly", "--convo-report=xdist/only.json", cwd=report_run.root
    )
    assert done.returncode == 1, done.stdout + done.stderr
    # A .json path asks for JSON only; the workers' fragments folder is gone.
    assert sorted(p.name for p in out.iterdir()) == ["only.json"]
    merged = json.loads((out / "only.json").read_text(encoding="utf-8"))
    jsonschema.validate(merged, _schema(), cls=jsonschema.Draft202012Validator)
    single = report_run.document()
    assert merged["summary"] == single["summary"]
    for ours, theirs in zip(merged["runs"], single["runs"], strict=True):
        assert {k: v for k, v in ours.items() if v != theirs[k] and k != "duration"} == {}
