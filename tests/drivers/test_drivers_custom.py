"""Custom drivers (``driver: "pkg.mod:Name"``, mode ``custom``): loading errors and the calling contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from convotest.drivers.custom import CustomDriver
from convotest.errors import ConfigError, DriverError

pytestmark = pytest.mark.usefixtures("drivers_on_path")


def where(h: Any) -> str:
    """How errors name the scenario's driver line (``build`` puts ``driver`` on line 4)."""
    return f"{h.build('x').path}:4: scenario 'drivers-test'"


def test_the_worked_example_drives_through_the_harness_client(run: Any, h: Any) -> None:
    scenario = h.build(
        "My name is Ada.", "I like tea.", "What is my name?", driver="custom_examples.support_bot:SupportBot"
    )
    result, traffic = run(scenario, "custom")
    assert result.error is None
    assert [h.seen(r) for r in result.replies] == [1, 3, 5]
    # Its own requests went through the harness's client, so they are observed and tagged by turn.
    assert [(e.path, e.turn) for e in traffic.exchanges] == [("/v1/responses", i) for i in range(3)]
    assert traffic.exchanges[2].request["previous_response_id"] == traffic.exchanges[1].response["id"]


def test_driver_argument_overrides_the_scenario(run: Any, h: Any) -> None:
    scenario = h.build("hi", driver="custom_examples.odd:NoSend")
    result, _ = run(scenario, "custom", driver="custom_examples.support_bot:SupportBot")
    assert result.error is None


def test_constructor_may_take_the_scenario(run: Any, h: Any) -> None:
    scenario = h.build(
        "hi", "again", model="gpt-4.1-nano", instructions="Be terse.", driver="custom_examples.support_bot:ScenarioBot"
    )
    result, traffic = run(scenario, "custom")
    assert result.error is None
    assert traffic.exchanges[0].request["model"] == "gpt-4.1-nano"
    assert traffic.exchanges[1].request["instructions"] == "Be terse."


def test_input_turns_use_send_messages_and_compact_steps_use_compact(run: Any, h: Any) -> None:
    scenario = h.build(
        "alpha",
        [("developer", "Be terse."), ("user", "beta")],
        h.Compact(),
        "gamma",
        driver="custom_examples.support_bot:SupportBot",
    )
    result, traffic = run(scenario, "custom")
    assert result.error is None
    assert traffic.exchanges[1].request["input"] == [
        {"role": "developer", "content": "Be terse."},
        {"role": "user", "content": "beta"},
    ]
    assert [(e.path, e.turn) for e in traffic.exchanges][2:] == [("/v1/responses/compact", 2), ("/v1/responses", 3)]
    assert result.replies[2] is None
    assert h.seen(result.replies[3]) == 6


def test_async_drivers_are_awaited_with_an_async_client(run: Any, h: Any) -> None:
    scenario = h.build("one", "two", driver="custom_examples.support_bot:AsyncSupportBot")
    result, traffic = run(scenario, "custom", use_async=True)
    assert result.error is None
    assert [h.seen(r) for r in result.replies] == [1, 3]
    assert len(traffic.exchanges) == 2


def test_missing_send_messages_fails_the_input_turn_by_name(run: Any, h: Any) -> None:
    scenario = h.build("alpha", [("user", "a"), ("user", "b")], driver="custom_examples.support_bot:AsyncSupportBot")
    result, _ = run(scenario, "custom", use_async=True)
    assert result.error is not None and result.error.turn == 1
    assert isinstance(result.error.exception, DriverError)
    assert str(result.error.exception) == (
        "turn 2 (input: [user: 'a', user: 'b']) sends 2 messages but driver "
        "'custom_examples.support_bot:AsyncSupportBot' (AsyncSupportBot) has no send_messages(messages) method"
    )


