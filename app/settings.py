"""All configuration, read once from the environment and `.env`, then passed in (never imported by domain code).

Names follow Routstr's node where it has one, so its operators can move over unchanged.
"""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROUTSTR_RELAYS = ("wss://relay.damus.io", "wss://nos.lol", "wss://relay.routstr.com")

CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    # node identity, shown in /v1/info and the Nostr announcement
    name: str = "routstr-node"
    description: str = "An open node selling LLM access for Cashu ecash"
    http_url: str = ""
    onion_url: str = ""
    log_level: str = "INFO"
    cors_origins: CommaList = Field(default_factory=lambda: ["*"])  # browser origins allowed; `*` = any, no cookies

    # storage
    database_url: str = "sqlite:///data/node.db"
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL"] = "FULL"  # ecash in and out, grants
    sqlite_metering_synchronous: Literal["OFF", "NORMAL", "FULL"] = "NORMAL"  # per-request reserve and settle
    data_dir: Path = Path("data")

    # upstream LLM API; empty means the embedded stand-in (a local demo upstream)
    upstream_base_url: str = ""
    upstream_api_key: SecretStr = SecretStr("")
    upstream_connect_timeout_s: float = 5.0
    upstream_read_timeout_s: float = 120.0
    upstream_max_connections: int = 512

    # pricing
    model_prices: str = ""  # JSON {model: {prompt_msat_per_mtok, completion_msat_per_mtok} or USD per Mtok}
    unpriced_models: Literal["refuse", "default"] = "default"
    default_prompt_msat_per_mtok: int = 1_000_000
    default_completion_msat_per_mtok: int = 3_000_000
    btc_usd_rate: float = 100_000.0  # fallback when no rate source answers
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

    @field_validator("cashu_mints", "relays", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
