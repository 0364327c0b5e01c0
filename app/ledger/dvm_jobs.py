"""NIP-90 jobs in SQL: which job events were taken (a job runs once, however often relays deliver it) and the
account of each Nostr customer, keyed by its pubkey.

States: taken -> answered -> done | failed | refunded; payment_required (refused until paid); cancelled (by its
author before it ran: never taken or run afterwards)."""

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.db.database import Database, Work
from app.db.tables import api_keys, dvm_jobs
from app.ledger.accounts import find_by_hash
from app.ledger.records import Account

Clock = Callable[[], float]

# A customer's key hash is not a sha256 hex digest (hash_key's output is 64 hex digits), so no API key presented
# over HTTP can ever reach a Nostr customer's balance.
_CUSTOMER_PREFIX = "npub:"


def customer_key_hash(pubkey: str) -> str:
    """The account of the Nostr key `pubkey` (64 hex), 64 characters as the key_hash column holds."""
    digest = hashlib.sha256(bytes.fromhex(pubkey)).hexdigest()
    return _CUSTOMER_PREFIX + digest[: 64 - len(_CUSTOMER_PREFIX)]


def _insert_new(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert the row unless its key exists; True when it was inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
    return conn.execute(statement.returning(*table.primary_key.columns)).first() is not None


UNFINISHED = ("taken", "answered")
CANCELLED = "cancelled"
CANCELLABLE = ("payment_required",)  # besides a job not taken yet; a taken job runs or has run


@dataclass(frozen=True, slots=True)
class Taken:
    account: Account | None  # the customer's; None until money first arrives for them


@dataclass(frozen=True, slots=True)
class UnfinishedJob:
    event_id: str
    pubkey: str
    state: str
    owner: str | None
    answer: str | None
    encrypted: bool
    sealing: str | None = None


class DvmJobs:
    def __init__(self, db: Database, owner: str | None = None, clock: Clock = time.time) -> None:
        self._db = db
        self.owner = owner  # this process's boot id
        self._clock = clock

    async def take(
        self, event_id: str, pubkey: str, *, encrypted: bool = False, sealing: str | None = None
    ) -> Taken | None:
        """Claim a job event and find its customer's account, in one transaction; None when the job was taken before
        (by this process or another). No account is opened here: anyone can sign jobs with fresh keys."""
        now = int(self._clock())
        values = {"event_id": event_id, "pubkey": pubkey, "state": "taken", "owner": self.owner,
                  "encrypted": encrypted, "sealing": sealing, "created_at": now, "updated_at": now}  # fmt: skip

        def work(conn: Connection) -> Taken | None:
            return Taken(_find_customer(pubkey)(conn)) if _claim(conn, values) else None

        return await self._db.run(work)

    async def cancel(self, event_id: str, pubkey: str) -> str | None:
        """The author `pubkey` cancels job `event_id` before it runs, in one statement: a job waiting for payment
        becomes cancelled, and a job not taken yet is recorded cancelled so that it never is. Returns the state it
        left ("payment_required", or "untaken"); None when it was not cancelled (taken, finished, or not theirs)."""
        now = int(self._clock())

        def work(conn: Connection) -> str | None:
            values = {"event_id": event_id, "pubkey": pubkey, "state": CANCELLED, "owner": None,
                      "encrypted": False, "created_at": now, "updated_at": now}  # fmt: skip
            if _insert_new(conn, dvm_jobs, values):
                return "untaken"
            c = dvm_jobs.c
            waiting = and_(c.event_id == event_id, c.pubkey == pubkey, c.state.in_(CANCELLABLE))
            moved = conn.execute(update(dvm_jobs).where(waiting).values(state=CANCELLED, updated_at=now).returning(
                c.event_id)).first()  # fmt: skip
            return "payment_required" if moved is not None else None

        return await self._db.run(work)

    async def mark(self, event_id: str, state: str, **fields: object) -> None:
        """Move a job to `state`, setting the given columns too (cost_msat, answer, encrypted)."""
        now = int(self._clock())

        def work(conn: Connection) -> None:
            values = {"state": state, "updated_at": now, **fields}
            conn.execute(update(dvm_jobs).where(dvm_jobs.c.event_id == event_id).values(**values))

        await self._db.run(work)

    async def unfinished(self) -> list[UnfinishedJob]:
        def work(conn: Connection) -> list[UnfinishedJob]:
            c = dvm_jobs.c
            columns = (c.event_id, c.pubkey, c.state, c.owner, c.answer, c.encrypted, c.sealing)
            rows = conn.execute(select(*columns).where(c.state.in_(UNFINISHED))).all()
            return [UnfinishedJob(r.event_id, r.pubkey, r.state, r.owner, r.answer, bool(r.encrypted), r.sealing)
                    for r in rows]  # fmt: skip

        return await self._db.run(work)

    async def take_over(self, job: UnfinishedJob) -> bool:
        """Become the owner of a dead process's unfinished job; False when another process took it first."""

        def work(conn: Connection) -> bool:
            owned = and_(dvm_jobs.c.event_id == job.event_id, dvm_jobs.c.state == job.state)
            owned = and_(owned, dvm_jobs.c.owner.is_(None) if job.owner is None else dvm_jobs.c.owner == job.owner)
            return bool(conn.execute(update(dvm_jobs).where(owned).values(owner=self.owner)).rowcount)

        return await self._db.run(work)

    async def awaits_payment(self, event_id: str, pubkey: str) -> bool:
        """The customer's job was answered payment-required and has not run since."""

        def work(conn: Connection) -> bool:
            c = dvm_jobs.c
            found = select(c.event_id).where(c.event_id == event_id, c.pubkey == pubkey, c.state == "payment_required")
            return conn.execute(found).first() is not None

        return await self._db.run(work)

    async def take_paid(self, event_id: str, pubkey: str) -> Account | None:
        """Take a job left payment-required again, now that it is paid: one UPDATE from payment_required to taken,
        so however many payments (or processes) arrive for it, one of them runs it. None when another did first."""
        now = int(self._clock())

        def work(conn: Connection) -> Account | None:
            c = dvm_jobs.c
            waiting = and_(c.event_id == event_id, c.pubkey == pubkey, c.state == "payment_required")
            taken = update(dvm_jobs).where(waiting).values(state="taken", owner=self.owner, updated_at=now)
            return _open_account(conn, pubkey, now) if conn.execute(taken).rowcount else None

        return await self._db.run(work)

    async def prune_unpaid(self, older_than_s: float) -> int:
        """Delete the rows of jobs refused for payment or cancelled, untouched for `older_than_s`: anyone can make them
        for free, and once their job can no longer be admitted they stop nothing. Returns how many went."""
        before = int(self._clock() - older_than_s)

        def work(conn: Connection) -> int:
            c = dvm_jobs.c
            unpaid = and_(c.state.in_(("payment_required", CANCELLED)), c.updated_at < before)
            return int(conn.execute(delete(dvm_jobs).where(unpaid)).rowcount)

        return await self._db.run(work)

    async def customer(self, pubkey: str) -> Account:
        """The customer's account, opened empty on first use: only when money arrives (a deposit about to be sent)."""
        now = int(self._clock())
        return await self._db.run(lambda conn: _open_account(conn, pubkey, now))

    def payee(self, pubkey: str) -> "CustomerPayee":
        """The customer as a deposit's payee (app.payments.deposits): the account opened only when money arrives."""
        return CustomerPayee(self, pubkey)

    async def find_customer(self, pubkey: str) -> Account | None:
        """The customer's account, if money ever arrived for them."""
        return await self._db.run(_find_customer(pubkey))


@dataclass(frozen=True, slots=True)
class CustomerPayee:
    jobs: DvmJobs
    pubkey: str

    async def find(self) -> int | None:
        account = await self.jobs.find_customer(self.pubkey)
        return None if account is None else account.id

    async def open(self) -> int:
        return (await self.jobs.customer(self.pubkey)).id


def _claim(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert the taken job, or take over a row cancelled by someone else than the job's author: an event id commits
    to its author, so such a cancellation was forged (a deletion seen before the job it names)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(dvm_jobs).values(**values)
    forged = and_(dvm_jobs.c.state == CANCELLED, dvm_jobs.c.pubkey != statement.excluded.pubkey)
    statement = statement.on_conflict_do_update(index_elements=[dvm_jobs.c.event_id], set_=values, where=forged)
    return conn.execute(statement.returning(dvm_jobs.c.event_id)).first() is not None


def _find_customer(pubkey: str) -> Work[Account | None]:
    return find_by_hash(customer_key_hash(pubkey))


def _open_account(conn: Connection, pubkey: str, now: int) -> Account:
    values = {"key_hash": customer_key_hash(pubkey), "balance_msat": 0, "reserved_msat": 0, "created_at": now}
    _insert_new(conn, api_keys, values)
    account = _find_customer(pubkey)(conn)
    assert account is not None
    return account