def test_missing_compact_fails_the_compact_step_by_name(run: Any, h: Any) -> None:
    scenario = h.build("alpha", h.Compact("keep names"), driver="custom_examples.support_bot:AsyncSupportBot")
    result, _ = run(scenario, "custom", use_async=True)
    assert result.error is not None and result.error.turn == 1
    assert str(result.error.exception) == (
        "turn 2 (compact (instructions: 'keep names')) is a compact step but driver "
        "'custom_examples.support_bot:AsyncSupportBot' (AsyncSupportBot) has no compact() method"
    )


def test_send_must_return_the_reply_text(run: Any, h: Any) -> None:
    result, _ = run(h.build("alpha", driver="custom_examples.odd:ReturnsNone"), "custom")
    assert result.error is not None and result.error.turn == 0
    assert str(result.error.exception) == (
        "driver 'custom_examples.odd:ReturnsNone': send() returned NoneType, expected the reply text (str)"
    )


def test_an_exception_stops_the_run_at_its_turn(run: Any, h: Any) -> None:
    result, traffic = run(h.build("one", "two", "three", driver="custom_examples.odd:FailsOnSecondTurn"), "custom")
    assert result.error is not None
    assert result.error.turn == 1
    assert isinstance(result.error.exception, ValueError)
    assert len(result.replies) == 1
    assert len(traffic.exchanges) == 1


