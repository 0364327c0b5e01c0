"""Where the BTC/USD rate comes from. Machines may have no internet, so every source falls back to a fixed rate."""

from typing import Protocol


class RateSource(Protocol):
    async def btc_usd(self) -> float: ...


class FixedRate:
    def __init__(self, btc_usd: float) -> None:
        if btc_usd <= 0:
            raise ValueError("BTC_USD_RATE must be positive")
        self._rate = btc_usd

    async def btc_usd(self) -> float:
        return self._rate
