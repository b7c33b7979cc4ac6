"""Token counts against the real calibration traffic (see token_table.py and docs/emulator.md)."""

from __future__ import annotations

import pytest
from calibration_reader import cassettes, read
from openai import OpenAI
from token_table import rows

from convotest.emulator.server import EmulatorServer

pytestmark = pytest.mark.skipif(not cassettes(), reason="../shared/calibration is absent")


def test_input_tokens_agree_exactly_for_gpt_4o_and_gpt_4_1(server: EmulatorServer) -> None:
    table = rows(server.base_url)
    exact = [r for r in table if r.exact_family]
    assert len(exact) >= 15
    wrong = [(r.cassette, r.index, r.real, r.emulator) for r in exact if r.real != r.emulator]
    assert not wrong
    # The others (NFKC-altered text, gpt-5 family) stay within a few tokens.
    assert all(abs(r.real - r.emulator) <= 5 for r in table)


def test_cached_tokens_on_a_resent_long_prefix(fresh: object) -> None:
    [path] = [p for p in cassettes() if "test_caching_multi_turn_conversation" in p.name]
    first, second = read(path)[:2]
    srv = fresh()  # type: ignore[operator]
    client = OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
    one = client.responses.create(**first.request)
    assert one.usage is not None and one.usage.input_tokens_details.cached_tokens == 0
    two = client.responses.create(**second.request)
    real = second.response["usage"]["input_tokens_details"]["cached_tokens"]
    assert two.usage is not None and two.usage.input_tokens_details.cached_tokens == real == 3584
