"""Scrubbing secrets and normalising requests for matching."""

from __future__ import annotations

import json

from convotest.recording.matching import IdCanonicaliser, explain_difference, render_diff, request_shape
from convotest.recording.scrub import Scrubber


def test_sensitive_headers_are_dropped_and_keys_redacted_everywhere() -> None:
    scrub = Scrubber.from_config(values=["org-canary123"])
    headers = scrub.header_map(
        {"Authorization": "Bearer sk-abcdefghijklmnop", "Set-Cookie": ["a=b"], "x-note": "key sk-abcdefghijklmnop"}
    )
    assert headers == {"x-note": "key <redacted>"}
    assert scrub.text('{"k": "sk-proj-AbC_12345678", "o": "org-canary123"}') == '{"k": "<redacted>", "o": "<redacted>"}'
    assert scrub.uri("http://u:p@h/v1/x?api_key=sk-abcdefghijkl&a=1") == "http://h/v1/x?api_key=%3Credacted%3E&a=1"


def test_user_patterns_and_headers_extend_the_defaults() -> None:
    scrub = Scrubber.from_config(extra_headers=["X-Internal"], extra_patterns=[r"tok_[0-9]+"])
    assert scrub.header_map({"x-internal": "1", "other": "tok_123"}) == {"other": "<redacted>"}


def test_server_ids_are_canonical_by_first_appearance() -> None:
    a, b = IdCanonicaliser(), IdCanonicaliser()
    first = request_shape("POST", "http://h/v1/responses", json.dumps({"previous_response_id": "resp_aaaaaaaa1"}), a)
    second = request_shape(
        "post", "http://other:9/v1/responses/", json.dumps({"previous_response_id": "resp_bbbbbbbb2"}), b
    )
    assert first.key == second.key
    assert first.body == '{"previous_response_id":"<resp#1>"}'


def test_volatile_fields_are_ignored() -> None:
    ids = IdCanonicaliser()
    one = request_shape("POST", "http://h/v1/r", json.dumps({"a": 1, "metadata": {"run": "x"}}), ids, ["metadata"])
    two = request_shape("POST", "http://h/v1/r", json.dumps({"a": 1, "metadata": {"run": "y"}}), ids, ["metadata"])
    assert one.key == two.key


def test_difference_is_rendered_as_body_paths() -> None:
    recorded = {"input": [{"role": "user", "content": "Apple."}, {"role": "user", "content": "Orange."}]}
    sent = {"input": [{"role": "user", "content": "Apple."}, {"role": "user", "content": "Banana."}]}
    assert render_diff(recorded, sent) == ["body.input[1].content: 'Orange.' → 'Banana.'"]
    ids = IdCanonicaliser()
    lines = explain_difference(
        request_shape("POST", "http://h/v1/responses", json.dumps(recorded), ids),
        request_shape("POST", "http://h/v1/chat/completions", json.dumps({**sent, "extra": 1}), ids),
    )
    assert lines == [
        "request: POST /v1/responses → POST /v1/chat/completions",
        "body.input[1].content: 'Orange.' → 'Banana.'",
        "body.extra: unexpected 1",
    ]


def test_a_literal_secret_cut_short_by_an_ellipsis_is_still_removed() -> None:
    scrub = Scrubber.from_config(values=["tok-supersecret-123456"])
    assert scrub.text("reply: 'my token is tok-supersecr…'") == "reply: 'my token is <redacted>'"
    assert scrub.text("tok-supersecret-123456") == "<redacted>"
    # Fewer than six characters of it say nothing of the secret; text without the ellipsis is left alone.
    assert scrub.text("tok-s…") == "tok-s…"
    assert scrub.text("tok-super is fine") == "tok-super is fine"
