"""Users moving money through a cluster the way Routstr's clients do, for a bounded time: each round a fresh token is
deposited on one process, spent on a paid call on another and refunded on a third. Every answer a user gets is
counted from their side: tokens that came back, costs the replies named, balances still on their keys."""

import random
import threading
import time
from dataclasses import dataclass, field

import httpx

from app.payments.deposits import key_for_token
from tests.scaleout.cluster import Cluster, bearer, chat, cost_msat
from tests.scaleout.wallets import UserWallets


@dataclass
class Ledgerless:
    """What the users know, without the node's books: tokens received back, costs paid, and loose ends (a token
    whose deposit got no answer, a key whose refund got none) to finish once the cluster is quiet."""

    tokens_back: list[str] = field(default_factory=list)
    charged_msat: int = 0
    keys: set[str] = field(default_factory=set)
    refunded: set[str] = field(default_factory=set)  # keys whose refund was answered
    unanswered_deposits: list[str] = field(default_factory=list)
    rounds: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def cycle(
    cluster: Cluster, users: UserWallets, known: Ledgerless, seconds: float, seed: int, spend: bool = True
) -> None:
    """One user's rounds until `seconds` have passed (any process may be down meanwhile: its calls just fail).
    Without `spend`, no paid calls: a call cut by a dying process may be charged without the user seeing its cost."""
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        nodes = rng.sample(range(len(cluster.nodes)), k=min(3, len(cluster.nodes)))
        token = users.new_token(rng.randint(16, 48))
        key = key_for_token(token)
        with known.lock:
            known.keys.add(key)
            known.rounds += 1
        if not _created(cluster, nodes[0], token):
            with known.lock:
                known.unanswered_deposits.append(token)
            continue
        if spend:
            _spend(cluster, nodes[1 % len(nodes)], key, known)
        _refund(cluster, nodes[-1], key, known)


def finish(cluster: Cluster, users: UserWallets, known: Ledgerless) -> int:
    """Settle the loose ends on a quiet cluster (every process up) and return what stays on the keys, in msat."""
    for token in known.unanswered_deposits:
        if not _created(cluster, 0, token):
            assert users.reclaim(token), "a token no process credited is spent at the mint"
    left_msat = 0
    for key in known.keys:
        if key not in known.refunded or (cluster.balance_msat(key) or 0) >= 1000:
            _refund(cluster, 0, key, known)  # also fetches a refund paid while its answer was lost
        left_msat += cluster.balance_msat(key) or 0
    users.receive(sorted(set(known.tokens_back)))
    return left_msat


def _spend(cluster: Cluster, node: int, key: str, known: Ledgerless) -> None:
    try:
        paid = chat(cluster, node, bearer(key))
    except httpx.TransportError:
        return  # the call may have been charged: the key's ledger tells, and so does its balance at the end
    with known.lock:
        known.charged_msat += cost_msat(paid)


def _refund(cluster: Cluster, node: int, key: str, known: Ledgerless) -> None:
    try:
        paid = cluster.post(node, "/balance/refund", key=key)
    except httpx.TransportError:
        return
    if paid.status_code == 200:
        with known.lock:
            known.tokens_back.append(paid.json()["token"])
            known.refunded.add(key)


def _created(cluster: Cluster, node: int, token: str) -> bool:
    try:
        return cluster.post(node, "/balance/create", cashu_token=token).status_code == 200
    except httpx.TransportError:
        return False
