"""Scrubbing secrets and normalising requests for matching."""

from __future__ import annotations

import json
from typing import Any

from convotest.incremental_json import HistoryParser
from convotest.recording.matching import IdCanonicaliser, Shaper, explain_difference, render_diff, request_shape
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


def _manual_bodies(turns: int, secret: str = "") -> list[str]:
    history: list[Any] = []
    bodies = []
    for k in range(turns):
        history.append({"role": "user", "content": f"turn {k} {secret}".strip()})
        bodies.append(json.dumps({"model": "m", "input": list(history), "metadata": {"run": str(k)}}))
        history.append({"type": "message", "id": f"msg_{k:08d}abc", "content": [{"type": "output_text", "text": "ok"}]})
    return bodies


def test_a_continued_history_shapes_as_if_shaped_whole() -> None:
    shaper, ids, parser = Shaper(["metadata"]), IdCanonicaliser(), HistoryParser()
    last = None
    for body in _manual_bodies(5):
        shape = shaper.shape("POST", "http://h/v1/responses", parser.parse(body, "r"), ids, last)
        whole = request_shape("POST", "http://h/v1/responses", body, IdCanonicaliser(), ["metadata"])
        assert shape.key == whole.key
        assert json.loads(shape.body) == whole.parsed_body()
        last = shape
    # The last request keeps only what it added (assistant reply, new user message); the rest is its base's.
    assert shape.history is not None
    assert shape.history.own == (
        '{"content":[{"text":"ok","type":"output_text"}],"id":"<msg#4>","type":"message"}',
        '{"content":"turn 4","role":"user"}',
    )
    assert shape.history.base is not None and shape.history.shared == shape.history.base.count == 7


def test_a_changed_item_anywhere_in_the_history_changes_the_key() -> None:
    bodies = _manual_bodies(4)
    changed = json.loads(bodies[-1])
    changed["input"][3]["content"][0]["text"] = "not ok"
    a = request_shape("POST", "http://h/v1/responses", bodies[-1], IdCanonicaliser())
    b = request_shape("POST", "http://h/v1/responses", json.dumps(changed), IdCanonicaliser())
    assert a.key != b.key
    assert explain_difference(a, b) == ["body.input[3].content[0].text: 'ok' → 'not ok'"]


def test_secrets_in_a_history_are_scrubbed_before_matching() -> None:
    scrub = Scrubber.from_config().text
    live = request_shape("POST", "http://h/v1/r", _manual_bodies(2, "sk-livecanary12345")[-1], IdCanonicaliser())
    shaper = Shaper(scrub=scrub)
    scrubbed_live = shaper.shape(
        "POST", "http://h/v1/r", HistoryParser().parse(_manual_bodies(2, "sk-livecanary12345")[-1]), IdCanonicaliser()
    )
    recorded = shaper.shape(
        "POST", "http://h/v1/r", HistoryParser().parse(_manual_bodies(2, "<redacted>")[-1]), IdCanonicaliser()
    )
    assert scrubbed_live.key == recorded.key != live.key
    assert "sk-livecanary" not in scrubbed_live.body
