"""NIP-61 nutzaps to the DVM: the kind 10019 that tells customers how to send them (relays, trusted mints, the
node's P2PK key), and the kind 9321 nutzaps themselves, redeemed into their author's DVM account.

A nutzap's proofs go through the deposit path as one canonical token (its proofs sorted, its mint normalised), with
the node's P2PK key to sign them: journaled, owned, credited once ever with what the swap yielded, however many relays
or processes deliver the event. A nutzap whose `e` tag names the author's job left payment-required then runs that
job from the balance (app.dvm.service.DvmService.run_paid); the rest stays on the balance."""

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.cashu.errors import InvalidToken, MintUnreachable, TokenAlreadySpent
from app.cashu.p2pk import P2pkKey
from app.cashu.tokens import Proof, Token, encode_token_v4, normalize_mint_url
from app.dvm.admission import MAX_AHEAD_S
from app.dvm.publisher import JobPublisher
from app.dvm.replies import Reply
from app.errors import NodeError
from app.ledger.dvm_jobs import DvmJobs
from app.nostr import nip44
from app.nostr.announcer import Addressable
from app.nostr.backoff import Backoff
from app.nostr.errors import InvalidEvent
from app.nostr.event import Event, verify_event
from app.nostr.keys import NodeKeys
from app.nostr.listening import ListenerTasks, RecentEvents
from app.nostr.pool import RelayPool
from app.payments.deposits import Deposits, Purpose

log = logging.getLogger(__name__)

NUTZAP_KIND = 9321
NUTZAP_INFO_KIND = 10019
REDEMPTION_KIND = 7376  # NIP-60 spending history: "this nutzap was redeemed", so the sender's client can tell
P2PK_LABEL = "routstr-node/nip61-p2pk"
LOOKBACK_S = 3 * 24 * 3600  # nutzaps sent while the node was down are redeemed when it is back (credited once)
MAX_PROOFS = 256
RECENT_IDS = 10_000  # nutzap ids remembered in memory; the deposit journal remembers their proofs for good
RETRIES = 12  # a nutzap whose mint is down (or whose swap's outcome is pending) is tried again, for about an hour
UNIT = "sat"

RunPaid = Callable[[str, str, tuple[str, ...]], Awaitable[bool]]  # job id, customer, relay hints -> ran


def nutzap_key(keys: NodeKeys) -> P2pkKey:
    """The node's P2PK key for nutzaps: derived from its Nostr secret, so nothing new is stored, yet not the
    Nostr key itself (NIP-61 asks for a separate one)."""
    return P2pkKey.derived_from(keys.private_key.secret, P2PK_LABEL)


@dataclass(frozen=True, slots=True)
class NutzapInfo:
    """Kind 10019 (replaceable): where the node reads nutzaps, which mints it takes, which key to lock to."""

    relays: Sequence[str]
    mints: Sequence[str]
    p2pk_pubkey: str

    async def events(self) -> list[Addressable]:
        tags = [["relay", url] for url in self.relays]
        tags += [["mint", url, UNIT] for url in self.mints]
        tags.append(["pubkey", self.p2pk_pubkey])
        return [Addressable(NUTZAP_INFO_KIND, "", tags, "")]


@dataclass(frozen=True, slots=True)
class Nutzap:
    event: Event
    mint: str
    proofs: tuple[Proof, ...]
    job_id: str | None
    hints: tuple[str, ...]  # relays the `e` tag names for the job

    @property
    def customer(self) -> str:
        return self.event.pubkey

    def token(self) -> str:
        """The proofs as one token string, the same for every delivery of them: the deposit's idempotency key."""
        proofs = tuple(sorted(self.proofs, key=lambda proof: proof.secret))
        return encode_token_v4(Token(mint=normalize_mint_url(self.mint), proofs=proofs, unit=UNIT))


