"""All configuration, read once from the environment and `.env`, then passed in (never imported by domain code).

Names follow Routstr's node where it has one, so its operators can move over unchanged.
"""

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.exc import ArgumentError

from app.db.urls import driver_url
from app.nostr.errors import InvalidNostrKey
from app.nostr.keys import NodeKeys
from app.pricing.catalog import InvalidPriceConfig, parse_model_prices
from app.upstream.config import InvalidUpstreamConfig, UpstreamSpec, load_upstreams_file, parse_upstreams_json
from app.upstream.rates import parse_sources

ROUTSTR_RELAYS = ("wss://relay.damus.io", "wss://nos.lol", "wss://relay.routstr.com")

CommaList = Annotated[list[str], NoDecode]
ADMIN_TOKEN_MIN_LENGTH = 16


class ConfigError(Exception):
    """A setting the node cannot run with; the message is one line that names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    # node identity, shown in /v1/info and the Nostr announcement
    name: str = "routstr-node"
    description: str = "An open node selling LLM access for Cashu ecash"
    http_url: str = ""
    onion_url: str = ""
    log_level: str = "INFO"
    cors_origins: CommaList = Field(default_factory=lambda: ["*"])  # browser origins allowed; `*` = any, no cookies
    access_log: bool = False  # one line per request, ids and secrets in paths and queries redacted
    # a local demo: the FakeWallet test mint when CASHU_MINTS is empty, the stand-in when UPSTREAM_BASE_URL is empty
    demo: bool = False

    # the HTTP server (python -m app serve)
    workers: int = Field(default=1, ge=1)  # processes serving one port; more than one needs PostgreSQL
    http_max_connections: int = 16384  # kept below half the open-files limit; requests beyond get 503 + Retry-After
    http_max_header_bytes: int = 64 * 1024  # request line and headers; larger gets 431
    http_header_timeout_s: float = 10.0  # a connection must complete its request's headers within this
    http_body_timeout_s: float = 60.0  # and its body within this after the headers
    http_keep_alive_s: int = 5  # an idle keep-alive connection is closed after this
    # proxies whose X-Forwarded-For/-Proto are believed (comma-separated IPs or networks, `*` = any): the client
    # address and scheme the node sees are then the ones the proxy forwarded
    forwarded_allow_ips: str = "127.0.0.1"

    # storage
    database_url: str = "sqlite:///data/node.db"
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL"] = "FULL"  # ecash in and out, grants
    sqlite_metering_synchronous: Literal["OFF", "NORMAL", "FULL"] = "NORMAL"  # per-request reserve and settle
    data_dir: Path = Path("data")

    # upstream LLM API; empty means the embedded stand-in (a local demo upstream)
    upstream_base_url: str = ""
    upstream_api_key: SecretStr = SecretStr("")
    upstream_connect_timeout_s: float = 5.0  # opening a connection to the upstream; failing it is a 502
    upstream_read_timeout_s: float = 120.0  # silence between two reads of a reply; passing it is a 504
    # 0: one upstream connection per request in flight, bounded by HTTP_MAX_CONNECTIONS; a cap makes requests wait
    upstream_max_connections: int = Field(default=0, ge=0)
    upstream_pool_wait_s: float = 30.0  # with a cap: waiting longer for a pooled connection is a 503 + Retry-After
    # several upstreams (app/upstream/config.py): a JSON list, or a TOML file of [[upstream]] tables; either one
    # replaces UPSTREAM_BASE_URL/UPSTREAM_API_KEY, the one-upstream shorthand
    upstreams: SecretStr = SecretStr("")  # carries the upstreams' keys
    upstreams_file: str = ""
    upstream_breaker_failures: int = Field(default=5, gt=0)  # failures in a row that take an upstream out
    upstream_breaker_open_s: float = Field(default=30.0, gt=0)  # for this long; then one request probes it
    models_refresh_s: float = Field(default=600.0, gt=0)  # the upstreams' model lists (and prices) are read again

    # pricing
    model_prices: str = ""  # JSON {model: {prompt_msat_per_mtok, completion_msat_per_mtok} or USD per Mtok}
    # unset: `default` until an upstream's model list gives prices, `refuse` from then on
    unpriced_models: Literal["refuse", "default"] | None = None
    default_prompt_msat_per_mtok: int = 1_000_000
    default_completion_msat_per_mtok: int = 3_000_000
    btc_usd_rate: float = 100_000.0  # fallback when no rate source answers
    # public tickers asked for BTC/USD (median of those that answer): kraken, coinbase, bitstamp, or name=url;
    # empty: BTC_USD_RATE is the rate, always
    btc_usd_sources: CommaList = Field(default_factory=lambda: ["kraken", "coinbase", "bitstamp"])
    btc_usd_refresh_s: float = Field(default=300.0, gt=0)
    btc_usd_max_age_s: float = Field(default=3600.0, gt=0)  # an older rate does not sell USD-priced models (503)
    # The most completion tokens one choice may reserve: a request without max_tokens reserves
    # min(this, the model's context length - its prompt); a larger max_tokens is refused when the model's context
    # length is unknown. DEFAULT_MAX_TOKENS, its former name, is still read.
    max_completion_tokens: int = Field(
        16384, gt=0, validation_alias=AliasChoices("max_completion_tokens", "default_max_tokens")
    )
    max_request_bytes: int = 4 * 1024 * 1024

    # metering
    reservation_ttl_s: int = 3600  # a reservation older than this is released at start (crash leftovers)

    # cashu
    cashu_mints: CommaList = Field(default_factory=list)  # empty means the embedded FakeWallet mint (local runs)
    mint_timeout_s: float = 15.0
    max_token_sat: int = Field(default=1_000_000, gt=0)  # the most one deposited token may be worth
    max_token_proofs: int = Field(default=256, gt=0)  # the most proofs one deposited token may carry
    foreign_mints: Literal["swap", "refuse"] = "swap"  # tokens of other mints: melted into the first trusted one
    # URLs users choose (a token's mint, a Lightning address): loopback and private hosts only when the operator says so
    allow_private_urls: bool = False

    # nostr
    nsec: SecretStr = SecretStr("")
    relays: CommaList = Field(default_factory=lambda: list(ROUTSTR_RELAYS))
    provider_id: str = ""
    announce: bool = True
    announce_interval_s: int = 900
    announce_force: bool = False  # announce even without a public URL (testing)
    publish_relay_list: bool = False  # also publish a NIP-65 kind 10002 list of RELAYS
    providers_enabled: bool = False  # serve GET /v1/providers from relays, refreshed in the background
    providers_refresh_s: int = 600

    # admin API and dashboard (/admin): a password set with `python -m app admin set-password`, and/or this token
    admin_token: SecretStr = SecretStr("")
    admin_session_ttl_s: int = Field(default=12 * 3600, gt=0)  # a login lasts this long

    # observability (README: Metrics, logs, readiness, limits)
    log_format: Literal["text", "json"] = "text"  # json: one object per line, with the request id
    metrics_enabled: bool = False  # serve Prometheus metrics at GET /metrics
    metrics_token: SecretStr = SecretStr("")  # when set, /metrics wants `Authorization: Bearer <it>`
    ready_max_age_s: float = Field(default=60.0, gt=0)  # upstream and mints must have answered within this
    ready_probe_timeout_s: float = Field(default=5.0, gt=0)

    # rate limits (requests per minute; 0 = none): per client IP on the open endpoints, per key on the paid ones
    rate_limit_create_per_min: int = Field(default=30, ge=0)  # balance create and topup (each redeems at a mint)
    rate_limit_invoice_per_min: int = Field(default=10, ge=0)  # Lightning invoices
    rate_limit_login_per_min: int = Field(default=10, ge=0)  # admin login
    key_rpm: int = Field(default=0, ge=0)  # paid requests per key and minute
    rate_limit_exempt_ips: CommaList = Field(default_factory=lambda: ["127.0.0.1", "::1"])  # the operator's own
    redis_url: SecretStr = SecretStr("")  # counters shared by every worker and replica; empty = in memory
    rate_limit_prefix: str = "routstr"  # Redis key prefix (nodes sharing a Redis and a prefix share limits)

    # NIP-90 data vending machine (kind 5050 text generation, paid in ecash)
    dvm_enabled: bool = False
    dvm_accept_untargeted: bool = False  # also take jobs that name no service provider
    dvm_default_model: str = ""  # for jobs without a model param; empty: such jobs are refused
    dvm_max_jobs: int = Field(default=64, gt=0)  # jobs run at once
    dvm_partial_every_s: float = Field(default=0, ge=0)  # a kind 7000 `partial` this often while a job streams; 0: off

    @field_validator("cashu_mints", "relays", "cors_origins", "rate_limit_exempt_ips", "btc_usd_sources", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("upstream_base_url", "http_url", "onion_url")
    @classmethod
    def _http_url_or_empty(cls, value: str) -> str:
        return value and _url(value, ("http", "https"))

    @field_validator("cashu_mints")
    @classmethod
    def _mint_urls(cls, value: list[str]) -> list[str]:
        return [_url(url, ("http", "https")) for url in value]

    @field_validator("relays")
    @classmethod
    def _relay_urls(cls, value: list[str]) -> list[str]:
        return [_url(url, ("ws", "wss")) for url in value]

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            driver_url(value)
        except (ArgumentError, ValueError) as exc:
            raise ValueError("not a sqlite:/// or postgresql:// URL") from exc
        return value

    @field_validator("model_prices")
    @classmethod
    def _model_prices(cls, value: str) -> str:
        try:
            parse_model_prices(value, btc_usd=1.0)  # the shape only; the rate is applied at start
        except InvalidPriceConfig as exc:
            raise ValueError(str(exc).removeprefix("MODEL_PRICES ")) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"an entry has a missing or non-numeric price ({exc})") from exc
        return value

    @field_validator("unpriced_models", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("upstreams")
    @classmethod
    def _upstreams(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value().strip():
            try:
                parse_upstreams_json(value.get_secret_value())
            except InvalidUpstreamConfig as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("upstreams_file")
    @classmethod
    def _upstreams_file(cls, value: str) -> str:
        if value.strip():
            try:
                load_upstreams_file(Path(value))
            except InvalidUpstreamConfig as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("btc_usd_sources")
    @classmethod
    def _btc_usd_sources(cls, value: list[str]) -> list[str]:
        parse_sources(value)
        return value

    @field_validator("admin_token")
    @classmethod
    def _admin_token(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and len(value.get_secret_value()) < ADMIN_TOKEN_MIN_LENGTH:
            raise ValueError(f"needs at least {ADMIN_TOKEN_MIN_LENGTH} characters (it opens the admin API)")
        return value

    @field_validator("nsec")
    @classmethod
    def _nsec(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value().strip():
            try:
                NodeKeys.from_secret(value.get_secret_value())
            except (InvalidNostrKey, ValueError):
                raise ValueError("not an nsec1... or 64-hex Nostr secret key") from None  # never echo the key
        return value

    def upstream_specs(self) -> list[UpstreamSpec]:
        """UPSTREAMS, else UPSTREAMS_FILE, else none (UPSTREAM_BASE_URL, or the stand-in, serves alone)."""
        if self.upstreams.get_secret_value().strip():
            return parse_upstreams_json(self.upstreams.get_secret_value())
        if self.upstreams_file.strip():
            return load_upstreams_file(Path(self.upstreams_file))
        return []

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def serving_refusal(self) -> ConfigError | None:
        """Why this node must not serve: it would trust a mint that pays every invoice, or sell a stand-in's
        demo replies for real ecash, without the operator having asked for a demo; or it would run several
        processes on one SQLite file."""
        if self.workers > 1 and (self.is_sqlite or self.demo):
            return ConfigError(
                "WORKERS>1 needs PostgreSQL and no DEMO: SQLite has one writer per file, so more processes only"
                " queue on its lock (each batches its writes in its own writer thread) and a wait past its busy"
                " timeout fails a paid request; one worker holds 10,000 streams"
            )
        if self.demo:
            return None
        if not self.cashu_mints:
            return ConfigError(
                "CASHU_MINTS is not set: name the mints whose ecash this node accepts,"
                " or set DEMO=true for a local FakeWallet test mint (its ecash is worthless)"
            )
        if not self.upstream_base_url and not self.upstream_specs():
            return ConfigError(
                "UPSTREAM_BASE_URL is not set: name the OpenAI-compatible API this node resells,"
                " or set DEMO=true for the built-in stand-in's demo replies"
            )
        return None


def _url(url: str, schemes: tuple[str, ...]) -> str:
    try:
        parts = urlsplit(url)
        valid = parts.scheme in schemes and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:  # the value is not echoed: a URL can carry credentials
        raise ValueError(f"needs {' or '.join(s + '://host' for s in schemes)} URLs")
    return url


def load_settings() -> Settings:
    """The settings, or a ConfigError whose one line per bad setting names it (values are never echoed)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError("\n".join(_setting_error(error) for error in exc.errors())) from None


def _setting_error(error: object) -> str:
    assert isinstance(error, dict)
    name = str(error["loc"][0]).upper() if error["loc"] else "settings"
    return f"{name}: {str(error['msg']).removeprefix('Value error, ')}"
