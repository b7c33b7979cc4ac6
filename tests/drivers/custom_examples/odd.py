"""Custom drivers that are wrong in the ways the loader and adapter must report clearly."""

from __future__ import annotations

from typing import Any

import openai

NOT_A_CLASS = 42


def make_bot(client: Any) -> None:
    """A factory function, not a class."""


class NoSend:
    """Has no send()."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def chat(self, text: str) -> str:
        """Named differently."""
        return text


class TooManyArgs:
    """Needs arguments the harness cannot give."""

    def __init__(self, client: Any, database: Any, cache: Any) -> None:
        self.client = client

    def send(self, text: str) -> str:
        """Never reached."""
        return text


class ExplodingInit:
    """Fails while being built."""

    def __init__(self, client: Any) -> None:
        raise RuntimeError("missing SUPPORT_DB_URL")

    def send(self, text: str) -> str:
        """Never reached."""
        return text


class ReturnsNone:
    """Forgets to return the reply."""

    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client

    def send(self, text: str) -> None:
        """Sends, returns nothing."""
        self.client.responses.create(model="gpt-4.1", input=text)


class FailsOnSecondTurn:
    """Works once, then raises."""

    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client
        self.turns = 0

    def send(self, text: str) -> str:
        """Send, or fail on the second call."""
        self.turns += 1
        if self.turns == 2:
            raise ValueError("database unavailable")
        return self.client.responses.create(model="gpt-4.1", input=text).output_text


class Interrupted:
    """The user presses Ctrl-C during a turn."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def send(self, text: str) -> str:
        """Interrupt."""
        raise KeyboardInterrupt


class NeedsEventLoop:
    """An async driver that really awaits the event loop, given a sync client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def send(self, text: str) -> str:
        """Yield to the loop."""
        import asyncio

        await asyncio.sleep(0)
        return text


class ScenarioByName:
    """Takes the scenario by name, after a defaulted parameter."""

    def __init__(self, client: Any, model: str = "gpt-4.1", *, scenario: Any = None) -> None:
        self.client = client
        self.model = model
        self.scenario = scenario

    def send(self, text: str) -> str:
        """Report what it was given."""
        return f"{self.model} {self.scenario.name}"


class ScenarioSecondByName:
    """Takes the scenario by name as its (defaulted) second parameter."""

    def __init__(self, client: Any, scenario: Any = None, model: str = "gpt-4.1") -> None:
        self.scenario = scenario
        self.model = model

    def send(self, text: str) -> str:
        """Report what it was given."""
        return f"{self.model} {self.scenario.name}"
