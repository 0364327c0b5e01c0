"""UPSTREAMS (JSON) and UPSTREAMS_FILE (TOML): what an operator writes, what the node understands, and refusals
that name the upstream and the field without echoing its key."""

from pathlib import Path

import pytest

from app.settings import ConfigError, Settings, load_settings
from app.upstream.client import auth_headers
from app.upstream.config import (
    ALL_MODELS,
    InvalidUpstreamConfig,
    ModelSelection,
    UpstreamSpec,
    load_upstreams_file,
    parse_upstreams_json,
)

SECRET = "sk-or-v1-do-not-print-me"
TOML = f"""
[[upstream]]
name = "openrouter"
base_url = "https://openrouter.ai/api/v1/"
api_key = "{SECRET}"
kind = "openrouter"
markup = 1.2

[[upstream]]
name = "local"
base_url = "http://127.0.0.1:8000/v1"
kind = "vllm"
weight = 3
models = {{"local/" = ""}}
"""


def test_a_toml_file_and_the_same_in_json_give_the_same_upstreams(tmp_path: Path) -> None:
    path = tmp_path / "upstreams.toml"
    path.write_text(TOML)
    as_json = (
        f'[{{"name": "openrouter", "base_url": "https://openrouter.ai/api/v1/", "api_key": "{SECRET}",'
        ' "kind": "openrouter", "markup": 1.2}, {"name": "local", "base_url": "http://127.0.0.1:8000/v1",'
        ' "kind": "vllm", "weight": 3, "models": {"local/": ""}}]'
    )

    specs = load_upstreams_file(path)

    assert specs == parse_upstreams_json(as_json)
    assert specs[0] == UpstreamSpec(
        "openrouter", "https://openrouter.ai/api/v1", SECRET, "openrouter", ALL_MODELS, 1, 1.2
    )
    assert specs[1].models == ModelSelection(prefixes=(("local/", ""),)) and specs[1].weight == 3
    assert SECRET not in repr(specs)


def test_a_prefix_map_translates_ids_both_ways_and_a_list_keeps_only_its_models() -> None:
    prefixed = ModelSelection(prefixes=(("openai/o1/", "o1-"), ("openai/", "")))
    listed = ModelSelection(listed=frozenset({"gpt-4o"}))

    assert prefixed.sold_id("gpt-4o") == "openai/gpt-4o"
    assert prefixed.upstream_id("openai/gpt-4o") == "gpt-4o"
    assert prefixed.upstream_id("openai/o1/mini") == "o1-mini"
    assert prefixed.upstream_id("anthropic/claude") is None
    assert listed.sold_id("gpt-4o") == "gpt-4o" and listed.sold_id("gpt-3.5") is None
    assert listed.upstream_id("gpt-3.5") is None and ALL_MODELS.upstream_id("anything") == "anything"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "list of 1 to 64"),
        ('[{"name": "a", "base_url": "ftp://x"}]', "upstream 'a': base_url"),
        (f'[{{"name": "a", "base_url": "http://x", "api_key": "{SECRET}", "kind": "bedrock"}}]', "kind must be"),
        ('[{"name": "a", "base_url": "http://x", "weight": 0}]', "weight must be a positive number"),
        ('[{"name": "a", "base_url": "http://x", "markup": "2"}]', "markup must be a positive number"),
        ('[{"name": "a", "base_url": "http://x", "models": []}]', "models must be"),
        ('[{"name": "a", "base_url": "http://x"}, {"name": "a", "base_url": "http://y"}]', "unique"),
        ('[{"name": "a b", "base_url": "http://x"}]', "name must be"),
    ],
)
def test_a_bad_configuration_is_refused_naming_the_field(raw: str, message: str) -> None:
    with pytest.raises(InvalidUpstreamConfig) as refused:
        parse_upstreams_json(raw)

    assert message in str(refused.value) and SECRET not in str(refused.value)


def test_the_settings_refuse_bad_upstreams_in_one_line_without_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAMS", f'[{{"name": "a", "base_url": "nope", "api_key": "{SECRET}"}}]')

    with pytest.raises(ConfigError) as refused:
        load_settings()

    assert str(refused.value).startswith("UPSTREAMS: upstream 'a': base_url") and SECRET not in str(refused.value)


def test_upstreams_stand_in_for_upstream_base_url_when_serving(tmp_path: Path) -> None:
    path = tmp_path / "upstreams.toml"
    path.write_text(TOML)
    settings = Settings(_env_file=None, cashu_mints=["http://127.0.0.1:3338"], upstreams_file=str(path))

    assert settings.serving_refusal() is None
    assert [spec.name for spec in settings.upstream_specs()] == ["openrouter", "local"]
    alone = Settings(_env_file=None, cashu_mints=["http://127.0.0.1:3338"])
    assert alone.serving_refusal() is not None and "UPSTREAM_BASE_URL" in str(alone.serving_refusal())


def test_the_key_goes_as_a_bearer_and_to_anthropic_also_as_x_api_key() -> None:
    assert auth_headers("openrouter", SECRET) == {"Authorization": f"Bearer {SECRET}"}
    assert auth_headers("anthropic", SECRET)["x-api-key"] == SECRET
    assert auth_headers("anthropic", SECRET)["anthropic-version"] == "2023-06-01"
    assert auth_headers("ollama", "") == {}
