"""Deliberately broken custom drivers (tests/drivers/broken/) reproduce field bugs; each must be visible.

For each bug: (1) the effect on the wire and in the emulator's reply, asserted directly on the traffic, and
(2) a scenario with ordinary expectations, run through ``convotest.runner.run``, fails with a clear message
at the right turn. The correct built-in mode passes the same scenario, so the scenario is not just failing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from convotest import runner
from convotest.scenario.loader import load_text

pytestmark = pytest.mark.usefixtures("drivers_on_path")

THREE = """
version: 1
name: {name}
model: {model}
{extra}
turns:
  - user: "My name is Ada."
  - user: "I like tea."
    expect:
      context:
        messages: 3
  - user: "What is my name?"
    expect:
      reply:
        contains: ["I have seen 5 messages.", 'You first said: "My name is Ada.".']
      context:
        messages: 5
        roles: [user, assistant, user, assistant, user]
{context3}
"""


def scenario(tmp_path: Path, name: str, *, extra: str = "", context3: str = "") -> Any:
    """The three-turn "what is my name" scenario, loaded from YAML like a user's file.

    ``extra`` adds top-level lines; ``context3`` adds lines to turn 3's ``expect.context``.
    """
    path = tmp_path / f"{name}.convo.yaml"
    text = THREE.format(name=name, model="gpt-4.1", extra=extra, context3=context3)
    path.write_text(text)
    (loaded,) = load_text(text, str(path))
    return loaded


def runner_failures(sc: Any, mode: str, url: str, driver: str | None = None) -> list[Any]:
    result = runner.run(sc, mode, runner.Settings(live=True, base_url=url, api_key="sk-test"), driver=driver)
    return result.failures


def headlines(failures: list[Any]) -> list[str]:
    return [f.message for f in failures]


def test_history_not_appended_loses_turns(run: Any, h: Any, emulator_url: str, tmp_path: Path) -> None:
    result, traffic = run(
        h.build("My name is Ada.", "I like tea.", "What is my name?", driver="broken.lost_reply:Bot"), "custom"
    )
    assert result.error is None
    # The assistant replies never reach the next request: 1, 2, 3 messages instead of 1, 3, 5.
    assert [len(e.request["messages"]) for e in traffic.exchanges] == [1, 2, 3]
    assert [h.seen(r) for r in result.replies] == [1, 2, 3]

    sc = scenario(tmp_path, "lost_reply", extra='driver: "broken.lost_reply:Bot"')
    assert runner_failures(sc, "manual_chat", emulator_url, driver=None) == []  # the correct mode passes
    failures = runner_failures(sc, "custom", emulator_url)
    assert [(f.check, f.turn) for f in failures] == [
        ("context.messages", 1),
        ("reply.contains", 2),
        ("context.messages", 2),
        ("context.roles", 2),
    ]
    messages = headlines(failures)
    assert "context has 2 messages, expected 3" in messages[0]
    assert "I have seen 3 messages." in messages[1]


def test_previous_response_id_ignored(run: Any, h: Any, emulator_url: str, tmp_path: Path) -> None:
    result, traffic = run(h.build("My name is Ada.", "What is my name?", driver="broken.no_previous_id:Bot"), "custom")
    assert all("previous_response_id" not in e.request for e in traffic.exchanges)
    assert result.replies[1].startswith('I have seen 1 messages. You first said: "What is my name?".')

    sc = scenario(tmp_path, "no_previous_id", extra='driver: "broken.no_previous_id:Bot"')
    assert runner_failures(sc, "previous_response_id", emulator_url, driver=None) == []
    failures = runner_failures(sc, "custom", emulator_url)
    assert {f.turn for f in failures} == {1, 2}
    assert any("I have seen 1 messages." in m for m in headlines(failures))
    assert any("context has 1 messages, expected 5" in m for m in headlines(failures))


def test_previous_response_id_pointing_at_an_older_response(
    run: Any, h: Any, emulator_url: str, tmp_path: Path
) -> None:
    result, traffic = run(
        h.build("My name is Ada.", "I like tea.", "What is my name?", driver="broken.stale_previous_id:Bot"), "custom"
    )
    first, second, third = traffic.exchanges
    # Turn 3 chains to turn 1's response, not turn 2's: the chain forks and turn 2 is lost.
    assert third.request["previous_response_id"] == first.response["id"] != second.response["id"]
    assert [h.seen(r) for r in result.replies] == [1, 3, 3]

    sc = scenario(tmp_path, "stale_previous_id", extra='driver: "broken.stale_previous_id:Bot"')
    failures = runner_failures(sc, "custom", emulator_url)
    assert {f.turn for f in failures} == {2}  # turn 2 is still right; turn 3 is where it shows
    assert "context has 3 messages, expected 5 (roles: user, assistant, user)" in headlines(failures)


def test_store_false_with_item_references_is_a_404(run: Any, h: Any, emulator_url: str, tmp_path: Path) -> None:
    result, traffic = run(h.build("My name is Ada.", "What is my name?", driver="broken.item_references:Bot"), "custom")
    assert result.error is not None and result.error.turn == 1
    second = traffic.exchanges[1]
    assert second.status == 404
    assert second.request["input"][1] == {
        "type": "item_reference",
        "id": traffic.exchanges[0].response["output"][0]["id"],
    }
    assert "Items are not persisted when `store` is set to false" in second.response["error"]["message"]

    sc = scenario(tmp_path, "item_references", extra='driver: "broken.item_references:Bot"')
    (failure,) = runner_failures(sc, "custom", emulator_url)
    assert (failure.check, failure.turn) == ("driver", 1)
    assert "404" in failure.message and "Items are not persisted when `store` is set to false" in failure.message


def test_reasoning_items_dropped(run: Any, h: Any, tmp_path: Path) -> None:
    reconstruct = pytest.importorskip("convotest.reconstruct")
    scenario_ = h.build(
        "My name is Ada.", "I like tea.", "What is my name?", model="gpt-5-mini", driver="broken.drops_reasoning:Bot"
    )
    _, broken = run(scenario_, "custom")
    _, correct = run(
        h.build("My name is Ada.", "I like tea.", "What is my name?", model="gpt-5-mini"), "manual_responses"
    )
    # Every output had a reasoning item (with encrypted content) ...
    for e in broken.exchanges:
        assert e.response["output"][0]["type"] == "reasoning" and e.response["output"][0]["encrypted_content"]
    # ... and none was sent back, where the correct driver sends each one back.
    assert not any(item.get("type") == "reasoning" for e in broken.exchanges for item in e.request["input"])
    kinds = lambda traffic: [[c.kind for c in t.context] for t in reconstruct.build_transcript(traffic.exchanges).turns]  # noqa: E731
    assert kinds(correct)[2] == ["message", "reasoning", "message", "message", "reasoning", "message", "message"]
    assert kinds(broken)[2] == ["message"] * 5
    # The emulator (like the API for plain-text turns) still answers, so message counts cannot show it:
    # only the reconstructed context does; expect.context.reasoning_items catches it (test below).


def test_reasoning_resent_without_include_is_a_404(run: Any, h: Any) -> None:
    scenario_ = h.build(
        "My name is Ada.", "What is my name?", model="gpt-5-mini", driver="broken.reasoning_without_include:Bot"
    )
    result, traffic = run(scenario_, "custom")
    assert "encrypted_content" not in traffic.exchanges[0].response["output"][0]
    assert result.error is not None and result.error.turn == 1
    assert traffic.exchanges[1].status == 404


def test_instructions_not_resent_on_a_chain(run: Any, h: Any, emulator_url: str, tmp_path: Path) -> None:
    scenario_ = h.build(
        "My name is Ada.", "What is my name?", instructions="Answer in French.", driver="broken.instructions_once:Bot"
    )
    _, traffic = run(scenario_, "custom")
    assert [e.request.get("instructions") for e in traffic.exchanges] == ["Answer in French.", None]
    assert [e.response["instructions"] for e in traffic.exchanges] == ["Answer in French.", None]

    sc = scenario(
        tmp_path,
        "instructions_once",
        extra='driver: "broken.instructions_once:Bot"\ninstructions: Answer in French.',
        context3="        instructions: Answer in French.",
    )
    assert runner_failures(sc, "previous_response_id", emulator_url, driver=None) == []
    failures = runner_failures(sc, "custom", emulator_url)
    assert [(f.check, f.turn) for f in failures] == [("context.instructions", 2)]


def test_conversation_id_reused_across_scenarios(run: Any, h: Any, emulator_url: str, tmp_path: Path) -> None:
    first, first_traffic = run(h.build("My name is Ada.", driver="broken.cached_conversation:Bot"), "custom")
    second, second_traffic = run(h.build("My name is Bob.", driver="broken.cached_conversation:Bot"), "custom")
    assert h.seen(first.replies[0]) == 1
    # The second scenario (a different user!) lands in the first one's conversation.
    assert all(e.path != "/v1/conversations" for e in second_traffic.exchanges)
    assert second_traffic.exchanges[0].request["conversation"] == first_traffic.exchanges[0].response["id"]
    assert second.replies[0].startswith('I have seen 3 messages. You first said: "My name is Ada.".')

    sc = scenario(tmp_path, "cached_conversation", extra='driver: "broken.cached_conversation:Bot"')
    # Run after the two scenarios above: the module cache still holds their conversation (4 messages).
    failures = runner_failures(sc, "custom", emulator_url)
    assert [(f.check, f.turn) for f in failures] == [
        ("context.messages", 1),
        ("reply.contains", 2),
        ("context.messages", 2),
        ("context.roles", 2),
    ]
    conversation = first_traffic.exchanges[0].response["id"]
    assert f"conversation {conversation} was created before this traffic" in failures[0].message
    assert "got 'I have seen 9 messages." in failures[1].message


def test_reasoning_items_dropped_fails_the_scenario(tmp_path: Path, emulator_url: str) -> None:
    # expect.context.reasoning_items: the correct manual_responses driver resends both reasoning items.
    text = THREE.format(name="reasoning", model="gpt-5-mini", extra="", context3="        reasoning_items: 2")
    path = tmp_path / "reasoning.convo.yaml"
    path.write_text(text)
    (sc,) = load_text(text, str(path))
    assert runner_failures(sc, "manual_responses", emulator_url) == []

    broken = load_text(text.replace("turns:", 'driver: "broken.drops_reasoning:Bot"\nturns:'), str(path))[0]
    (failure,) = runner_failures(broken, "custom", emulator_url)
    assert (failure.check, failure.turn, failure.mode) == ("context.reasoning_items", 2, "custom")
    assert failure.message == "context has 0 reasoning items, expected 2"
    # The driver line inserted above turns puts reasoning_items on line 20.
    assert failure.loc is not None and (failure.loc.line, failure.loc.column) == (20, 9)
