"""A DVM customer paying a job answered payment-required with a NIP-61 nutzap (`python -m app dvm request --nutzap`):
read the provider's kind 10019, swap the customer's token into proofs locked to the P2PK key it lists, publish a
kind 9321 naming the job to the provider's relays, and wait for the result. Uses the node's own Cashu and Nostr code,
as any client would."""

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from app.cashu.client import MintClient
from app.cashu.tokens import Proof, decode_token, same_mint
from app.cashu.wallet import execute_swap, plan_swap
from app.dvm.customer import JobOutcome
from app.dvm.nutzaps import NUTZAP_INFO_KIND, NUTZAP_KIND
from app.dvm.requests import FEEDBACK_KIND, RESULT_KIND
from app.nostr.announcement import newest
from app.nostr.event import Event, parse_verified, sign_event
from app.nostr.keys import NodeKeys
from app.nostr.pool import RelayPool


class NutzapImpossible(Exception):
    """Why no nutzap was sent (nothing was spent)."""


@dataclass(frozen=True, slots=True)
class NutzapTarget:
    """What a provider's kind 10019 says: the key to lock to, the mints it takes, the relays it reads."""

    p2pk_pubkey: str
    mints: tuple[str, ...]
    relays: tuple[str, ...]

    @classmethod
    def from_event(cls, event: Event) -> "NutzapTarget | None":
        pubkey = event.first_tag("pubkey")
        if pubkey is None:
            return None
        return cls(pubkey, tuple(event.tag_values("mint")), tuple(event.tag_values("relay")))


async def nutzap_target(pool: RelayPool, provider: str, timeout_s: float) -> NutzapTarget | None:
    found = await pool.query([{"kinds": [NUTZAP_INFO_KIND], "authors": [provider]}], timeout_s)
    info = newest(event for event in parse_verified(found) if event.pubkey == provider)
    return NutzapTarget.from_event(info) if info is not None else None


async def locked_proofs(
    http: httpx.AsyncClient, token_text: str, target: NutzapTarget
) -> tuple[str, tuple[Proof, ...]]:
    """The token swapped at its mint into proofs only the provider's P2PK key can spend; (mint, proofs)."""
    token = decode_token(token_text)
    if not any(same_mint(token.mint, mint) for mint in target.mints):
        raise NutzapImpossible(f"the provider takes nutzaps of {', '.join(target.mints)}, not {token.mint}")
    client = MintClient(http, token.mint)
    return token.mint, await execute_swap(client, await plan_swap(client, token.proofs, lock_to=target.p2pk_pubkey))


def nutzap_tags(proofs: Sequence[Proof], mint: str, provider: str, job_id: str) -> list[list[str]]:
    tags = [["proof", json.dumps(proof.to_dict(), separators=(",", ":"))] for proof in proofs]
    return [*tags, ["u", mint], ["e", job_id], ["k", "5050"], ["p", provider]]


async def pay_with_nutzap(
    pool: RelayPool, keys: NodeKeys, unpaid: JobOutcome, provider: str, token_text: str, timeout_s: float
) -> JobOutcome:
    """Nutzap the job `unpaid` (answered payment-required) with the token; the job's outcome once it is answered."""
    target = await nutzap_target(pool, provider, timeout_s / 4)
    if target is None:
        raise NutzapImpossible("the provider publishes no kind 10019: it takes no nutzaps")
    if unpaid.amount_msat is not None and decode_token(token_text).amount * 1000 < unpaid.amount_msat:
        raise NutzapImpossible(f"the token is worth less than the job may cost ({unpaid.amount_msat} msat)")
    async with httpx.AsyncClient() as http:
        mint, proofs = await locked_proofs(http, token_text, target)
    pool.add(target.relays)
    zap = sign_event(keys, NUTZAP_KIND, nutzap_tags(proofs, mint, provider, unpaid.job_id), "")
    return await _answered(pool, zap, unpaid, timeout_s)


async def _answered(pool: RelayPool, zap: Event, unpaid: JobOutcome, timeout_s: float) -> JobOutcome:
    """Publish the nutzap and wait for the job's result or an error (the earlier payment-required aside)."""
    outcome, seen = JobOutcome(unpaid.job_id), {event.id for event in unpaid.feedback}
    arrived: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    listening = await pool.listen([{"kinds": [RESULT_KIND, FEEDBACK_KIND], "#e": [unpaid.job_id]}], arrived.put_nowait)
    started = time.perf_counter()
    try:
        if not any(result.status == "accepted" for result in (await pool.publish(zap, timeout_s)).values()):
            raise NutzapImpossible(f"no relay took the nutzap; publish it again: {json.dumps(zap.to_json())}")
        async with asyncio.timeout(timeout_s):
            while outcome.result is None and outcome.final_status is None:
                for event in parse_verified([await arrived.get()]):
                    _record(outcome, event, seen)
    finally:
        await pool.unlisten(listening)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _record(outcome: JobOutcome, event: Event, seen: set[str]) -> None:
    if event.id in seen or outcome.job_id not in event.tag_values("e"):
        return
    seen.add(event.id)
    if event.kind == RESULT_KIND:
        outcome.result = event
    else:
        outcome.feedback.append(event)
