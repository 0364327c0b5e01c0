"""The upstreams a node resells, as the operator describes them: `UPSTREAMS` (JSON) or an `upstreams.toml` file.

    UPSTREAMS='[{"name": "openrouter", "base_url": "https://openrouter.ai/api/v1", "api_key": "sk-or-...",
                 "kind": "openrouter", "models": "all", "weight": 1, "markup": 1.2}]'

`models` is `"all"` (the default), a list of model ids, or a prefix map: `{"openai/": ""}` sells the upstream's
`gpt-4o` as `openai/gpt-4o` and sends `gpt-4o` upstream. A configuration error names the upstream and the field,
never its key."""

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

import orjson

Kind = Literal["openai", "openrouter", "anthropic", "ollama", "vllm", "generic"]
KINDS: tuple[str, ...] = get_args(Kind)
MAX_UPSTREAMS = 64


class InvalidUpstreamConfig(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ModelSelection:
    """Which of an upstream's models are sold, and under which ids."""

    listed: frozenset[str] | None = None  # None: every model the upstream lists
    prefixes: tuple[tuple[str, str], ...] = ()  # (sold prefix, upstream prefix)

    def sold_id(self, upstream_id: str) -> str | None:
        """The id clients see for a model the upstream lists, or None when it is not sold."""
        if self.prefixes:
            for sold, upstream in self.prefixes:
                if upstream_id.startswith(upstream):
                    return sold + upstream_id.removeprefix(upstream)
            return None
        if self.listed is not None and upstream_id not in self.listed:
            return None
        return upstream_id

    def upstream_id(self, sold_id: str) -> str | None:
        """The id sent upstream for a model clients ask for, or None when this upstream does not sell it."""
        if self.prefixes:
            for sold, upstream in self.prefixes:
                if sold_id.startswith(sold):
                    return upstream + sold_id.removeprefix(sold)
            return None
        if self.listed is not None and sold_id not in self.listed:
            return None
        return sold_id


ALL_MODELS = ModelSelection()


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    name: str
    base_url: str
    api_key: str = field(default="", repr=False)  # a secret: never logged, never shown
    kind: Kind = "generic"
    models: ModelSelection = ALL_MODELS
    weight: float = 1.0  # breaks ties between equally cheap upstreams: the heavier goes first
    markup: float = 1.0  # multiplies the prices the upstream's model list gives


def parse_upstreams_json(raw: str) -> list[UpstreamSpec]:
    """UPSTREAMS: a JSON list of upstream objects (or `{"upstream": [...]}` as in the TOML file)."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidUpstreamConfig(f"not valid JSON ({exc.msg})") from None
    return _specs(payload.get("upstream") if isinstance(payload, dict) else payload)


def load_upstreams_file(path: Path) -> list[UpstreamSpec]:
    """UPSTREAMS_FILE: TOML with one `[[upstream]]` table per upstream."""
    try:
        payload = tomllib.loads(path.read_text())
    except OSError as exc:
        raise InvalidUpstreamConfig(f"cannot read {path.name}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidUpstreamConfig(f"{path.name} is not valid TOML ({exc})") from None
    return _specs(payload.get("upstream"))


def _specs(entries: Any) -> list[UpstreamSpec]:
    if not isinstance(entries, list) or not entries or len(entries) > MAX_UPSTREAMS:
        raise InvalidUpstreamConfig(f"needs a list of 1 to {MAX_UPSTREAMS} upstream objects")
    specs = [_spec(index, entry) for index, entry in enumerate(entries)]
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise InvalidUpstreamConfig("upstream names must be unique")
    return specs


def _spec(index: int, entry: Any) -> UpstreamSpec:
    if not isinstance(entry, dict):
        raise InvalidUpstreamConfig(f"upstream #{index + 1} must be an object")
    name = entry.get("name", f"upstream{index + 1}")
    if not isinstance(name, str) or not _plain_name(name):
        raise InvalidUpstreamConfig(f"upstream #{index + 1}: name must be letters, digits, '-' or '_'")
    where = f"upstream {name!r}"
    api_key = entry.get("api_key", "")
    kind = entry.get("kind", "generic")
    if not isinstance(api_key, str):
        raise InvalidUpstreamConfig(f"{where}: api_key must be a string")
    if kind not in KINDS:
        raise InvalidUpstreamConfig(f"{where}: kind must be one of {', '.join(KINDS)}")
    return UpstreamSpec(
        name=name,
        base_url=_base_url(where, entry.get("base_url")),
        api_key=api_key,
        kind=kind,
        models=_selection(where, entry.get("models", "all")),
        weight=_positive(where, "weight", entry.get("weight", 1.0)),
        markup=_positive(where, "markup", entry.get("markup", 1.0)),
    )


def _plain_name(name: str) -> bool:
    return 0 < len(name) <= 64 and all(c.isalnum() or c in "-_." for c in name)


def _base_url(where: str, value: Any) -> str:
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
        valid = parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:  # not echoed: a URL can carry credentials
        raise InvalidUpstreamConfig(f"{where}: base_url needs an http:// or https:// URL")
    return str(value).rstrip("/")


def _positive(where: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e6:
        raise InvalidUpstreamConfig(f"{where}: {name} must be a positive number")
    return float(value)


def _selection(where: str, value: Any) -> ModelSelection:
    if value == "all":
        return ALL_MODELS
    if isinstance(value, list) and value and all(isinstance(item, str) and item for item in value):
        return ModelSelection(listed=frozenset(value))
    if isinstance(value, Mapping) and value and all(isinstance(v, str) for v in value.values()):
        # the longest sold prefix first, so that `openai/o1/` wins over `openai/`
        pairs = sorted(((str(k), v) for k, v in value.items()), key=lambda pair: -len(pair[0]))
        return ModelSelection(prefixes=tuple(pairs))
    raise InvalidUpstreamConfig(f'{where}: models must be "all", a list of ids, or a prefix map')
