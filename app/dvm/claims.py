"""A Nostr customer takes their balance back as a token: what over-payments, cancelled jobs and change the node
could not give at the time left on the account of their pubkey. They prove the key with NIP-98 HTTP auth; each auth
event is accepted once (claimed as a lease in the database, so every process of the node agrees)."""

import os
import time
from collections.abc import Callable, Iterable

from app.db.database import Database
from app.db.leases import take
from app.errors import BadRequest
from app.ledger.dvm_jobs import DvmJobs
from app.nostr.nip98 import MAX_AGE_S, InvalidHttpAuth, verify_http_auth
from app.payments.refunds import Refund, Refunds

Clock = Callable[[], float]
REFUND_PATH = "/v1/dvm/refund"
AUTH_LEASE_TTL_S = 2 * MAX_AGE_S + 5  # an auth event older than MAX_AGE_S is refused anyway


class BalanceClaims:
    def __init__(self, db: Database, jobs: DvmJobs, refunds: Refunds, clock: Clock = time.time) -> None:
        self._db = db
        self._jobs = jobs
        self._refunds = refunds
        self._clock = clock

    async def refund(self, authorization: str | None, urls: Iterable[str], method: str) -> Refund:
        """The caller's whole balance as a token (through the same refund path as an API key's; with nothing left,
        their last refund token again, so a reply lost on the way is not money lost)."""
        now = self._clock()
        auth = verify_http_auth(authorization, urls, method, now)
        if not await self._first_use(auth.id, now):
            raise InvalidHttpAuth("this authorization event was used before: sign a new one")
        account = await self._jobs.find_customer(auth.pubkey)
        if account is None:
            raise BadRequest("no balance to refund", code="no_balance")
        return await self._refunds.refund(account.id)

    async def _first_use(self, auth_id: str, now: float) -> bool:
        once = os.urandom(8).hex()  # an owner of its own: a lease this process holds would be taken again
        return await self._db.run(take(f"nip98:{auth_id}", once, AUTH_LEASE_TTL_S, now))
