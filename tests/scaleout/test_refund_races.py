"""Refunds of one key asked of every process at once: the key's money leaves once, as one token (asking again
fetches that same token), never twice and never lost."""

from collections import defaultdict

import httpx
import pytest

from tests.scaleout.cluster import Cluster
from tests.scaleout.conftest import PG_2, PG_4, SQLITE_2, on
from tests.scaleout.wallets import UserWallets

KEYS_SAT = (40, 24, 17)
WAIT_AND_ASK_AGAIN = {"no_balance", "refund_in_progress", "cashu_mint_unreachable"}
ROUNDS = 2

pytestmark = pytest.mark.slow


@on(PG_2, PG_4, SQLITE_2)
def test_refunds_of_one_key_racing_across_processes(cluster: Cluster, users: UserWallets) -> None:
    tokens_per_key: list[list[int]] = []
    for _ in range(ROUNDS):
        keys = {fund(cluster, users, amount): amount for amount in KEYS_SAT}
        calls = [
            lambda n=n, k=k: (k, cluster.post(n, "/balance/refund", key=k))
            for k in keys
            for n in range(len(cluster.nodes))
        ]
        tokens: dict[str, set[str]] = defaultdict(set)
        for key, answer in cluster.at_once(calls):
            # While another process pays the key's refund, the others may say so (409 refund_in_progress, 503) or,
            # today, 400 no_balance (nothing left, no token yet to fetch again): no money moves; the client asks again.
            assert answer.status_code == 200 or error_code(answer) in WAIT_AND_ASK_AGAIN, answer.text
            if answer.status_code == 200:
                tokens[key].add(answer.json()["token"])
        cluster.settled()
        for key in keys:  # asking once more, now that all is quiet, fetches the token paid before
            again = cluster.post(0, "/balance/refund", key=key)
            assert again.status_code == 200, again.text
            tokens[key].add(again.json()["token"])
            assert cluster.balance_msat(key) == 0
        tokens_per_key.append(sorted(len(paid) for paid in tokens.values()))
        users.receive([token for paid in tokens.values() for token in paid])
    audits = cluster.audits_when_settled()

    # MONEY: one token per key, worth the key's balance (this mint takes no fee), and nothing more.
    assert tokens_per_key == [[1] * len(KEYS_SAT)] * ROUNDS, audits
    assert (users.received_sat, users.unspendable) == (users.minted_sat, []), audits
    assert audits == []


def error_code(answer: httpx.Response) -> str:
    return str(answer.json()["error"]["code"])


def fund(cluster: Cluster, users: UserWallets, amount_sat: int) -> str:
    created = cluster.post(0, "/balance/create", cashu_token=users.new_token(amount_sat))
    assert created.status_code == 200, created.text
    return str(created.json()["api_key"])
