"""Runs that name themselves (``x-convotest-run``) get the same ids whatever else the server handled."""

from __future__ import annotations

from typing import Any

import httpx2

from convotest.emulator.server import EmulatorServer


def _chain(client: httpx2.Client, base: str, run: str | None) -> list[Any]:
    headers = {"authorization": "Bearer sk-test", **({"x-convotest-run": run} if run else {})}
    first = client.post(f"{base}/responses", json={"model": "gpt-4o-mini", "input": "Hi"}, headers=headers)
    second = client.post(
        f"{base}/responses",
        json={"model": "gpt-4o-mini", "input": "Again", "previous_response_id": first.json()["id"]},
        headers=headers,
    )
    return [
        (r.json()["id"], r.json()["created_at"], r.json()["output"][0]["id"], r.headers["x-request-id"])
        for r in (first, second)
    ]


def test_a_named_run_is_reproduced_after_other_traffic() -> None:
    with EmulatorServer() as fresh, httpx2.Client() as client:
        alone = _chain(client, fresh.base_url, "jokes/jokes[previous_response_id]")
    with EmulatorServer() as busy, httpx2.Client() as client:
        _chain(client, busy.base_url, None)
        _chain(client, busy.base_url, "other/other[previous_response_id]")
        after_others = _chain(client, busy.base_url, "jokes/jokes[previous_response_id]")
        # The same run again on the same server continues its own counter: fresh ids, no collision.
        again = _chain(client, busy.base_url, "jokes/jokes[previous_response_id]")
    assert after_others == alone
    assert {row[0] for row in again}.isdisjoint(row[0] for row in alone)


def test_unnamed_traffic_shares_one_counter() -> None:
    with EmulatorServer() as server, httpx2.Client() as client:
        one = _chain(client, server.base_url, None)
        two = _chain(client, server.base_url, None)
    assert {row[0] for row in one}.isdisjoint(row[0] for row in two)
