"""Prices and cost arithmetic, all in integer msat. Pure functions, no I/O."""

from dataclasses import dataclass

from app.money import Msat

MSAT_PER_BTC = 100_000_000_000
TOKENS_PER_PRICE_UNIT = 1_000_000  # prices are quoted per million tokens


@dataclass(frozen=True, slots=True)
class Price:
    prompt_msat_per_mtok: int
    completion_msat_per_mtok: int


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Cost:
    input_msat: Msat
    output_msat: Msat

    @property
    def total_msat(self) -> Msat:
        return Msat(self.input_msat + self.output_msat)

    def capped(self, limit_msat: int) -> "Cost":
        """At most `limit_msat` in total; the prompt side is kept first, the completion side takes the rest."""
        input_msat = min(self.input_msat, limit_msat)
        return Cost(Msat(input_msat), Msat(min(self.output_msat, limit_msat - input_msat)))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def cost_of(usage: Usage, price: Price) -> Cost:
    """Rounded up per side, so that a request is never charged less than its tokens are worth."""
    return Cost(
        input_msat=Msat(_ceil_div(usage.prompt_tokens * price.prompt_msat_per_mtok, TOKENS_PER_PRICE_UNIT)),
        output_msat=Msat(_ceil_div(usage.completion_tokens * price.completion_msat_per_mtok, TOKENS_PER_PRICE_UNIT)),
    )


def usd_per_mtok_to_msat(usd_per_mtok: float, btc_usd: float) -> int:
    return _ceil_div(round(usd_per_mtok * MSAT_PER_BTC * 1_000_000), round(btc_usd * 1_000_000))


def msat_per_mtok_to_usd_per_token(msat_per_mtok: int, btc_usd: float) -> float:
    return msat_per_mtok / TOKENS_PER_PRICE_UNIT / MSAT_PER_BTC * btc_usd


def msat_to_usd(msat: int, btc_usd: float) -> float:
    return msat / MSAT_PER_BTC * btc_usd


def msat_per_mtok_to_sats_per_token(msat_per_mtok: int) -> float:
    return msat_per_mtok / TOKENS_PER_PRICE_UNIT / 1000