def test_keyboard_interrupt_is_never_swallowed(run: Any, h: Any) -> None:
    with pytest.raises(KeyboardInterrupt):
        run(h.build("one", driver="custom_examples.odd:Interrupted"), "custom")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "custom_examples.support_bot",
            "driver 'custom_examples.support_bot' must look like \"package.module:ClassName\"",
        ),
        (":SupportBot", "driver ':SupportBot' must look like \"package.module:ClassName\""),
        ("a:b:c", "driver 'a:b:c' must look like \"package.module:ClassName\""),
        (
            "custom_examples.nope:Bot",
            "driver 'custom_examples.nope:Bot': cannot import module 'custom_examples.nope': "
            "ModuleNotFoundError: No module named 'custom_examples.nope'",
        ),
        (
            "custom_examples.import_fails:Bot",
            "driver 'custom_examples.import_fails:Bot': cannot import module 'custom_examples.import_fails': "
            "ModuleNotFoundError: No module named 'convotest_no_such_dependency'",
        ),
        (
            "custom_examples.support_bot:SuportBot",
            "driver 'custom_examples.support_bot:SuportBot': module 'custom_examples.support_bot' "
            "has no attribute 'SuportBot'",
        ),
        (
            "custom_examples.odd:NOT_A_CLASS",
            "driver 'custom_examples.odd:NOT_A_CLASS': 'NOT_A_CLASS' is not a class (got int); "
            "expected a class with a send(text) method",
        ),
        (
            "custom_examples.odd:make_bot",
            "driver 'custom_examples.odd:make_bot': 'make_bot' is not a class (got function); "
            "expected a class with a send(text) method",
        ),
        ("custom_examples.odd:NoSend", "driver 'custom_examples.odd:NoSend': class NoSend has no send(text) method"),
        (
            "custom_examples.odd:TooManyArgs",
            "driver 'custom_examples.odd:TooManyArgs': TooManyArgs(client, database, cache) "
            "must accept the client as its only required argument, or (client, scenario)",
        ),
    ],
)
def test_loading_errors_name_the_scenario_and_the_driver(run: Any, h: Any, spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        run(h.build("hi", driver=spec), "custom")
    assert str(info.value) == f"{where(h)}: {message}"


def test_a_constructor_that_raises_is_a_driver_error(run: Any, h: Any) -> None:
    with pytest.raises(DriverError) as info:
        run(h.build("hi", driver="custom_examples.odd:ExplodingInit"), "custom")
    assert str(info.value) == (
        f"{where(h)}: driver 'custom_examples.odd:ExplodingInit': "
        "ExplodingInit(…) raised RuntimeError: missing SUPPORT_DB_URL"
    )


def test_mode_custom_needs_a_driver(run: Any, h: Any) -> None:
    scenario = h.build("hi")
    with pytest.raises(ConfigError) as info:
        run(scenario, "custom")
    assert str(info.value) == (
        f"{scenario.path}:1: scenario 'drivers-test': mode 'custom' needs a driver: "
        'set driver: "package.module:ClassName" in the scenario'
    )


def test_built_in_modes_ignore_the_custom_driver(run: Any, h: Any) -> None:
    result, traffic = run(h.build("hi", driver="custom_examples.odd:NoSend"), "manual_chat", driver="x.y:Z")
    assert result.error is None
    assert traffic.exchanges[0].path == "/v1/chat/completions"


def test_custom_driver_class_attributes() -> None:
    assert (CustomDriver.name, CustomDriver.api) == ("custom", "custom")


def docs_example_yaml() -> str:
    """The scenario of docs/custom-drivers.md's worked example, pointed at the tested copy of SupportBot."""
    text = (Path(__file__).parents[2] / "docs" / "custom-drivers.md").read_text()
    block = text.split("```yaml\nversion: 1\n", 1)[1].split("```", 1)[0]
    return ("version: 1\n" + block).replace('"support.bot:SupportBot"', '"custom_examples.support_bot:SupportBot"')


def test_the_documented_worked_example_passes_through_the_runner(emulator_url: str, tmp_path: Path) -> None:
    runner = pytest.importorskip("convotest.runner")
    loader = pytest.importorskip("convotest.scenario.loader")
    path = tmp_path / "support.convo.yaml"
    path.write_text(docs_example_yaml())
    (scenario,) = loader.load_file(path)
    result = runner.run(scenario, "custom", runner.Settings(live=True, base_url=emulator_url, api_key="sk-test"))
    assert result.failures == []
    assert [t.endpoint for t in result.transcript.turns] == ["responses", "responses", "compact", "responses"]


def test_the_documented_worked_example_catches_a_forgotten_response_id(
    emulator_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = pytest.importorskip("convotest.runner")
    loader = pytest.importorskip("convotest.scenario.loader")
    from custom_examples import support_bot

    def forgetful(self: Any, messages: list[dict[str, Any]]) -> str:
        response = self.client.responses.create(model=self.model, instructions=self.instructions, input=messages)
        return response.output_text  # forgot: self.last_id = response.id

    monkeypatch.setattr(support_bot.SupportBot, "send_messages", forgetful)
    path = tmp_path / "support.convo.yaml"
    path.write_text(docs_example_yaml())
    (scenario,) = loader.load_file(path)
    result = runner.run(scenario, "custom", runner.Settings(live=True, base_url=emulator_url, api_key="sk-test"))
    headlines = [f.headline() for f in result.failures]
    assert f"{path}:17: turn 4 [custom]: no context message contains '#123' (1 messages)" in headlines


def test_an_async_driver_that_needs_a_loop_fails_its_turn_under_a_sync_client(run: Any, h: Any) -> None:
    result, _ = run(h.build("one", driver="custom_examples.odd:NeedsEventLoop"), "custom")
    assert result.error is not None and result.error.turn == 0
    assert isinstance(result.error.exception, DriverError)
    assert str(result.error.exception) == (
        "the driver awaited something that needs an event loop while driving a synchronous OpenAI client; "
        "use ClientOptions(use_async=True) for async drivers"
    )
    result, _ = run(h.build("one", driver="custom_examples.odd:NeedsEventLoop"), "custom", use_async=True)
    assert result.error is None and result.replies == ["one"]


@pytest.mark.parametrize("name", ["ScenarioByName", "ScenarioSecondByName"])
def test_a_parameter_named_scenario_gets_the_scenario(run: Any, h: Any, name: str) -> None:
    result, _ = run(h.build("hi", driver=f"custom_examples.odd:{name}"), "custom")
    assert result.error is None
    assert result.replies == ["gpt-4.1 drivers-test"]
