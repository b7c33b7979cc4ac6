"""State: determinism, SQLite persistence across restarts, fault injection, concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from openai import OpenAI

from convotest.emulator import EmulatorConfig, FaultConfig
from convotest.emulator.server import EmulatorServer
from convotest.errors import ConfigError


def _script(base_url: str) -> list[bytes]:
    """A fixed request sequence; the raw bodies of its answers."""
    client = OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    bodies = []
    first = client.responses.with_raw_response.create(model="gpt-5-mini", input="hello", instructions="I")
    bodies.append(first.http_response.content)
    rid = first.http_response.json()["id"]
    nxt = client.responses.with_raw_response.create(model="gpt-5-mini", input="again", previous_response_id=rid)
    bodies.append(nxt.http_response.content)
    conv = client.conversations.with_raw_response.create(items=[{"role": "user", "content": "c"}])
    bodies.append(conv.http_response.content)
    cid = conv.http_response.json()["id"]
    bodies.append(client.responses.with_raw_response.create(model="gpt-4o", input="q", conversation=cid).content)
    bodies.append(client.conversations.items.with_raw_response.list(cid).content)
    chat = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    bodies.append(chat.http_response.content)
    bodies.append(client.responses.with_raw_response.compact(model="gpt-4o", previous_response_id=rid).content)
    return bodies


def test_same_requests_give_byte_identical_answers(fresh: Any) -> None:
    one = _script(fresh().base_url)
    two = _script(fresh().base_url)
    assert one == two
    other = _script(fresh(seed=7).base_url)
    assert other != one and len(other) == len(one)


def test_state_survives_a_restart(tmp_path: Path, fresh: Any) -> None:
    db = str(tmp_path / "state.db")
    srv = fresh(db=db)
    client = OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
    conv = client.conversations.create(metadata={"k": "v"})
    first = client.responses.create(model="gpt-4o", input="before restart", conversation=conv.id)
    chained = client.responses.create(model="gpt-4o", input="chain start")
    srv.stop()

    again = fresh(db=db)
    client = OpenAI(base_url=again.base_url, api_key="sk-test", max_retries=0)
    assert client.conversations.retrieve(conv.id).metadata == {"k": "v"}
    assert client.responses.retrieve(first.id).output_text == first.output_text
    later = client.responses.create(model="gpt-4o", input="after restart", conversation=conv.id)
    assert later.output_text.startswith('I have seen 3 messages. You first said: "before restart".')
    follow = client.responses.create(model="gpt-4o", input="chain end", previous_response_id=chained.id)
    assert follow.output_text.startswith('I have seen 3 messages. You first said: "chain start".')
    ids = [i.id for i in client.conversations.items.list(conv.id)]
    assert len(ids) == len(set(ids)) == 4  # the id counter was persisted: no id is reused


def test_a_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a sqlite database at all" * 100)
    with pytest.raises(ConfigError) as info:
        EmulatorServer(EmulatorConfig(db=str(bad)))
    assert str(bad) in str(info.value) and "Traceback" not in str(info.value)
    with pytest.raises(ConfigError):
        EmulatorServer(EmulatorConfig(db=str(tmp_path / "missing-dir" / "x.db")))


def test_rate_limit_on_the_first_request_is_retried_by_the_sdk(fresh: Any) -> None:
    srv = fresh(faults=FaultConfig(status=429, first=2, retry_after=0.0))
    raw = httpx2.post(srv.base_url + "/responses", headers={"authorization": "Bearer k"}, json={})
    assert raw.status_code == 429 and raw.headers["retry-after"] == "0"
    assert raw.json()["error"]["code"] == "rate_limit_exceeded"
    # Request 2 (the SDK's first try) is rate limited too; its automatic retry (request 3) succeeds.
    client = OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=2)
    raw_ok = client.responses.with_raw_response.create(model="gpt-4o", input="ok")
    assert raw_ok.retries_taken == 1 and raw_ok.parse().status == "completed"


def test_every_nth_request_fails(fresh: Any) -> None:
    srv = fresh(faults=FaultConfig(status=503, every=3, paths=("/v1/responses",)))
    client = OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
    first = client.responses.create(model="gpt-4o", input="1")
    client.conversations.create()  # request 2: not a faulted path
    with pytest.raises(openai.InternalServerError) as info:
        client.responses.create(model="gpt-4o", input="2", previous_response_id=first.id)  # request 3
    assert info.value.status_code == 503
    # A failed request changes nothing: the chain continues as if it never happened.
    nxt = client.responses.create(model="gpt-4o", input="2", previous_response_id=first.id)
    assert nxt.output_text.startswith("I have seen 3 messages.")


def test_concurrent_conversations_stay_separate(server: EmulatorServer) -> None:
    client = OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)

    def converse(n: int) -> str:
        conv = client.conversations.create()
        previous = None
        text = ""
        for turn in range(3):
            if n % 2:
                r = client.responses.create(model="gpt-4o-mini", input=f"c{n} t{turn}", conversation=conv.id)
            else:
                kwargs: dict[str, Any] = {"previous_response_id": previous} if previous else {}
                r = client.responses.create(model="gpt-4o-mini", input=f"c{n} t{turn}", **kwargs)
            previous = r.id
            text = r.output_text
        return text

    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(converse, range(64)))
    for n, text in enumerate(results):
        assert text == f'I have seen 5 messages. You first said: "c{n} t0". You just said: "c{n} t2".'


def test_a_busy_port_is_a_clear_error(server: EmulatorServer) -> None:
    from convotest.emulator.server import serve

    with pytest.raises(ConfigError) as info:
        serve("127.0.0.1", server.port)
    assert f"cannot listen on 127.0.0.1:{server.port}" in str(info.value)
    with pytest.raises(ConfigError):
        EmulatorServer(port=server.port)
