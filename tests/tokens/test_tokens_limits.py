"""The model table, snapshot matching, overrides and the unknown-model error."""

from __future__ import annotations

import pytest

from convotest.errors import ConfigError
from convotest.tokens import MODEL_TABLE, ModelLimits, model_limits


@pytest.mark.parametrize(
    ("model", "window", "max_out", "max_in", "encoding"),
    [
        ("gpt-4o", 128_000, 16_384, None, "o200k_base"),
        ("gpt-4o-mini", 128_000, 16_384, None, "o200k_base"),
        ("gpt-4.1", 1_047_576, 32_768, None, "o200k_base"),
        ("gpt-4.1-mini", 1_047_576, 32_768, None, "o200k_base"),
        ("gpt-4.1-nano", 1_047_576, 32_768, None, "o200k_base"),
        ("o1", 200_000, 100_000, None, "o200k_base"),
        ("o3", 200_000, 100_000, None, "o200k_base"),
        ("o3-mini", 200_000, 100_000, None, "o200k_base"),
        ("o4-mini", 200_000, 100_000, None, "o200k_base"),
        ("gpt-5", 400_000, 128_000, 272_000, "o200k_base"),
        ("gpt-5-mini", 400_000, 128_000, 272_000, "o200k_base"),
        ("gpt-5-nano", 400_000, 128_000, 272_000, "o200k_base"),
        ("gpt-4-turbo", 128_000, 4_096, None, "cl100k_base"),
        ("gpt-4", 8_192, 4_096, None, "cl100k_base"),
        ("gpt-3.5-turbo", 16_385, 4_096, None, "cl100k_base"),
    ],
)
def test_reference_table(model: str, window: int, max_out: int, max_in: int | None, encoding: str) -> None:
    assert model_limits(model) == ModelLimits(window, max_out, max_in, encoding)


def test_table_has_exactly_the_reference_models() -> None:
    assert len(MODEL_TABLE) == 15


@pytest.mark.parametrize(
    ("snapshot", "base"),
    [
        ("gpt-4.1-2025-04-14", "gpt-4.1"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("GPT-4o", "gpt-4o"),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "gpt-4o-mini"),
    ],
)
def test_snapshots_match_the_longest_prefix(snapshot: str, base: str) -> None:
    assert model_limits(snapshot) == MODEL_TABLE[base]


@pytest.mark.parametrize("model", ["gpt-5.4", "gpt-4.5-preview", "gpt-4oo", "o3x", "my-local-model"])
def test_unknown_models_name_the_settings_to_add(model: str) -> None:
    with pytest.raises(ConfigError) as info:
        model_limits(model)
    msg = str(info.value)
    assert f"unknown model {model!r}" in msg
    assert "limits: {context_window: …, max_output_tokens: …}" in msg
    assert "convotest_model_limits" in msg
    assert "convo_config" in msg and "model_limits" in msg


def test_default_covers_unknown_models_only() -> None:
    fallback = ModelLimits(50_000, 1_000)
    assert model_limits("gpt-5.4", default=fallback) == fallback
    assert model_limits("gpt-4o", default=fallback) == MODEL_TABLE["gpt-4o"]


def test_field_overrides_apply_over_the_table() -> None:
    got = model_limits("gpt-4o", overrides={"context_window": 4_000})
    assert got == ModelLimits(4_000, 16_384, None, "o200k_base")
    got = model_limits("gpt-4o-2024-08-06", overrides={"context_window": 4_000, "max_output_tokens": None})
    assert got.max_output_tokens == 16_384


def test_unknown_model_with_both_fields_is_configured() -> None:
    got = model_limits("gpt-5.4", overrides={"context_window": 1_050_000, "max_output_tokens": 128_000})
    assert got == ModelLimits(1_050_000, 128_000, None, "o200k_base")
    assert (
        model_limits(
            "old-model", overrides={"context_window": 4_000, "max_output_tokens": 500, "encoding": "cl100k_base"}
        ).encoding
        == "cl100k_base"
    )


def test_unknown_model_with_one_field_names_the_missing_one() -> None:
    with pytest.raises(ConfigError, match="max_output_tokens not set"):
        model_limits("gpt-5.4", overrides={"context_window": 1_050_000})


def test_per_model_table_overrides() -> None:
    project = {
        "gpt-5.4": {"context_window": 1_050_000, "max_output_tokens": 128_000},
        "gpt-4o": {"context_window": 64_000},
    }
    assert model_limits("gpt-5.4-2026-03-05", overrides=project).context_window == 1_050_000
    assert model_limits("gpt-4o", overrides=project) == ModelLimits(64_000, 16_384, None, "o200k_base")
    assert model_limits("gpt-4.1", overrides=project) == MODEL_TABLE["gpt-4.1"]
    with pytest.raises(ConfigError, match="unknown model 'gpt-6'"):
        model_limits("gpt-6", overrides=project)


def test_project_table_and_scenario_fields_together() -> None:
    # the runner's case: the project's per-model table, then the scenario's own limits on top
    overrides = {"gpt-5.4": {"context_window": 1_050_000, "max_output_tokens": 128_000}, "context_window": 5_000}
    assert model_limits("gpt-5.4-2026-03-05", overrides=overrides) == ModelLimits(5_000, 128_000)
    assert model_limits("gpt-4o", overrides=overrides) == ModelLimits(5_000, 16_384)
    with pytest.raises(ConfigError, match="max_output_tokens not set"):
        model_limits("gpt-6", overrides=overrides)


@pytest.mark.parametrize("bad", [0, -5, "128k", 1.5, True])
def test_invalid_override_values(bad: object) -> None:
    with pytest.raises(ConfigError, match="context_window for 'gpt-4o' must be a positive integer"):
        model_limits("gpt-4o", overrides={"context_window": bad})


def test_unknown_setting_in_a_per_model_entry() -> None:
    with pytest.raises(ConfigError, match="unknown model limit setting"):
        model_limits("gpt-4o", overrides={"gpt-4o": {"window": 5}})


def test_input_limit() -> None:
    assert model_limits("gpt-5").input_limit == 272_000
    assert model_limits("gpt-4o").input_limit == 128_000
