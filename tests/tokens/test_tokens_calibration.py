"""Local counts against the input tokens OpenAI reported, for every model call in ../shared/calibration.

The folder is read in place (never copied into the repository); every test here skips when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from calibration_table import Case, all_cases, cases_for_file

CALIBRATION = Path(__file__).resolve().parents[2].parent / "shared" / "calibration"

pytestmark = pytest.mark.skipif(not (CALIBRATION / "cassettes").is_dir(), reason="../shared/calibration is not present")


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return all_cases(CALIBRATION)


def _id(case: Case) -> str:
    return f"{case.file.split('__')[1]}:{case.file.rsplit('__', 1)[-1].removesuffix('.yaml')}#{case.index}"


def test_every_plain_text_gpt4o_and_gpt41_request_is_exact(cases: list[Case]) -> None:
    exact = [c for c in cases if c.exact]
    # Chat and Responses, manual history, previous_response_id and conversation calls are all covered.
    assert {c.carried_by for c in exact} == {"manual_chat", "manual_responses", "previous_response_id", "conversation"}
    wrong = [f"{_id(c)}: estimate {c.estimate} != reported {c.reported}" for c in exact if c.estimate != c.reported]
    assert not wrong, "\n".join(wrong)


def test_gpt5_family_within_one_percent(cases: list[Case]) -> None:
    gpt5 = [c for c in cases if c.gpt5]
    assert gpt5
    off = [
        f"{_id(c)}: estimate {c.estimate} vs reported {c.reported}"
        for c in gpt5
        if abs(c.estimate - c.reported) > 0.01 * c.reported
    ]
    assert not off, "\n".join(off)


def test_normalised_and_estimated_calls_stay_close(cases: list[Case]) -> None:
    # pydantic-ai bodies are NFKC-normalised and some carry tools or compaction items: estimates only,
    # but a regression in those rules should still show.
    rest = [c for c in cases if not c.exact and not c.gpt5]
    assert rest
    off = [
        f"{_id(c)} ({'; '.join(c.caveats)}): estimate {c.estimate} vs reported {c.reported}"
        for c in rest
        if abs(c.estimate - c.reported) > max(8, 0.025 * c.reported)
    ]
    assert not off, "\n".join(off)


def test_chained_calls_need_the_earlier_context(cases: list[Case]) -> None:
    # Counting only the body of a previous_response_id / conversation call falls short of the report.
    from convotest.tokens import count_request_tokens

    chained = [c for c in cases if c.exact and c.carried_by in ("previous_response_id", "conversation") and c.index > 1]
    assert chained
    for c in chained:
        body = {"model": c.model, "input": c.items[-1:], "instructions": c.instructions}
        assert count_request_tokens(c.path, body) < c.reported


def test_transcripts_from_traffic_agree() -> None:
    """The same counts through traffic → reconstruct → annotate, as the runner computes them."""
    traffic = pytest.importorskip("convotest.traffic")
    reconstruct = pytest.importorskip("convotest.reconstruct")
    from convotest.tokens import annotate, model_limits

    checked = 0
    for path in sorted((CALIBRATION / "cassettes").glob("*.yaml")):
        exact = {c.index: c for c in cases_for_file(path) if c.exact}
        if not exact:
            continue
        exchanges, _ = traffic.load_cassette_exchanges(path)
        transcript = reconstruct.build_transcript(exchanges)
        annotate(transcript, limits=model_limits("gpt-4.1"))
        for rec in transcript.turns:
            case = exact.get(rec.exchange.index)
            if case is None:
                continue
            assert rec.tokens is not None
            assert (rec.tokens.estimate, rec.tokens.reported_input) == (case.reported, case.reported), _id(case)
            checked += 1
    assert checked == len([c for c in all_cases(CALIBRATION) if c.exact])