def redemption(keys: NodeKeys, nutzap: Nutzap, credited_msat: int) -> Reply:
    """Kind 7376 for a redeemed nutzap: public `e` (marker "redeemed") and `p` of the sender, the amount received
    NIP-44 encrypted to the node itself."""
    history = [["direction", "in"], ["amount", str(credited_msat // 1000)], ["unit", UNIT]]
    content = nip44.encrypt(keys, keys.pubkey, json.dumps(history, separators=(",", ":")))
    return Reply(REDEMPTION_KIND, [["e", nutzap.event.id, "", "redeemed"], ["p", nutzap.customer]], content)


def read_nutzap(raw: object, node_pubkey: str, now: float | None = None) -> Nutzap | None:
    """The nutzap in `raw` if it is one to this node, signed by its author and well formed; None otherwise."""
    try:
        event = Event.from_json(raw)
    except InvalidEvent:
        return None
    if event.kind != NUTZAP_KIND or node_pubkey not in event.tag_values("p"):
        return None
    if event.created_at > (time.time() if now is None else now) + MAX_AHEAD_S or not verify_event(event):
        return None
    mint, proofs = event.first_tag("u"), _proofs(event)
    if not mint or not proofs or (event.first_tag("unit") or UNIT) != UNIT:
        return None
    job = next((tag for tag in event.tags if tag[0] == "e" and len(tag) > 1), None)
    hints = tuple(job[2:3]) if job is not None else ()
    return Nutzap(event, mint, proofs, job[1] if job is not None else None, hints)


def _proofs(event: Event) -> tuple[Proof, ...]:
    raw = event.tag_values("proof")
    if len(raw) > MAX_PROOFS:
        return ()
    try:
        return tuple(Proof.from_dict(json.loads(text)) for text in raw)
    except (ValueError, TypeError, AttributeError, InvalidToken):
        return ()


class MintNotReady(Exception):
    """The mint could not be reached, or the swap's outcome is still being settled: try the nutzap again later."""


class Nutzaps:
    """Redeems nutzaps into their authors' accounts and runs the jobs they pay for."""

    def __init__(
        self, deposits: Deposits, jobs: DvmJobs, key: P2pkKey, run_paid: RunPaid, publisher: JobPublisher
    ) -> None:
        self._publisher = publisher
        self._deposits = deposits
        self._jobs = jobs
        self._key = key
        self._run_paid = run_paid

    async def redeem(self, nutzap: Nutzap) -> bool:
        """Credit the nutzap (once ever) and run the job it pays for; False when it credits nothing, MintNotReady
        when that cannot be told yet."""
        credited_msat = await self._credited(nutzap)
        if credited_msat is None:
            return False
        if nutzap.job_id is not None:
            ran = await self._run_paid(nutzap.job_id, nutzap.customer, nutzap.hints)
            log.info("dvm.nutzap_job event=%s job=%s ran=%s", nutzap.event.id, nutzap.job_id, ran)
        if credited_msat:
            await self._publisher.publish(redemption(self._publisher.keys, nutzap, credited_msat))
        return True

    async def _credited(self, nutzap: Nutzap) -> int | None:
        """What this delivery credited (0: an earlier one did), or None when the proofs credit nobody here."""
        payee = self._jobs.payee(nutzap.customer)
        try:
            deposit = await self._deposits.deposit(nutzap.token(), Purpose.TOPUP, payee=payee, unlock=self._key)
        except TokenAlreadySpent as exc:
            seen_before = "credited_msat" in exc.extra  # credited to this author already: a second delivery
            log.info("dvm.nutzap_spent event=%s credited_before=%s", nutzap.event.id, seen_before)
            return 0 if seen_before else None
        except MintUnreachable as exc:  # never sent, or sent and its outcome pending: the journal keeps it open
            log.info("dvm.nutzap_deferred event=%s reason=%s", nutzap.event.id, exc.message)
            raise MintNotReady() from exc
        except NodeError as exc:  # not locked to us, an untrusted mint, invalid proofs
            log.info("dvm.nutzap_refused event=%s reason=%s", nutzap.event.id, exc.message)
            return None
        log.info("dvm.nutzap_credited event=%s key_id=%s amount_msat=%d", nutzap.event.id, deposit.account.id,
                 deposit.credited_msat)  # fmt: skip
        return deposit.credited_msat


class NutzapListener:
    """Kind 9321 nutzaps addressed to the node on its relays, each redeemed once per process (the deposit journal
    makes it once per database)."""

    def __init__(self, pool: RelayPool, nutzaps: Nutzaps, pubkey: str, retry: Backoff | None = None) -> None:
        self._retry = retry or Backoff(base_s=5.0, cap_s=900.0)
        self._pool = pool
        self._nutzaps = nutzaps
        self._pubkey = pubkey
        self._seen: RecentEvents[None] = RecentEvents(RECENT_IDS)
        self._tasks = ListenerTasks()

    async def start(self) -> None:
        since = int(time.time()) - LOOKBACK_S
        await self._pool.listen([{"kinds": [NUTZAP_KIND], "#p": [self._pubkey], "since": since}], self._on_event)

    async def stop(self) -> None:
        await self._tasks.cancel_all()

    def _on_event(self, raw: dict[str, Any]) -> None:
        event_id = raw.get("id")
        if not isinstance(event_id, str) or event_id in self._seen:
            return
        nutzap = read_nutzap(raw, self._pubkey)
        if nutzap is not None:
            self._seen.remember(event_id, None)
            self._tasks.spawn(self._redeem(nutzap), f"dvm nutzap {event_id[:8]}")

    async def _redeem(self, nutzap: Nutzap) -> None:
        backoff = Backoff(self._retry.base_s, self._retry.cap_s)
        for _ in range(RETRIES):
            try:
                await self._nutzaps.redeem(nutzap)
                return
            except MintNotReady:
                await asyncio.sleep(backoff.next_delay())
            except Exception:  # the database was unreachable: seen again on the next delivery (journaled if begun)
                self._seen.forget(nutzap.event.id)
                log.exception("dvm.nutzap_failed event=%s", nutzap.event.id)
                return
        self._seen.forget(nutzap.event.id)  # given up for now: the next delivery (a restart's) tries again
        log.warning("dvm.nutzap_gave_up event=%s", nutzap.event.id)
