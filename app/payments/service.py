"""What the web layer asks of payments: who pays for a request, deposits, balances, refunds."""

from dataclasses import dataclass

from app.errors import ServiceUnavailable, Unauthorized
from app.ledger.keys import hash_key
from app.ledger.records import Account
from app.ledger.service import Ledger
from app.payments.deposits import Deposit, Deposits, Purpose, key_for_token
from app.payments.lightning_refunds import LightningRefund, LightningRefunds
from app.payments.refunds import Refund, Refunds

CASHU_PREFIXES = ("cashuA", "cashuB")


def is_cashu_token(credential: str) -> bool:
    return credential.startswith(CASHU_PREFIXES)


@dataclass(frozen=True, slots=True)
class Payer:
    key_hash: str
    deposit: Deposit | None = None  # set when the credential was ecash redeemed for this request


class Payments:
    def __init__(
        self, ledger: Ledger, deposits: Deposits, refunds: Refunds, lightning_refunds: LightningRefunds | None = None
    ) -> None:
        self._ledger = ledger
        self.deposits = deposits
        self.refunds = refunds
        self._lightning_refunds = lightning_refunds

    async def payer(self, credential: str, *, purpose: Purpose = Purpose.BEARER, minimum_msat: int = 0) -> Payer:
        """An API key pays as is (the reservation checks it); a Cashu token is redeemed first (once, ever). With
        `minimum_msat`, a token not redeemed yet that is worth less is refused untouched."""
        if not is_cashu_token(credential):
            return Payer(hash_key(credential))
        redeemed = await self._redeemed(credential)
        if redeemed is not None:
            return Payer(redeemed.key_hash)
        deposit = await self.deposits.deposit(credential, purpose, minimum_msat=minimum_msat)
        return Payer(deposit.account.key_hash, deposit)

    async def _redeemed(self, token_text: str) -> Account | None:
        """The key of a token deposited before, found by hash alone: its balance is in the database, so the mint
        is not asked again (it may be slow or down). Keys made before the `sk-` + sha256 rule hash the token."""
        found = await self._ledger.find(key_for_token(token_text))
        return found or await self._ledger.find(token_text.strip())

    @staticmethod
    def api_key_for(credential: str) -> str:
        """The API key a credential stands for: a token's own key (never the token), or the key itself."""
        return key_for_token(credential) if is_cashu_token(credential) else credential

    async def account(self, credential: str) -> Account:
        """The account behind a credential, for balance calls. A token that was never deposited is deposited."""
        payer = await self.payer(credential)
        account = await self._ledger.find_by_hash(payer.key_hash)
        if account is None:
            raise Unauthorized()
        return account

    async def create(self, token_text: str) -> Deposit:
        return await self.deposits.deposit(token_text, Purpose.CREATE)

    async def topup(self, credential: str, token_text: str) -> Deposit:
        account = await self.account(credential)
        return await self.deposits.deposit(token_text, Purpose.TOPUP, key_id=account.id)

    async def refund(self, credential: str) -> Refund:
        account = await self.account(credential)
        return await self.refunds.refund(account.id)

    async def refund_to_address(self, credential: str, address: str) -> LightningRefund:
        """The key's available balance paid to a Lightning address (LNURL-pay), less the payment's fees."""
        account = await self.account(credential)
        if self._lightning_refunds is None:
            raise ServiceUnavailable("this node does not pay refunds over Lightning")
        return await self._lightning_refunds.refund(account.id, account.available_msat, address)

    async def change_for(self, payer: Payer) -> Refund:
        """What a per-request (X-Cashu) payment leaves available, as a token; BadRequest when nothing is. What
        requests still running hold stays on the token's key, claimable once they end."""
        account = await self._ledger.find_by_hash(payer.key_hash)
        if account is None:
            raise Unauthorized()
        return await self.refunds.refund(account.id, refetch=False, while_in_flight=True)
